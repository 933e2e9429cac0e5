"""``idc-eval RUN_DIR [overrides]``: re-evaluate a finished run, writing ``eval.json``,
``explanations.csv`` and ``plots/`` into it; with dataset overrides, cluster and explain another table with the
same features (scaled as the training table was), written into ``RUN_DIR/eval_<table>/``; with
``head.global_gates.*`` overrides, refit only the run's global gates under those settings (same clusters and local
gates), written into ``RUN_DIR/eval_global_gates_<settings>/``. Says what it wrote (also in ``eval.log`` there) and
prints the metrics as one JSON line last.

    idc-eval outputs/train/runs/2026-01-01_12-00-00
    idc-eval outputs/train/runs/... dataset.path=new_cells.csv          # same features, new samples (labels optional)
    idc-eval outputs/train/runs/... head.global_gates.reg_lambda=30     # fewer features per cluster
"""
from __future__ import annotations

import contextlib
import json
import logging
import sys
import time
from pathlib import Path

from idc.cli import plain
from idc.cli.overrides import check, compose_errors

log = logging.getLogger("idc")


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if not args or args[0] in ("-h", "--help"):
        print(plain(__doc__))
        return 0 if args else 2
    from idc import console
    from idc.evaluate import EVAL, evaluate_run
    from idc.io import strict  # NaN as null: the same strict JSON as eval.json

    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stderr)
    console.quiet_libraries()
    console.route_lightning_logs()
    console.apply_threads(console.threads_for(None))
    run_dir = Path(args[0]).resolve()
    if run_dir.is_dir():  # one that is not: evaluate_run's error says so, and nothing else
        log.info("run directory: %s", run_dir)
    started = time.time()
    try:
        check("idc-eval", args[1:])  # a misspelt key: the schema's "did you mean", not Hydra's "+key" advice
        metrics = evaluate_run(run_dir, args[1:])
    except compose_errors() as err:  # a dataset override's value the schema refuses, a table it cannot use
        print(f"idc-eval: {err}", file=sys.stderr)
        return 2
    written = [p.parent for p in (run_dir / EVAL, *run_dir.glob(f"eval_*/{EVAL}")) if p.is_file()
               and p.stat().st_mtime >= started - 1]
    out = max(written, key=lambda p: (p / EVAL).stat().st_mtime, default=run_dir)
    # a run directory that is not there (evaluate_run replaced in tests, or removed meanwhile): no file log
    with console.also_to_file(out / "eval.log") if out.is_dir() else contextlib.nullcontext():
        console.log_summary(f"wrote {EVAL}, explanations.csv and plots/ in {out}", metrics, out)
    shown = {k: v for k, v in metrics.items() if isinstance(v, (int, float))}
    print(json.dumps(strict(shown), sort_keys=True, allow_nan=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
