"""Every gate network composes with every clustering head: smoke runs on synthetic write the same files; the
k-means head is scikit-learn's KMeans; the config check refuses restarts and a k-means start where a head has none."""
import json

import numpy as np
import pytest
import torch
from omegaconf import OmegaConf
from sklearn.cluster import KMeans

from idc import losses, stage2
from idc.config import compose
from idc.inference import predict
from idc.module import IDCModule
from idc.schema import ConfigError
from idc.fit import build_module
from idc.train import train


@pytest.mark.parametrize("gates,head", [("hard_concrete", "dec"), ("stg", "kmeans"), ("none", "dec"),
                                        ("hard_concrete", "mcr")])
def test_each_gate_network_and_head_trains_a_smoke_run_with_every_file(cfg_factory, tmp_path, gates, head):
    metrics = train(cfg_factory("dataset=synthetic", f"gates={gates}", f"head={head}", "eval.plots=false"))
    assert (tmp_path / "DONE").exists()
    saved = json.loads((tmp_path / "metrics.json").read_text())
    evaluation = json.loads((tmp_path / "eval.json").read_text())
    assert saved["acc"] == metrics["acc"] and 0.25 <= saved["acc"] <= 1.0
    assert 0 <= saved["open_local_gates"] <= 13 and 0 <= saved["open_global_gates"] <= 13
    assert evaluation  # the interpretability scores of every gate kind
    assert 0.0 <= evaluation["global_gate_fidelity"] <= 1.0
    if gates == "none":
        assert saved["open_local_gates"] == 13


def _kmeans_module(cfg) -> IDCModule:
    plain = OmegaConf.to_container(cfg, resolve=True)
    return IDCModule(6, 4, plain["gates"], plain["head"], plain["model"], plain["schedule"], seed=3)


def test_the_kmeans_head_is_scikit_learns_kmeans_on_the_same_embeddings_and_seed(cfg_factory):
    rng = np.random.default_rng(0)
    emb = torch.as_tensor(np.concatenate([rng.normal(c, 1.0, (60, 4)) for c in (-4, 0, 4, 8)]), dtype=torch.float32)
    module = _kmeans_module(cfg_factory("head=kmeans", "head.n_init=3"))
    stage2.set_frozen(module, emb, torch.zeros(len(emb), 6))
    stage2.fit_centroid_heads(module)
    ours = stage2.partitions(module, [module.cluster_head])[0].numpy()
    theirs = KMeans(4, init="k-means++", n_init=3, random_state=3).fit(emb.numpy())
    np.testing.assert_array_equal(ours, theirs.labels_)
    np.testing.assert_allclose(module.cluster_head.centroids.numpy(), theirs.cluster_centers_, rtol=1e-5)
    # inference: each row goes to the nearest centroid (the module's forward on the rows' embeddings)
    logits = module.cluster_head(module.head_input(emb))
    np.testing.assert_array_equal(logits.argmax(1).numpy(), theirs.predict(emb.numpy()))


def test_predict_gives_the_dec_heads_argmax_q(cfg_factory, tmp_path):
    from idc.data import load_table
    from idc.fit import fit

    cfg = cfg_factory("head=dec")
    table = load_table(cfg.dataset)
    module, _, _ = fit(cfg, table, tmp_path)
    pred = predict(module, table.X)
    with torch.no_grad():
        q = module.cluster_head.soft_assignments(module.head_input(torch.as_tensor(pred["embeddings"])))
    np.testing.assert_array_equal(pred["clusters"], q.argmax(1).numpy())


@pytest.mark.parametrize("overrides,message", [
    (["head=kmeans", "head.restarts=4"], "head.restarts: 4 is not allowed with head=kmeans"),
    (["head=dec", "head.restarts=2"], "head.restarts: 2 is not allowed with head=dec"),
    (["head=dec", "head.init=kmeans"], "head.init: 'kmeans' is not allowed with head=dec"),
    (["head=kmeans", "head.init=random"], "head.init: 'random' is not allowed with head=kmeans"),
    (["head=dec", "head.kind=spectral"], "head.kind: 'spectral' is not allowed; allowed: mcr, kmeans, dec"),
    (["gates=hard_concrete", "gates.kind=none"], "gates.kind: 'none' with gates.enabled=true"),
])
def test_restarts_and_kmeans_start_are_refused_where_the_head_has_none(overrides, message):
    with pytest.raises(ConfigError, match="^" + message.replace("(", r"\(")):
        compose(["schedule=smoke", *overrides])


def test_the_centered_gates_coding_rate_reaches_stage_1(cfg_factory):
    """``gates.gtcr_center`` changes stage 1's ``gtcr`` term, and only it, on the same batch and noise."""
    x = torch.rand(8, 12, generator=torch.Generator().manual_seed(0))
    terms = {}
    for center in (False, True):
        torch.manual_seed(0)
        module = build_module(cfg_factory(f"gates.gtcr_center={str(center).lower()}"), n_features=12, n_clusters=3)
        torch.manual_seed(1)
        terms[center] = module.stage1_losses(x, epoch=2)  # smoke: gates on from epoch 2
    assert terms[True]["gtcr"].item() > terms[False]["gtcr"].item()  # a smaller rate: the mean is taken out
    assert terms[True]["recon_gated"].item() == pytest.approx(terms[False]["recon_gated"].item())


@pytest.mark.parametrize("own_feature_open, expected", [(True, 1.0), (False, 1 / 3)])
def test_global_gate_fidelity_is_how_often_the_kept_features_recognise_the_cluster(cfg_factory, own_feature_open,
                                                                                    expected):
    """Cluster k's samples carry a 1 in feature k, which the stand-in auxiliary classifier reads (logits = the
    first 3 features); global gates that keep feature k recognise every sample, gates that close it leave zeros
    (argmax 0: only cluster 0's third)."""
    module = build_module(cfg_factory("head.global_gates.baseline=zero"), n_features=5, n_clusters=3)
    module.aux_classifier = torch.nn.Identity()  # logits: the 5 inputs, of which features 3-4 stay 0
    sign = 1.0 if own_feature_open else -1.0
    with torch.no_grad():
        module.global_gates.weight.copy_(-sign * 5.0 * torch.ones(3, 5) + sign * 10.0 * torch.eye(3, 5))
    clusters = torch.arange(30) % 3
    gated = torch.nn.functional.one_hot(clusters, 5).float()
    out = stage2.global_gate_fidelity(module, gated, clusters)
    assert out["global_gate_fidelity"] == pytest.approx(expected)
    assert out["global_gate_fidelity_min"] == (1.0 if own_feature_open else 0.0)  # clusters 1, 2: none recognised


def test_the_noise_free_gates_coding_rate_reaches_stage_1(cfg_factory):
    """``gates.gtcr_noise=false``: stage 1's ``gtcr`` term is the rate of the evaluation gates of the batch."""
    x = torch.rand(8, 12, generator=torch.Generator().manual_seed(0))
    torch.manual_seed(0)
    module = build_module(cfg_factory("gates.gtcr_noise=false"), n_features=12, n_clusters=3)
    torch.manual_seed(1)
    terms = module.stage1_losses(x, epoch=2)
    expected = losses.gates_coding_rate_loss(module.gating.evaluation_gates(module.gating(x)))
    assert terms["gtcr"].item() == pytest.approx(expected.item(), rel=1e-5)


def _linear_kmeans_module(cfg_factory, *overrides: str) -> IDCModule:
    return _kmeans_module(cfg_factory("head=kmeans", "model.hidden=[]", "model.bottleneck=3", *overrides))


def test_the_decoder_metric_makes_the_kmeans_head_blind_to_the_linear_codes_coordinates(cfg_factory):
    """A linear autoencoder's code in other coordinates (z A^T with decoder W A^-1: the same reconstructions)
    gets the same k-means partition under head.metric=decoder, and its distances are the reconstructions'."""
    rng = np.random.default_rng(1)
    z = torch.as_tensor(np.concatenate([rng.normal(c, 0.5, (50, 3)) for c in (-2, 0, 2, 4)]), dtype=torch.float64)
    A = torch.as_tensor([[1.0, 0.0, 0.0], [0.0, 0.05, 0.0], [3.0, 0.0, 20.0]], dtype=torch.float64)
    first, second = (_linear_kmeans_module(cfg_factory, "head.metric=decoder").double() for _ in range(2))
    W = first.autoencoder.decoder[0].weight.detach()
    with torch.no_grad():
        second.autoencoder.decoder[0].weight.copy_(W @ torch.linalg.inv(A))
    parts = []
    for module, code in ((first, z), (second, z @ A.T)):
        with torch.no_grad():
            inputs, recon = module.head_input(code), code @ module.autoencoder.decoder[0].weight.T
        np.testing.assert_allclose(torch.cdist(inputs, inputs), torch.cdist(recon, recon), atol=1e-9)
        stage2.set_frozen(module, code, torch.zeros(len(code), 6))
        stage2.fit_centroid_heads(module)
        parts.append(stage2.partitions(module, [module.cluster_head])[0].numpy())
    np.testing.assert_array_equal(parts[0], parts[1])
    plain = _linear_kmeans_module(cfg_factory)  # the raw code: its coordinates change the partition here
    stage2.set_frozen(plain, (z @ A.T).float(), torch.zeros(len(z), 6))
    stage2.fit_centroid_heads(plain)
    assert not np.array_equal(stage2.partitions(plain, [plain.cluster_head])[0].numpy(), parts[0])


@pytest.mark.parametrize("overrides", [["head=kmeans", "model.hidden=[8]"],
                                       ["head=kmeans", "model.hidden=[]", "head.standardize_inputs=true"],
                                       ["head=mcr", "model.hidden=[]", "head.standardize_inputs=false"]])
def test_the_decoder_metric_is_refused_without_a_kmeans_head_on_a_linear_decoders_raw_code(cfg_factory, overrides):
    with pytest.raises(ValueError, match="head.metric=decoder .* needs head=kmeans or head=dec, model.hidden=\\[\\]"):
        _kmeans_module(cfg_factory(*overrides, "head.metric=decoder"))


def test_prediction_keeps_the_decoder_metrics_partition(cfg_factory, tmp_path):
    from idc.data import load_table
    from idc.fit import fit

    cfg = cfg_factory("head=kmeans", "model.hidden=[]", "model.bottleneck=6", "head.metric=decoder")
    table = load_table(cfg.dataset)
    module, _, _ = fit(cfg, table, tmp_path)
    np.testing.assert_array_equal(predict(module, table.X)["clusters"], stage2.frozen_partition(module).cpu().numpy())


def test_whitening_gives_the_top_k_minus_1_principal_directions_unit_variance():
    rng = np.random.default_rng(0)
    emb = torch.as_tensor(rng.normal(size=(300, 5)) * [9.0, 4.0, 1.0, 0.5, 0.1] + 3.0, dtype=torch.float64)
    emb = emb @ torch.as_tensor(np.linalg.qr(rng.normal(size=(5, 5)))[0])  # principal directions off the axes
    mapped = (emb - emb.mean(0)) @ stage2.whitening(emb, 2)
    cov = torch.cov(mapped.T)
    np.testing.assert_allclose(torch.linalg.eigvalsh(cov).numpy(), [0, 0, 0, 1, 1], atol=1e-9)
    top = torch.linalg.svd(emb - emb.mean(0), full_matrices=False).Vh[:2]
    np.testing.assert_allclose((mapped @ top.T @ top).numpy(), mapped.numpy(), atol=1e-9)  # nothing outside them


def _three_clusters_one_direction_narrow() -> tuple[torch.Tensor, np.ndarray]:
    """Clusters at dim 0 = -10 / +10 / +10 (within std 3), the last two apart by 2 in dim 1 (within std 0.1), and a
    third dimension of noise (std 0.5): k-means on the raw code splits the wide dimension 0 rather than the narrow
    gap in dimension 1; in the whitened top two directions the gap is as wide as the first."""
    rng = np.random.default_rng(0)
    means = np.array([[-10.0, 0.0, 0.0], [10.0, 1.0, 0.0], [10.0, -1.0, 0.0]])
    labels = np.repeat(np.arange(3), 100)
    emb = means[labels] + rng.normal(size=(300, 3)) * [3.0, 0.1, 0.5]
    return torch.as_tensor(emb, dtype=torch.float32), labels


@pytest.mark.parametrize("metric, separates", [("whitened", True), ("embedding", False)])
def test_the_whitened_metric_weighs_every_cluster_direction_alike(cfg_factory, metric, separates):
    from sklearn.metrics import adjusted_rand_score

    emb, labels = _three_clusters_one_direction_narrow()
    plain = OmegaConf.to_container(cfg_factory("head=kmeans", "model.hidden=[]", "model.bottleneck=3",
                                               f"head.metric={metric}"), resolve=True)
    module = IDCModule(6, 3, plain["gates"], plain["head"], plain["model"], plain["schedule"], seed=3)
    stage2.set_frozen(module, emb, torch.zeros(len(emb), 6))
    stage2.fit_centroid_heads(module)
    ari = adjusted_rand_score(labels, stage2.partitions(module, [module.cluster_head])[0].numpy())
    assert (ari > 0.99) if separates else (ari < 0.8)


@pytest.mark.parametrize("overrides", [["head=kmeans", "head.standardize_inputs=true"],
                                       ["head=mcr", "head.standardize_inputs=false"]])
def test_the_whitened_metric_is_refused_beside_standardised_inputs_or_the_coding_rate_head(cfg_factory, overrides):
    with pytest.raises(ValueError, match="head.metric=whitened .* needs head=kmeans or head=dec"):
        _kmeans_module(cfg_factory(*overrides, "head.metric=whitened"))


def test_whitening_keeps_no_direction_made_of_float32_rounding():
    """Embeddings of rank 1 far from the origin (offset 1000 against a spread of 3) in float32: their centred
    rounding is not a second and third direction to blow up to unit variance."""
    gen = torch.Generator().manual_seed(0)
    t = torch.arange(4).repeat_interleave(150).double() * 3 + 0.3 * torch.randn(600, generator=gen, dtype=torch.float64)
    direction, offset = torch.randn(1, 8, generator=gen, dtype=torch.float64), torch.randn(1, 8, generator=gen)
    emb = (t[:, None] * direction / direction.norm() + 1000 * offset).float()
    mapped = (emb - emb.mean(0)).double() @ stage2.whitening(emb, 3).double()
    assert torch.linalg.matrix_rank(mapped, rtol=1e-3) == 1


def test_a_saved_whitened_head_predicts_its_partition(cfg_factory, tmp_path):
    from idc.data import load_table
    from idc.fit import fit

    cfg = cfg_factory("head=kmeans", "model.hidden=[]", "model.bottleneck=6", "head.metric=whitened")
    table = load_table(cfg.dataset)
    module, _, _ = fit(cfg, table, tmp_path)
    assert not torch.equal(module.head_map, torch.eye(6))
    fresh = build_module(cfg, n_features=table.X.shape[1], n_clusters=module.n_clusters)
    fresh.load_state_dict(module.state_dict())
    np.testing.assert_array_equal(predict(fresh, table.X)["clusters"], stage2.frozen_partition(module).cpu().numpy())
