"""The two-photon microscope's files: ScanImage TIFFs, written and read (see README.md)."""
