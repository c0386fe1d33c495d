"""The live view's building blocks (pyqtgraph): the palette, whole-number axes, legends in
cells of their own, plots with fixed ranges and no mouse panning, and the fast items (bare
curves, tick pairs, marker sets) whose data each redraw replaces."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PyQt6 import QtCore

from gui.livedata import LiveSession

# Okabe & Ito (2008), colour-blind safe
BLUE, VERMILLION, GREY = "#0072B2", "#D55E00", "#999999"
ORANGE, PURPLE, GREEN, SKY, BLACK = "#E69F00", "#CC79A7", "#009E73", "#56B4E9", "#000000"
COLOURS = {"hit": BLUE, "error": VERMILLION, "no_response": GREY}
SYMBOLS = {"hit": "o", "error": "x", "no_response": "s"}
NAMES = {"hit": "hit", "error": "error", "no_response": "no response"}
LICK_COLOURS = (ORANGE, PURPLE)  # left lick, right lick
CONTEXT_COLOURS = ("#eef4fa", "#fbf0e6", "#eaf5f0", "#f7eef4", "#fbf8e3")
WINDOW = 100  # trials in the outcome plot
LATENCY_MAX_S = 2.0
WAITING = "waiting for the first trial"
NO_INTERACTION = False  # plots do not pan or zoom: the ranges are set by the view


class WholeAxis(pg.AxisItem):
    """An axis of whole numbers (trials, counts): ticks on integers only, never at 1.5."""

    def tickValues(
        self, minVal: float, maxVal: float, size: float
    ) -> list[tuple[float, list[float]]]:
        levels = []
        for spacing, values in super().tickValues(minVal, maxVal, size):
            if spacing >= 1:
                levels.append((spacing, [v for v in values if abs(v - round(v)) < 1e-6]))
        if not levels:  # a range narrower than one: its whole numbers
            levels = [(1.0, [float(v) for v in range(int(np.ceil(minVal)), int(maxVal) + 1)])]
        return levels


class Sample(pg.ItemSample):  # type: ignore[misc]
    """A legend sample that does not hide its item when clicked."""

    def mouseClickEvent(self, event: object) -> None:
        return


def plot_item(
    layout: pg.GraphicsLayoutWidget,
    row: int,
    col: int,
    title: str,
    x: str,
    y: str,
    *,
    whole_x: bool = False,
    whole_y: bool = False,
    **kw: object,
) -> pg.PlotItem:
    axes = {}
    if whole_x:
        axes["bottom"] = WholeAxis("bottom")
    if whole_y:
        axes["left"] = WholeAxis("left")
    plot: pg.PlotItem = layout.addPlot(row=row, col=col, title=title, axisItems=axes, **kw)
    plot.showGrid(x=False, y=False)
    plot.setMenuEnabled(False)
    plot.setMouseEnabled(x=NO_INTERACTION, y=NO_INTERACTION)
    plot.hideButtons()
    plot.disableAutoRange()
    plot.setLabel("bottom", x)
    plot.setLabel("left", y)
    return plot


def legend(layout: pg.GraphicsLayoutWidget, row: int, col: int) -> pg.LegendItem:
    """A legend in a cell of its own, beside its plot."""
    legend = pg.LegendItem(sampleType=Sample, verSpacing=-4, labelTextSize="8pt")
    layout.addItem(legend, row=row, col=col)
    return legend


def pin(layout: pg.GraphicsLayoutWidget, legend: pg.LegendItem) -> None:
    """Keep a legend at its own height, at the top of its cell (not spread over the row)."""
    legend.setMaximumHeight(legend.layout.preferredSize().height())
    layout.ci.layout.setAlignment(legend, QtCore.Qt.AlignmentFlag.AlignTop)


def curve(plot: pg.PlotItem, pen: object, **kw: object) -> pg.PlotCurveItem:
    """A bare curve (no PlotDataItem layer: a third of the cost of replacing its data)."""
    item = pg.PlotCurveItem(pen=pen, skipFiniteCheck=True, **kw)
    plot.addItem(item)
    return item


def markers(plot: pg.PlotItem, symbol: str, colour: str, size: int = 9) -> pg.ScatterPlotItem:
    item = pg.ScatterPlotItem(
        symbol=symbol, size=size, pen=pg.mkPen(colour, width=1.5), brush=pg.mkBrush(colour)
    )
    plot.addItem(item)
    return item


def ticks(item: pg.PlotCurveItem, x: np.ndarray, y: np.ndarray, half: float) -> None:
    """Vertical ticks of height ``2 * half`` centred on the points."""
    if len(x) == 0:
        item.setData(np.zeros(0), np.zeros(0))
        return
    item.setData(np.repeat(x, 2), np.column_stack([y - half, y + half]).ravel(), connect="pairs")


def line(item: pg.PlotCurveItem, x: np.ndarray, y: np.ndarray) -> None:
    """A rolling percentage: NaN only before its first value, which is where it starts."""
    finite = np.flatnonzero(~np.isnan(y))
    first = finite[0] if len(finite) else len(y)
    item.setData(x[first:], y[first:])


def trial_range(newest: int, window: int = WINDOW) -> tuple[float, float]:
    """The outcome plot's x range: the last ``window`` trials up to ``newest`` (the newest
    trial on the device), with room for one more; trials 1 to ``window`` at first."""
    hi = max(window, newest + 1)
    return hi - window + 0.5, hi + 0.5


def session_range(live: LiveSession) -> tuple[float, float]:
    """The x range of the whole-session plots: trial 0 to at least :data:`WINDOW`."""
    first = float(live.cols.trial.view[0]) - 1 if live.trials else 0.0
    return first, max(first + WINDOW, float(live.last_trial()) + 1)
