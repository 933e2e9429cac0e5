"""scikit-learn clusterers from config specs: the baselines' clusterer, and K-means on IDC's embeddings
(``model.embedding_clusterer``)."""
from __future__ import annotations

from typing import Any

import numpy as np
from omegaconf import DictConfig, OmegaConf

from idc.config import instantiate


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


def nearest_center(X: np.ndarray, centers: np.ndarray) -> np.ndarray:
    """Index of each row's nearest centre (Euclidean, as K-means assigns); NaN centres (empty clusters) never win."""
    from sklearn.metrics import pairwise_distances_argmin

    usable = np.flatnonzero(np.isfinite(centers).all(1))
    return usable[pairwise_distances_argmin(X, centers[usable])].astype(np.int64)
