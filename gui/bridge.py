"""The one adapter from the controller's event stream to the widgets.

The stream's own thread receives the messages (so a busy or frozen GUI leaves them queued,
not lost) and wakes the GUI thread when some are waiting; the GUI thread then takes
everything received, applies it to the :class:`LiveSession` in order and redraws once, at
most once per frame (16 ms): a burst of events costs one redraw, a lone event is drawn at
once. Each redraw records, for every device event it showed, ``monotonic now -
message.mono`` (the event-to-screen latency). A slow timer keeps the link status current
when nothing arrives.
"""

from __future__ import annotations

import time

from PyQt6 import QtCore

from gui.livedata import LiveSession
from gui.liveview import LiveView
from rig.control.client import EventStream
from rig.control.wire import Message

FRAME_MS = 16  # at most one redraw per 60 Hz frame
IDLE_MS = 1000  # the link status is refreshed this often without messages


class Bridge(QtCore.QObject):
    message = QtCore.pyqtSignal(object)  # each message, after the live session applied it
    session_started = QtCore.pyqtSignal(object)
    session_ended = QtCore.pyqtSignal(object)

    _arrived = QtCore.pyqtSignal()  # emitted from the stream's thread, queued to this one

    def __init__(self, stream: EventStream, live: LiveSession, view: LiveView) -> None:
        super().__init__()
        self.stream, self.live, self.view = stream, live, view
        self.latencies_s: list[float] = []
        self.received = 0
        self._last_pump = 0.0
        self.frame = QtCore.QTimer(self)
        self.frame.setSingleShot(True)
        self.frame.timeout.connect(self.pump)
        self.idle = QtCore.QTimer(self)
        self.idle.setInterval(IDLE_MS)
        self.idle.timeout.connect(self.pump)
        self.idle.start()
        self._arrived.connect(self._schedule, QtCore.Qt.ConnectionType.QueuedConnection)
        stream.on_ready = self._arrived.emit
        self._schedule()  # what arrived before we were listening

    def _schedule(self) -> None:
        if self.frame.isActive():
            return
        since_ms = (time.monotonic() - self._last_pump) * 1000
        self.frame.start(int(max(0.0, FRAME_MS - since_ms)))

    def pump(self) -> list[Message]:
        self._last_pump = time.monotonic()
        messages = self.stream.take()
        for m in messages:
            self.live.apply(m)
            self.message.emit(m)
            if m.type == "SessionStarted":
                self.session_started.emit(m.event)
            elif m.type == "SessionEnded":
                self.session_ended.emit(m.event)
        self.received += len(messages)
        drawn = self.view.redraw(self.live)
        if drawn and messages and self.view.isVisible():
            self.view.paint_now()
            now = time.monotonic()
            self.latencies_s += [now - m.mono for m in messages if m.type == "DeviceEvents"]
        return messages

    def stop(self) -> None:
        self.stream.on_ready = None
        self.frame.stop()
        self.idle.stop()
