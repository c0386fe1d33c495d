"""Exports of session folders to the community's formats (NWB)."""
