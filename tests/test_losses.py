"""Loss terms against their direct formulas."""
import math

import numpy as np
import pytest
import torch
from scipy.stats import norm

from idc import losses
from idc.schedule import cosine_increase


def test_small_side_logdet_equals_full_in_float64():
    gen = torch.Generator().manual_seed(0)
    z = torch.rand(7, 40, generator=gen, dtype=torch.float64)  # B < D: the B x B side is used
    c = 40 / (7 * 1.0)
    full = torch.logdet(torch.eye(40, dtype=torch.float64) + c * z.T @ z)
    small = losses.coding_rate(z, c, small_side=True)
    assert small.item() == pytest.approx(full.item(), abs=1e-9)
    assert losses.coding_rate(z, c, small_side=False).item() == pytest.approx(full.item(), abs=1e-9)


def test_gates_coding_rate_matches_formula_with_and_without_projection():
    gen = torch.Generator().manual_seed(1)
    z = torch.rand(5, 12, generator=gen, dtype=torch.float64)
    direct = -0.5 * torch.logdet(torch.eye(12, dtype=torch.float64) + 12 / (5 * 0.5) * z.T @ z) / 5
    assert losses.gates_coding_rate_loss(z, eps=0.5).item() == pytest.approx(direct.item(), rel=1e-10)
    proj = torch.randn(12, 3, generator=gen, dtype=torch.float64)
    zp = z @ proj
    direct_p = -0.5 * torch.logdet(torch.eye(3, dtype=torch.float64) + 3 / 5 * zp.T @ zp) / 5
    assert losses.gates_coding_rate_loss(z, projection=proj).item() == pytest.approx(direct_p.item(), rel=1e-10)


def test_centered_gates_coding_rate_sees_only_how_samples_differ():
    gen = torch.Generator().manual_seed(2)
    z = torch.rand(6, 9, generator=gen, dtype=torch.float64)
    zc = z - z.mean(0)
    direct = -0.5 * torch.logdet(torch.eye(9, dtype=torch.float64) + 9 / 6 * zc.T @ zc) / 6
    assert losses.gates_coding_rate_loss(z, center=True).item() == pytest.approx(direct.item(), rel=1e-10)
    same = torch.full((6, 9), 0.7, dtype=torch.float64)  # every sample's gates alike: no rate however open
    assert losses.gates_coding_rate_loss(same, center=True).item() == pytest.approx(0.0, abs=1e-12)
    assert losses.gates_coding_rate_loss(same).item() < 0.0


def test_gate_regulariser_is_gaussian_cdf():
    mu = torch.tensor([[-1.0, -0.5, 0.0], [0.2, 0.5, 0.9]], dtype=torch.float64)
    expected = norm.cdf((mu.numpy() + 0.5) / 1.0)
    assert losses.gate_regulariser(mu).item() == pytest.approx(expected.mean(), rel=1e-12)
    expected_paper = norm.cdf((mu.numpy() + 0.5) / 0.5).sum(1).mean()
    assert losses.gate_regulariser(mu, sigma=0.5, reduction="sum").item() == pytest.approx(expected_paper)
    with pytest.raises(ValueError):
        losses.gate_regulariser(mu, reduction="max")


def test_gate_overlap_counts_the_features_two_clusters_share_and_pulls_only_those():
    closed, open_ = -1.0, 1.0  # tanh(W^G) at its ends: a closed gate still has P(z > 0) = Phi(-0.5), counted as 0
    mu = torch.tensor([[open_, open_, closed, 0.0], [open_, closed, open_, 0.0], [closed, closed, closed, open_]],
                      dtype=torch.float64, requires_grad=True)
    q_mid = (norm.cdf(0.5) - norm.cdf(-0.5)) / (norm.cdf(1.5) - norm.cdf(-0.5))  # mu = 0's excess open probability
    equal = torch.full((3,), 1 / 3, dtype=torch.float64)
    # pairs (0,1): feature 0 and q_mid^2 on feature 3; (0,2) and (1,2): q_mid on feature 3 -> over 4 features, 3 pairs
    overlap = losses.gate_overlap(mu, equal)
    assert overlap.item() == pytest.approx((1 + q_mid**2 + 2 * q_mid) / 4 / 3)
    overlap.backward()
    grad = mu.grad
    assert grad[0, 0] > 0 and grad[0, 1] == pytest.approx(0, abs=1e-12)  # shared with cluster 1 / open in 0 alone
    assert grad[2, 3] > 0 and grad[2, 0] > 0  # open where 0 and 1 are half open / closed where both are open
    assert grad[1, 2] == pytest.approx(0, abs=1e-12)  # open in cluster 1 alone: no pull, however open
    assert losses.gate_overlap(mu.detach(), equal, reduction="sum").item() == pytest.approx(
        (1 + q_mid**2 + 2 * q_mid) / 3)  # a count of features
    # a cluster without rows shares nothing: cluster 2's gates cost nothing, clusters 0 and 1 share feature 0
    alone = losses.gate_overlap(mu.detach(), torch.tensor([0.5, 0.5, 0.0], dtype=torch.float64))
    assert alone.item() == pytest.approx((1 + q_mid**2) / 4)
    one = mu.detach().float().requires_grad_()
    lone = losses.gate_overlap(one, torch.tensor([1.0, 0.0, 0.0]))  # one cluster in the batch: nothing shared
    (100 * lone).backward()  # at weights as a run gives them (reg_lambda 10, overlap 10)
    assert lone.item() == 0.0 and torch.equal(one.grad, torch.zeros_like(one))  # and no pull, nor NaN
    disjoint = 2 * torch.eye(3, dtype=torch.float64) - 1
    assert losses.gate_overlap(disjoint, equal).item() == pytest.approx(0.0, abs=1e-12)


def test_cluster_compression_matches_loop_over_clusters():
    gen = torch.Generator().manual_seed(2)
    h = torch.randn(9, 4, generator=gen, dtype=torch.float64)
    p = torch.softmax(torch.randn(9, 3, generator=gen, dtype=torch.float64), 1)
    hn = h / h.norm(dim=1, keepdim=True)
    b, d, eps = 9, 4, 0.1
    total = 0.0
    for k in range(3):
        nk = p[:, k].sum() + 1e-8
        cov = hn.T @ torch.diag(p[:, k]) @ hn
        total += nk / (2 * b) * torch.logdet(torch.eye(d, dtype=torch.float64) + d / (nk * eps) * cov)
    assert losses.cluster_compression_loss(h, p, eps).item() == pytest.approx((total / d).item(), rel=1e-10)


def test_compression_prefers_a_partition_that_follows_the_geometry():
    gen = torch.Generator().manual_seed(3)
    a = torch.tensor([1.0, 0.0]) + 0.05 * torch.randn(20, 2, generator=gen)
    b = torch.tensor([0.0, 1.0]) + 0.05 * torch.randn(20, 2, generator=gen)
    h = torch.cat([a, b])
    good = torch.cat([torch.tensor([[1.0, 0.0]]).repeat(20, 1), torch.tensor([[0.0, 1.0]]).repeat(20, 1)])
    mixed = good[torch.randperm(40, generator=gen)]
    assert losses.cluster_compression_loss(h, good) < losses.cluster_compression_loss(h, mixed)


def test_gumbel_softmax_probabilities():
    torch.manual_seed(0)
    logits = torch.tensor([[50.0, 0.0, 0.0]]).repeat(1000, 1)
    p = losses.gumbel_softmax_probs(logits, tau=1.0)
    assert torch.allclose(p.sum(1), torch.ones(1000))
    assert (p.argmax(1) == 0).float().mean() > 0.99
    flat = losses.gumbel_softmax_probs(torch.zeros(2000, 4), tau=1.0)
    counts = np.bincount(flat.argmax(1).numpy(), minlength=4) / 2000
    assert np.all(np.abs(counts - 0.25) < 0.05)  # Gumbel-max of equal logits is uniform
    assert losses.gumbel_softmax_probs(logits, tau=100.0).max() < 0.7  # a high temperature flattens


def test_cosine_increase_matches_official_schedule():
    t0, t1, lam = 10, 300, 1.0
    for epoch, expected in [(50, 0.046), (150, 0.473), (250, 0.928), (300, 1.0)]:
        official = 0.5 * lam * (1 + math.cos(math.pi * (epoch - t1) / (t1 - t0)))
        assert cosine_increase(epoch, t0, t1, lam) == pytest.approx(official)
        assert official == pytest.approx(expected, abs=1e-3)
    assert cosine_increase(t0, t0, t1, lam) == pytest.approx(0.0)


def test_reconstruction_losses():
    a, b = torch.tensor([[0.0, 2.0]]), torch.tensor([[1.0, 0.0]])
    assert losses.reconstruction_loss(a, b, "mse").item() == pytest.approx(2.5)
    assert losses.reconstruction_loss(a, b, "l1").item() == pytest.approx(1.5)
    with pytest.raises(ValueError):
        losses.reconstruction_loss(a, b, "huber")
