"""The live plots explain themselves: legends, labelled axes with units, whole-number trial
axes, a sliding outcome window with the trial on the device, fixed ranges before the first
trial, a colour-blind-safe palette with shapes, a labelled criterion, and banners when the
curriculum moves on and when the day's water target is reached."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest

from gui.livedata import LiveSession
from gui.liveview import LiveView
from gui.plotkit import WINDOW, WholeAxis
from gui.replay import simulated_messages
from rig.bus import SessionStarted
from rig.control.wire import Message


@pytest.fixture(scope="module")
def session_500(tmp_path_factory: pytest.TempPathFactory, root: Path) -> list[Message]:
    return simulated_messages(
        tmp_path_factory.mktemp("s500"), trials=500, seed=4,
        protocol=root / "protocols/continual_learning.yaml",
        rig=root / "hardware_configs/sim.yaml",
    )  # fmt: skip


def _view(qapp: object) -> LiveView:
    view = LiveView()
    view.resize(1500, 950)
    return view


def _legend_names(legend: object) -> list[str]:
    return [label.text for _, label in legend.items]  # type: ignore[attr-defined]


def _feed(messages: list[Message], until: int | None = None) -> LiveSession:
    live = LiveSession()
    for m in messages[:until]:
        live.apply(m)
    return live


def test_legends_and_axis_labels_say_what_is_drawn(qapp: object) -> None:
    view = _view(qapp)
    assert _legend_names(view.outcome_legend) == [
        "hit", "error", "no response", "early lick", "free drop given", "running or next",
    ]  # fmt: skip
    assert "criterion to move on" in _legend_names(view.correct_legend)
    assert _legend_names(view.lick_legend)[:2] == ["left lick", "right lick"]
    assert "the day's target" in _legend_names(view.water_legend)
    labels = {
        name: (plot.getAxis("bottom").labelText, plot.getAxis("left").labelText)
        for name, plot in (
            ("outcome", view.p_outcome), ("correct", view.p_correct),
            ("raster", view.rasters["left"][0]), ("latency", view.p_latency),
            ("early", view.p_early), ("water", view.p_water),
        )
    }  # fmt: skip
    assert labels["outcome"] == ("trial", "instructed side")
    assert labels["correct"] == ("trial", "correct (%)")
    assert labels["raster"][0] == "time from go cue (s)"
    assert labels["latency"] == ("time from go cue (s)", "trials")
    assert labels["water"] == ("trial", "water (µL)")
    # the legends are cells of their own beside the plots, never over the traces
    for legend in (view.outcome_legend, view.correct_legend, view.water_legend):
        assert legend.parentItem() is view.layout_widget.ci


def test_colour_blind_safe_colours_and_shapes(qapp: object) -> None:
    view = _view(qapp)
    colours = {
        name: item.opts["brush"].color().name().upper() for name, item in view.outcome_items.items()
    }
    assert colours == {"hit": "#0072B2", "error": "#D55E00", "no_response": "#999999"}
    shapes = {item.opts["symbol"] for item in view.outcome_items.values()}
    assert len(shapes) == 3  # the outcomes differ by shape too, not by colour alone


def test_empty_plots_have_fixed_ranges_and_say_they_wait(
    qapp: object, session_500: list[Message]
) -> None:
    """Before: 0-1 axes, and 999.6-1000.4 for the water (only the target line to show)."""
    view = _view(qapp)
    view.show()
    for live in (LiveSession(), _feed(session_500, 1)):  # no session; started, no trial yet
        view.redraw(live, force=True)
        assert view.p_water.viewRange()[0] == pytest.approx([0, WINDOW])
        assert view.p_water.viewRange()[1] == pytest.approx([0, 1120])  # target 1000 uL
        assert view.p_outcome.viewRange()[0] == pytest.approx([0.5, WINDOW + 0.5])
        assert view.p_correct.viewRange()[1] == pytest.approx([0, 100])
        assert view.rasters["left"][0].viewRange()[1] == pytest.approx([0, 10])
        assert all(text.isVisible() for text in view.waiting)
    view.close()
    assert {text.textItem.toPlainText() for text in view.waiting} == {"waiting for the first trial"}


def test_trial_axes_have_whole_numbers_only(qapp: object) -> None:
    axis = WholeAxis("bottom")
    for lo, hi in ((0.5, 3.5), (0.0, 1.0), (1.0, 12.0), (131.5, 231.5)):
        values = [v for _, level in axis.tickValues(lo, hi, 600) for v in level]
        assert values and all(float(v).is_integer() for v in values), (lo, hi, values)
    view = _view(qapp)
    for plot in (view.p_outcome, view.p_correct, view.p_early, view.p_water):
        assert isinstance(plot.getAxis("bottom"), WholeAxis)


def test_after_500_trials_the_outcome_plot_shows_the_window_and_the_next_trial(
    qapp: object, session_500: list[Message]
) -> None:
    # mid-trial 431: trial 430 completed, 431 on the device
    cut = next(
        i for i, m in enumerate(session_500)
        if m.type == "TrialQueued" and m.event.trial == 432
    )  # fmt: skip
    live = _feed(session_500, cut)
    view = _view(qapp)
    view.redraw(live, force=True)
    lo, hi = view.p_outcome.viewRange()[0]
    assert hi - lo == pytest.approx(WINDOW)
    assert lo > 300 and hi >= 432  # the last 100 trials, not a barcode of 431
    shown = np.concatenate([item.getData()[0] for item in view.outcome_items.values()])
    assert len(shown) <= WINDOW and shown.min() > lo
    next_x, _ = view.next_item.getData()
    assert set(next_x.tolist()) == set(live.upcoming) and 431 in live.upcoming
    assert not any(text.isVisible() for text in view.waiting)
    # the whole-session plots start at trial 0 and hold every trial
    assert view.p_correct.viewRange()[0][0] == pytest.approx(0)


def test_the_criterion_line_is_labelled(qapp: object, session_500: list[Message]) -> None:
    view = _view(qapp)
    view.redraw(_feed(session_500, 200), force=True)
    assert view.criterion_line.isVisible()
    assert view.criterion_line.label.toPlainText() == "criterion 75 %"


def test_banners_for_the_curriculum_and_the_days_water(
    qapp: object, session_500: list[Message]
) -> None:
    # another session today already gave 800 uL: this one reaches the 1000 uL target
    first = session_500[0]
    assert isinstance(first.event, SessionStarted)
    info = {**first.event.info, "earlier_water_today_ul": 800.0}
    started = dataclasses.replace(first, event=dataclasses.replace(first.event, info=info))
    messages = [started, *session_500[1:]]
    view = _view(qapp)
    view.show()
    live = _feed(messages, 3)
    view.redraw(live, force=True)
    assert not view.banner.isVisible()
    assert view.p_water.viewRange()[1][1] >= 1000  # the target is in sight from the start
    switched = next(i for i, m in enumerate(messages) if m.type == "ContextSwitched")
    live = _feed(messages, switched + 1)
    view.redraw(live, force=True)
    assert view.banner.isVisible()
    assert view.banner.text().startswith("Curriculum moved on: T1 → T2 after trial")
    live = _feed(messages)
    view.redraw(live, force=True)
    assert live.water_reached is not None and live.day_water_ul() >= 1000
    assert "Water target reached:" in view.banner.text()
    assert view.fields["water"].text().startswith(f"{live.day_water_ul():,.0f} of 1,000 µL")
    assert "earlier today 800" in view.fields["water"].text()
    # the water plot is the day's: it starts at what earlier sessions gave
    _, y = view.water_curve.getData()
    assert y[0] == pytest.approx(800.0) and y[-1] == pytest.approx(live.day_water_ul())
    assert view.earlier_line.isVisible() and view.earlier_line.value() == pytest.approx(800)
    view.close()
