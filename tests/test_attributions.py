"""Post-hoc attributions (Captum) as top-k gates, scored by the interpretability metrics IDC's gates get."""
import json

import numpy as np
import pytest
import torch
from sklearn.cluster import KMeans

from idc.attributions import (
    METHODS,
    attribute,
    attribution_gates,
    cluster_top_k_gates,
    kmeans_forward,
    margin_temperature,
    own_clusters,
    top_k_gates,
)
from idc.metrics import interpretability_metrics

INFORMATIVE = [0, 1, 2]


@pytest.fixture(scope="module")
def tiny():
    """60 rows, 20 features; only features 0-2 separate the two clusters. K-means' soft assignment and a tiny
    MLP trained on the classes (which K-means finds) are the two models explained."""
    rng = np.random.default_rng(0)
    y = np.repeat([0, 1], 30)
    X = rng.normal(0, 1, (60, 20)).astype(np.float32)
    X[:, INFORMATIVE] += np.where(y[:, None] == 0, -2.0, 2.0)
    km = KMeans(2, n_init=10, random_state=0).fit(X)
    centers = km.cluster_centers_[np.argsort(km.cluster_centers_[:, 0])]  # cluster 0: the low one, as y
    torch.manual_seed(0)
    mlp = torch.nn.Sequential(torch.nn.Linear(20, 8), torch.nn.ReLU(), torch.nn.Linear(8, 2))
    opt = torch.optim.Adam(mlp.parameters(), 0.05)
    x, t = torch.as_tensor(X), torch.as_tensor(y, dtype=torch.long)
    for _ in range(100):
        opt.zero_grad()
        torch.nn.functional.cross_entropy(mlp(x), t).backward()
        opt.step()
    models = {"kmeans": kmeans_forward(centers, margin_temperature(X, centers)), "mlp": mlp}
    return X, y, models


@pytest.mark.parametrize("model", ["kmeans", "mlp"])
@pytest.mark.parametrize("method", METHODS)
def test_each_method_ranks_the_informative_features_first(tiny, method, model):
    X, y, models = tiny
    rows = np.r_[0:5, 30:35] if method == "kernel_shap" else np.arange(len(X))  # Kernel SHAP: one fit per row
    out = attribution_gates(models[model], X[rows], method, 2, k=3, background=X, n_samples=100)
    assert np.array_equal(out["clusters"], y[rows])
    assert set(np.argsort(-np.abs(out["attributions"]).mean(0))[:3]) == set(INFORMATIVE)
    assert out["global_gates"].shape == (2, 20)
    assert all(set(np.flatnonzero(g)) == set(INFORMATIVE) for g in out["global_gates"])  # each cluster's top 3
    assert out["local_gates"][:, INFORMATIVE].sum() >= 0.8 * out["local_gates"].sum()


def test_kernel_shap_is_seeded(tiny):
    X, _, models = tiny
    one, two = (attribute(models["mlp"], X[:2], "kernel_shap", background=X, n_samples=50, seed=3) for _ in range(2))
    other = attribute(models["mlp"], X[:2], "kernel_shap", background=X, n_samples=50, seed=4)
    assert np.array_equal(one, two) and not np.array_equal(one, other)


def test_top_15_gates_have_the_right_shape_and_counts():
    rng = np.random.default_rng(1)
    a = rng.normal(size=(40, 30))
    a[0, :20] = 0.0  # only 10 features of row 0 have an attribution
    gates = top_k_gates(a, 15)
    assert gates.shape == (40, 30) and gates.dtype == np.float32 and set(np.unique(gates)) == {0.0, 1.0}
    assert gates[0].sum() == 10 and (gates[1:].sum(1) == 15).all()
    ranks = np.argsort(np.argsort(-np.abs(a[1:]), axis=1), axis=1)  # 0: largest |attribution|
    assert np.array_equal(gates[1:] > 0, ranks < 15)
    clusters = np.repeat([0, 2], 20)  # cluster 1 has no rows
    glob = cluster_top_k_gates(a, clusters, 3, 15)
    assert glob.shape == (3, 30) and list(glob.sum(1)) == [15, 0, 15]
    top = np.argsort(-np.abs(a[20:]).mean(0))[:15]
    assert set(np.flatnonzero(glob[2])) == set(top)
    with pytest.raises(ValueError, match="k must be between 1 and the 30 features"):
        top_k_gates(a, 31)


def test_the_interpretability_metrics_score_attribution_gates(tiny):
    X, y, models = tiny
    out = attribution_gates(models["mlp"], X, "ig", 2, k=3)
    m = interpretability_metrics(X, out["clusters"], out["local_gates"], out["global_gates"],
                                 lambda Z: own_clusters(models["mlp"], Z), 2, y, 2, {0: INFORMATIVE, 1: INFORMATIVE})
    assert m["subsample"] == {"n": 60, "of": 60, "seed": 0} and m["features_removed"] >= 3
    assert m["diversity_clusters"] == 0.0  # both clusters rest on the same three features
    assert m["generalizability"] == 1.0 and m["gate_f1"] > 0.8 and m["faithfulness"] > 0.5
    assert np.isfinite([m["uniqueness"], m["stability"], m["faithfulness_official"]]).all()


def test_kmeans_forward_assigns_the_nearest_centre():
    rng = np.random.default_rng(2)
    centers, X = rng.normal(size=(4, 5)), rng.normal(size=(50, 5)).astype(np.float32)
    nearest = ((X[:, None] - centers[None]) ** 2).sum(-1).argmin(1)
    forward = kmeans_forward(centers, margin_temperature(X, centers))
    assert np.array_equal(own_clusters(forward, X), nearest)
    assert np.allclose(forward(torch.as_tensor(X)).sum(1).numpy(), 1.0, atol=1e-5)
    with pytest.raises(ValueError, match="centres must be finite"):
        kmeans_forward(np.full((2, 5), np.nan), 1.0)


def test_attribution_record_of_a_kmeans_run(cfg_factory, tmp_path):
    from idc.attribution_run import attribution_record
    from idc.cli.results import main
    from idc.results import add, load_records
    from idc.train import train

    train(cfg_factory("method=kmeans"))
    written = attribution_record(tmp_path, "kernel_shap", top_k=3, n_samples=60, max_samples=20)
    saved = json.loads((tmp_path / "eval_kernel_shap.json").read_text())
    assert saved["acc"] > 0.99 and saved["open_local_gates"] == 3 and saved["subsample"]["n"] == 20
    assert saved["explainer"]["agreement_with_run_clusters"] > 0.99 and saved["faithfulness"] == written["faithfulness"]
    assert saved["gate_f1"] > 0.5  # synthetic: the informative features are known
    record = load_records(add(tmp_path, tmp_path / "store").parents[3])[0]
    assert record.attributions["kernel_shap"]["acc"] == saved["acc"]
    assert main(["attribute", str(tmp_path), "--method", "saliency"]) == 1  # unknown method: an error, no file
    assert not (tmp_path / "eval_saliency.json").exists()


def test_attribution_record_refuses_a_baseline_without_centres(cfg_factory, tmp_path):
    from idc.attribution_run import attribution_record
    from idc.data import DataError
    from idc.train import train

    train(cfg_factory("method=gmm"))
    with pytest.raises(DataError, match="GaussianMixture"):
        attribution_record(tmp_path, "ig")
