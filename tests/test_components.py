"""Gate networks and clustering heads against direct computations (issue 23): hard-concrete probabilities and
their limits, the stg network equal to today's formulas, DEC's target distribution and KL gradient, and the
k-means head equal to scikit-learn's KMeans."""
import math

import numpy as np
import pytest
import torch
from scipy.special import expit
from scipy.stats import norm
from sklearn.cluster import KMeans

from idc import losses
from idc.nn import (
    DECHead,
    DECTarget,
    GateNetwork,
    HardConcreteGateNetwork,
    KMeansHead,
    LocalGatingNetwork,
    make_gate_network,
)

BETA, GAMMA, ZETA = 2.0 / 3.0, -0.1, 1.1


def _randomise(net: torch.nn.Module, seed: int) -> None:
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in net.parameters():
            p.copy_(torch.randn(p.shape, generator=gen, dtype=p.dtype))


# ---------------------------------------------------------------------------------------------- gate networks


def test_both_gate_networks_start_half_open_behind_one_interface():
    x = torch.randn(6, 5, generator=torch.Generator().manual_seed(0))
    for kind in ("stg", "hard_concrete"):
        net = make_gate_network(kind, 5)
        assert isinstance(net, GateNetwork)
        assert torch.allclose(net.gates(x), torch.full_like(x, 0.5), atol=1e-3)
        # same body (D -> hidden tanh -> D), so the same checkpoint keys
        assert sorted(net.state_dict()) == ["net.0.bias", "net.0.weight", "net.2.bias", "net.2.weight"]
    assert make_gate_network("none", 5) is None
    with pytest.raises(ValueError, match="gates kind"):
        make_gate_network("l1", 5)
    with pytest.raises(ValueError, match="unknown option.*reg_sigma"):
        make_gate_network("hard_concrete", 5, reg_sigma=0.5)


def test_stg_network_equals_the_direct_formulas():
    gen = torch.Generator().manual_seed(1)
    net = LocalGatingNetwork(7, 4, noise_std=0.3, reg_sigma=0.5).double()
    _randomise(net, 2)
    x = torch.randn(9, 7, generator=gen, dtype=torch.float64)
    w1, b1, w2, b2 = net.net[0].weight, net.net[0].bias, net.net[2].weight, net.net[2].bias
    mu = torch.tanh(torch.tanh(x @ w1.T + b1) @ w2.T + b2)
    assert torch.allclose(net(x), mu, atol=1e-12)
    assert torch.equal(net.gates(x), torch.clamp(mu + 0.5, 0, 1))
    torch.manual_seed(3)
    z = net.sample(mu)
    torch.manual_seed(3)
    assert torch.allclose(z, torch.clamp(mu + 0.5 + 0.3 * torch.randn_like(mu), 0, 1), atol=1e-12)
    p = norm.cdf((mu.detach().numpy() + 0.5) / 0.5)
    assert net.regulariser(mu).item() == pytest.approx(p.mean(), rel=1e-12)
    assert net.regulariser(mu, "sum").item() == pytest.approx(p.sum(1).mean(), rel=1e-12)


def test_hard_concrete_open_probability_matches_monte_carlo_and_the_logistic_tail():
    torch.manual_seed(4)
    log_alpha = torch.tensor([-3.0, -1.0, 0.0, 0.7, 2.5], dtype=torch.float64)
    n = 200_000
    net = HardConcreteGateNetwork(5, 5)
    z = net.sample(log_alpha.expand(n, 5))
    assert z.min() >= 0 and z.max() <= 1
    closed = net.regulariser(log_alpha.unsqueeze(0), "sum").item() / 5  # mean over the 5 gates
    per_gate = torch.sigmoid(log_alpha - BETA * math.log(-GAMMA / ZETA)).numpy()
    assert closed == pytest.approx(per_gate.mean(), rel=1e-12)
    # z != 0  <=>  s > t = -gamma / (zeta - gamma)  <=>  logistic noise L > beta * logit(t) - log_alpha
    t = -GAMMA / (ZETA - GAMMA)
    tail = expit(log_alpha.numpy() - BETA * np.log(t / (1 - t)))
    assert per_gate == pytest.approx(tail, rel=1e-12)
    mc = (z > 0).double().mean(0).numpy()
    assert np.all(np.abs(mc - per_gate) < 5 * np.sqrt(per_gate * (1 - per_gate) / n))
    # and P(z = 1) = P(s > (1 - gamma) / (zeta - gamma)), the other clipped end
    t1 = (1 - GAMMA) / (ZETA - GAMMA)
    one = expit(log_alpha.numpy() - BETA * np.log(t1 / (1 - t1)))
    assert np.all(np.abs((z == 1).double().mean(0).numpy() - one) < 5 * np.sqrt(one * (1 - one) / n))


def test_hard_concrete_limits_and_evaluation_gate():
    torch.manual_seed(5)
    net = HardConcreteGateNetwork(3, 3)
    la = torch.tensor([[-100.0, 0.0, 100.0]]).expand(1000, 3)
    z = net.sample(la)
    assert torch.all(z[:, 0] == 0) and torch.all(z[:, 2] == 1)
    ev = net.evaluation_gates(la[:1])
    assert ev.tolist() == [[0.0, pytest.approx(0.5), 1.0]]
    # the evaluation gate is clip(sigmoid(log_alpha) * (zeta - gamma) + gamma, 0, 1)
    grid = torch.linspace(-4, 4, 33, dtype=torch.float64)
    direct = np.clip(expit(grid.numpy()) * (ZETA - GAMMA) + GAMMA, 0, 1)
    assert net.evaluation_gates(grid).numpy() == pytest.approx(direct, abs=1e-12)
    reg = [net.regulariser(torch.full((2, 3), v)).item() for v in (-100.0, -5.0, 0.0, 5.0, 100.0)]
    assert reg[0] == pytest.approx(0.0, abs=1e-30) and reg[-1] == pytest.approx(1.0, abs=1e-7)
    assert all(a < b for a, b in zip(reg, reg[1:]))


def test_hard_concrete_log_alpha_is_the_unbounded_body_and_carries_gradients():
    torch.manual_seed(6)
    net = HardConcreteGateNetwork(4, 8)
    _randomise(net, 7)
    x = torch.randn(16, 4)
    params = net(x)
    w1, b1, w2, b2 = net.net[0].weight, net.net[0].bias, net.net[2].weight, net.net[2].bias
    assert torch.allclose(params, torch.tanh(x @ w1.T + b1) @ w2.T + b2, atol=1e-5)  # no final tanh
    (net.sample(params).sum() + net.regulariser(params)).backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in net.parameters())
    with pytest.raises(ValueError, match="beta > 0"):
        HardConcreteGateNetwork(4, 4, gamma=0.1)


# ---------------------------------------------------------------------------------------------- DEC


def _toy_embeddings(seed: int = 8) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centres = np.array([[0.0, 0.0], [4.0, 0.0], [0.0, 4.0]])
    return (centres.repeat(20, 0) + rng.normal(scale=0.8, size=(60, 2))).astype(np.float32)


def test_dec_soft_assignments_are_the_student_t_kernel():
    emb = _toy_embeddings()
    mu = np.array([[0.5, 0.2], [3.0, 0.5], [0.1, 3.0]], dtype=np.float32)
    for alpha in (1.0, 2.5):
        head = DECHead(2, 3, alpha=alpha)
        with torch.no_grad():
            head.centroids.copy_(torch.as_tensor(mu))
        d2 = ((emb[:, None, :] - mu[None]) ** 2).sum(-1).astype(np.float64)
        kernel = (1 + d2 / alpha) ** (-(alpha + 1) / 2)
        q = kernel / kernel.sum(1, keepdims=True)
        assert head.soft_assignments(torch.as_tensor(emb)).detach().numpy() == pytest.approx(q, rel=1e-5)


def test_dec_target_distribution_matches_numpy_and_is_sharper():
    rng = np.random.default_rng(9)
    logits = rng.normal(size=(50, 4))
    q = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    f = q.sum(0)
    direct = (q**2 / f) / (q**2 / f).sum(1, keepdims=True)
    p = losses.dec_target_distribution(torch.as_tensor(q)).numpy()
    assert p == pytest.approx(direct, rel=1e-12)
    assert p.sum(1) == pytest.approx(np.ones(50), rel=1e-12)
    assert p.max(1).mean() > q.max(1).mean()


def test_dec_kl_is_kl_and_its_gradient_pulls_a_centroid_to_its_points():
    emb = torch.as_tensor(_toy_embeddings())
    head = DECHead(2, 3).double()
    with torch.no_grad():
        head.centroids.copy_(torch.tensor([[1.0, 1.0], [3.0, 0.5], [0.1, 3.0]]))
    z = emb.double()
    log_q = head(z)
    q = log_q.exp()
    p = losses.dec_target_distribution(q)
    loss = losses.dec_kl_loss(log_q, p)
    assert loss.item() == pytest.approx((p * (p / q).log()).sum().item() / len(z), rel=1e-10)
    loss.backward()
    grad = head.centroids.grad
    # DEC Eq. 5: dL/dmu_j = -(alpha + 1) / alpha * sum_i (1 + d_ij^2 / alpha)^-1 (p_ij - q_ij)(z_i - mu_j), / B here
    with torch.no_grad():
        diff = z[:, None, :] - head.centroids[None]
        w = (p - q) / (1 + diff.square().sum(-1))
        direct = -2.0 * (w[..., None] * diff).sum(0) / len(z)
    assert torch.allclose(grad, direct, atol=1e-12)
    # a gradient step moves centroid 0 (at (1, 1)) towards the mean of the points it is assigned to
    mine = z[q.argmax(1) == 0].mean(0)
    assert torch.dot(-grad[0], mine - head.centroids[0].detach()) > 0
    with torch.no_grad():
        moved = head.centroids[0] - 0.1 * grad[0]
    assert (moved - mine).norm() < (head.centroids[0] - mine).norm()


def test_dec_target_refreshes_every_n_steps():
    target = DECTarget(every=3)
    with pytest.raises(RuntimeError, match="refresh"):
        target[torch.tensor([0])]
    q = torch.tensor([[0.7, 0.3], [0.4, 0.6]])
    assert target.due(0)
    assert target.refresh(q, 0) == 1.0
    assert [target.due(s) for s in (1, 2, 3)] == [False, False, True]
    assert torch.allclose(target[torch.tensor([1])], losses.dec_target_distribution(q)[1:])
    assert target.refresh(torch.tensor([[0.2, 0.8], [0.4, 0.6]]), 3) == 0.5
    assert not target.due(5) and target.due(6)
    with pytest.raises(ValueError, match="target_every"):
        DECTarget(0)


# ---------------------------------------------------------------------------------------------- k-means head


@pytest.mark.parametrize("seed, n_init", [(0, 1), (3, 4)])
def test_kmeans_head_equals_sklearn_kmeans(seed, n_init):
    emb = np.random.default_rng(10).uniform(size=(80, 3)).astype(np.float32)  # no clear clusters: seeds matter
    ref = KMeans(5, init="k-means++", n_init=n_init, random_state=seed).fit(emb)
    head = KMeansHead(3, 5)
    partition = head.fit(torch.as_tensor(emb), seed=seed, n_init=n_init)
    assert np.array_equal(partition, ref.labels_)
    assert head.centroids.numpy() == pytest.approx(ref.cluster_centers_, abs=1e-6)
    assert np.array_equal(head(torch.as_tensor(emb)).argmax(1).numpy(), ref.labels_)  # nearest centroid
    assert not list(head.parameters())  # nothing to train
    dec = DECHead(3, 5)
    assert np.array_equal(dec.fit(torch.as_tensor(emb), seed=seed, n_init=n_init), ref.labels_)
    assert dec.centroids.detach().numpy() == pytest.approx(ref.cluster_centers_, abs=1e-6)
    assert [n for n, _ in dec.named_parameters()] == ["centroids"]


def test_linear_path_adds_a_linear_map_beside_each_mlp():
    from idc.nn.autoencoder import Autoencoder, Shortcut

    torch.manual_seed(0)
    ae = Autoencoder(12, [16, 8], 3, linear_path=True).eval()
    assert isinstance(ae.encoder, Shortcut) and isinstance(ae.decoder, Shortcut)
    x = torch.randn(5, 12)
    with torch.no_grad():
        expected = ae.encoder.deep(x) + x @ ae.encoder.linear.weight.T + ae.encoder.linear.bias
        torch.testing.assert_close(ae.encoder(x), expected)
        for p in ae.encoder.deep.parameters():  # with the MLP's output zeroed, the encoder is the linear map alone
            p.zero_()
        torch.testing.assert_close(ae.encoder(x), ae.encoder.linear(x))
        assert ae(x).shape == x.shape
    plain = Autoencoder(12, [16, 8], 3)
    assert not isinstance(plain.encoder, Shortcut)
    extra = sum(p.numel() for p in ae.parameters()) - sum(p.numel() for p in plain.parameters())
    assert extra == (12 * 3 + 3) + (3 * 12 + 12)  # one Linear(12, 3) and one Linear(3, 12)
