"""The rig <-> microscope link over ZeroMQ: messages, the bridge on the ScanImage PC, the
rig's side (see README.md)."""
