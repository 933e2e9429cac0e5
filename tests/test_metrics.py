"""Clustering metrics against brute force."""
from itertools import permutations

import numpy as np
import pytest

from idc.metrics import cluster_sizes, clustering_metrics, gate_mass, hungarian_accuracy, open_gates, silhouette


def brute_force_accuracy(y, c):
    labels, clusters = np.unique(y), np.unique(c)
    k = max(len(labels), len(clusters))
    best = 0
    for perm in permutations(range(k), len(clusters)):
        mapping = {cl: perm[i] for i, cl in enumerate(clusters)}
        mapped = np.array([labels[mapping[v]] if mapping[v] < len(labels) else -1 for v in c])
        best = max(best, int((mapped == y).sum()))
    return best / len(y)


@pytest.mark.parametrize("seed", range(12))
def test_hungarian_equals_brute_force(seed):
    rng = np.random.default_rng(seed)
    n_labels, n_clusters = rng.integers(2, 5), rng.integers(2, 6)
    y = rng.integers(0, n_labels, size=30)
    c = rng.integers(0, n_clusters, size=30) + 7  # arbitrary cluster ids
    assert hungarian_accuracy(y, c) == pytest.approx(brute_force_accuracy(y, c))


def test_perfect_and_permuted_clusterings():
    y = np.array([0, 0, 1, 1, 2, 2])
    m = clustering_metrics(y, np.array([2, 2, 0, 0, 1, 1]))
    assert m == pytest.approx({"acc": 1.0, "nmi": 1.0, "ari": 1.0})
    assert hungarian_accuracy(y, np.zeros(6, dtype=int)) == pytest.approx(1 / 3)


def test_gate_counts_and_cluster_sizes():
    gates = np.array([[0.0, 0.3, 1.0], [0.0, 0.0, 0.2], [0.5, 0.5, 0.5]])
    assert open_gates(gates, "median") == 2.0
    assert open_gates(gates, "mean") == pytest.approx(2.0)
    assert gate_mass(gates, "median") == pytest.approx(1.3)  # per row 1.3, 0.2, 1.5: the official |S|
    assert gate_mass(gates, "mean") == pytest.approx(1.0)
    assert cluster_sizes(np.array([0, 2, 2]), 4) == [1, 0, 2, 0]


def test_silhouette_is_undefined_for_one_cluster_also_in_its_subsample():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(400, 3))
    two = (x[:, 0] > 0).astype(int)
    assert silhouette(x, two) > 0.2 and silhouette(x, two, max_samples=100) > 0.2  # a subsample scores alike
    assert np.isnan(silhouette(x, np.zeros(400, int))) and silhouette(x, np.zeros(400, int), undefined=-1.0) == -1.0
    lonely = np.zeros(400, int)
    lonely[7] = 3  # a second cluster of one row: the 100-row subsamples of most seeds miss it
    values = [silhouette(x, lonely, max_samples=100, seed=s, undefined=-1.0) for s in range(10)]
    assert values.count(-1.0) >= 5 and all(-1.0 <= v <= 1.0 for v in values)
