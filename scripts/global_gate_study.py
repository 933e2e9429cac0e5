"""How the global gates' settings trade compact, distinct explanations against fidelity (issue 22, section 5).

The global gates change no cluster, so this study refits only them on finished runs
(:mod:`idc.refit_global_gates`, as ``idc-eval RUN head.global_gates.KEY=V`` does), once per variant, for the run's
own number of global-gate steps (``steps=M``: M times as many). Each variant overrides keys of
``head.global_gates`` (``reg_lambda=30 lr=0.03``). Per run and variant one JSON line goes to
``results/global_gates/<study>.jsonl`` (the report's section "Global gates' weight"): the open global gates per
cluster, their diversity, empty sets and fidelity (``idc/metrics/interpretability.py``, ``idc/stage2.py``)::

    python scripts/global_gate_study.py --study weight --variant w10 reg_lambda=10 --variant w30 reg_lambda=30 \\
        -- outputs/train/runs/RUN_A outputs/train/runs/RUN_B
    make report

A run needs its ``checkpoints/last.ckpt`` (records under ``results/`` keep none), and is read as ``idc-eval`` reads
it. Runs already recorded for a variant are skipped, so the same command continues an interrupted study.
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from omegaconf import OmegaConf

from idc import results as store
from idc import run_dir as rd
from idc import stage2
from idc.console import quiet_libraries
from idc.data import load_table
from idc.evaluate import dataset_with, load_module, processes_of
from idc.inference import predict
from idc.metrics import subsample_rows
from idc.metrics.interpretability import global_gate_sets
from idc.refit_global_gates import PREFIX, refit

#: ``steps`` scales the run's own number of global-gate steps; every other key is one of ``head.global_gates``
STEPS = "steps"


def parse_variant(items: list[str]) -> tuple[str, list[str], float]:
    """``NAME KEY=VALUE ...`` -> the name, its ``head.global_gates`` overrides (checked by the refit, as idc-eval
    checks them) and its ``steps`` factor (default 1)."""
    name, rest = items[0], items[1:]
    steps = [item for item in rest if item.startswith(f"{STEPS}=")]
    factor = float(steps[-1].partition("=")[2]) if steps else 1.0
    return name, [PREFIX + item for item in rest if item not in steps], factor


def measure(module: Any, gated: torch.Tensor, clusters: torch.Tensor, seed: int) -> dict[str, Any]:
    """Open global gates per cluster with samples, their diversity and empty sets, and their fidelity (at most 2000
    rows, as ``eval.json``)."""
    matrix, labels = module.global_gates.matrix().numpy(), clusters.numpy()
    used = np.bincount(labels, minlength=len(matrix)) > 0
    out: dict[str, Any] = {"open_global_gates": float((matrix[used] > 0).sum(1).mean())}
    out.update(global_gate_sets(matrix, labels))
    rows = torch.as_tensor(subsample_rows(len(labels), 2000, seed))
    out.update(stage2.global_gate_fidelity(module, gated[rows], clusters[rows], seed))
    return out


#: the refit's global-gate settings each record keeps (a variant without an override takes the run's own, and a
#: run from before an option its old behaviour: a variant's name alone does not say)
SETTINGS = ("reg_lambda", "train_factor", "overlap_weight", "min_cluster_fidelity")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--study", required=True, help="the records' file name")
    parser.add_argument("--variant", nargs="+", action="append", required=True, metavar=("NAME", "KEY=VALUE"),
                        help="a variant: its name, then its overrides of head.global_gates or steps (repeatable)")
    parser.add_argument("--root", type=Path, default=store.DEFAULT_ROOT)
    parser.add_argument("runs", nargs="+", type=Path, help="finished idc-train run directories")
    args = parser.parse_args()
    quiet_libraries()
    torch.set_num_threads(1)
    out = args.root / store.GLOBAL_GATES / f"{args.study}.jsonl"
    out.parent.mkdir(parents=True, exist_ok=True)
    lines = out.read_text().splitlines() if out.is_file() else []
    code = rd.code_version()  # which code refitted: a changed loss under the same variant name is told apart
    recorded = {(r["run"], r["variant"]) for r in map(json.loads, lines)}
    for run in args.runs:
        names = [items[0] for items in args.variant]
        if all((str(run), name) in recorded for name in names):
            continue
        module, _ = load_module(run)
        saved = OmegaConf.load(run / rd.CONFIG)
        table = load_table(dataset_with(saved.dataset, []), None)
        pred = predict(module, table.X, None, 0, None)
        defaults = dict(module.head_cfg["global_gates"])
        schedule, _, dataset, seed = store.identify(run)
        for items in args.variant:
            name, overrides, factor = parse_variant(items)
            if (str(run), name) in recorded:
                continue
            started = time.perf_counter()
            module.head_cfg["global_gates"] = dict(defaults)  # each variant from the run's own settings
            try:
                done = refit(module, table.X, pred["local_gates"], pred["clusters"],
                             int(saved.dataset.batch_size) * processes_of(run),
                             seed, overrides, factor)
            except ValueError as err:
                raise SystemExit(f"{run}, variant {name}: {err}") from None
            gated = torch.as_tensor(table.X * pred["local_gates"], dtype=torch.float32)
            record = {"study": args.study, "variant": name, "run": str(run), "dataset": dataset, "schedule": schedule,
                      "seed": seed, "n_features": int(gated.shape[1]),
                      "overrides": {**done["overrides"], **({STEPS: factor} if factor != 1.0 else {})},
                      "steps": done["steps"], "recorded_reg_lambda": float(defaults["reg_lambda"]),
                      "settings": {k: module.head_cfg["global_gates"].get(k) for k in SETTINGS},  # as refitted
                      "code": code, **({"overlap_guard": done["overlap_guard"]} if done["overlap_guard"] else {}),
                      **measure(module, gated, torch.as_tensor(pred["clusters"]), seed),
                      "seconds": round(time.perf_counter() - started, 1)}
            with out.open("a") as f:
                f.write(json.dumps(record) + "\n")
            print(f"{dataset} ({schedule}) seed {seed} {name}: {record['open_global_gates']:.1f} open, diversity "
                  f"{record['diversity_global_gates']:.1f} %, fidelity {100 * record['global_gate_fidelity']:.1f} %",
                  flush=True)


if __name__ == "__main__":
    main()
