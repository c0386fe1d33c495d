"""The controller's requests that use the rig's device outside a session: the valve
calibration (``calibrate``, ``calibration``, ``abort_calibration``, ``save_calibration``,
``spot_check``) and the manual panel (``manual``, :mod:`rig.control.manual`).

A :class:`Bench` holds the calibration's last run and the manual panel's; one device run
at a time, and none while a session runs (the controller says what it is doing).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rig.control.calibration import calibration_request
from rig.control.delivery import Delivery
from rig.control.manual import Manual
from rig.schema.hardware import HardwareConfig

REQUESTS = ("calibrate", "calibration", "abort_calibration", "save_calibration", "spot_check",
            "manual")  # fmt: skip


class Bench:
    def __init__(
        self,
        hardware_path: Path,
        protocols_dir: Path,
        data_dir: Path,
        seed: int | None,
        speed: float,
    ) -> None:
        self.hardware_path, self.protocols_dir, self.seed = hardware_path, protocols_dir, seed
        self.delivery: Delivery | None = None  # the calibration's last pulses
        self.manual = Manual(data_dir, protocols_dir, seed, speed)

    def busy(self) -> str:
        """ "calibration", "manual: ..." or "" (free)."""
        if self.delivery is not None and self.delivery.running:
            return "calibration"
        return self.manual.busy()

    def stop(self) -> None:
        """End every run on the device and wait for them: nothing runs on with no host."""
        if self.delivery is not None:
            self.delivery.abort()
            self.delivery.join()
        self.manual.stop()

    def handle(
        self, cmd: str, req: dict[str, Any], hardware: HardwareConfig, busy: str
    ) -> tuple[dict[str, Any], HardwareConfig]:
        """The reply, and the rig's hardware config (rewritten by a save); ``busy``: what
        the rig is doing (the controller's ``busy``)."""
        if cmd in ("save_calibration", "spot_check"):  # the file, not the device
            hardware, reply = calibration_request(cmd, req, self.hardware_path)
            return reply, hardware
        if cmd == "manual":
            return self.manual.request(req, hardware, busy), hardware
        if cmd == "calibrate":
            if busy:
                raise ValueError(f"the rig is busy ({busy})")
            self.delivery = Delivery.requested(req, hardware, self.protocols_dir, self.seed)
            self.delivery.start()
            return {"started": True, "pulses": self.delivery.pulses}, hardware
        if self.delivery is None:
            raise ValueError("no calibration has run")
        if cmd == "calibration":  # how far the pulses are
            return self.delivery.status(), hardware
        if not self.delivery.running:  # abort_calibration
            raise ValueError("no calibration is running")
        self.delivery.abort()
        return {}, hardware
