"""``idc-table OUTPUT_ROOT [--out DIR]``: result tables from the run directories below OUTPUT_ROOT
(Markdown, LaTeX and CSV in OUTPUT_ROOT/tables by default), with the published numbers beside ours; with no
finished run below OUTPUT_ROOT, nothing is written and the exit status is 2."""
from __future__ import annotations

import argparse
import sys
from collections import Counter
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
    from idc.tables import build_tables, find_runs

    runs = find_runs(args.root)
    if not any(r.status == "done" for r in runs):  # empty tables would say nothing: write none
        counts = Counter(r.status for r in runs)
        found = f"; found {', '.join(f'{n} {status}' for status, n in sorted(counts.items()))}" if runs else ""
        print(f"idc-table: {args.root}: no finished run directory below it (a folder with config.yaml, DONE and "
              f"metrics.json, as idc-train writes){found}", file=sys.stderr)
        return 2
    written = build_tables(args.root, args.out, runs=runs)
    print((written["acc"]).read_text())
    print("written:", ", ".join(str(p.parent / (p.stem + ".{md,tex,csv}")) for k, p in written.items() if k != "runs"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
