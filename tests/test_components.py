"""Gate networks and clustering heads against direct computations (issue 23): hard-concrete probabilities and
their limits, the stg network equal to today's formulas, DEC's target distribution and KL gradient, and the
k-means head equal to scikit-learn's KMeans."""
import math

import numpy as np
import pytest
import torch
from scipy.special import expit
from scipy.stats import norm

from idc import losses
from idc.nn import GateNetwork, HardConcreteGateNetwork, LocalGatingNetwork, make_gate_network

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
