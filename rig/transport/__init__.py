"""Byte transports chosen by URL; the only place that imports pyserial is ``serial_port``."""

from rig.transport.base import Transport, TransportClosed, open_transport

__all__ = ["Transport", "TransportClosed", "open_transport"]
