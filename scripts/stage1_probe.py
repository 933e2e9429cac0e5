"""What stage 1 gives a clustering, measured along one stage-1 run (issue 22, section 4).

At chosen numbers of gated stage-1 epochs, K-means (k-means++, 10 starts, the run's seed) clusters views of
the table and each is scored against the labels:

* ``raw``: the scaled table itself (K-means' own baseline, same scaling);
* ``embedding``: the stage-1 embeddings of gated inputs (what the clustering head of stage 2 starts from);
* ``gated``: the gated inputs ``x * z(x)``;
* ``weighted``: the table with each feature weighted by its mean local gate (one weight per feature for all rows);
* ``top<m>``: the table restricted to the ``m`` features with the largest mean local gate.

It is a cheap proxy of a lever's effect (no stage 2) and label-free in what it trains; the labels only score.
One JSON line per probe goes to ``--out``::

    python scripts/stage1_probe.py --tag default --seeds 0 1 2 -- dataset=allaml size_rule.enabled=true
    make report   # its section "Stage 1 as a clustering space" reads results/probe/
"""
from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np
import pytorch_lightning as pl
import torch
from sklearn.cluster import KMeans
from sklearn.metrics import silhouette_score

from idc import results as store
from idc.config import compose_run
from idc.console import quiet_libraries
from idc.data import load_table
from idc.metrics.clustering import clustering_metrics
from idc.train import train


def kmeans_scores(Z: np.ndarray, y: np.ndarray, k: int, seed: int, X: np.ndarray | None = None) -> dict:
    """ACC, NMI and ARI of K-means (k-means++, 10 starts) on ``Z``, and two label-free scores of its partition:
    ``silhouette`` in ``Z`` and, when ``X`` is given (every view but the table itself), ``silhouette_table`` in the
    scaled table ``X`` (one space for every view, so that views of different widths compare); ``labels`` is the
    partition (seed agreement is computed from it)."""
    pred = KMeans(k, n_init=10, random_state=seed).fit_predict(Z)
    scores = {name: round(float(v), 4) for name, v in clustering_metrics(y, pred).items()}
    if len(np.unique(pred)) > 1:
        scores["silhouette"] = round(float(silhouette_score(Z, pred)), 4)
        if X is not None:
            scores["silhouette_table"] = round(float(silhouette_score(X, pred)), 4)
    scores["labels"] = pred.tolist()
    return scores


class Probe(pl.Callback):
    """K-means on the views after ``gated_epochs`` epochs of gated stage 1 (after the ungated ones)."""

    def __init__(self, X: np.ndarray, y: np.ndarray, k: int, gated_epochs: list[int], seed: int, top: list[int],
                 write) -> None:
        self.X, self.y, self.k, self.seed, self.top, self.write = X, y, k, seed, top, write
        self.gated_epochs = set(gated_epochs)
        self.started = time.perf_counter()

    @torch.no_grad()
    def on_train_epoch_end(self, trainer: pl.Trainer, module: pl.LightningModule) -> None:
        gated = trainer.current_epoch + 1 - module.schedule.ungated_epochs
        if gated not in self.gated_epochs or not module.schedule.in_stage1(trainer.current_epoch):
            return
        was_training = module.training
        module.eval()
        x = torch.as_tensor(self.X, dtype=torch.float32, device=module.device)
        gates = module.local_gates(x)
        emb = module.autoencoder.encoder(x * gates).cpu().numpy()
        gates = gates.cpu().numpy()
        module.train(was_training)
        mean_gate = gates.mean(0)
        views = {"embedding": emb, "gated": self.X * gates, "weighted": self.X * mean_gate}
        for m in self.top:
            views[f"top{m}"] = self.X[:, np.argsort(-mean_gate, kind="stable")[:m]]
        record = {"gated_epochs": gated, "seconds": round(time.perf_counter() - self.started, 1),
                  "open_gates_median": float(np.median((gates > 0.5).sum(1)))}
        record.update({name: kmeans_scores(Z, self.y, self.k, self.seed, self.X) for name, Z in views.items()})
        self.write(record)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, help="default: results/probe/<dataset>.jsonl (the report's records)")
    parser.add_argument("--tag", required=True, help="the lever's name in the records")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--gated-epochs", type=int, nargs="+", default=[250, 500, 1000, 2000])
    parser.add_argument("--top", type=int, nargs="+", default=[50, 200])
    parser.add_argument("overrides", nargs="*")
    args = parser.parse_args()
    quiet_libraries()  # the records and one line per run, not Lightning's device lines and tips

    last = max(args.gated_epochs)
    for seed in args.seeds:
        with tempfile.TemporaryDirectory() as run_dir:
            ungated = max(1, last // 20)  # the size rule's share of ungated epochs
            cfg = compose_run(["method=ae_kmeans", "logger=none", "eval.enabled=false", f"seed={seed}",
                               f"schedule.ungated_epochs={ungated}", f"schedule.stage1_epochs={ungated + last}",
                               *args.overrides], run_dir)
            table = load_table(cfg.dataset)
            base = {"tag": args.tag, "dataset": str(cfg.dataset.name), "seed": seed, "overrides": args.overrides,
                    "raw": kmeans_scores(table.X, table.y, int(table.n_clusters), seed)}

            out = args.out or store.DEFAULT_ROOT / store.PROBE / f"{cfg.dataset.name}.jsonl"
            out.parent.mkdir(parents=True, exist_ok=True)

            def write(record: dict) -> None:
                with open(out, "a") as f:
                    f.write(json.dumps({**base, **record}) + "\n")
                print(json.dumps({**base, **record}), flush=True)

            probe = Probe(table.X, table.y, int(table.n_clusters), args.gated_epochs, seed, args.top, write)
            train(cfg, callbacks=[probe])


if __name__ == "__main__":
    main()
