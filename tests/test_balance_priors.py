"""Balance priors against merged or empty clusters that need not force equal sizes (issue 22, section 2)."""
import numpy as np
import pytest
import torch

from idc import losses
from idc.config import compose
from idc.data import DataError, load_table
from idc.data.synthetic import make_synthetic
from idc.schema import ConfigError


def share_change(prior, shares: list[float], lr: float = 0.5) -> torch.Tensor:
    """How one gradient-descent step on ``prior`` moves the cluster shares of a table whose rows are softmax
    assignments, nearly one-hot, in proportion to ``shares``."""
    n, k = 1000, len(shares)
    counts = np.round(np.asarray(shares) * n).astype(int)
    onehot = torch.zeros(counts.sum(), k)
    onehot[torch.arange(counts.sum()), torch.as_tensor(np.repeat(np.arange(k), counts))] = 1.0
    logits = (4.0 * onehot).requires_grad_(True)
    before = torch.softmax(logits, 1).mean(0).detach()
    prior(torch.softmax(logits, 1)).backward()
    with torch.no_grad():
        return torch.softmax(logits - lr * len(logits) * logits.grad, 1).mean(0) - before


def test_min_share_raises_a_starving_cluster():
    change = share_change(lambda p: losses.share_shortfall(p, 0.5 / 3), [0.6, 0.38, 0.02])
    assert change[2] > 0 and change[0] < 0 and change[1] < 0


def test_min_share_is_zero_with_zero_gradient_above_the_minimum_share():
    probs = torch.tensor([[0.55, 0.25, 0.14, 0.06]]).repeat(10, 1).requires_grad_(True)
    loss = losses.share_shortfall(probs, 0.05)  # every share above 5 %: unequal sizes are not pulled to equal
    loss.backward()
    assert loss.item() == 0.0 and torch.all(probs.grad == 0)
    assert torch.all(share_change(lambda p: losses.share_shortfall(p, 0.5 / 4), [0.45, 0.25, 0.15, 0.15]) == 0)


def test_entropy_pulls_an_unbalanced_partition_to_equal_sizes():
    change = share_change(losses.assignment_imbalance, [0.55, 0.25, 0.2])
    assert change[0] < 0 < change[2]  # the large cluster shrinks: what min_share does not do
    assert torch.all(share_change(lambda p: losses.share_shortfall(p, 0.5 / 3), [0.55, 0.25, 0.2]) == 0)


def test_kmeans_proportions_pull_towards_the_target_shares_whatever_the_cluster_order():
    target = torch.tensor([0.1, 0.6, 0.3])  # k-means' shares, in its own cluster order
    prior = lambda p: losses.share_divergence(p, target)  # noqa: E731
    change = share_change(prior, [0.45, 0.45, 0.1])
    assert sorted(change[:2].tolist())[0] < 0 < sorted(change[:2].tolist())[1]  # of two tied, one grows to 0.6
    assert abs(change[2]) < min(abs(change[0]), abs(change[1]))  # the small cluster is at its share already
    change = share_change(prior, [0.8, 0.1, 0.1])
    assert change[0] < 0  # the large cluster shrinks towards 0.6
    at_target = torch.tensor([[0.6, 0.3, 0.1]]).repeat(5, 1)
    assert losses.share_divergence(at_target, target).item() == pytest.approx(0.0, abs=1e-6)
    uniform = torch.full((1, 3), 1 / 3)
    rows = torch.tensor([[0.7, 0.2, 0.1]])
    assert losses.share_divergence(rows, uniform.ravel()).item() == pytest.approx(
        losses.assignment_imbalance(rows).item(), rel=1e-6)  # a uniform target is the entropy prior


def test_balance_term_follows_head_balance(cfg_factory):
    from idc.stage2 import FrozenInputs, balance_term
    from idc.fit import build_module

    cfg = cfg_factory("head.balance=kmeans_proportions")
    module = build_module(cfg, 5, 3)
    emb = torch.cat([torch.randn(60, 3) * 0.1 + 5, torch.randn(30, 3) * 0.1 - 5, torch.randn(10, 3) * 0.1])
    module.frozen = FrozenInputs(emb, emb, torch.zeros(100, 5))
    probs = torch.full((100, 3), 1 / 3)
    value = balance_term(module, probs)
    assert module.head_selection["kmeans_shares"] == pytest.approx([0.6, 0.3, 0.1])
    assert value.item() == pytest.approx(losses.share_divergence(probs, torch.tensor([0.6, 0.3, 0.1])).item())
    module.head_cfg["balance"] = "min_share"
    assert balance_term(module, probs).item() == 0.0
    module.head_cfg["balance"] = "entropy"
    assert balance_term(module, probs).item() == pytest.approx(0.0, abs=1e-6)
    module.head_cfg["balance"] = "equal"
    with pytest.raises(ValueError, match="head.balance"):
        balance_term(module, probs)


def test_unknown_balance_is_refused_at_composition():
    with pytest.raises(ConfigError, match="head.balance: 'equal'.*min_share"):
        compose(["head.balance=equal"])


def test_unbalanced_synthetic_has_the_class_shares_asked_for():
    table = load_table(compose(["dataset.class_shares=[0.55,0.25,0.15,0.05]"]).dataset)
    shares = np.bincount(table.y) / len(table.y)
    np.testing.assert_allclose(shares, [0.55, 0.25, 0.15, 0.05], atol=2e-3)
    assert len(table.y) > 1000 and table.n_features == 13
    balanced = make_synthetic()
    assert len(set(np.bincount(balanced.y))) == 1  # the default stays balanced


def test_bad_class_shares_are_refused():
    with pytest.raises(DataError, match="dataset.class_shares"):
        make_synthetic(class_shares=[0.5, 0.5, 0.1, 0.1])
    with pytest.raises(DataError, match="dataset.class_shares"):
        make_synthetic(class_shares=[0.5, 0.5])
