"""Clustering quality against labels (ACC, NMI, ARI) and gate counts."""
from __future__ import annotations

from typing import NamedTuple

import numpy as np
from scipy.optimize import linear_sum_assignment
from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score


class MatchedConfusion(NamedTuple):
    """Labels x clusters counts, columns ordered so that cluster ``clusters[i]`` is the one matched to
    ``classes[i]``; ``accuracy`` is the matched share of all samples."""

    table: np.ndarray
    classes: np.ndarray
    clusters: np.ndarray
    accuracy: float


def matched_confusion(y_true: np.ndarray, y_pred: np.ndarray) -> MatchedConfusion:
    """Match clusters to labels one-to-one maximising the agreement (``scipy.optimize.linear_sum_assignment``
    on the contingency table); unmatched clusters (more clusters than classes) follow in id order."""
    y_true = np.asarray(y_true).reshape(-1)
    y_pred = np.asarray(y_pred).reshape(-1)
    if y_true.size == 0:
        raise ValueError("matching needs at least one sample")
    classes, true_idx = np.unique(y_true, return_inverse=True)
    ids, pred_idx = np.unique(y_pred, return_inverse=True)
    counts = np.zeros((len(classes), len(ids)), dtype=np.int64)
    np.add.at(counts, (true_idx, pred_idx), 1)
    rows, cols = linear_sum_assignment(counts, maximize=True)
    order = list(cols) + sorted(set(range(len(ids))) - set(cols))
    return MatchedConfusion(counts[:, order], classes, ids[order], float(counts[rows, cols].sum() / y_true.size))


def hungarian_accuracy(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """Clustering accuracy: the fraction of samples correct under the best one-to-one map from clusters to
    labels, ``max_perm (1/N) sum_i 1[y_i = perm(c_i)]`` (Hungarian method). Works when the numbers of
    clusters and classes differ (unmatched clusters count as wrong)."""
    return matched_confusion(y_true, y_pred).accuracy


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
    return _reduce((np.asarray(gates) > 0).sum(axis=1), reduce)


def gate_mass(gates: np.ndarray, reduce: str) -> float:
    """The official code's |S| (``num_open_gates``, ``open_global_gates``): the sum of the gate values per row,
    reduced as in :func:`open_gates`; a gate at 0.5 counts a half here and a whole gate there."""
    return _reduce(np.asarray(gates, dtype=np.float64).sum(axis=1), reduce)


def _reduce(per_row: np.ndarray, reduce: str) -> float:
    if reduce == "median":
        return float(np.median(per_row))
    if reduce == "mean":
        return float(np.mean(per_row))
    raise ValueError(f"reduce must be 'median' or 'mean', got {reduce!r}")


def cluster_sizes(y_pred: np.ndarray, n_clusters: int) -> list[int]:
    """Samples per cluster index 0..n_clusters-1 (empty clusters count 0)."""
    return np.bincount(np.asarray(y_pred).reshape(-1), minlength=n_clusters).astype(int).tolist()


def square_counts(rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """Counts of the pairs of codes ``0..n-1`` (``n``: the larger count of codes), an n x n float matrix: what
    scikit-learn's ``confusion_matrix`` gives, without its warning where both sides hold one code."""
    n = int(max(rows.max(initial=0), cols.max(initial=0))) + 1
    counts = np.zeros((n, n))
    np.add.at(counts, (rows, cols), 1.0)
    return counts


def greedy_accuracy(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """The official code's ACC (``cluster_match``, from NMCE): repeatedly take the cluster whose most common
    still-unassigned label is the largest count, and assign it that label. It can be below the Hungarian
    ACC; reported only for parity with the paper's numbers."""
    y_true = np.asarray(y_true).reshape(-1)
    _, true_idx = np.unique(y_true, return_inverse=True)
    _, pred_idx = np.unique(np.asarray(y_pred).reshape(-1), return_inverse=True)
    counts = square_counts(pred_idx, true_idx)
    n_labels = counts.shape[1]
    clusters = list(range(counts.shape[0]))
    assigned: list[int] = []
    correct = 0.0
    while len(assigned) <= n_labels and clusters:
        masked = counts[clusters].copy()
        masked[:, assigned] = 0
        best = int(masked.max(axis=1).argmax())
        assigned.append(int(masked[best].argmax()))
        correct += masked[best].max()
        clusters.pop(best)
    return float(correct / y_true.size)


def silhouette(
    embeddings: np.ndarray, clusters: np.ndarray, max_samples: int = 5000, seed: int = 0, undefined: float = float("nan")
) -> float:
    """Silhouette of the clusters on the embedding (label-free); computed on a seeded subsample of
    ``max_samples`` rows for large N. ``undefined`` (NaN by default; -1, the worst value, where it ranks partitions)
    when fewer than two clusters are used, in the table or in its subsample."""
    from sklearn.metrics import silhouette_score

    clusters = np.asarray(clusters)
    if len(clusters) > max_samples:
        rows = np.random.default_rng(seed).choice(len(clusters), max_samples, replace=False)
        embeddings, clusters = np.asarray(embeddings)[rows], clusters[rows]
    if len(np.unique(clusters)) < 2:
        return float(undefined)
    return float(silhouette_score(embeddings, clusters))
