"""Influential-feature PCA (Jin & Wang, "Influential Features PCA for high dimensional clustering", Annals of
Statistics 44(6), 2016): the classical reference for clustering microarray tables with far more genes than samples.

1. normalise each feature to mean 0 and standard deviation 1 over the samples;
2. score each feature by the Kolmogorov-Smirnov distance of its normalised values to N(0, 1) (a feature whose
   values come from a mixture of classes departs from the normal), with its P-value;
3. keep the features whose P-values pass the higher-criticism threshold (the k smallest P-values, k maximising
   Jin & Wang's HC statistic over the first half of the ranks);
4. the first K-1 principal components of the kept features, then K-means with K clusters on them.

Departure from the paper: the P-values are scipy's Kolmogorov distribution for a fully specified normal; the
paper renormalises the KS scores by their simulated null mean and deviation first. The Kolmogorov P-values are
larger than the true ones of a normalised feature (estimated mean and deviation), so the threshold is conservative.
"""
from __future__ import annotations

import numpy as np
from scipy import stats
from sklearn.base import BaseEstimator, ClusterMixin
from sklearn.cluster import KMeans
from sklearn.decomposition import PCA


def ks_pvalues(X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """KS statistic and P-value of each column of ``X`` (normalised) against N(0, 1); constant columns get
    statistic 0 and P-value 1."""
    X = np.asarray(X, dtype=np.float64)
    std = X.std(axis=0)
    varying = std > 0
    Z = (X[:, varying] - X[:, varying].mean(axis=0)) / std[varying]
    result = stats.kstest(Z, "norm", axis=0)
    statistic, pvalue = np.zeros(X.shape[1]), np.ones(X.shape[1])
    statistic[varying], pvalue[varying] = result.statistic, result.pvalue
    return statistic, pvalue


def higher_criticism_count(pvalues: np.ndarray, n_samples: int, max_fraction: float = 0.5) -> int:
    """How many of the smallest P-values to keep: the rank k (1 <= k <= max_fraction * p) maximising
    ``HC_k = sqrt(p) (k/p - pi_(k)) / sqrt(k/p + max(sqrt(n) (k/p - pi_(k)), 0))`` (Jin & Wang, Sec. 1.2)."""
    p = len(pvalues)
    ranks = np.arange(1, max(1, int(max_fraction * p)) + 1)
    sorted_p = np.sort(pvalues)[: len(ranks)]
    excess = ranks / p - sorted_p
    hc = np.sqrt(p) * excess / np.sqrt(ranks / p + np.maximum(np.sqrt(n_samples) * excess, 0.0))
    return int(ranks[np.argmax(hc)])


class IFPCA(ClusterMixin, BaseEstimator):
    """IF-PCA clustering; ``selected_`` holds the kept features' indices, ``ks_`` and ``pvalues_`` every
    feature's KS statistic and P-value."""

    def __init__(self, n_clusters: int = 8, max_fraction: float = 0.5, n_init: int = 10,
                 random_state: int | None = None):
        self.n_clusters = n_clusters
        self.max_fraction = max_fraction
        self.n_init = n_init
        self.random_state = random_state

    def fit(self, X: np.ndarray, y: None = None) -> IFPCA:
        X = np.asarray(X, dtype=np.float64)
        self.ks_, self.pvalues_ = ks_pvalues(X)
        kept = higher_criticism_count(self.pvalues_, X.shape[0], self.max_fraction)
        self.selected_ = np.sort(np.argsort(self.pvalues_, kind="stable")[:kept])
        Z = X[:, self.selected_]
        Z = (Z - Z.mean(axis=0)) / np.where(Z.std(axis=0) > 0, Z.std(axis=0), 1.0)
        n_components = max(1, min(int(self.n_clusters) - 1, *Z.shape))
        U = PCA(n_components, random_state=self.random_state).fit_transform(Z)
        km = KMeans(self.n_clusters, n_init=self.n_init, random_state=self.random_state)
        self.labels_ = km.fit_predict(U)
        return self
