"""Interpretability and parity metrics against hand-computed values on tiny cases."""
import numpy as np
import pytest

from idc.metrics import (
    diversity,
    empty_sets,
    faithfulness,
    gate_f1,
    generalizability,
    global_gate_sets,
    greedy_accuracy,
    group_feature_sets,
    hungarian_accuracy,
    silhouette,
    uniqueness_stability,
)


def test_diversity_of_disjoint_identical_and_overlapping_sets():
    disjoint = np.array([[1, 1, 0, 0, 0, 0], [0, 0, 1, 1, 0, 0], [0, 0, 0, 0, 1, 1]], dtype=bool)
    identical = np.array([[1, 1, 0, 0]] * 3, dtype=bool)
    assert diversity(disjoint) == pytest.approx(100.0)
    assert diversity(identical) == pytest.approx(0.0)
    # official variant: the diagonal J_ii = 1 enters a sum divided by K(K-1) = 6 -> 100 * (1 - 3/6)
    assert diversity(disjoint, "official") == pytest.approx(50.0)
    assert diversity(identical, "official") == pytest.approx(100 * (1 - 9 / 6))
    half = np.array([[1, 1, 0], [0, 1, 1]], dtype=bool)  # Jaccard 1/3
    assert diversity(half) == pytest.approx(100 * (1 - 1 / 3))
    # empty sets share nothing, themselves included, as in the official code (scikit-learn's jaccard_score)
    some_empty = np.array([[1, 1, 0, 0], [0, 0, 0, 0], [0, 0, 0, 0], [0, 0, 1, 1]], dtype=bool)
    assert diversity(some_empty) == pytest.approx(100.0) and empty_sets(some_empty) == 2
    assert diversity(some_empty, "official") == pytest.approx(100 * (1 - 2 / 12))  # only the two non-empty J_ii
    assert diversity(np.zeros((10, 5), bool), "official") == pytest.approx(100.0)


def test_global_gate_diversity_leaves_out_clusters_without_samples_and_counts_empty_sets():
    gates = np.array([[0.9, 0.8, 0.0], [0.7, 0.0, 0.0], [0.0, 0.0, 0.0], [0.0, 0.0, 0.0]])
    # cluster 3 has no samples (its gates closed by the regulariser alone): left out; cluster 2's set is empty
    out = global_gate_sets(gates, np.array([0, 0, 1, 2, 2]))
    assert out["empty_sets_global_gates"] == 1
    # pairs (0,1) J = 1/2, (0,2) and (1,2) J = 0 -> 100 * (1 - (1/2) / 3)
    assert out["diversity_global_gates"] == pytest.approx(100 * (1 - 0.5 / 3))


def test_group_feature_sets_use_the_median_gate():
    gates = np.array([[0.9, 0.0], [0.5, 0.0], [0.0, 0.7], [0.0, 0.2], [0.0, 0.0]])
    groups = np.array([0, 0, 1, 1, 1])
    np.testing.assert_array_equal(group_feature_sets(gates, groups, 3), [[1, 0], [0, 1], [0, 0]])


def test_greedy_and_hungarian_differ_where_greedy_is_short_sighted():
    y = np.array([0, 0, 0, 1, 1, 0, 0])
    c = np.array([0, 0, 0, 0, 0, 1, 1])  # greedy takes cluster 0 -> label 0 (3) then 1 -> label 1 (0)
    assert greedy_accuracy(y, c) == pytest.approx(3 / 7)
    assert hungarian_accuracy(y, c) == pytest.approx(4 / 7)
    assert greedy_accuracy(y, y) == hungarian_accuracy(y, y) == 1.0


def test_greedy_accuracy_on_one_class_says_nothing_and_keeps_the_official_square_counts():
    import warnings

    from sklearn.metrics import confusion_matrix

    from idc.metrics.clustering import square_counts

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # idc-eval on new rows of one class: no scikit-learn warning on the console
        assert greedy_accuracy(np.zeros(5, int), np.full(5, 3)) == 1.0
    rng = np.random.default_rng(0)
    for _ in range(20):  # the official code's counts: scikit-learn's square confusion matrix over both codes
        rows, cols = rng.integers(0, rng.integers(1, 7), 30), rng.integers(0, rng.integers(1, 5), 30)
        rows, cols = np.unique(rows, return_inverse=True)[1], np.unique(cols, return_inverse=True)[1]
        np.testing.assert_array_equal(square_counts(rows, cols), confusion_matrix(rows, cols))


def test_faithfulness_sign_on_a_constructed_model():
    rng = np.random.default_rng(0)
    X = rng.random((200, 4))
    y = (X[:, 0] > 0.5).astype(int)
    predict = lambda Z: (Z[:, 0] > 0.5).astype(int)  # only feature 0 matters
    faithful = np.zeros_like(X)
    faithful[:, 0] = 1.0
    faithful[:150, 1], faithful[:100, 2], faithful[:50, 3] = 1.0, 1.0, 1.0  # importance 200 > 150 > 100 > 50
    r = faithfulness(X, faithful, predict, y)  # the decisive feature is the most important: ACC drops first
    assert r["features_removed"] == 4 and r["faithfulness"] > 0.7
    backwards = faithful[:, ::-1].copy()  # the decisive feature ranked least important: ACC drops last
    r = faithfulness(X, backwards, predict, y)
    assert r["faithfulness"] < -0.7 and r["faithfulness_official"] > 0.7  # the official variant misses it


def test_uniqueness_and_stability_on_hand_made_neighbours():
    X = np.array([[0.0, 0.0], [1.0, 0.0], [10.0, 0.0], [12.0, 0.0]])
    gates = np.array([[0.0], [2.0], [0.0], [1.0]])
    # nearest neighbours: 0<->1 (dist 1, gate dist 2), 2<->3 (dist 2, gate dist 1)
    r = uniqueness_stability(X, gates)  # the official k = 2: one neighbour, so min = max
    assert r["uniqueness"] == r["stability"] == pytest.approx((2 + 2 + 0.5 + 0.5) / 4)
    # k = 3, ratios to two neighbours: sample 0 {2, 0/10}, 1 {2, 2/9}, 2 {1/2, 2/9}, 3 {1/2, 1/11}
    r = uniqueness_stability(X, gates, k=3)
    assert r["uniqueness"] == pytest.approx((0 + 2 / 9 + 2 / 9 + 1 / 11) / 4)
    assert r["stability"] == pytest.approx((2 + 2 + 0.5 + 0.5) / 4)


def test_generalizability_of_informative_and_closed_gates():
    rng = np.random.default_rng(1)
    X = rng.normal(size=(300, 3))
    y = (X[:, 0] > 0).astype(int)
    assert generalizability(X, np.ones_like(X), y) > 0.9
    assert generalizability(X, np.tile([0.0, 1.0, 1.0], (300, 1)), y) < 0.7


def test_gate_f1_against_known_informative_features():
    labels = np.array([0, 1])
    informative = {0: [0, 1], 1: [0, 2]}
    exact = np.array([[1, 1, 0, 0], [1, 0, 1, 0]], dtype=float)
    assert gate_f1(exact, labels, informative) == 1.0
    all_open = np.ones((2, 4))
    assert gate_f1(all_open, labels, informative) == pytest.approx(2 * 0.5 * 1 / 1.5)  # P = 0.5, R = 1


def test_silhouette_is_label_free_and_nan_for_one_cluster():
    emb = np.array([[0.0], [0.1], [5.0], [5.1]])
    assert silhouette(emb, np.array([0, 0, 1, 1])) > 0.9
    assert np.isnan(silhouette(emb, np.zeros(4, dtype=int)))


def test_the_jaccard_matrix_is_scikit_learns_jaccard_of_each_pair_empty_sets_included():
    from sklearn.metrics import jaccard_score

    from idc.metrics.interpretability import jaccard_matrix

    sets = np.random.default_rng(0).random((6, 25)) < 0.3
    sets[[1, 4]] = False  # two empty sets: they share nothing, not even with each other
    expected = [[jaccard_score(a, b, zero_division=0.0) for b in sets] for a in sets]
    np.testing.assert_allclose(jaccard_matrix(sets), expected)
