"""The main window: the launcher until a session starts, then the live view and controls.

Closing the window while a session runs asks what to do (Cancel is the default): stop the
session after the running trial (the window stays until the end form is done, then
closes), or leave it running on the controller (``rig gui`` again leads back to it).
"""

from __future__ import annotations

from collections.abc import Callable

from PyQt6 import QtGui, QtWidgets

from gui.bridge import Bridge
from gui.calibration import CalibrationDialog
from gui.controls import ControlPanel
from gui.launcher import Launcher
from gui.livedata import LiveSession
from gui.liveview import LiveView
from gui.manual import ManualDialog
from gui.session_end import SessionEndDialog
from rig.bus import SessionEnded, SessionStarted
from rig.control.client import ControllerClient, ControllerError, EventStream
from rig.control.wire import Message


class MainWindow(QtWidgets.QMainWindow):
    def __init__(
        self, client: ControllerClient, *, on_close: Callable[[str], None] | None = None
    ) -> None:
        super().__init__()
        self.client = client
        self.on_close = on_close  # told "stop", "leave" (mid-session) or "none" at closing
        self.setWindowTitle("rig")
        self.stack = QtWidgets.QStackedWidget()
        self.setCentralWidget(self.stack)
        self.launcher = Launcher(client)
        self.launcher.started.connect(lambda _: self.show_live())
        self.stack.addWidget(self.launcher)

        self.live = LiveSession()
        self.view = LiveView()
        self.controls = ControlPanel(client)
        self.new_session = QtWidgets.QPushButton("New session")
        self.new_session.setObjectName("button_new_session")
        self.new_session.clicked.connect(self.show_launcher)
        self.new_session.setEnabled(False)
        self.view.side.addWidget(self.controls)
        self.view.side.addStretch(1)
        self.view.side.addWidget(self.new_session)
        self.stack.addWidget(self.view)
        self.live_page = self.view

        self.stream = EventStream(client)
        self.bridge = Bridge(self.stream, self.live, self.view)
        self.bridge.message.connect(self.on_message)
        self.bridge.session_ended.connect(self.on_session_ended)
        self.end_dialog: SessionEndDialog | None = None
        self.closing = False  # stopped from the close question: close after the end form
        self.joined_running = False

        menu = self.menuBar().addMenu("Rig")
        action = QtGui.QAction("Calibrate valves...", self)
        action.triggered.connect(self.calibrate)
        menu.addAction(action)
        action = QtGui.QAction("Valves, tones and pole by hand...", self)
        action.triggered.connect(self.manual_panel)
        menu.addAction(action)
        self.manual_dialog: ManualDialog | None = None
        self.resize(1500, 950)

    def start(self) -> None:
        """Load the launcher, or go straight to the live view when a session is running."""
        hello = self.client.request("hello")
        self.launcher.load()
        if hello["busy"] == "session":
            self.joined_running = True  # running before its first event reaches this window
            self.show_live()

    def show_live(self) -> None:
        self.stack.setCurrentWidget(self.live_page)
        self.new_session.setEnabled(False)

    def show_launcher(self) -> None:
        self.launcher.load()
        self.stack.setCurrentWidget(self.launcher)

    def session_running(self) -> bool:
        started = self.live.started is not None or self.joined_running
        return started and self.live.ended is None

    def on_message(self, m: Message) -> None:
        event = m.event
        if isinstance(event, SessionStarted):
            self.show_live()
        self.controls.on_event(event)

    def on_session_ended(self, ended: SessionEnded) -> None:
        self.new_session.setEnabled(True)
        started = self.live.started
        session_dir = started.session_dir if started is not None else ""
        self.end_dialog = SessionEndDialog(
            self.client, ended, session_dir, self, info=self.live.info
        )
        self.end_dialog.setModal(False)
        if self.closing:  # the operator asked to close: the end form, then the window goes
            self.end_dialog.finished.connect(lambda _: self.close())
        self.end_dialog.show()

    def calibrate(self) -> CalibrationDialog | None:
        try:
            dialog = CalibrationDialog(self.client, self)
        except ControllerError as exc:  # never an exception out of a menu's slot
            self.statusBar().showMessage(f"The calibration cannot open: {exc}")
            return None
        dialog.show()
        return dialog

    def manual_panel(self) -> ManualDialog | None:
        if self.manual_dialog is None:
            try:
                self.manual_dialog = ManualDialog(self.client, self)
            except ControllerError as exc:  # never an exception out of a menu's slot
                self.statusBar().showMessage(f"The manual panel cannot open: {exc}")
                return None
        self.manual_dialog.show()
        self.manual_dialog.raise_()
        return self.manual_dialog

    def ask_on_close(self) -> str:
        """ "stop", "leave" or "cancel" (a dialog; tests replace this method)."""
        box = QtWidgets.QMessageBox(self)
        box.setWindowTitle("A session is running")
        started = self.live.started
        who = f" ({started.subject}, {self.live.trials} trials so far)" if started else ""
        box.setText(
            f"A session is running{who}.\n\nStop it after the running trial: the end form "
            "follows, then the window closes.\nLeave it running: it goes on without a "
            "window; `rig gui` again leads back to it."
        )
        stop = box.addButton("Stop the session", QtWidgets.QMessageBox.ButtonRole.DestructiveRole)
        leave = box.addButton("Leave it running", QtWidgets.QMessageBox.ButtonRole.AcceptRole)
        cancel = box.addButton(QtWidgets.QMessageBox.StandardButton.Cancel)
        box.setDefaultButton(cancel)
        box.setEscapeButton(cancel)
        box.exec()
        clicked = box.clickedButton()
        return "stop" if clicked is stop else "leave" if clicked is leave else "cancel"

    def stop_for_close(self) -> bool:
        """Stop the session so that the window closes after the end form; ``False`` when the
        controller is gone (nothing left to stop or to wait for)."""
        try:
            self.client.command("stop")
        except ControllerError as exc:
            if "did not answer" in str(exc):
                return False
            self.controls.say(f"Refused: {exc}")
            return True  # the window stays; the operator sees why
        self.closing = True
        self.controls.say(
            "Stopping after the running trial; the end form follows, then the window closes."
        )
        return True

    def closeEvent(self, event: QtGui.QCloseEvent | None) -> None:
        assert event is not None
        choice = "none"  # no session: a controller this GUI started is shut down
        if self.session_running():
            if self.closing:  # already stopping: the end form closes the window
                event.ignore()
                return
            choice = self.ask_on_close()
            if choice == "cancel" or (choice == "stop" and self.stop_for_close()):
                event.ignore()
                return
            choice = "leave" if choice == "stop" else choice  # the controller is gone
        if self.manual_dialog is not None:
            self.manual_dialog.close()  # its polling ends with it
        self.bridge.stop()
        self.stream.close()
        if self.on_close is not None:
            self.on_close(choice)
        event.accept()
