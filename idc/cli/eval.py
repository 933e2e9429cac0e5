"""``idc-eval RUN_DIR [dataset overrides]``: re-evaluate a finished run, writing ``eval.json``,
``explanations.csv`` and ``plots/`` into it; with overrides, cluster and explain another table with the same
features (scaled as the training table was), written into ``RUN_DIR/eval_<table>/``.

    idc-eval outputs/train/runs/2026-01-01_12-00-00
    idc-eval outputs/train/runs/... dataset.path=new_cells.csv   # same features, new samples
"""
from __future__ import annotations

import json
import sys
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if not args or args[0] in ("-h", "--help"):
        print(__doc__)
        return 0 if args else 2
    from idc.data import DataError
    from idc.evaluate import evaluate_run
    from idc.io import strict  # NaN as null: the same strict JSON as eval.json

    try:
        metrics = evaluate_run(Path(args[0]), args[1:])
    except DataError as err:
        print(f"idc-eval: {err}", file=sys.stderr)
        return 2
    shown = {k: v for k, v in metrics.items() if isinstance(v, (int, float))}
    print(json.dumps(strict(shown), sort_keys=True, allow_nan=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
