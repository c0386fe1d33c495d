"""The subject registry: an SQLite index of subjects, sessions and context histories,
rebuilt from the session folders at any time."""
