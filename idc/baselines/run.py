"""A scikit-learn clusterer as a ``method=`` choice: fit on the prepared table, write the run-directory files
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


def make_clusterer(spec: DictConfig | dict, n_clusters: int, seed: int) -> Any:
    """Instantiate ``spec`` (``_target_`` plus its arguments; ``k_param`` and ``seed_param`` name the
    estimator's own arguments for K and the seed)."""
    spec = OmegaConf.to_container(spec, resolve=True) if isinstance(spec, DictConfig) else dict(spec)
    k_param, seed_param = spec.pop("k_param", "n_clusters"), spec.pop("seed_param", "random_state")
    kwargs = {k_param: int(n_clusters), **({seed_param: int(seed)} if seed_param else {})}
    return instantiate(spec, **kwargs)


def fit_centers(spec: DictConfig | dict, X: np.ndarray, n_clusters: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """The clusters of ``X`` by the clusterer ``spec`` describes (see :func:`make_clusterer`) and their centres
    (K x D: the estimator's ``cluster_centers_``, else each cluster's mean; NaN for a cluster left empty)."""
    clusterer = make_clusterer(spec, n_clusters, seed)
    labels = np.asarray(clusterer.fit_predict(X), dtype=np.int64)
    centers = getattr(clusterer, "cluster_centers_", None)
    if centers is None:
        centers = np.full((int(n_clusters), X.shape[1]), np.nan, dtype=np.float64)
        for c in np.unique(labels):
            centers[c] = X[labels == c].mean(0)
    return labels, np.asarray(centers)


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
    if table.y is not None:
        arrays["labels"] = table.y
    rd.write_predictions(run_dir / rd.PREDICTIONS, arrays, table.feature_names, table.class_names)
    rd.write_json(run_dir / rd.METRICS, metrics)
    rd.write_run_info(run_dir, time.perf_counter() - started, "cpu")
    rd.mark_done(run_dir)
    return metrics
