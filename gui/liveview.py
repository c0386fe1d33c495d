"""The live view: the session's plots and its status, redrawn from a :class:`LiveSession`.

Plots (pyqtgraph): trial outcomes (colour per outcome; x above a trial: early lick;
triangle: free drop), rolling percent correct per side with the context blocks and the
step's criterion, the lick raster aligned to the go cue for each instructed side, the
early-lick rate, the first-lick latency histogram and the water given against the
session's target. The status panel: trial, state, context, the runner's status, the
microscope, timing QC (dead time between trials, the device link).

Every plot is one or a few items whose data is replaced at each redraw (numpy arrays, no
per-point objects), so a redraw costs the same whatever happened since the last one.
"""

from __future__ import annotations

import time

import numpy as np
import pyqtgraph as pg
from PyQt6 import QtWidgets

from gui.livedata import LiveSession

COLOURS = {"hit": "#2ca02c", "error": "#d62728", "no_response": "#9e9e9e"}
LICK_COLOURS = ("#1f77b4", "#ff7f0e")  # left lick, right lick
CONTEXT_COLOURS = ("#e8f0fe", "#fdeee6", "#e9f7ec", "#f5ebfa", "#fff8e1")
LINK_LATE_S = 5.0
SIDE_WIDTH = 440  # no message for this long while a session runs: the link is suspect


def _plot(
    layout: pg.GraphicsLayoutWidget, row: int, col: int, title: str, **kw: object
) -> pg.PlotItem:
    plot: pg.PlotItem = layout.addPlot(row=row, col=col, title=title, **kw)
    plot.showGrid(x=False, y=False)
    plot.setMenuEnabled(False)
    return plot


def _curve(plot: pg.PlotItem, pen: object, **kw: object) -> pg.PlotCurveItem:
    """A bare curve (no PlotDataItem layer: a third of the cost of replacing its data)."""
    item = pg.PlotCurveItem(pen=pen, skipFiniteCheck=True, **kw)
    plot.addItem(item)
    return item


def _ticks(item: pg.PlotCurveItem, x: np.ndarray, y: np.ndarray, half: float) -> None:
    """Vertical ticks of height ``2 * half`` centred on the points."""
    if len(x) == 0:
        item.setData(np.zeros(0), np.zeros(0))
        return
    item.setData(np.repeat(x, 2), np.column_stack([y - half, y + half]).ravel(), connect="pairs")


def _line(item: pg.PlotCurveItem, x: np.ndarray, y: np.ndarray) -> None:
    """A rolling percentage: NaN only before its first value, which is where it starts."""
    finite = np.flatnonzero(~np.isnan(y))
    first = finite[0] if len(finite) else len(y)
    item.setData(x[first:], y[first:])


class LiveView(QtWidgets.QWidget):
    def __init__(self, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        pg.setConfigOptions(antialias=False, background="w", foreground="k", segmentedLineMode="on")
        self.layout_widget = pg.GraphicsLayoutWidget()
        # no antialiasing anywhere: the view need not widen each item's repaint by a pixel
        flags = QtWidgets.QGraphicsView.OptimizationFlag
        self.layout_widget.setOptimizationFlag(flags.DontAdjustForAntialiasing, True)
        self.status = self._status_panel()
        box = QtWidgets.QHBoxLayout(self)
        box.setContentsMargins(0, 0, 0, 0)
        box.addWidget(self.layout_widget, 1)
        column = QtWidgets.QWidget()
        column.setFixedWidth(SIDE_WIDTH)
        self.side = QtWidgets.QVBoxLayout(column)  # the window adds its controls below
        self.side.setContentsMargins(0, 0, 0, 0)
        self.side.addWidget(self.status)
        box.addWidget(column)
        self._build_plots()
        self._drawn_version = -1
        self._drawn_plots = -1
        self.plots_changed = False  # what the last redraw changed: plots, or labels only
        self._arrays: dict[str, np.ndarray] = {}
        self.redraw_s: list[float] = []

    # -- construction -------------------------------------------------------------------------
    def _status_panel(self) -> QtWidgets.QWidget:
        panel = QtWidgets.QGroupBox("Now")
        form = QtWidgets.QFormLayout(panel)
        self.fields: dict[str, QtWidgets.QLabel] = {}
        for key, text in (
            ("subject", "Subject"),
            ("status", "Session"),
            ("trial", "Trial"),
            ("state", "State"),
            ("context", "Context"),
            ("correct", "Correct (last 100)"),
            ("water", "Water"),
            ("microscope", "Microscope"),
            ("dead", "Dead time"),
            ("link", "Device link"),
        ):
            label = QtWidgets.QLabel("-")
            label.setObjectName(f"status_{key}")
            label.setWordWrap(True)
            form.addRow(text, label)
            self.fields[key] = label
        return panel

    def _build_plots(self) -> None:
        lw = self.layout_widget
        self.p_outcome = _plot(lw, 0, 0, "Outcomes (left / right instructed)", colspan=3)
        self.p_outcome.setYRange(-1.6, 1.6)
        self.p_outcome.getAxis("left").setTicks([[(-1, "L"), (1, "R")]])
        # ticks (line pairs), not symbols: thousands of them redraw in a millisecond or two
        self.outcome_items = {
            name: _curve(self.p_outcome, pg.mkPen(colour), connect="pairs")
            for name, colour in COLOURS.items()
        }
        self.early_item = _curve(self.p_outcome, pg.mkPen("#000000"), connect="pairs")
        self.drop_item = _curve(self.p_outcome, pg.mkPen("#1f77b4"), connect="pairs")

        self.p_correct = _plot(lw, 1, 0, "Percent correct (rolling 100)", colspan=3)
        self.p_correct.setYRange(0, 100)
        self.p_correct.setXLink(self.p_outcome)
        self.p_correct.addLegend(offset=(-5, -5))  # bottom right: clear of the block labels
        self.pc_all = _curve(self.p_correct, pg.mkPen("k"), name="all")
        self.pc_left = _curve(self.p_correct, pg.mkPen(LICK_COLOURS[0]), name="left")
        self.pc_right = _curve(self.p_correct, pg.mkPen(LICK_COLOURS[1]), name="right")
        self.criterion_line = pg.InfiniteLine(
            angle=0, pen=pg.mkPen("#555555", style=pg.QtCore.Qt.PenStyle.DashLine)
        )
        self.p_correct.addItem(self.criterion_line)
        self.context_regions: list[pg.LinearRegionItem] = []
        self.context_texts: list[pg.TextItem] = []

        self.rasters = {}
        for col, side in enumerate(("left", "right")):
            plot = _plot(lw, 2, col, f"Licks, {side} instructed (s from go cue)")
            plot.addLine(x=0, pen=pg.mkPen("#555555"))
            items = tuple(_curve(plot, pg.mkPen(c), connect="pairs") for c in LICK_COLOURS)
            self.rasters[side] = (plot, items)
        self.p_latency = _plot(lw, 2, 2, "First-lick latency (s)")
        self.latency_item = pg.PlotCurveItem(
            [0.0, 2.0], [0.0], stepMode="center", fillLevel=0, brush=(100, 100, 200, 120), pen="k"
        )
        self.p_latency.addItem(self.latency_item)

        self.p_early = _plot(lw, 3, 0, "Early licks (% of responded, rolling 100)")
        self.p_early.setYRange(0, 100)
        self.early_curve = _curve(self.p_early, pg.mkPen("#8c564b"))
        self.p_water = _plot(lw, 3, 1, "Water (uL) vs target", colspan=2)
        self.water_curve = _curve(self.p_water, pg.mkPen("#1f77b4"))
        self.target_line = pg.InfiniteLine(
            angle=0, pen=pg.mkPen("#1f77b4", style=pg.QtCore.Qt.PenStyle.DashLine)
        )
        self.p_water.addItem(self.target_line)

    # -- redraw -----------------------------------------------------------------------------
    def redraw(self, live: LiveSession, *, force: bool = False) -> bool:
        """Replace the plots' data from ``live`` (only the status when only it changed);
        False when nothing changed since the last redraw."""
        if live.version == self._drawn_version and not force:
            self._update_link(live)
            return False
        t0 = time.perf_counter()
        self._drawn_version = live.version
        if live.plot_version == self._drawn_plots and not force:
            self._update_status(live, self._arrays)  # a state change: labels only
            self.plots_changed = False
            self.redraw_s.append(time.perf_counter() - t0)
            return True
        self.plots_changed = True
        self._drawn_plots = live.plot_version
        a = self._arrays = live.arrays()
        x = a["trial"]
        y = np.where(a["right"], 1.0, -1.0)
        for index, item in enumerate(self.outcome_items.values()):
            sel = a["outcome"] == index
            _ticks(item, x[sel], y[sel], 0.25)
        _ticks(self.early_item, x[a["early"]], y[a["early"]] * 1.4, 0.1)
        _ticks(self.drop_item, x[a["free_drop"]], y[a["free_drop"]] * 0.6, 0.1)
        for curve, key in (
            (self.pc_all, "pc"),
            (self.pc_left, "pc_left"),
            (self.pc_right, "pc_right"),
        ):
            _line(curve, x, a[key])
        criterion = live.criterion()
        self.criterion_line.setVisible(criterion is not None)
        if criterion is not None:
            self.criterion_line.setValue(criterion)
        self._draw_contexts(live)
        self._draw_rasters(live)
        latency = a["latency"][~np.isnan(a["latency"])]
        counts, edges = np.histogram(latency, bins=np.linspace(0, 2.0, 41))
        self.latency_item.setData(edges, counts)
        _line(self.early_curve, x, a["early_pc"])
        self.water_curve.setData(x, a["water"] + live.hand_water_ul)
        self.target_line.setValue(float(live.info.get("water_target_ul", 1000.0)))
        self._update_status(live, a)
        self.redraw_s.append(time.perf_counter() - t0)
        return True

    def paint_now(self) -> None:
        """Paint what the last redraw changed, now (not at the next idle moment)."""
        if self.plots_changed:
            viewport = self.layout_widget.viewport()
            if viewport is not None:
                viewport.repaint()
        self.status.repaint()

    def _draw_contexts(self, live: LiveSession) -> None:
        blocks = live.context_blocks()
        while len(self.context_regions) < len(blocks):
            region = pg.LinearRegionItem(movable=False, pen=pg.mkPen(None))
            region.setZValue(-10)
            text = pg.TextItem(anchor=(0, 0), color="#444444")
            self.p_correct.addItem(region)
            self.p_correct.addItem(text)
            self.context_regions.append(region)
            self.context_texts.append(text)
        for i, region in enumerate(self.context_regions):
            visible = i < len(blocks)
            region.setVisible(visible)
            self.context_texts[i].setVisible(visible)
            if visible:
                first, last, label = blocks[i]
                region.setRegion((first - 0.5, last + 0.5))
                region.setBrush(pg.mkBrush(CONTEXT_COLOURS[i % len(CONTEXT_COLOURS)]))
                self.context_texts[i].setText(label)
                self.context_texts[i].setPos(first, 100)

    def _draw_rasters(self, live: LiveSession) -> None:
        for side, (_, items) in self.rasters.items():
            raster = live.raster[side]
            xs, rows, sides = raster.x.view, raster.row.view, raster.side.view
            for lick_side, item in enumerate(items):
                sel = sides == lick_side
                _ticks(item, xs[sel], rows[sel], 0.4)

    def _update_status(self, live: LiveSession, a: dict[str, np.ndarray]) -> None:
        f = self.fields
        started = live.started
        f["subject"].setText(started.subject if started else "-")
        f["status"].setText(live.status)
        planned = live.info.get("trials")
        f["trial"].setText(f"{live.trial}" + (f" of {planned}" if planned else ""))
        f["state"].setText(live.state or "-")
        f["context"].setText(live.label or "-")

        def last(key: str) -> float:
            values = a.get(key)
            return float(values[-1]) if values is not None and len(values) else np.nan

        pc, left, right = last("pc"), last("pc_left"), last("pc_right")
        f["correct"].setText(
            "-" if np.isnan(pc) else f"{pc:.0f} % (L {left:.0f}, R {right:.0f})".replace("nan", "-")
        )
        target = float(live.info.get("water_target_ul", 1000.0))
        f["water"].setText(
            f"{live.water_ul():.0f} of {target:.0f} uL (by hand {live.hand_water_ul:.1f})"
        )
        scope = live.info.get("microscope", "none on this rig")
        f["microscope"].setText(scope + (f"; {live.frames} frames" if live.frames else ""))
        timing = live.timing()
        last, worst = timing["dead_ms_last"], timing["dead_ms_max"]
        f["dead"].setText("-" if last is None else f"{last:.1f} ms (max {worst:.1f} ms)")
        self._update_link(live)

    def _update_link(self, live: LiveSession) -> None:
        if live.started is None or live.ended is not None:
            text = "-" if live.ended is None else "session ended"
        else:
            silent = time.monotonic() - live.last_mono
            text = "ok" if silent < LINK_LATE_S else f"no event for {silent:.0f} s"
            if live.status == "paused":
                text = "ok (paused)"
        self.fields["link"].setText(text)
