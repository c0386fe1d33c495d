"""The session's side of the microscope link (hardware config ``scope.kind: bridge``).

At the start: connect to the bridge (a rig with ``require_scope`` refuses to start if it
does not answer within ``CONNECT_S``), arm the acquisition with the session's file stem and
start it. During the session, from the bus: ``TrialStart`` (with its UID, context and
instructed side, device time), the epoch onsets (sample, delay, go cue) and ``TrialEnd``.
When the link goes silent or comes back, the link's thread notes the time at once (and
logs it); the runner's thread publishes :class:`rig.bus.ScopeAlarm` with it at the next
batch of device events. The gaps go into ``session.json`` (``scope.gaps``).
"""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path
from typing import Any

from rig.bus import Bus, DeviceEvents, ScopeAlarm, TrialCompleted, TrialQueued
from rig.schema.hardware import Scope
from rig.sync.curve import load_secret
from rig.sync.link import ScopeLink
from rig.sync.messages import (
    Arm,
    Epoch,
    SessionStart,
    SessionStop,
    StartAcquisition,
    StopAcquisition,
    TrialEnd,
    TrialStart,
)

log = logging.getLogger(__name__)
CONNECT_S = 3.0
EPOCH_STATES = {"SamplePeriod": "sample", "DelayPeriod": "delay", "ResponseCue": "go"}


class ScopeSession:
    def __init__(self, scope: Scope, session: str, subject: str, *, required: bool) -> None:
        self.session = session
        self._t0 = time.monotonic()
        self._changes: list[tuple[bool, float, float]] = []  # (connected, noticed, since)
        self._lock = threading.Lock()
        key = scope.curve_server_key.encode() if scope.curve_server_key else None
        own = None  # this rig's secret key, for a bridge with an allow list
        if scope.curve_key_file:
            own = load_secret(Path(scope.curve_key_file).expanduser())[1]
        self.link: ScopeLink | None = None  # _changed may run before the constructor returns
        link = ScopeLink(scope.endpoint, rig_id=subject, curve_server_key=key, curve_secret_key=own,
                         on_change=self._changed)  # fmt: skip
        self.link = link
        self.gaps: list[dict[str, float | None]] = []  # seconds from the session's start
        self._planned: dict[int, TrialQueued] = {}
        ready = threading.Event()
        for _ in range(int(CONNECT_S / 0.05)):
            if link.connected:
                break
            ready.wait(0.05)
        if not link.connected:
            link.close()
            self.link = None
            if required:
                raise ValueError(
                    f"the microscope's bridge at {scope.endpoint} did not answer within "
                    f"{CONNECT_S:.0f} s, and this rig requires it (require_scope: true)"
                )
            log.warning("the microscope's bridge at %s did not answer", scope.endpoint)
            return
        with self._lock:
            self._changes.clear()  # connecting is not news: only losing it, and regaining it
        link.send(SessionStart(session=session, subject=subject))
        link.request(lambda i: Arm(id=i, file_stem=f"{subject}_{session}"))
        link.request(lambda i: StartAcquisition(id=i))

    def _changed(self, connected: bool) -> None:  # the link's thread
        now = time.monotonic()
        t = round(now - self._t0, 3)
        log.warning("microscope bridge %s at %.3f s", "back" if connected else "LOST", t)
        silent_since = t
        if not connected and self.link is not None and self.link.last_heard:
            silent_since = round(self.link.last_heard - self._t0, 3)
        with self._lock:
            self._changes.append((connected, t, silent_since))

    def attach(self, bus: Bus) -> None:
        link = self.link
        if link is None:
            return
        bus.subscribe(TrialQueued, lambda e: self._planned.__setitem__(e.trial, e))
        bus.subscribe(DeviceEvents, lambda b: self._on_events(bus, link, b))

        def trial_end(e: TrialCompleted) -> None:
            r = e.record
            link.send(TrialEnd(trial=r["trial"], device_t=r["t_end"], outcome=r["outcome"]))

        bus.subscribe(TrialCompleted, trial_end)

    def _on_events(self, bus: Bus, link: ScopeLink, batch: DeviceEvents) -> None:
        with self._lock:
            changes, self._changes = self._changes, []
        for connected, t, since in changes:
            if connected and self.gaps and self.gaps[-1]["back_at_s"] is None:
                self.gaps[-1]["back_at_s"] = t
            elif not connected:  # silent since its last message; noticed lost_after_s later
                self.gaps.append({"silent_from_s": since, "noticed_at_s": t, "back_at_s": None})
            bus.publish(ScopeAlarm(connected, t, "bridge back" if connected else "bridge silent"))
        for e in batch.events:
            if e.trial <= 0:
                continue
            if e.kind == "trial_start":
                plan = self._planned.pop(e.trial, None)
                link.send(
                    TrialStart(
                        trial=e.trial,
                        uid=f"{self.session}/{e.trial}",
                        context=plan.label if plan else "",
                        instructed=plan.instructed if plan else "",
                        device_t=e.t,
                    )
                )
            elif e.kind == "state" and e.name in EPOCH_STATES:
                link.send(Epoch(trial=e.trial, name=EPOCH_STATES[e.name], device_t=e.t))

    def finish(self, status: str) -> dict[str, Any]:
        if self.link is None:
            return {"kind": "bridge", "connected": False, "gaps": []}
        try:
            self.link.request(lambda i: StopAcquisition(id=i))
        except RuntimeError as exc:
            log.warning("stopping the acquisition: %s", exc)
        self.link.send(SessionStop(session=self.session, status=status))
        welcome = self.link.welcome
        self.link.close()
        return {
            "kind": "bridge",
            "bridge": welcome.bridge_id if welcome else None,
            "clock_offset_s": welcome.offset_s if welcome else None,
            "gaps": self.gaps,
        }


class FrameQC:
    """Live frame QC from the frame clock the rig records (``frame_clock`` inputs).

    A gap of more than ``max_gap_frames`` frame periods between two pulses, or the device's
    clock moving that far past the last pulse, raises :class:`ScopeAlarm` (``connected``
    False: frames stopped) at the device event that shows it; the next pulse clears it and
    the gap is kept. Each completed trial's pulses (``frames`` in its record) are compared
    with what its duration should hold."""

    def __init__(self, frame_rate_hz: float, *, max_gap_frames: int = 3) -> None:
        self.period = 1.0 / frame_rate_hz
        self.max_gap = max_gap_frames * self.period
        self.last: float | None = None
        self.stopped_at: float | None = None
        self.gaps: list[dict[str, float]] = []
        self.short_trials: list[int] = []
        self.frames = 0

    def attach(self, bus: Bus) -> None:
        bus.subscribe(DeviceEvents, lambda b: self._on_events(bus, b))
        bus.subscribe(TrialCompleted, self._on_trial)

    def _on_events(self, bus: Bus, batch: DeviceEvents) -> None:
        for e in batch.events:
            if e.kind != "input" or e.name != "frame_clock":
                continue
            self.frames += 1
            if self.last is not None and e.t - self.last > self.max_gap:
                missing = round((e.t - self.last) / self.period) - 1
                self.gaps.append({"from_t": self.last, "to_t": e.t, "missing_frames": missing})
                if self.stopped_at is not None:
                    bus.publish(ScopeAlarm(True, e.t, f"frames again after {missing} missing"))
                self.stopped_at = None
            self.last = e.t
        now = batch.events[-1].t
        if self.last is not None and self.stopped_at is None and now - self.last > self.max_gap:
            self.stopped_at = now
            log.warning("no imaging frame for %.3f s (device time %.3f s)", now - self.last, now)
            bus.publish(ScopeAlarm(False, now, f"no frame for {now - self.last:.3f} s"))

    def _on_trial(self, event: TrialCompleted) -> None:
        r = event.record
        expected = (r["t_end"] - r["t_start"]) / self.period
        if self.frames and r.get("frames", 0) < expected - 2:
            self.short_trials.append(r["trial"])

    def summary(self) -> dict[str, Any]:
        return {"frames": self.frames, "gaps": self.gaps, "short_trials": self.short_trials}
