"""The PyQt6 + pyqtgraph client of the rig's controller: launcher, live view, controls,
valve calibration and the session's end (see README.md). All Qt code lives here; ``rig/``
never imports Qt.
"""
