"""The one adapter from the controller's event stream to the widgets.

The stream's own thread receives the messages (so a busy or frozen GUI leaves them queued,
not lost); a Qt timer at display rate takes everything received, applies it to the
:class:`LiveSession` in order and redraws once. Between the device event and the screen
lie at most one timer period and one redraw; each redraw records, for every message it
showed, ``monotonic now - message.mono`` (the event-to-screen latency).
"""

from __future__ import annotations

import time

from PyQt6 import QtCore

from gui.livedata import LiveSession
from gui.liveview import LiveView
from rig.control.client import EventStream
from rig.control.wire import Message

FRAME_MS = 33  # about 30 redraws a second at most


class Bridge(QtCore.QObject):
    message = QtCore.pyqtSignal(object)  # each message, after the live session applied it
    session_started = QtCore.pyqtSignal(object)
    session_ended = QtCore.pyqtSignal(object)

    def __init__(self, stream: EventStream, live: LiveSession, view: LiveView) -> None:
        super().__init__()
        self.stream, self.live, self.view = stream, live, view
        self.latencies_s: list[float] = []
        self.received = 0
        self.timer = QtCore.QTimer(self)
        self.timer.setInterval(FRAME_MS)
        self.timer.timeout.connect(self.pump)
        self.timer.start()

    def pump(self) -> list[Message]:
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
            self.view.repaint()  # on screen now, not at the next idle moment
            now = time.monotonic()
            self.latencies_s += [now - m.mono for m in messages if m.type == "DeviceEvents"]
        return messages

    def stop(self) -> None:
        self.timer.stop()
