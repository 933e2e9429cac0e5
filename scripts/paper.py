#!/usr/bin/env python
"""Regenerate the paper's tables from our own runs (the same as the `idc-paper` command; see its --help)."""
import sys

from idc.cli.paper import main

if __name__ == "__main__":
    sys.exit(main())
