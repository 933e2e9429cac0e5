"""Consensus of several runs' partitions (co-association + average linkage), used by the report and issue 22."""
import numpy as np
import pytest

from idc.consensus import coassociation_distance, consensus_partition
from idc.metrics import clustering_metrics


def test_consensus_of_identical_partitions_is_that_partition():
    rng = np.random.default_rng(0)
    p = rng.integers(0, 4, 60)
    c = consensus_partition([p, p, p], 4)
    assert clustering_metrics(p, c)["ari"] == 1.0


def test_consensus_does_not_depend_on_the_cluster_numbers_of_each_run():
    rng = np.random.default_rng(1)
    truth = np.repeat(np.arange(3), 20)
    runs = [np.where(rng.random(60) < 0.15, rng.integers(0, 3, 60), truth) for _ in range(5)]
    relabelled = [rng.permutation(3)[r] for r in runs]
    np.testing.assert_array_equal(consensus_partition(runs, 3), consensus_partition(relabelled, 3))
    each = max(clustering_metrics(truth, r)["acc"] for r in runs)
    assert clustering_metrics(truth, consensus_partition(runs, 3))["acc"] > each  # each run's noise is outvoted


def test_coassociation_distance_is_the_share_of_runs_that_separate_a_pair():
    a, b = np.array([0, 0, 1]), np.array([0, 1, 1])
    np.testing.assert_allclose(coassociation_distance([a, b]), [0.5, 1.0, 0.5])  # pairs (0,1), (0,2), (1,2)


def test_partitions_of_different_samples_are_refused():
    with pytest.raises(ValueError, match="different lengths"):
        consensus_partition([np.zeros(3), np.zeros(4)], 2)
