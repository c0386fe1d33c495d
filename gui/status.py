"""The live view's status column ("Now"): subject, session, trial (and the next one's
side), state, context, percent correct, the day's water against its target, the
microscope, the dead time (the rig's own gap: pauses and hand drops apart) and the link."""

from __future__ import annotations

import time

import numpy as np
from PyQt6 import QtWidgets

from gui.livedata import LiveSession

LINK_LATE_S = 5.0  # no message for this long while a session runs: the link is suspect
FIELDS = (
    ("subject", "Subject"),
    ("status", "Session"),
    ("trial", "Trial"),
    ("state", "State"),
    ("context", "Context"),
    ("correct", "Correct (last 100)"),
    ("water", "Water today"),
    ("microscope", "Microscope"),
    ("dead", "Dead time"),
    ("link", "Device link"),
)


class StatusPanel(QtWidgets.QGroupBox):
    def __init__(self, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__("Now", parent)
        form = QtWidgets.QFormLayout(self)
        self.fields: dict[str, QtWidgets.QLabel] = {}
        for key, text in FIELDS:
            label = QtWidgets.QLabel("-")
            label.setObjectName(f"status_{key}")
            label.setWordWrap(True)
            form.addRow(text, label)
            self.fields[key] = label

    def update_from(self, live: LiveSession, a: dict[str, np.ndarray]) -> None:
        f = self.fields
        started = live.started
        f["subject"].setText(started.subject if started else "-")
        f["status"].setText(live.status)
        planned = live.info.get("trials")
        trial = f"{live.trial:,}" + (f" of {planned:,}" if planned else "")
        nxt = [t for t in sorted(live.upcoming) if t > live.trial]
        if nxt:
            trial += f" (next: {live.upcoming[nxt[0]]})"
        f["trial"].setText(trial)
        f["state"].setText(live.state or "-")
        f["context"].setText(live.label or "-")

        def last(key: str) -> float:
            values = a.get(key)
            return float(values[-1]) if values is not None and len(values) else np.nan

        pc, left, right = last("pc"), last("pc_left"), last("pc_right")
        f["correct"].setText(
            "-" if np.isnan(pc) else f"{pc:.0f} % (L {left:.0f}, R {right:.0f})".replace("nan", "-")
        )
        f["water"].setText(self._water_text(live))
        scope = live.info.get("microscope", "none on this rig")
        f["microscope"].setText(scope + (f"; {live.frames} frames" if live.frames else ""))
        timing = live.timing()
        last_ms, worst = timing["dead_ms_last"], timing["dead_ms_max"]
        f["dead"].setText(
            "-"
            if last_ms is None
            else f"{last_ms:.1f} ms (max {worst:.1f}; without pauses or hand drops)"
        )
        self.update_link(live)

    @staticmethod
    def _water_text(live: LiveSession) -> str:
        target = live.water_target_ul()
        day, session = live.day_water_ul(), live.water_ul()
        text = f"{day:,.0f}" + (f" of {target:,.0f} µL" if target else " µL")
        parts = [f"this session {session:,.0f}"]
        if live.earlier_water_ul:
            parts.append(f"earlier today {live.earlier_water_ul:,.0f}")
        parts.append(f"by hand {live.hand_water_ul:,.1f}")
        return f"{text} ({'; '.join(parts)})"

    def update_link(self, live: LiveSession) -> None:
        if live.started is None or live.ended is not None:
            text = "-" if live.ended is None else "session ended"
        else:
            silent = time.monotonic() - live.last_mono
            text = "ok" if silent < LINK_LATE_S else f"no event for {silent:.0f} s"
            if live.status == "paused":
                text = "ok (paused)"
        self.fields["link"].setText(text)
