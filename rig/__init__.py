"""rig: a real-time behavioral rig controller for the delayed directional-licking task."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("rig")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0+unknown"

# the session files' data contract (docs/data-format.md): session.json's format_version and
# trial_frames.json's; raised when a key is removed or renamed or a value changes meaning
DATA_FORMAT_VERSION = 3
