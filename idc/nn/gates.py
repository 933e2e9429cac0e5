"""Local gate networks behind one interface, and the cluster-level global gate matrix.

How the module calls a gate network (``gating = make_gate_network(kind, n_features, hidden_dim, **options)``,
``None`` for ``kind="none"``, i.e. "IDC w/o gates": every gate open):

* stage 1, gated epochs (training): ``params = gating(x)``; ``z = gating.sample(params)`` (stochastic gates,
  differentiable in ``params``) feeds the gated reconstruction and the gates' coding rate (Eq. 4);
  ``gating.regulariser(params, reduction)`` is the expected number of open gates (the sparsity term).
* evaluation, prediction and the stage-2 cache of gated inputs: ``gating.gates(x)``, deterministic values in
  [0, 1] without gradients (what ``metrics.open_gates`` counts and the plots show).

Implementations (``GATE_NETWORKS``):

* ``stg``: stochastic gates (paper Eq. 1-3): ``mu = tanh(body(x))``, ``z = clamp(mu + 0.5 + eps, 0, 1)``,
  ``P(z > 0) = Phi((mu + 0.5) / sigma)``;
* ``hard_concrete``: L0 gates (Louizos, Welling & Kingma, ICLR 2018): ``log_alpha = body(x)`` (no final tanh,
  so gates can saturate), stretched and clipped binary-concrete samples at temperature ``beta = 2/3``,
  ``P(z != 0) = sigmoid(log_alpha - beta * log(-gamma / zeta))``.

Both share the gating body ``D -> hidden (tanh) -> D`` with small initial weights: at the start ``mu`` and
``log_alpha`` are 0 and every evaluation gate is 0.5.
"""
from __future__ import annotations

import inspect
from collections.abc import Mapping
from typing import Any

import torch
from torch import Tensor, nn

from idc import losses
from idc.losses import HARD_CONCRETE_BETA, HARD_CONCRETE_GAMMA, HARD_CONCRETE_ZETA
from idc.nn.init import small_normal_


def hard_sigmoid(mu: Tensor) -> Tensor:
    """Gate value ``clamp(mu + 0.5, 0, 1)``."""
    return torch.clamp(mu + 0.5, 0.0, 1.0)


def noisy_gates(mu: Tensor, noise_std: float) -> Tensor:
    """Training gates ``clamp(mu + 0.5 + eps, 0, 1)`` with ``eps ~ N(0, noise_std^2)`` (paper Eq. 1)."""
    if noise_std <= 0:
        return hard_sigmoid(mu)
    return hard_sigmoid(mu + noise_std * torch.randn_like(mu))


def stretch_and_clip(s: Tensor, gamma: float, zeta: float) -> Tensor:
    """``clamp(s * (zeta - gamma) + gamma, 0, 1)``: a value in (0, 1) stretched to (gamma, zeta) and clipped."""
    return torch.clamp(s * (zeta - gamma) + gamma, 0.0, 1.0)


def hard_concrete_sample(
    log_alpha: Tensor, beta: float = HARD_CONCRETE_BETA, gamma: float = HARD_CONCRETE_GAMMA,
    zeta: float = HARD_CONCRETE_ZETA,
) -> Tensor:
    """Hard-concrete gates: ``u ~ U(0, 1)``, ``s = sigmoid((log u - log(1 - u) + log_alpha) / beta)``, stretched
    to (gamma, zeta) and clipped to [0, 1] (Louizos et al. 2018, Eq. 10-11); differentiable in ``log_alpha``."""
    tiny = torch.finfo(log_alpha.dtype).tiny
    u = torch.rand_like(log_alpha).clamp(tiny, 1.0 - torch.finfo(log_alpha.dtype).eps)
    s = torch.sigmoid((torch.log(u) - torch.log1p(-u) + log_alpha) / beta)
    return stretch_and_clip(s, gamma, zeta)


def hard_concrete_gates(
    log_alpha: Tensor, gamma: float = HARD_CONCRETE_GAMMA, zeta: float = HARD_CONCRETE_ZETA
) -> Tensor:
    """Evaluation gates ``clamp(sigmoid(log_alpha) * (zeta - gamma) + gamma, 0, 1)`` (Louizos et al. 2018, Eq. 13)."""
    return stretch_and_clip(torch.sigmoid(log_alpha), gamma, zeta)


def _gating_body(n_features: int, hidden_dim: int, init_std: float, final_tanh: bool) -> nn.Sequential:
    """``D -> hidden (tanh) -> D`` (+ tanh), every Linear ~ N(0, init_std^2) with zero bias."""
    layers: list[nn.Module] = [nn.Linear(n_features, hidden_dim), nn.Tanh(), nn.Linear(hidden_dim, n_features)]
    if final_tanh:
        layers.append(nn.Tanh())
    net = nn.Sequential(*layers)
    net.apply(lambda m: small_normal_(m, init_std))
    return net


class GateNetwork(nn.Module):
    """One sample-wise gate per feature, computed from the sample itself (the interface every gate network has).

    Subclasses set ``self.net`` (the gating body) and implement :meth:`sample`, :meth:`evaluation_gates` and
    :meth:`regulariser`; ``forward`` returns the parameters of the gate distribution (B x D).
    """

    net: nn.Module

    def forward(self, x: Tensor) -> Tensor:
        """Parameters of each gate's distribution (B x D)."""
        return self.net(x)

    def sample(self, params: Tensor) -> Tensor:
        """Stochastic training gates in [0, 1], differentiable in ``params``."""
        raise NotImplementedError

    def evaluation_gates(self, params: Tensor) -> Tensor:
        """Deterministic gates in [0, 1] from the parameters."""
        raise NotImplementedError

    def regulariser(self, params: Tensor, reduction: str = "mean") -> Tensor:
        """Expected number of open gates: ``P(z != 0)`` averaged over samples and features (``mean``) or summed
        over features and averaged over samples (``sum``)."""
        raise NotImplementedError

    @torch.no_grad()
    def gates(self, x: Tensor) -> Tensor:
        """Evaluation-mode gates of ``x`` in [0, 1] (no gradients)."""
        return self.evaluation_gates(self(x))


class LocalGatingNetwork(GateNetwork):
    """``stg``: ``mu = tanh(W2 tanh(W1 x))`` (the "hypernetwork"), gates ``clamp(mu + 0.5 + eps, 0, 1)`` with
    ``eps ~ N(0, noise_std^2)`` while training (paper Eq. 1-2) and the Gaussian-CDF regulariser (Eq. 3)."""

    def __init__(
        self, n_features: int, hidden_dim: int, init_std: float = 1e-3, noise_std: float = 0.25,
        reg_sigma: float = 1.0,
    ):
        super().__init__()
        if reg_sigma <= 0:
            raise ValueError(f"gates.reg_sigma must be > 0 (the std inside the regulariser's CDF), got {reg_sigma}")
        self.noise_std, self.reg_sigma = float(noise_std), float(reg_sigma)
        self.net = _gating_body(n_features, hidden_dim, init_std, final_tanh=True)

    def sample(self, params: Tensor) -> Tensor:
        return noisy_gates(params, self.noise_std)

    def evaluation_gates(self, params: Tensor) -> Tensor:
        return hard_sigmoid(params)

    def regulariser(self, params: Tensor, reduction: str = "mean") -> Tensor:
        return losses.gate_regulariser(params, self.reg_sigma, reduction)


class HardConcreteGateNetwork(GateNetwork):
    """``hard_concrete``: ``log_alpha = W2 tanh(W1 x)``, stretched and clipped binary-concrete gates (Louizos,
    Welling & Kingma 2018) with the closed-form ``P(z != 0)`` as regulariser."""

    def __init__(
        self, n_features: int, hidden_dim: int, init_std: float = 1e-3, beta: float = HARD_CONCRETE_BETA,
        gamma: float = HARD_CONCRETE_GAMMA, zeta: float = HARD_CONCRETE_ZETA,
    ):
        super().__init__()
        if beta <= 0 or gamma >= 0 or zeta <= 1:
            raise ValueError(
                f"hard-concrete gates need beta > 0, gamma < 0 and zeta > 1 (paper: 2/3, -0.1, 1.1); "
                f"got beta={beta}, gamma={gamma}, zeta={zeta}"
            )
        self.beta, self.gamma, self.zeta = float(beta), float(gamma), float(zeta)
        self.net = _gating_body(n_features, hidden_dim, init_std, final_tanh=False)

    def sample(self, params: Tensor) -> Tensor:
        return hard_concrete_sample(params, self.beta, self.gamma, self.zeta)

    def evaluation_gates(self, params: Tensor) -> Tensor:
        return hard_concrete_gates(params, self.gamma, self.zeta)

    def regulariser(self, params: Tensor, reduction: str = "mean") -> Tensor:
        return losses.hard_concrete_regulariser(params, self.beta, self.gamma, self.zeta, reduction)


GATE_NETWORKS: dict[str, type[GateNetwork]] = {"stg": LocalGatingNetwork, "hard_concrete": HardConcreteGateNetwork}


def kind_of(gates: Mapping[str, Any]) -> str:
    """The gate network a ``gates`` config node names: ``none`` when ``enabled`` is false, else its ``kind``
    (``stg`` when absent, as in configs written before the key existed)."""
    return str(gates.get("kind") or "stg") if gates.get("enabled", True) else "none"


def gate_options(kind: str) -> tuple[str, ...]:
    """The keyword options the gate network ``kind`` takes (besides the table's width and ``hidden_dim``)."""
    if kind not in GATE_NETWORKS:
        raise ValueError(f"gates kind must be one of {['none', *GATE_NETWORKS]}, got {kind!r}")
    return tuple(p for p in inspect.signature(GATE_NETWORKS[kind]).parameters if p not in ("n_features", "hidden_dim"))


def make_gate_network(kind: str, n_features: int, hidden_dim: int | None = None, **options: Any) -> GateNetwork | None:
    """The gate network ``kind`` (``stg``, ``hard_concrete``) or ``None`` for ``none`` (every gate open);
    ``hidden_dim`` defaults to ``n_features``; ``options`` are the implementation's keyword arguments."""
    if kind == "none":
        return None
    allowed = gate_options(kind)
    cls = GATE_NETWORKS[kind]
    unknown = sorted(set(options) - set(allowed))
    if unknown:
        raise ValueError(f"gates={kind}: unknown option(s) {unknown}; it takes {sorted(allowed)}")
    return cls(n_features, int(hidden_dim or n_features), **options)


class GlobalGates(nn.Module):
    """Cluster-level gate matrix ``Z^G = clamp(tanh(W^G) + 0.5, 0, 1)``, W^G in R^{K x D} (paper Sec. 4.3)."""

    def __init__(self, n_clusters: int, n_features: int, init_std: float = 0.01):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(n_clusters, n_features) * init_std)

    def mu(self, clusters: Tensor | None = None) -> Tensor:
        """``tanh(W^G[y])`` for a batch of cluster indices, or ``tanh(W^G)`` of every cluster (K x D)."""
        return torch.tanh(self.weight if clusters is None else self.weight[clusters])

    @torch.no_grad()
    def matrix(self) -> Tensor:
        """The K x D global gate matrix used at inference."""
        return hard_sigmoid(self.mu())
