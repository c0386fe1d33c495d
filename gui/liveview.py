"""The live view: the session's plots and its status, redrawn from a :class:`LiveSession`.

Plots (pyqtgraph), each with its axes labelled (units in brackets) and a legend beside
it, never over the traces:

- outcomes of the last :data:`WINDOW` trials, as Bpod's outcome plot: one marker per
  trial on its instructed side (hit: blue circle, error: vermillion cross, no response:
  grey square), an early-lick bar outside the row, a free-drop triangle inside it, and the
  trial(s) on the device (running or queued) as open circles; the window slides, so the
  newest trials stay readable after thousands;
- rolling percent correct (all, left, right) over the session, the context blocks and the
  step's criterion as a labelled line;
- the lick raster aligned to the go cue for each instructed side, the first-lick latency
  histogram, the early-lick rate, and the day's water (earlier sessions today + this one)
  against the target.

Colours are Okabe-Ito (colour-blind safe) and the outcomes also differ by shape. Trial and
count axes have whole-number ticks. Before the first trial every plot has a fixed range
and says it is waiting. A banner above the plots says when the curriculum moved on and
when the day's water target is reached.

Every plot is one or a few items whose data is replaced at each redraw (numpy arrays, no
per-point objects); the outcome plot draws only its window, so a redraw costs the same
whatever happened since the last one.
"""

from __future__ import annotations

import time

import numpy as np
import pyqtgraph as pg
from PyQt6 import QtCore, QtWidgets

from gui.livedata import OUTCOMES, LiveSession
from gui.plotkit import (
    BLACK,
    BLUE,
    COLOURS,
    CONTEXT_COLOURS,
    GREEN,
    GREY,
    LATENCY_MAX_S,
    LICK_COLOURS,
    NAMES,
    SKY,
    SYMBOLS,
    VERMILLION,
    WAITING,
    WINDOW,
    curve,
    legend,
    line,
    markers,
    pin,
    plot_item,
    session_range,
    ticks,
    trial_range,
)
from gui.status import StatusPanel

SIDE_WIDTH = 440


class LiveView(QtWidgets.QWidget):
    def __init__(self, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        pg.setConfigOptions(antialias=False, background="w", foreground="k", segmentedLineMode="on")
        self.layout_widget = pg.GraphicsLayoutWidget()
        # no antialiasing anywhere: the view need not widen each item's repaint by a pixel
        flags = QtWidgets.QGraphicsView.OptimizationFlag
        self.layout_widget.setOptimizationFlag(flags.DontAdjustForAntialiasing, True)
        self.banner = QtWidgets.QLabel("")
        self.banner.setObjectName("live_banner")
        self.banner.setWordWrap(True)
        self.banner.setStyleSheet(
            "QLabel { background: #F0E442; color: black; font-weight: bold; padding: 4px; }"
        )
        self.banner.setVisible(False)
        self.status = StatusPanel()
        self.fields = self.status.fields
        box = QtWidgets.QHBoxLayout(self)
        box.setContentsMargins(0, 0, 0, 0)
        plots = QtWidgets.QVBoxLayout()
        plots.setContentsMargins(0, 0, 0, 0)
        plots.setSpacing(0)
        plots.addWidget(self.banner)
        plots.addWidget(self.layout_widget, 1)
        box.addLayout(plots, 1)
        column = QtWidgets.QWidget()
        column.setFixedWidth(SIDE_WIDTH)
        self.side = QtWidgets.QVBoxLayout(column)  # the window adds its controls below
        self.side.setContentsMargins(0, 0, 0, 0)
        self.side.addWidget(self.status)
        box.addWidget(column)
        self.waiting: list[pg.TextItem] = []
        self._build_plots()
        self._empty_ranges()
        self._drawn_version = -1
        self._drawn_plots = -1
        self.plots_changed = False  # what the last redraw changed: plots, or labels only
        self._arrays: dict[str, np.ndarray] = {}
        self.redraw_s: list[float] = []

    # -- construction -------------------------------------------------------------------------
    def _wait_text(self, plot: pg.PlotItem) -> None:
        text = pg.TextItem(WAITING, color="#666666", anchor=(0.5, 0.5))
        plot.addItem(text)
        self.waiting.append(text)

    def _build_plots(self) -> None:
        lw = self.layout_widget
        self.p_outcome = plot_item(
            lw, 0, 0, f"Outcomes, last {WINDOW} trials", "trial", "instructed side",
            whole_x=True, colspan=3,
        )  # fmt: skip
        self.p_outcome.getAxis("left").setTicks([[(-1, "left"), (1, "right")]])
        self.outcome_items = {
            name: markers(self.p_outcome, SYMBOLS[name], COLOURS[name]) for name in OUTCOMES
        }
        self.early_item = markers(self.p_outcome, "|", BLACK, 10)
        self.drop_item = markers(self.p_outcome, "t1", GREEN, 8)
        self.next_item = pg.ScatterPlotItem(
            symbol="o", size=11, pen=pg.mkPen(BLACK, width=1.5), brush=pg.mkBrush(None)
        )
        self.p_outcome.addItem(self.next_item)
        self.outcome_legend = legend(lw, 0, 3)
        for name, item in self.outcome_items.items():
            self.outcome_legend.addItem(item, NAMES[name])
        self.outcome_legend.addItem(self.early_item, "early lick")
        self.outcome_legend.addItem(self.drop_item, "free drop given")
        self.outcome_legend.addItem(self.next_item, "running or next")
        self._wait_text(self.p_outcome)

        self.p_correct = plot_item(
            lw, 1, 0, "Percent correct (rolling 100 responded trials)", "trial", "correct (%)",
            whole_x=True, colspan=3,
        )  # fmt: skip
        self.pc_all = curve(self.p_correct, pg.mkPen(BLACK))
        self.pc_left = curve(self.p_correct, pg.mkPen(LICK_COLOURS[0]))
        right_pen = pg.mkPen(LICK_COLOURS[1], style=QtCore.Qt.PenStyle.DashLine)
        self.pc_right = curve(self.p_correct, right_pen)
        criterion_pen = pg.mkPen("#444444", width=1, style=QtCore.Qt.PenStyle.DotLine)
        self.criterion_line = pg.InfiniteLine(
            angle=0, pen=criterion_pen, label="criterion {value:.0f} %",
            labelOpts={"position": 0.99, "color": "#444444", "anchors": [(1, 1), (1, 1)]},
        )  # fmt: skip
        self.p_correct.addItem(self.criterion_line)
        self.correct_legend = legend(lw, 1, 3)
        self.correct_legend.addItem(self.pc_all, "all")
        self.correct_legend.addItem(self.pc_left, "left instructed")
        self.correct_legend.addItem(self.pc_right, "right instructed")
        self._criterion_sample = pg.PlotCurveItem(pen=criterion_pen)
        self.correct_legend.addItem(self._criterion_sample, "criterion to move on")
        self.context_regions: list[pg.LinearRegionItem] = []
        self.context_texts: list[pg.TextItem] = []
        self._wait_text(self.p_correct)

        self.rasters = {}
        for col, side in enumerate(("left", "right")):
            plot = plot_item(
                lw, 2, col, f"Licks, {side} instructed", "time from go cue (s)",
                f"{side} trial (count)", whole_y=True,
            )  # fmt: skip
            plot.addLine(x=0, pen=pg.mkPen("#555555"))
            items = tuple(curve(plot, pg.mkPen(c), connect="pairs") for c in LICK_COLOURS)
            self.rasters[side] = (plot, items)
            self._wait_text(plot)
        self.p_latency = plot_item(
            lw, 2, 2, "First-lick latency", "time from go cue (s)", "trials", whole_y=True
        )
        self.latency_item = pg.PlotCurveItem(
            [0.0, LATENCY_MAX_S], [0.0], stepMode="center", fillLevel=0,
            brush=pg.mkBrush(SKY), pen=pg.mkPen(BLUE),
        )  # fmt: skip
        self.p_latency.addItem(self.latency_item)
        self._wait_text(self.p_latency)
        self.lick_legend = legend(lw, 2, 3)
        self.lick_legend.addItem(self.rasters["left"][1][0], "left lick")
        self.lick_legend.addItem(self.rasters["left"][1][1], "right lick")
        self._go_sample = pg.PlotCurveItem(pen=pg.mkPen("#555555"))
        self.lick_legend.addItem(self._go_sample, "go cue (time 0)")

        self.p_early = plot_item(
            lw, 3, 0, "Early licks (rolling 100)", "trial", "early (% of responded)",
            whole_x=True,
        )  # fmt: skip
        self.early_curve = curve(self.p_early, pg.mkPen(BLACK))
        self._wait_text(self.p_early)
        self.p_water = plot_item(
            lw, 3, 1, "Water today (earlier sessions + this one)", "trial", "water (µL)",
            whole_x=True, colspan=2,
        )  # fmt: skip
        self.water_curve = curve(self.p_water, pg.mkPen(BLUE))
        target_pen = pg.mkPen(VERMILLION, width=1, style=QtCore.Qt.PenStyle.DashLine)
        self.target_line = pg.InfiniteLine(
            angle=0, pen=target_pen, label="target {value:,.0f} µL",
            labelOpts={"position": 0.02, "color": VERMILLION, "anchors": [(0, 1), (0, 1)]},
        )  # fmt: skip
        self.p_water.addItem(self.target_line)
        self.earlier_line = pg.InfiniteLine(
            angle=0, pen=pg.mkPen(GREY, width=1, style=QtCore.Qt.PenStyle.DotLine),
            label="earlier today {value:,.0f} µL",
            labelOpts={"position": 0.98, "color": "#555555", "anchors": [(1, 0), (1, 0)]},
        )  # fmt: skip
        self.p_water.addItem(self.earlier_line)
        self.water_legend = legend(lw, 3, 3)
        self.water_legend.addItem(self.water_curve, "water today")
        self._target_sample = pg.PlotCurveItem(pen=target_pen)
        self.water_legend.addItem(self._target_sample, "the day's target")
        self._wait_text(self.p_water)
        for cell in (self.outcome_legend, self.correct_legend, self.lick_legend,
                       self.water_legend):  # fmt: skip
            pin(lw, cell)

    def _empty_ranges(self) -> None:
        """Fixed, sensible ranges before the first trial (never 0-1 or 999.6-1000.4)."""
        lo, hi = trial_range(0)
        self.p_outcome.setRange(xRange=(lo, hi), yRange=(-1.6, 1.6), padding=0)
        for plot in (self.p_correct, self.p_early):
            plot.setRange(xRange=(0, WINDOW), yRange=(0, 100), padding=0)
        for plot, _ in self.rasters.values():
            plot.setRange(xRange=(-2, 2), yRange=(0, 10), padding=0)
        self.p_latency.setRange(xRange=(0, LATENCY_MAX_S), yRange=(0, 10), padding=0)
        self.p_water.setRange(xRange=(0, WINDOW), yRange=(0, 1000), padding=0)
        for text in self.waiting:
            view = text.getViewBox()
            if view is not None:
                (x0, x1), (y0, y1) = view.viewRange()
                text.setPos((x0 + x1) / 2, (y0 + y1) / 2)

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
        empty = live.trials == 0
        for text in self.waiting:
            text.setVisible(empty)
        if empty:
            self._empty_ranges()
        self._draw_outcomes(live, a)
        x = a["trial"]
        for pc_curve, key in (
            (self.pc_all, "pc"),
            (self.pc_left, "pc_left"),
            (self.pc_right, "pc_right"),
        ):
            line(pc_curve, x, a[key])
        criterion = live.criterion()
        self.criterion_line.setVisible(criterion is not None)
        if criterion is not None:
            self.criterion_line.setValue(criterion)
        self._draw_contexts(live)
        self._draw_rasters(live)
        latency = a["latency"][~np.isnan(a["latency"])]
        counts, edges = np.histogram(latency, bins=np.linspace(0, LATENCY_MAX_S, 41))
        self.latency_item.setData(edges, counts)
        line(self.early_curve, x, a["early_pc"])
        self._draw_water(live)
        if not empty:
            lo, hi = session_range(live)
            for plot in (self.p_correct, self.p_early):
                plot.setRange(xRange=(lo, hi), yRange=(0, 105), padding=0)
            top = max(10, int(counts.max()) + 1) if len(counts) else 10
            self.p_latency.setRange(xRange=(0, LATENCY_MAX_S), yRange=(0, top), padding=0)
        self._update_status(live, a)
        self.redraw_s.append(time.perf_counter() - t0)
        return True

    def _draw_outcomes(self, live: LiveSession, a: dict[str, np.ndarray]) -> None:
        upcoming = live.upcoming
        newest = max([live.last_trial(), *upcoming])
        lo, hi = trial_range(newest)
        self.p_outcome.setRange(xRange=(lo, hi), yRange=(-1.6, 1.6), padding=0)
        start = int(np.searchsorted(a["trial"], lo))  # only the window is drawn
        x = a["trial"][start:]
        y = np.where(a["right"][start:], 1.0, -1.0)
        outcome = a["outcome"][start:]
        for index, item in enumerate(self.outcome_items.values()):
            sel = outcome == index
            item.setData(x[sel], y[sel])
        early, drop = a["early"][start:], a["free_drop"][start:]
        self.early_item.setData(x[early], y[early] * 1.35)
        self.drop_item.setData(x[drop], y[drop] * 0.65)
        trials = sorted(upcoming)
        self.next_item.setData(
            np.array(trials, dtype=float),
            np.array([1.0 if upcoming[t] == "right" else -1.0 for t in trials]),
        )

    def _draw_water(self, live: LiveSession) -> None:
        x, y = live.day_water_curve()
        if live.trials:
            self.water_curve.setData(x, y)
        else:
            self.water_curve.setData(np.zeros(0), np.zeros(0))
        target = live.water_target_ul()
        self.target_line.setVisible(target > 0)
        self._target_sample.setVisible(target > 0)
        if target > 0:
            self.target_line.setValue(target)
        earlier = live.earlier_water_ul
        self.earlier_line.setVisible(earlier > 0)
        if earlier > 0:
            self.earlier_line.setValue(earlier)
        lo, hi = session_range(live)
        water = float(y.max()) if live.trials else 0.0
        top = max(target if target > 0 else 1000.0, water) * 1.12  # the target in sight
        self.p_water.setRange(xRange=(lo, hi), yRange=(0, top), padding=0)

    def paint_now(self) -> None:
        """Paint what the last redraw changed, now (not at the next idle moment)."""
        if self.plots_changed:
            viewport = self.layout_widget.viewport()
            if viewport is not None:
                viewport.repaint()
        self.status.repaint()

    def _draw_contexts(self, live: LiveSession) -> None:
        blocks = live.context_blocks()
        lo, hi = session_range(live)
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
                text = self.context_texts[i]
                text.setText(label)
                near_end = first > lo + 0.95 * (hi - lo)  # the label inside the plot, not cut
                text.setAnchor((1, 0) if near_end else (0, 0))
                text.setPos(hi if near_end else first, 105)

    def _draw_rasters(self, live: LiveSession) -> None:
        for side, (plot, items) in self.rasters.items():
            raster = live.raster[side]
            xs, rows, sides = raster.x.view, raster.row.view, raster.side.view
            for lick_side, item in enumerate(items):
                sel = sides == lick_side
                ticks(item, xs[sel], rows[sel], 0.4)
            if live.trials:
                x0 = max(-6.0, min(-1.0, float(xs.min()) - 0.2)) if len(xs) else -2.0
                x1 = min(6.0, max(2.0, float(xs.max()) + 0.2)) if len(xs) else 2.0
                plot.setRange(xRange=(x0, x1), yRange=(0, max(10, raster.rows + 1)), padding=0)

    def _update_status(self, live: LiveSession, a: dict[str, np.ndarray]) -> None:
        self.status.update_from(live, a)
        banners = live.banners()
        self.banner.setText("\n".join(banners))
        self.banner.setVisible(bool(banners))

    def _update_link(self, live: LiveSession) -> None:
        self.status.update_link(live)
