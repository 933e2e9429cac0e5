"""Stochastic gates (paper Eq. 1-3): the local gating network and the cluster-level global gate matrix."""
from __future__ import annotations

import torch
from torch import Tensor, nn

from idc.nn.init import small_normal_


def hard_sigmoid(mu: Tensor) -> Tensor:
    """Gate value ``clamp(mu + 0.5, 0, 1)``."""
    return torch.clamp(mu + 0.5, 0.0, 1.0)


def noisy_gates(mu: Tensor, noise_std: float) -> Tensor:
    """Training gates ``clamp(mu + 0.5 + eps, 0, 1)`` with ``eps ~ N(0, noise_std^2)`` (paper Eq. 1)."""
    if noise_std <= 0:
        return hard_sigmoid(mu)
    return hard_sigmoid(mu + noise_std * torch.randn_like(mu))


class LocalGatingNetwork(nn.Module):
    """``mu = tanh(W2 tanh(W1 x))``: one gate parameter per sample and feature (the "hypernetwork").

    Starts with every gate half open (``mu ~ 0``) thanks to the small initialisation.
    """

    def __init__(self, n_features: int, hidden_dim: int, init_std: float = 1e-3):
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(n_features, hidden_dim), nn.Tanh(), nn.Linear(hidden_dim, n_features), nn.Tanh()
        )
        self.net.apply(lambda m: small_normal_(m, init_std))

    def forward(self, x: Tensor) -> Tensor:
        """Return ``mu`` (B x D); gates are ``hard_sigmoid(mu)`` (+ noise while training)."""
        return self.net(x)

    @torch.no_grad()
    def gates(self, x: Tensor) -> Tensor:
        """Deterministic (evaluation) gates ``clamp(mu + 0.5, 0, 1)``."""
        return hard_sigmoid(self.net(x))


class GlobalGates(nn.Module):
    """Cluster-level gate matrix ``Z^G = clamp(tanh(W^G) + 0.5, 0, 1)``, W^G in R^{K x D} (paper Sec. 4.3)."""

    def __init__(self, n_clusters: int, n_features: int, init_std: float = 0.01):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(n_clusters, n_features) * init_std)

    def mu(self, clusters: Tensor) -> Tensor:
        """``tanh(W^G[y])`` for a batch of cluster indices."""
        return torch.tanh(self.weight[clusters])

    @torch.no_grad()
    def matrix(self) -> Tensor:
        """The K x D global gate matrix used at inference."""
        return hard_sigmoid(torch.tanh(self.weight))
