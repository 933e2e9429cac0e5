#!/usr/bin/env python
"""Where does IDC go wrong on a seed? Stage 1 once per seed, then stage-2 variants on the same stage 1.

    python scripts/diagnose.py --dataset synthetic --seeds 10
    python scripts/diagnose.py --dataset digits --seeds 10 --variants faithful kmeans restarts8 --jobs 2

For every seed, one full `method=idc_faithful` run (it writes ``checkpoints/stage1.ckpt``); every other variant
starts stage 2 from that checkpoint (``model.stage1_checkpoint``), so differences come from stage 2 alone.
Per seed and variant the report gives: the final (label-free) ACC; the best-epoch ACC (picked with labels,
named as such); K-means (k-means++, 10 inits) on the stage-1 embeddings, i.e. what the embedding allows; the
ACC at the first stage-2 evaluation of the model's head (with restarts: at selection) and at the end (collapse
or merging during stage 2); the clusters used and the largest cluster's share; how many true classes share their majority cluster with another class (merges);
the label-free restart criterion; and, where the informative features are known, the largest global gate of
a noise feature and the gate F1. Writes ``<out>/diagnose.md`` and ``diagnose.json``; finished runs are reused.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import torch
import yaml
from sklearn.cluster import KMeans

from idc import stage2
from idc import run_dir as rd
from idc.config import compose
from idc.data import load_table
from idc.metrics import clustering_metrics
from idc.metrics.interpretability import gate_f1
from idc.tables import to_markdown

#: variant -> overrides on top of the faithful model (stage 2 only; stage 1 comes from the seed's checkpoint)
ROBUST = ["head.standardize_inputs=true"]
VARIANTS = {
    "faithful": [],
    "kmeans": [*ROBUST, "head.init=kmeans"],
    "restarts8": [*ROBUST, "head.restarts=8"],
    "kmeans_restarts8": [*ROBUST, "head.init=kmeans", "head.restarts=8"],
    "kmeans_restarts8_silhouette": [*ROBUST, "head.init=kmeans", "head.restarts=8", "head.restart_criterion=silhouette"],
    "kmeans_restarts8_cosine_reg": [*ROBUST, "head.init=kmeans", "head.restarts=8", "head.global_gates.reg_schedule=cosine"],
    "kmeans_restarts8_balance": [*ROBUST, "head.init=kmeans", "head.restarts=8", "head.balance_weight=0.5"],
    "kmeans_restarts8_balance_freeze": [
        *ROBUST, "head.init=kmeans", "head.restarts=8", "head.balance_weight=0.5", "head.freeze_after_selection=true",
    ],
    "kmeans_restarts8_balance_freeze_adam_permute": [  # = the `idc` model
        *ROBUST, "head.init=kmeans", "head.restarts=8", "head.balance_weight=0.5", "head.freeze_after_selection=true",
        "head.global_gates.optimizer=adam", "head.global_gates.baseline=permute",
    ],
}


def run_sweep(out: Path, name: str, args: argparse.Namespace, extra: list[str]) -> None:
    exe = str(Path(sys.executable).with_name("idc-train"))
    cmd = [
        exe, "-m", "method=idc_faithful", f"dataset={args.dataset}", f"seed=range({args.seeds})", "logger=none",
        "eval.enabled=false", "skip_done=true", f"method.name={name}", *args.overrides, *extra,
        f"hydra.sweep.dir={out}", f"hydra.sweep.subdir={name}/seed${{seed}}",
        *(["hydra/launcher=joblib", f"hydra.launcher.n_jobs={args.jobs}"] if args.jobs > 1 else []),
    ]
    env = {**os.environ, **({"OMP_NUM_THREADS": "1"} if args.jobs > 1 else {})}
    print("+", " ".join(cmd), flush=True)
    subprocess.run(cmd, check=False, env=env)


def first_stage2_acc(run: Path, t1: int) -> float | None:
    history = run / "history.csv"
    if not history.is_file():
        return None
    frame = pd.read_csv(history)
    if "val/acc" not in frame:
        return None
    rows = frame[(frame["epoch"] > t1) & frame["val/acc"].notna()]
    return float(rows["val/acc"].iloc[0]) if len(rows) else None


def diagnose_run(run: Path, table, seed: int) -> dict:
    metrics = json.loads((run / rd.METRICS).read_text())
    pred = rd.read_predictions(run / rd.PREDICTIONS)
    cfg = yaml.safe_load((run / rd.CONFIG).read_text())
    t1 = int(cfg["schedule"]["stage1_epochs"]) - 1  # the last stage-1 epoch
    y, clusters, k = table.y, pred["clusters"], table.n_clusters
    emb_km = KMeans(k, n_init=10, random_state=seed).fit_predict(pred["embeddings"])
    sizes = np.bincount(clusters, minlength=k)
    majority = [np.bincount(clusters[y == c], minlength=k).argmax() for c in np.unique(y)]
    row = {
        "seed": seed,
        "acc_final": metrics["acc"],
        "acc_best_epoch_by_label": (metrics.get("label_selected_best_epoch") or {}).get("acc"),
        "kmeans_on_stage1_embeddings": clustering_metrics(y, emb_km)["acc"],
        "acc_first_stage2_eval": first_stage2_acc(run, t1),
        "clusters_used": int((sizes > 0).sum()),
        "largest_cluster_share": float(sizes.max() / sizes.sum()),
        "merged_classes": int(len(majority) - len(set(majority))),
        "criterion": (metrics.get("head_selection") or {}).get("criterion"),
    }
    # does the head's objective prefer the true classes? Eq. 6 (no balance prior) on both hard partitions
    emb = torch.as_tensor(pred["embeddings"], dtype=torch.float32)
    parts = [torch.as_tensor(y, dtype=torch.long), torch.as_tensor(clusters, dtype=torch.long)]
    true_value, final_value = stage2.criterion_values("compression", emb, parts, k, float(cfg["head"]["eps"]))
    row.update(compression_true_classes=true_value, compression_final=final_value)
    if table.informative:
        noise = [j for j in range(table.n_features) if all(j not in f for f in table.informative.values())]
        row["max_noise_global_gate"] = float(pred["global_gates"][:, noise].max())
        row["gate_f1_local"] = gate_f1(pred["local_gates"], y, table.informative)
        combined = pred["local_gates"] * pred["global_gates"][clusters]
        row["gate_f1_local_x_global"] = gate_f1(combined, y, table.informative)
    return row


def markdown(frame: pd.DataFrame) -> str:
    cells = frame.astype(object).where(frame.notna(), "").astype(str).values.tolist()
    return to_markdown([str(c) for c in frame.columns], cells)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", default="synthetic")
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    parser.add_argument("--jobs", type=int, default=1, help="parallel runs (joblib launcher, one thread each)")
    parser.add_argument("--out", type=Path, default=None, help="default: outputs/diagnose/<dataset>")
    parser.add_argument("--overrides", nargs="*", default=[], help="extra Hydra overrides for every run")
    args = parser.parse_args(argv)
    out = args.out or Path("outputs/diagnose") / args.dataset
    run_sweep(out, "faithful", args, [])
    for variant in args.variants:
        if variant != "faithful":
            stage1 = f"{out.resolve()}/faithful/seed${{seed}}/{rd.STAGE1_CHECKPOINT}"
            run_sweep(out, variant, args, [*VARIANTS[variant], f"model.stage1_checkpoint={stage1}"])

    table = load_table(compose([f"dataset={args.dataset}", *args.overrides]).dataset)
    rows = []
    for variant in args.variants:
        for seed in range(args.seeds):
            run = out / variant / f"seed{seed}"
            if rd.is_done(run):
                rows.append({"variant": variant, **diagnose_run(run, table, seed)})
            else:
                rows.append({"variant": variant, "seed": seed, "failed": (run / rd.FAILED).is_file()})
    frame = pd.DataFrame(rows)
    numeric = frame.select_dtypes("number").drop(columns=["seed"])
    summary = numeric.groupby(frame["variant"], sort=False).agg(["mean", "std"]).round(4)
    summary.columns = [f"{a} {b}" for a, b in summary.columns]
    (out / "diagnose.json").write_text(frame.to_json(orient="records", indent=2))
    text = (
        f"# Diagnostics: {args.dataset}, {args.seeds} seeds\n\nPer variant (mean, std over seeds):\n\n"
        + markdown(summary.reset_index())
        + "\n\nPer seed:\n\n"
        + markdown(frame.round(4))
        + "\n"
    )
    (out / "diagnose.md").write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
