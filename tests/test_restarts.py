"""Robust stage 2: k-means start of the head, restarts chosen by a label-free criterion, the global-gate
regulariser's schedule, and the two named variants."""
import json

import numpy as np
import pytest
import torch
from sklearn.datasets import make_blobs
from sklearn.metrics import adjusted_rand_score

from idc import stage2
from idc.callbacks import EpochPicks
from idc.config import compose
from idc.module import IDCModule
from idc.nn import ClusteringHead, fit_kmeans
from idc.train import train


def _blobs(n=300, k=4, d=6, seed=0):
    x, y = make_blobs(n, d, centers=k, cluster_std=1.0, random_state=seed)
    return torch.as_tensor(x, dtype=torch.float32), y


def test_fit_head_to_partition_reproduces_the_kmeans_partition():
    emb, _ = _blobs()
    partition = fit_kmeans(emb, 4, seed=0).labels_
    head = ClusteringHead(emb.shape[1], 32, 4)
    before = (head.eval()(emb).argmax(1).numpy() == partition).mean()
    agreement = stage2.fit_head_to_partition(head.train(), emb, partition, steps=300, seed=0)
    assert head.training  # the evaluation of the agreement gives the head its training mode back
    after = head.eval()(emb).argmax(1).numpy()
    assert before < 0.6 and agreement == pytest.approx((after == partition).mean()) and agreement >= 0.99


@pytest.mark.parametrize("name", stage2.CRITERIA)
def test_every_criterion_prefers_the_true_partition_to_a_collapsed_or_shuffled_one(name):
    emb, y = _blobs(seed=1)
    rng = np.random.default_rng(0)
    good = torch.as_tensor(y)
    collapsed = torch.zeros_like(good)
    shuffled = torch.as_tensor(rng.permutation(y))
    parts = [collapsed, good, good.clone(), shuffled] if name == "agreement" else [collapsed, good, shuffled]
    values = stage2.criterion_values(name, emb, parts, 4, eps=0.1)
    assert int(np.argmin(values)) == 1, values


def _module(model: dict | None = None, **head):
    overrides = [*(f"model.{k}={v}" for k, v in (model or {}).items()), *(f"head.{k}={v}" for k, v in head.items())]
    cfg = compose(["schedule=smoke", *overrides])
    from omegaconf import OmegaConf

    plain = lambda node: OmegaConf.to_container(node, resolve=True)  # noqa: E731
    return IDCModule(8, 4, plain(cfg.gates), plain(cfg.head), plain(cfg.model), schedule=plain(cfg.schedule), seed=0)


def test_silhouette_pick_keeps_the_best_separated_partition_wherever_it_comes():
    emb, y = _blobs(d=4, seed=2)
    three = fit_kmeans(emb, 3, seed=0).labels_
    shuffled = np.random.default_rng(0).permutation(y)
    picks = EpochPicks(labels=shuffled)  # labels the embedding does not separate: the two picks part ways
    one = np.zeros_like(y)
    for epoch, clusters in ((10, one), (20, three), (30, y), (40, shuffled), (50, three), (60, one)):
        logged = picks.score(clusters, epoch, emb.numpy())
    assert logged["val/silhouette"] == -1.0  # one cluster: the worst value, never picked
    assert picks.best_by_silhouette["epoch"] == 30 and picks.best_by_label["epoch"] == 40
    assert picks.best_by_silhouette["silhouette"] > 0.5 and picks.best_by_silhouette["clusters_used"] == 4
    assert picks.best_by_label["acc"] == 1.0 and picks.best_by_label["silhouette"] < 0.1
    picks = EpochPicks(labels=None)  # no labels: the silhouette alone still picks (label-free)
    for epoch, clusters in ((10, three), (20, y), (30, shuffled)):
        picks.score(clusters, epoch, emb.numpy())
    assert set(picks.best_by_silhouette) == {"epoch", "clusters_used", "silhouette"} and not picks.best_by_label
    assert picks.best_by_silhouette["epoch"] == 20
    assert set(picks.selections()) == {"silhouette_selected_epoch"}
    picks.score(y, 40, emb.numpy(), record=False)  # a sanity check's evaluation is logged, never picked
    assert picks.best_by_silhouette["epoch"] == 20


def test_select_head_keeps_the_lowest_criterion_restart_and_records_it():
    emb, y = _blobs(d=4, seed=2)
    module = _module(restarts=3)
    stage2.set_frozen(module, emb, emb)
    assert module._selected == -1
    # restart 0: random; restart 1: the true partition; restart 2: a K-means partition with one cluster fewer
    inputs = module.frozen.head_inputs
    stage2.fit_head_to_partition(module.cluster_heads[1], inputs, y, steps=200)
    three = fit_kmeans(emb, 3, seed=0).labels_
    stage2.fit_head_to_partition(module.cluster_heads[2], inputs, three, steps=200)
    chosen = stage2.select_head(module)
    values = module.head_selection["values"]
    assert chosen == int(np.argmin(values)) == 1 and module.head_selection["criterion"] == "compression"
    assert module.cluster_head is module.cluster_heads[1] and int(module.selected_head) == 1
    # the choice travels with the weights (buffer + host copy refreshed on load)
    other = _module(restarts=3)
    other.load_state_dict(module.state_dict())
    assert other._selected == 1 and other.cluster_head is other.cluster_heads[1]


def test_kmeans_init_gives_each_head_the_kmeans_partition_before_training():
    emb, _ = _blobs(d=4, seed=3)
    module = _module(init="kmeans", restarts=2, init_steps=200)
    stage2.set_frozen(module, emb, emb)
    stage2.init_heads_from_kmeans(module)
    for r, head in enumerate(module.cluster_heads):
        partition = fit_kmeans(emb, 4, seed=r).labels_
        with torch.no_grad():
            got = head.eval()(module.head_input(emb)).argmax(1).numpy()
        assert adjusted_rand_score(partition, got) > 0.98
    assert min(module.head_selection["kmeans_init_agreement"]) >= 0.99


def test_standardised_head_inputs_let_the_head_learn_from_tiny_embeddings():
    emb, _ = _blobs(d=4, seed=4)
    emb = 1e-6 * emb  # the scale of a barely trained encoder: BatchNorm's eps swamps the signal
    plain = _module(init="kmeans", init_steps=200, restarts=1, standardize_inputs=False)
    stage2.set_frozen(plain, emb, emb)
    stage2.init_heads_from_kmeans(plain)
    scaled = _module(init="kmeans", init_steps=200, restarts=1, standardize_inputs=True)
    stage2.set_frozen(scaled, emb, emb)
    stage2.init_heads_from_kmeans(scaled)
    assert plain.head_selection["kmeans_init_agreement"][0] < 0.9
    assert scaled.head_selection["kmeans_init_agreement"][0] >= 0.99
    torch.testing.assert_close(scaled.head_input(emb).std(0), torch.ones(4))


def test_global_regulariser_schedule():
    schedule = _module().schedule  # smoke schedule: global gates 5..7
    assert schedule.global_reg_weight(4, 1.5) == schedule.global_reg_weight(6, 1.5, "constant") == 1.5
    weights = [schedule.global_reg_weight(e, 2.0, "cosine") for e in (5, 6, 7)]
    assert weights[0] == 0.0 and weights[2] == pytest.approx(2.0) and 0 < weights[1] < 2.0
    with pytest.raises(ValueError, match="head.global_gates.reg_schedule"):
        schedule.global_reg_weight(6, 2.0, "cosin")


def test_global_gates_train_with_adam_at_their_own_rate_or_with_the_official_sgd():
    adam = _module({"lr.aux_classifier": 0.5}, **{"global_gates.optimizer": "adam", "global_gates.lr": 0.03}).aux_optimizer()
    sgd = _module({"lr.aux_classifier": 0.5}, **{"global_gates.optimizer": "sgd"}).aux_optimizer()
    assert isinstance(adam, torch.optim.Adam) and adam.param_groups[0]["lr"] == 0.03
    assert type(sgd) is torch.optim.SGD and sgd.param_groups[0]["lr"] == 0.5
    for opt in (adam, sgd):  # the auxiliary classifier and the K x D gate matrix, nothing else
        shapes = [tuple(p.shape) for p in opt.param_groups[0]["params"]]
        assert (4, 8) in shapes and len(shapes) == 7  # aux: Linear, BN, Linear (2 tensors each) + W^G
    with pytest.raises(ValueError, match="head.global_gates.optimizer"):
        _module(**{"global_gates.optimizer": "lbfgs"})
    with pytest.raises(ValueError, match="head.global_gates.baseline"):
        _module(**{"global_gates.baseline": "mean"})


def _trained_global_gates(module, gated, pseudo, steps: int = 300):
    """The K x D global gates after ``steps`` full-batch steps towards the clusters ``pseudo`` of ``gated``."""
    opt = module.aux_optimizer()
    weight = module.schedule.global_reg_weight(6, float(module.head_cfg["global_gates"]["reg_lambda"]))
    for _ in range(steps):
        ce, reg = stage2.global_gate_losses(module, gated, pseudo)
        opt.zero_grad()
        (ce + weight * reg).backward()
        opt.step()
    return module.global_gates.matrix()


@pytest.mark.parametrize("baseline", ["permute", "zero"])
def test_global_gates_keep_the_feature_that_tells_clusters_apart_and_close_the_noise(baseline):
    """Feature 0 alone separates the four clusters; features 1-7 are uniform noise. With ``permute`` a closed
    feature shows another sample's value, so exactly feature 0 stays open in every cluster. With ``zero`` (paper)
    the pattern of zeroed noise features can itself encode the cluster: feature 0 is closed in some cluster.
    (Without the term on shared features, which keeps a feature only in the clusters that need it most.)"""
    torch.manual_seed(0)
    pseudo = torch.arange(256) % 4
    gated = torch.rand(256, 8)
    gated[:, 0] = 1.0 + pseudo.float() + 0.1 * torch.randn(256)
    module = _module(**{"global_gates.optimizer": "adam", "global_gates.baseline": baseline,
                        "global_gates.overlap_weight": 0.0})  # the term on shared features would close some
    gates = _trained_global_gates(module, gated, pseudo)
    keeps_only_feature_0 = bool(gates[:, 0].min() > 0.5 and gates[:, 1:].max() < 0.1)
    assert keeps_only_feature_0 == (baseline == "permute"), gates


@pytest.mark.parametrize("overlap", [0.0, 1.0])
def test_the_overlap_weight_keeps_a_feature_open_in_one_cluster_where_it_was_shared(overlap):
    """Feature 0 tells all four clusters apart; features 1-4 each mark one cluster. Without the overlap term two
    clusters keep feature 0 open; with it no feature stays open in two clusters and each cluster that keeps a
    feature keeps its own marker."""
    torch.manual_seed(0)
    pseudo = torch.arange(256) % 4
    gated = 0.2 * torch.rand(256, 8)
    gated[:, 0] = 1.0 + pseudo.float() + 0.1 * torch.randn(256)
    gated[torch.arange(256), 1 + pseudo] += 1.0
    module = _module(**{"global_gates.optimizer": "adam", "global_gates.overlap_weight": overlap})
    open_ = _trained_global_gates(module, gated, pseudo) > 0
    shared = bool((open_.sum(0) > 1).any())
    assert shared == (overlap == 0), open_
    if overlap:
        kept = [k for k in range(4) if open_[k].any()]
        assert len(kept) >= 3 and all(open_[k].nonzero().flatten().tolist() == [1 + k] for k in kept), open_


def test_bad_head_options_are_refused_with_their_names():
    with pytest.raises(ValueError, match="head.restart_criterion"):
        _module(restart_criterion="accuracy")
    with pytest.raises(ValueError, match="head.global_gates.overlap_weight: -1 is not allowed; a finite number >= 0"):
        _module(**{"global_gates.overlap_weight": -1})
    with pytest.raises(ValueError, match="head.restarts: 0 is not allowed; a whole number >= 1"):
        _module(restarts=0)
    with pytest.raises(ValueError, match="head.init"):
        _module(init="spectral")


def test_a_run_with_restarts_writes_its_selection_to_metrics(cfg_factory, tmp_path):
    cfg = cfg_factory("head.init=kmeans", "head.restarts=3", "head.init_steps=20", "eval.enabled=false")
    train(cfg)
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    sel = metrics["head_selection"]
    assert sel["criterion"] == "compression" and len(sel["values"]) == 3 and sel["epoch"] == 5
    assert sel["chosen"] == int(np.argmin(sel["values"])) and len(sel["kmeans_init_agreement"]) == 3


def test_restarts_chosen_after_the_last_evaluation_still_get_their_picks(cfg_factory, tmp_path):
    train(cfg_factory("head.restarts=2", "head.global_gates.enabled=false", "eval.enabled=false"))
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert metrics["head_selection"]["epoch"] == 7  # no global gates: chosen at the end of the last epoch
    for key in ("silhouette_selected_epoch", "label_selected_best_epoch"):
        assert metrics[key]["epoch"] == 7 and metrics[key]["acc"] == pytest.approx(metrics["acc"]), key


def test_stage2_can_start_from_another_runs_stage1_checkpoint(tmp_path):
    from tests.conftest import make_cfg
    import h5py

    first, second = tmp_path / "first", tmp_path / "second"
    train(make_cfg(first, "eval.enabled=false"))
    ckpt = first / "checkpoints" / "stage1.ckpt"
    assert ckpt.is_file()
    train(make_cfg(second, "eval.enabled=false", "head.restarts=2", "seed=5", f"model.stage1_checkpoint={ckpt}"))
    with h5py.File(first / "predictions.h5") as a, h5py.File(second / "predictions.h5") as b:
        # stage 2 never changes the encoder or the gates: same stage 1, same embeddings and local gates
        np.testing.assert_array_equal(a["embeddings"][:], b["embeddings"][:])
        np.testing.assert_array_equal(a["local_gates"][:], b["local_gates"][:])
    assert not (second / "checkpoints" / "stage1.ckpt").exists()
    with pytest.raises(ValueError, match="do not match this model"):
        train(make_cfg(tmp_path / "third", "eval.enabled=false", "model.bottleneck=7", f"model.stage1_checkpoint={ckpt}"))


def test_assignment_imbalance_is_zero_when_balanced_and_log_k_when_collapsed():
    from idc import losses

    uniform_rows = torch.full((6, 3), 1 / 3)
    balanced_hard = torch.eye(3).repeat(2, 1)
    collapsed = torch.zeros(6, 3).index_fill_(1, torch.tensor([0]), 1.0)
    assert losses.assignment_imbalance(uniform_rows).item() == pytest.approx(0.0, abs=1e-6)
    assert losses.assignment_imbalance(balanced_hard).item() == pytest.approx(0.0, abs=1e-6)
    assert losses.assignment_imbalance(collapsed).item() == pytest.approx(np.log(3), rel=1e-5)


def test_compression_criterion_adds_the_balance_term_of_the_objective():
    emb, y = _blobs(seed=5)
    merged = torch.as_tensor(np.where(y == 1, 0, y))  # two classes in one cluster
    parts = [torch.as_tensor(y), merged]
    plain = stage2.criterion_values("compression", emb, parts, 4, eps=0.1)
    weighted = stage2.criterion_values("compression", emb, parts, 4, eps=0.1, balance=2.0)
    sizes = np.bincount(merged.numpy(), minlength=4) / len(y)
    expected = np.log(4) + sum(p * np.log(p) for p in sizes if p > 0)
    assert weighted[1] - plain[1] == pytest.approx(2.0 * expected, rel=1e-4) and expected > 0.1
    assert weighted[0] - plain[0] == pytest.approx(0.0, abs=1e-3)  # make_blobs: balanced classes


@pytest.mark.parametrize("freeze,n_heads", [(True, 2), (False, 2), (True, 1)])
def test_a_head_trains_until_selection_and_a_frozen_one_keeps_its_partition(tmp_path, freeze, n_heads):
    import pytorch_lightning as pl

    from idc.data import load_table
    from idc.fit import fit
    from tests.conftest import make_cfg

    def snapshot(module):
        return {k: v.clone() for k, v in module.cluster_head.state_dict().items()}

    class HeadStates(pl.Callback):
        first = at_selection = None

        def on_train_batch_start(self, trainer, module, batch, batch_idx):
            if not module.schedule.in_stage1(trainer.current_epoch) and self.first is None:  # stage 2's first step
                self.first = snapshot(module)  # (after the k-means fit)
            if module.schedule.global_gates_on(trainer.current_epoch) and self.at_selection is None:  # selected
                # at this epoch's start
                self.at_selection = snapshot(module)

    cfg = make_cfg(tmp_path, "eval.enabled=false", f"head.restarts={n_heads}", "head.balance_weight=0.5",
                   f"head.freeze_after_selection={str(freeze).lower()}")
    seen = HeadStates()
    module, _, _ = fit(cfg, load_table(cfg.dataset), tmp_path, callbacks=[seen])
    after = module.cluster_head.state_dict()
    if n_heads > 1:
        assert module.head_selection["chosen"] == int(module.selected_head) == module._selected
        assert int(module.selected_head) in range(n_heads)
    else:  # one head: nothing to choose, nothing recorded
        assert "chosen" not in module.head_selection and int(module.selected_head) == module._selected == 0
    assert not all(torch.equal(seen.first[k], seen.at_selection[k]) for k in after)  # it trained before selection
    assert all(torch.equal(seen.at_selection[k], after[k]) for k in after) == freeze


def test_a_schedule_whose_global_gates_start_before_the_head_trains_is_refused():
    from idc.schema import ConfigError

    with pytest.raises(ConfigError, match="1 <= head_epochs <= stage2_epochs"):
        compose(["schedule=smoke", "schedule.head_epochs=0"])
    with pytest.raises(ConfigError, match="1 <= head_epochs <= stage2_epochs"):
        compose(["schedule=smoke", "schedule.head_epochs=5"])  # more than stage 2's 4 epochs


def test_stage1_that_closes_almost_every_gate_is_reported(caplog):
    import logging

    emb, _ = _blobs(d=8, seed=6)
    module = _module()
    last = module.gating.net[2]
    with torch.no_grad():
        last.weight.zero_()
        last.bias.fill_(-5.0)  # mu = tanh(-5) ~ -1: every gate shut
    with caplog.at_level(logging.WARNING, logger="idc.stage2"):
        stage2.freeze_inputs(module, emb)
    assert "median of 0 of 8 features open" in caplog.text and "gates.reg_lambda" in caplog.text
    caplog.clear()
    with torch.no_grad():
        last.bias.fill_(5.0)  # every gate open: nothing to report
    with caplog.at_level(logging.WARNING, logger="idc.stage2"):
        stage2.freeze_inputs(module, emb)
    assert "features open" not in caplog.text


def test_balance_prior_is_measured_in_units_of_the_embeddings_coding_rate():
    from idc import losses

    emb, _ = _blobs(d=4, seed=7)
    rates = []
    for eps in (0.1, 2.0):  # a coarser precision lowers every compression value; the prior follows it
        module = _module(balance_weight=0.5, eps=eps)
        stage2.set_frozen(module, emb, emb)
        rate = float(losses.cluster_compression_loss(emb, torch.ones(len(emb), 1), eps))
        assert stage2.balance_weight(module) == pytest.approx(0.5 * rate)
        assert module.head_selection["balance_scale"] == pytest.approx(rate)
        rates.append(rate)
    assert rates[1] < 0.5 * rates[0]
    off = _module(balance_weight=0.0)
    stage2.set_frozen(off, emb, emb)
    assert stage2.balance_weight(off) == 0.0


@pytest.mark.parametrize("bn_stats", ["stage1", "gated_inputs"])
def test_stage2_embeddings_use_batchnorm_statistics_of_the_gated_inputs_when_asked(bn_stats):
    module = _module({"bn_stats": bn_stats})
    torch.manual_seed(0)
    table = 3.0 + 2.0 * torch.randn(4099, 8)  # two chunks (4096 rows would leave one of 3)
    bn = next(m for m in module.autoencoder.encoder.modules() if isinstance(m, torch.nn.BatchNorm1d))
    before = (bn.running_mean.clone(), bn.running_var.clone(), bn.momentum)
    stage2.freeze_inputs(module, table)
    with torch.no_grad():
        pre = module.autoencoder.encoder[0](table * module.local_gates(table))
    if bn_stats == "stage1":
        assert torch.equal(bn.running_mean, before[0]) and torch.equal(bn.running_var, before[1])
    else:
        assert torch.allclose(bn.running_mean, pre.mean(0), atol=1e-5)
        assert torch.allclose(bn.running_var, pre.var(0), rtol=1e-3)
        assert not torch.allclose(bn.running_mean, before[0], atol=1e-3)
        assert module.autoencoder.training and bn.momentum == before[2]  # modes and momentum given back
    with pytest.raises(ValueError, match="model.bn_stats"):
        _module({"bn_stats": "batch"})


@pytest.mark.parametrize("lr_until", ["end", "freeze"])
def test_the_head_learning_rate_anneals_until_the_freeze_when_asked(tmp_path, lr_until):
    import pytorch_lightning as pl

    from idc.data import load_table
    from idc.fit import fit
    from tests.conftest import make_cfg

    class HeadRate(pl.Callback):
        at_freeze = None

        def on_train_epoch_start(self, trainer, module):
            if module.schedule.global_gates_on(trainer.current_epoch) and self.at_freeze is None:
                self.at_freeze = trainer.optimizers[1].param_groups[0]["lr"]

    cfg = make_cfg(tmp_path, "eval.enabled=false", f"head.lr_until={lr_until}", "model.lr.clustering=0.01")
    seen = HeadRate()
    fit(cfg, load_table(cfg.dataset), tmp_path, callbacks=[seen])
    if lr_until == "freeze":
        assert seen.at_freeze == pytest.approx(float(cfg.model.min_lr.clustering))
    else:
        assert seen.at_freeze > 0.005  # a quarter into a cosine over all of stage 2
