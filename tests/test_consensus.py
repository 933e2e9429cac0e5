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


def test_average_linkage_of_groups_is_scipys_average_linkage_of_their_samples():
    """Groups of identical samples with sizes build the tree that scipy builds over the samples (cophenetic
    distances; continuous distances, so no ties)."""
    from scipy.cluster.hierarchy import cophenet, linkage
    from scipy.spatial.distance import pdist, squareform

    from idc.consensus import average_linkage

    rng = np.random.default_rng(2)
    groups, sizes = rng.normal(size=(12, 3)), rng.integers(1, 4, 12)
    samples = np.repeat(np.arange(12), sizes)
    ours = squareform(cophenet(average_linkage(squareform(pdist(groups)), sizes)))[np.ix_(samples, samples)]
    np.testing.assert_allclose(squareform(ours, checks=False), cophenet(linkage(pdist(groups[samples]), "average")))


def test_partitions_of_different_samples_are_refused():
    with pytest.raises(ValueError, match="different lengths"):
        consensus_partition([np.zeros(3), np.zeros(4)], 2)


# ------------------------------------------------------------------ several runs combined (issue 22, section 3)
from idc.consensus import cluster_map, combine_runs  # noqa: E402


def test_combined_runs_of_one_partition_give_it_back_with_full_agreement():
    rng = np.random.default_rng(2)
    p = rng.integers(0, 3, 50)
    gates = [rng.random((50, 4)) for _ in range(3)]
    both = combine_runs([p, rng.permutation(3)[p], p], 3, gates, [np.eye(3, 4)] * 3)
    np.testing.assert_array_equal(both.labels, p)  # numbered as the representative run (the first of the ties)
    assert both.agreement == 1.0 and both.run_agreement == [1.0, 1.0, 1.0]
    np.testing.assert_allclose(both.local_gates, np.mean(gates, axis=0))  # every run agrees on every sample


def test_global_gates_are_matched_to_the_consensus_clusters_before_averaging():
    p = np.repeat(np.arange(3), 10)
    relabel = np.array([2, 0, 1])  # run 2's cluster relabel[c] is the consensus cluster c
    gates = np.arange(12, dtype=float).reshape(3, 4)
    both = combine_runs([p, relabel[p]], 3, None, [gates, gates[np.argsort(relabel)]])
    np.testing.assert_allclose(both.global_gates, gates)  # the same gates per cluster, whatever the numbering
    assert list(cluster_map(p, relabel[p], 3)[relabel]) == [0, 1, 2]


def test_local_gates_are_averaged_over_the_runs_that_agree_on_the_sample():
    p = np.repeat(np.arange(2), 10)
    odd = p.copy()
    odd[0] = 1  # the third run puts sample 0 elsewhere
    gates = [np.zeros((20, 1)), np.zeros((20, 1)), np.ones((20, 1))]
    both = combine_runs([p, p, odd], 2, gates)
    assert both.labels[0] == 0 and both.local_gates[0, 0] == 0.0  # the dissenting run is left out there
    assert both.local_gates[5, 0] == pytest.approx(1 / 3) and 0 < both.agreement < 1


def test_idc_train_with_n_init_writes_the_consensus_and_its_agreement(cfg_factory, tmp_path):
    import json

    from idc.consensus_run import seed_run_dir
    from idc.run_dir import DONE, read_predictions
    from idc.train import train

    metrics = train(cfg_factory("model.n_init=2", "eval.enabled=false", "dataset.load.n_samples=400", "seed=3"))
    saved = json.loads((tmp_path / "metrics.json").read_text())
    assert 0.0 <= saved["consensus_agreement"] <= 1.0 and saved["seeds"] == [3, 4]
    assert saved["consensus_agreement"] == metrics["consensus_agreement"] and (tmp_path / DONE).exists()
    runs = [read_predictions(seed_run_dir(tmp_path, s) / "predictions.h5")["clusters"] for s in (3, 4)]
    expected = combine_runs(runs, 4)
    np.testing.assert_array_equal(read_predictions(tmp_path / "predictions.h5")["clusters"], expected.labels)


@pytest.mark.slow
def test_n_jobs_trains_the_n_init_runs_at_once_and_changes_nothing_else(tmp_path, caplog, monkeypatch, request):
    import logging

    import yaml

    import idc.fit

    from tests.conftest import make_cfg

    from idc.console import apply_threads
    from idc.consensus_run import seed_run_dir
    from idc.run_dir import DONE, read_predictions
    from idc.train import train

    settings = ("model.n_init=2", "eval.enabled=false", "dataset.load.n_samples=300", "seed=5", "threads=1",
                "size_rule.enabled=true", "gates.reg_lambda=0.5")  # a key of the rule's, given: kept in every run
    import torch

    request.addfinalizer(lambda threads=torch.get_num_threads(): torch.set_num_threads(threads))
    apply_threads(1)  # as idc-train does for threads=1 (train() called in-process leaves the threads as they are):
    train(make_cfg(tmp_path / "one", *settings))  # the workers' count, so that both sum in the same order
    here, real = [], idc.fit.train_model
    monkeypatch.setattr(idc.fit, "train_model", lambda *a, **k: here.append(1) or real(*a, **k))  # this process
    with caplog.at_level(logging.INFO, logger="idc"):
        train(make_cfg(tmp_path / "two", *settings, "model.n_jobs=2"))
    assert here == [] and "consensus: 2 runs, 2 at once with 1 thread(s) each" in caplog.text  # in worker processes
    for seed in (5, 6):
        sub = seed_run_dir(tmp_path / "two", seed)
        assert (sub / DONE).exists() and "size rule:" in (sub / "train.log").read_text()  # its own log
        assert yaml.safe_load((sub / "config.yaml").read_text())["gates"]["reg_lambda"] == 0.5
        one, two = (read_predictions(seed_run_dir(tmp_path / d, seed) / "predictions.h5") for d in ("one", "two"))
        np.testing.assert_array_equal(one["clusters"], two["clusters"])
        np.testing.assert_allclose(one["local_gates"], two["local_gates"], atol=1e-6)
    consensus = [read_predictions(tmp_path / d / "predictions.h5")["clusters"] for d in ("one", "two")]
    np.testing.assert_array_equal(*consensus)
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="idc"):  # again: the done runs are not trained again
        train(make_cfg(tmp_path / "two", *settings, "model.n_jobs=2"))
    assert "consensus: 2 of 2 runs already done" in caplog.text and here == []
    np.testing.assert_array_equal(read_predictions(tmp_path / "two" / "predictions.h5")["clusters"], consensus[0])


def test_runs_in_processes_all_end_before_the_first_failure_is_raised():
    import math

    from idc.parallel import run_in_processes

    finished = []
    with pytest.raises(ValueError, match="math domain error"):
        run_in_processes(math.sqrt, [(4.0,), (-1.0,), (9.0,)], jobs=2, threads=1,
                         done=lambda i, value: finished.append((i, value)))
    assert sorted(finished) == [(0, 2.0), (2, 3.0)]
    assert run_in_processes(math.sqrt, [(4.0,), (9.0,)], jobs=2, threads=1) == [2.0, 3.0]  # in call order


def test_worker_threads_split_what_this_process_may_use(monkeypatch):
    from idc.parallel import worker_threads

    monkeypatch.setenv("OMP_NUM_THREADS", "4")  # as a launcher sets it for its own jobs
    assert worker_threads(None, 2) == 2 and worker_threads(None, 8) == 1 and worker_threads(3, 2) == 3


def test_n_jobs_is_refused_with_several_devices():
    from idc.config import compose
    from idc.schema import ConfigError, validate

    validate(compose(["model.n_jobs=2"]))
    with pytest.raises(ConfigError, match="model.n_jobs=2 trains the model.n_init runs in worker processes"):
        validate(compose(["model.n_jobs=2", "trainer=ddp"]))
