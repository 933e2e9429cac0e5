"""``idc-results``: the committed results store (``results/``) and the report built from it.

    idc-results add RUN_DIR...                 # copy the small files of finished runs into results/
    idc-results add RUN_DIR --schedule short   # name the schedule (or --method) when the run cannot tell
    idc-results report                         # docs/results.{md,tex,csv} from results/ alone (= make report)
    idc-results attribute RUN_DIR --method ig  # eval_ig.json: the run's model explained post hoc, top 15 features
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from idc.cli import plain


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="idc-results", description=plain(__doc__),
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    add = sub.add_parser("add", help="add finished run directories to the store")
    add.add_argument("runs", nargs="+", type=Path, metavar="RUN_DIR")
    add.add_argument("--root", type=Path, default=None, help="the store (default: results)")
    add.add_argument("--schedule", help="the schedule's name, when the run's Hydra choices do not say it")
    add.add_argument("--method", help="the method's name, when the run's Hydra choices do not say it")
    report = sub.add_parser("report", help="rebuild the report from the store")
    report.add_argument("--root", type=Path, default=None, help="the store (default: results)")
    report.add_argument("--out", type=Path, default=Path("docs"), help="where results.{md,tex,csv} go")
    attribute = sub.add_parser("attribute", help="explain a finished run post hoc (Captum) and score the top-k "
                               "features like IDC's gates: eval_<method>.json in the run directory")
    attribute.add_argument("runs", nargs="+", type=Path, metavar="RUN_DIR")
    attribute.add_argument("--method", required=True, help="ig, gradient_shap or kernel_shap (idc.attributions)")
    attribute.add_argument("--top-k", type=int, default=15, help="features kept per sample and per cluster")
    attribute.add_argument("--n-samples", type=int, default=None,
                           help="random draws per row (gradient_shap: 20, kernel_shap: 2 D + 2048)")
    attribute.add_argument("--max-samples", type=int, default=None,
                           help="rows explained (default: the run's eval.max_samples)")
    args = parser.parse_args(argv)

    if args.command == "attribute":
        return attribute_runs(args)
    from idc import results

    root = args.root or results.DEFAULT_ROOT
    if args.command == "add":
        failed, rows = 0, set()
        for run in args.runs:
            try:
                record = results.add(run, root, args.schedule, args.method)
                print(record)
                rows.add(record.parent)
            except results.RecordError as err:
                print(f"idc-results: {err}", file=sys.stderr)
                failed += 1
        from idc.report.rows import row_settings_note

        for row in sorted(rows):  # a seed added under other settings than its row's: said now, not at report time
            try:
                note = row_settings_note(row)
            except Exception as err:  # noqa: BLE001  (a note must not fail the adds that worked)
                note = f"its records could not be compared ({type(err).__name__}: {err})"
            if note:
                print(f"idc-results: {row}: {note}", file=sys.stderr)
        return 1 if failed else 0
    if not root.is_dir():
        print(f"idc-results: {root} is not a folder (the results store); run from the repository root", file=sys.stderr)
        return 2
    from idc.report import build

    for path in build(root, args.out).values():
        print(path)
    return 0


def attribute_runs(args: argparse.Namespace) -> int:
    """``idc-results attribute``: one ``eval_<method>.json`` per run; the path of each is printed."""
    from idc.attribution_run import attribution_file, attribution_record
    from idc.data import DataError

    failed = 0
    for run in args.runs:
        try:
            attribution_record(run, args.method, args.top_k, args.n_samples, args.max_samples)
            print(run / attribution_file(args.method))
        except (DataError, ValueError) as err:
            print(f"idc-results: {err}", file=sys.stderr)
            failed += 1
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
