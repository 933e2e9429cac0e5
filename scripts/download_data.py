#!/usr/bin/env python
"""Fetch the paper's datasets into the data directory, checking each file's sha256.

    python scripts/download_data.py                 # everything that can be fetched
    python scripts/download_data.py allaml srbct    # some datasets
    python scripts/download_data.py --list          # sources and how each file is obtained

The data directory is --data-dir, else $IDC_DATA_DIR, else ./data. Existing files are never overwritten.
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from idc.data.download import SOURCES, download


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("datasets", nargs="*", help="dataset names (default: all)")
    parser.add_argument("--data-dir", type=Path, default=Path(os.environ.get("IDC_DATA_DIR", "data")))
    parser.add_argument("--mirror", help="base URL that serves the files by name (replaces the public sources)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.add_argument("--list", action="store_true", help="print the sources and exit")
    args = parser.parse_args(argv)
    if args.list:
        for s in SOURCES:
            print(f"{s.file:34} {','.join(s.datasets):20} {s.how:12} {s.url or s.note}")
        return 0
    status = download(args.datasets, args.data_dir, mirror=args.mirror, progress=not args.no_progress)
    for file, state in status.items():
        print(f"{file:34} {state}")
    return 1 if any(v.startswith("failed") for v in status.values()) else 0


if __name__ == "__main__":
    sys.exit(main())
