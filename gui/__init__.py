"""The PyQt6 + pyqtgraph client (launcher, live view, controls, calibration).

Not built yet: it is the daily-training GUI issue. All Qt code will live here; ``rig/``
never imports Qt.
"""
