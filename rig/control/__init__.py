"""The controller process and its clients over ZeroMQ (see README.md)."""
