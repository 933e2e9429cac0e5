"""Baselines run by the same harness: same preprocessed table, same run-directory files, same metrics."""
import json

import numpy as np
import pytest

from idc.run_dir import read_predictions
from idc.train import train


@pytest.mark.parametrize("name", ["kmeans", "gmm", "spectral", "agglomerative", "ls_kmeans", "cae_kmeans"])
def test_baseline_writes_the_run_directory(cfg_factory, tmp_path, name):
    metrics = train(cfg_factory(f"method={name}", *(["method.baseline.epochs=5"] if name == "cae_kmeans" else [])))
    for f in ["metrics.json", "predictions.h5", "run_info.json", "DONE", "config.yaml"]:
        assert (tmp_path / f).is_file(), f
    info = json.loads((tmp_path / "run_info.json").read_text())  # the same record as an IDC run's
    assert {"wall_seconds", "device", "idc", "torch", "sklearn", "threads", "cpu_kernels", "python"} <= set(info)
    saved = json.loads((tmp_path / "metrics.json").read_text())
    pred = read_predictions(tmp_path / "predictions.h5")
    opened = pred["global_gates"][0].sum()  # CAE may pick a feature twice among its 50: fewer than 13 open
    assert saved == metrics and saved["selection"] == "final_epoch" and saved["open_global_gates"] == opened
    assert opened == 13 or (name == "cae_kmeans" and 1 <= opened <= 13)
    assert pred["clusters"].shape == (3256,) and set(np.unique(pred["clusters"])) <= set(range(4))
    assert pred["local_gates"].shape == (3256, 13) and pred["global_gates"].shape == (4, 13)


def test_kmeans_separates_the_synthetic_clusters(cfg_factory):
    # the official code's generator: K-means reaches 0.9985 on the official generator's table; ours is generated the same way
    assert train(cfg_factory("method=kmeans"))["acc"] > 0.99


def test_laplacian_score_ranks_the_structured_features_first():
    from idc.baselines.laplacian import LaplacianScoreKMeans, laplacian_score
    from idc.metrics import hungarian_accuracy

    rng = np.random.default_rng(0)
    y = np.repeat([0, 1, 2], 60)
    centres = np.array([[0.0, 0.0], [4.0, 0.0], [0.0, 4.0]])
    X = np.column_stack([centres[y] + rng.normal(0, 0.5, (180, 2)), rng.uniform(-3, 3, (180, 6))])
    scores = laplacian_score(X)
    assert set(np.argsort(scores)[:2]) == {0, 1}  # the two clustered features score lowest
    assert np.isinf(laplacian_score(np.column_stack([X, np.ones(180)]))[-1])  # constant feature: +inf
    model = LaplacianScoreKMeans(n_clusters=3, n_selected=2, random_state=0).fit(X)
    assert list(model.selected_) == [0, 1] and hungarian_accuracy(y, model.labels_) > 0.95


def test_laplacian_score_matches_a_dense_computation_with_duplicate_rows():
    from sklearn.neighbors import NearestNeighbors

    from idc.baselines.laplacian import laplacian_score

    rng = np.random.default_rng(1)
    X = rng.random((30, 4))
    X[1] = X[0]  # a duplicated sample: its nearest neighbour sits at distance 0 and must keep its edge
    _, idx = NearestNeighbors(n_neighbors=4).fit(X).kneighbors(X)
    A = np.zeros((30, 30), bool)
    for i, row in enumerate(idx):
        A[i, [j for j in row if j != i][:3]] = True
    A |= A.T
    sq = ((X[:, None] - X[None]) ** 2).sum(-1)
    S = np.where(A, np.exp(-sq / sq[A].mean()), 0.0)
    d = S.sum(1)
    Xc = X - (d @ X) / d.sum()
    expected = ((Xc * ((np.diag(d) - S) @ Xc)).sum(0)) / ((Xc**2 * d[:, None]).sum(0))
    np.testing.assert_allclose(laplacian_score(X, n_neighbors=3), expected, rtol=1e-10)


def test_concrete_autoencoder_selects_one_feature_per_redundant_group():
    from idc.baselines.concrete import ConcreteAutoencoderKMeans, temperature
    from idc.metrics import hungarian_accuracy

    rng = np.random.default_rng(0)
    y = np.repeat([0, 1, 2], 100)
    sources = np.eye(3)[y] * 3 + rng.normal(0, 0.3, (300, 3))
    # features 0-4 copy source 0, 5-9 source 1, 10-14 source 2 (small independent noise each)
    X = np.repeat(sources, 5, axis=1) + rng.normal(0, 0.05, (300, 15))
    model = ConcreteAutoencoderKMeans(n_clusters=3, n_selected=3, epochs=150, batch_size=64, lr=1e-2,
                                      random_state=0, device="cpu").fit(X)
    assert sorted(int(j) // 5 for j in model.selected_) == [0, 1, 2], model.selected_
    assert hungarian_accuracy(y, model.labels_) > 0.95
    assert temperature(0, 10, 10.0, 0.01) == 10.0 and temperature(9, 10, 10.0, 0.01) == pytest.approx(0.01)


def test_a_feature_selection_baseline_opens_only_its_selected_features(cfg_factory):
    metrics = train(cfg_factory("method=ls_kmeans", "method.baseline.n_selected=3"))
    assert metrics["open_local_gates"] == 3 and metrics["open_global_gates"] == 3


def test_ae_kmeans_stops_after_stage_1_whatever_schedule_an_experiment_sets(cfg_factory, tmp_path):
    import yaml

    # an experiment file's schedule (as experiment/paper/* sets) would otherwise train a head nobody uses
    metrics = train(cfg_factory("method=ae_kmeans", "schedule.head_epochs=1", "schedule.stage2_epochs=4"))
    saved = yaml.safe_load((tmp_path / "config.yaml").read_text())
    assert saved["schedule"]["epochs"] == saved["trainer"]["max_epochs"] == 4  # stage1_epochs
    assert metrics["epochs"] == 4 and "head_selection" not in metrics and "label_selected_best_epoch" not in metrics
    pred = read_predictions(tmp_path / "predictions.h5")
    for c in range(4):  # a cluster's gates: the mean local gates of its samples (no global gates were trained)
        members = pred["clusters"] == c
        if members.any():
            np.testing.assert_allclose(pred["global_gates"][c], pred["local_gates"][members].mean(0), rtol=1e-5, atol=1e-6)


def test_embedding_clusters_keep_their_centres_for_new_samples():
    from idc.clusterers import fit_centers, nearest_center

    X = np.r_[np.zeros((5, 2)), np.full((5, 2), 10.0)] + np.linspace(0, 1, 10)[:, None]
    labels, centers = fit_centers({"_target_": "sklearn.cluster.AgglomerativeClustering", "seed_param": None}, X, 2, 0)
    for c in range(2):  # no cluster_centers_ on this estimator: each cluster's mean
        np.testing.assert_allclose(centers[c], X[labels == c].mean(0))
    assert (nearest_center(X, centers) == labels).all()
    empty = np.array([[0.0, 0.0], [np.nan, np.nan], [10.0, 10.0]])  # a cluster left empty never wins
    assert nearest_center(np.array([[1.0, 1.0], [9.0, 9.0]]), empty).tolist() == [0, 2]
