"""``rig report``: a subject's learning curves, and trials to criterion across subjects, as
PNG figures and CSV tables from the registry and the session folders."""
