#!/usr/bin/env python
"""Print a finished run's headline metrics and its global gates with feature names.

    python scripts/inspect_run.py outputs/train/runs/<time> [--top 5]
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from idc.run_dir import METRICS, PREDICTIONS, is_done, read_predictions


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("--top", type=int, default=5, help="features shown per cluster")
    args = parser.parse_args()
    if not is_done(args.run_dir):
        raise SystemExit(f"{args.run_dir} is not a finished run (no DONE marker)")
    metrics = json.loads((args.run_dir / METRICS).read_text())
    shown = ("acc", "nmi", "ari", "open_local_gates", "open_global_gates", "cluster_sizes")
    print(f"final model ({metrics['selection']}):", {k: metrics[k] for k in shown if k in metrics})
    pred = read_predictions(args.run_dir / PREDICTIONS)
    names, glob = pred["feature_names"], pred["global_gates"]
    for k, row in enumerate(glob):
        order = np.argsort(-row)[: args.top]
        top = ", ".join(f"{names[j]}={row[j]:.2f}" for j in order if row[j] > 0) or "(all gates closed)"
        print(f"cluster {k} ({int((pred['clusters'] == k).sum())} samples): {top}")


if __name__ == "__main__":
    main()
