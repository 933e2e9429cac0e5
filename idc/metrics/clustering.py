"""Clustering quality against labels (ACC, NMI, ARI) and gate counts."""
from __future__ import annotations

import numpy as np
from scipy.optimize import linear_sum_assignment
from sklearn.metrics import adjusted_rand_score, confusion_matrix, normalized_mutual_info_score


def hungarian_accuracy(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """Clustering accuracy: the fraction of samples correct under the best one-to-one map from clusters to
    labels, ``max_perm (1/N) sum_i 1[y_i = perm(c_i)]``, found by ``scipy.optimize.linear_sum_assignment``.
    Works when the number of clusters and classes differ (unmatched clusters count as wrong)."""
    y_true = np.asarray(y_true).reshape(-1)
    y_pred = np.asarray(y_pred).reshape(-1)
    if y_true.size == 0:
        raise ValueError("hungarian_accuracy needs at least one sample")
    _, true_idx = np.unique(y_true, return_inverse=True)
    _, pred_idx = np.unique(y_pred, return_inverse=True)
    counts = confusion_matrix(pred_idx, true_idx)  # rows: clusters, columns: labels
    rows, cols = linear_sum_assignment(counts, maximize=True)
    return float(counts[rows, cols].sum() / y_true.size)


def clustering_metrics(y_true: np.ndarray, y_pred: np.ndarray) -> dict[str, float]:
    """``acc`` (Hungarian), ``nmi`` and ``ari`` (scikit-learn)."""
    return {
        "acc": hungarian_accuracy(y_true, y_pred),
        "nmi": float(normalized_mutual_info_score(y_true, y_pred)),
        "ari": float(adjusted_rand_score(y_true, y_pred)),
    }


def open_gates(gates: np.ndarray, reduce: str) -> float:
    """Number of open gates (value > 0) per row of ``gates``, reduced over rows by ``median`` (local gates,
    one row per sample) or ``mean`` (global gates, one row per cluster)."""
    counts = (np.asarray(gates) > 0).sum(axis=1)
    if reduce == "median":
        return float(np.median(counts))
    if reduce == "mean":
        return float(np.mean(counts))
    raise ValueError(f"reduce must be 'median' or 'mean', got {reduce!r}")


def cluster_sizes(y_pred: np.ndarray, n_clusters: int) -> list[int]:
    """Samples per cluster index 0..n_clusters-1 (empty clusters count 0)."""
    return np.bincount(np.asarray(y_pred).reshape(-1), minlength=n_clusters).astype(int).tolist()
