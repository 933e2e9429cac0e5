"""A scikit-learn clusterer as a ``method=`` choice: fit on the prepared table, write the run-directory files
(``metrics.json``, ``predictions.h5``, ``run_info.json``, ``DONE``) that IDC runs write."""
from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np
from omegaconf import DictConfig

from idc import run_dir as rd
from idc.clusterers import make_clusterer
from idc.data import Table
from idc.metrics import headline_metrics


def run_baseline(cfg: DictConfig, table: Table, run_dir: Path) -> dict[str, Any]:
    """Cluster ``table`` with ``cfg.method.baseline`` and fill ``run_dir``. The gates say which features the
    baseline used: the ``selected_`` ones of a feature-selection baseline, else every feature (local: N x D,
    global: K x D)."""
    started = time.perf_counter()
    k = int(table.n_clusters)
    clusterer = make_clusterer(cfg.method.baseline, k, int(cfg.seed))
    clusters = np.asarray(clusterer.fit_predict(table.X), dtype=np.int64)
    used = np.ones(table.n_features, dtype=np.float32)
    if getattr(clusterer, "selected_", None) is not None:
        used[:] = 0.0
        used[clusterer.selected_] = 1.0
    arrays = {
        "clusters": clusters,
        "local_gates": np.broadcast_to(used, (table.n_samples, table.n_features)).copy(),
        "global_gates": np.broadcast_to(used, (k, table.n_features)).copy(),
    }
    metrics = headline_metrics(arrays, table.y, k)
    metrics.update(dataset=cfg.dataset.name, seed=int(cfg.seed), epochs=0)
    rd.finish_run(run_dir, metrics, arrays, table.feature_names, table.y, time.perf_counter() - started, "cpu",
                  class_names=table.class_names)
    return metrics
