"""Laplacian score feature selection + K-means (He, Cai & Niyogi, "Laplacian Score for Feature Selection",
NeurIPS 2005), the "LS+KM" row of the paper's real-data table."""
from __future__ import annotations

import numpy as np
from scipy import sparse
from sklearn.base import BaseEstimator, ClusterMixin
from sklearn.cluster import KMeans
from sklearn.neighbors import kneighbors_graph


def laplacian_score(X: np.ndarray, n_neighbors: int = 5) -> np.ndarray:
    """Score of every feature (lower = better preserves the local structure).

    ``S``: symmetric kNN graph with heat-kernel weights ``exp(-||x_i - x_j||^2 / t)``, ``t`` the mean squared
    neighbour distance; ``D = diag(S 1)``, ``L = D - S``; for a feature ``f`` centred as
    ``f~ = f - (f^T D 1 / 1^T D 1) 1``, the score is ``f~^T L f~ / f~^T D f~`` (constant features: +inf).
    """
    X = np.asarray(X, dtype=np.float64)
    dist = kneighbors_graph(X, n_neighbors, mode="distance", include_self=False)
    dist.data += 1.0  # shifted so that duplicate rows (distance 0) keep their edge through the symmetrisation
    dist = dist.maximum(dist.T).tocsr()
    sq = (dist.data - 1.0) ** 2
    t = sq.mean() if sq.size and sq.mean() > 0 else 1.0
    S = sparse.csr_matrix((np.exp(-sq / t), dist.indices, dist.indptr), shape=dist.shape)
    d = np.asarray(S.sum(axis=1)).ravel()
    Xc = X - (d @ X) / d.sum()
    numerator = (Xc * (d[:, None] * Xc - S @ Xc)).sum(axis=0)
    denominator = (Xc**2 * d[:, None]).sum(axis=0)
    varying = np.ptp(X, axis=0) > 0  # centring leaves rounding residue in constant columns: test the raw values
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(varying & (denominator > 0), numerator / denominator, np.inf)


class LaplacianScoreKMeans(ClusterMixin, BaseEstimator):
    """K-means on the ``n_selected`` features of lowest Laplacian score (``selected_`` holds their indices)."""

    def __init__(self, n_clusters: int = 8, n_selected: int = 50, n_neighbors: int = 5, n_init: int = 10,
                 random_state: int | None = None):
        self.n_clusters = n_clusters
        self.n_selected = n_selected
        self.n_neighbors = n_neighbors
        self.n_init = n_init
        self.random_state = random_state

    def fit(self, X: np.ndarray, y: None = None) -> LaplacianScoreKMeans:
        X = np.asarray(X, dtype=np.float64)
        self.scores_ = laplacian_score(X, self.n_neighbors)
        self.selected_ = np.sort(np.argsort(self.scores_, kind="stable")[: min(self.n_selected, X.shape[1])])
        km = KMeans(self.n_clusters, n_init=self.n_init, random_state=self.random_state)
        self.labels_ = km.fit_predict(X[:, self.selected_])
        return self
