"""``idc-table OUTPUT_ROOT [--out DIR]``: result tables from the run directories below OUTPUT_ROOT
(Markdown, LaTeX and CSV in OUTPUT_ROOT/tables by default), with the published numbers beside ours."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from idc.cli import plain


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=plain(__doc__))
    parser.add_argument("root", type=Path, help="a folder of run directories, e.g. outputs/train/multiruns/<time>")
    parser.add_argument("--out", type=Path, default=None, help="where the tables go (default: ROOT/tables)")
    args = parser.parse_args(argv)
    if not args.root.is_dir():
        print(f"idc-table: {args.root} is not a folder", file=sys.stderr)
        return 2
    from idc.tables import build_tables

    written = build_tables(args.root, args.out)
    print((written["acc"]).read_text())
    print("written:", ", ".join(str(p.parent / (p.stem + ".{md,tex,csv}")) for k, p in written.items() if k != "runs"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
