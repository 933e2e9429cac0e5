"""A scikit-learn clusterer as a ``model=`` choice: fit on the prepared table, write the run-directory files
(``metrics.json``, ``predictions.h5``, ``run_info.json``, ``DONE``) that IDC runs write."""
from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np
from omegaconf import DictConfig, OmegaConf

from idc import run_dir as rd
from idc.config import instantiate
from idc.data import Table
from idc.evaluate import headline_metrics


def fit_predict(spec: DictConfig | dict, X: np.ndarray, n_clusters: int, seed: int) -> np.ndarray:
    """Instantiate ``spec`` (``_target_`` plus its arguments; ``k_param`` and ``seed_param`` name the
    estimator's own arguments for K and the seed) and return its clusters of ``X``."""
    spec = OmegaConf.to_container(spec, resolve=True) if isinstance(spec, DictConfig) else dict(spec)
    k_param, seed_param = spec.pop("k_param", "n_clusters"), spec.pop("seed_param", "random_state")
    kwargs = {k_param: int(n_clusters), **({seed_param: int(seed)} if seed_param else {})}
    return np.asarray(instantiate(spec, **kwargs).fit_predict(X), dtype=np.int64)


def run_baseline(cfg: DictConfig, table: Table, run_dir: Path) -> dict[str, Any]:
    """Cluster ``table`` with ``cfg.model.baseline`` and fill ``run_dir``. A baseline uses every feature, so its
    gates are all open (local: N x D ones; global: K x D ones)."""
    started = time.perf_counter()
    k = int(table.n_clusters)
    clusters = fit_predict(cfg.model.baseline, table.X, k, int(cfg.seed))
    arrays = {
        "clusters": clusters,
        "local_gates": np.ones((table.n_samples, table.n_features), dtype=np.float32),
        "global_gates": np.ones((k, table.n_features), dtype=np.float32),
    }
    metrics = headline_metrics(arrays, table.y, k)
    metrics.update(dataset=cfg.dataset.name, seed=int(cfg.seed), epochs=0)
    if table.y is not None:
        arrays["labels"] = table.y
    rd.write_predictions(run_dir / rd.PREDICTIONS, arrays, table.feature_names)
    rd.write_json(run_dir / rd.METRICS, metrics)
    rd.write_json(run_dir / rd.RUN_INFO, {"wall_seconds": round(time.perf_counter() - started, 3), "device": "cpu"})
    rd.mark_done(run_dir)
    return metrics
