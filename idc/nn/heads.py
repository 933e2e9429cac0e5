"""Stage-2 heads on the frozen embeddings of gated inputs, and the auxiliary classifier on gated inputs.

Every clustering head maps (standardised) embeddings to K cluster logits, so ``logits.argmax(1)`` is the
partition wherever the module evaluates, predicts or picks pseudo-labels for the global gates. How the module
calls each head (``head=`` choice), all on the frozen stage-2 embeddings ``emb`` (N x d, the head's inputs):

* ``mcr`` (:class:`ClusteringHead`): trained by the cluster compression loss on Gumbel-softmax probabilities of
  its logits (paper Eq. 5-6); unchanged.
* ``kmeans`` (:class:`KMeansHead`): once, at the start of stage 2, ``partition = head.fit(emb, seed, n_init)``
  (k-means++, no head training, no optimizer; the paper's "IDC features + K-Means" row). Its logits are minus the
  squared distances to the centroids (nearest centroid wins); the global gates train from ``partition``.
* ``dec`` (:class:`DECHead`, Xie, Girshick & Farhadi 2016): once, at the start of stage 2,
  ``head.fit(emb, seed, n_init)`` puts the centroids at k-means' centres; ``target = DECTarget(every)``. Each
  training step with row indices ``idx``: ``if target.due(step): target.refresh(head.soft_assignments(emb), step)``
  (on all rows, no gradient), then ``loss = losses.dec_kl_loss(head(emb[idx]), target[idx])``. ``head(.)``
  returns ``log q``, so ``softmax(logits) = q``.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import torch
from sklearn.cluster import KMeans
from torch import Tensor, nn

from idc import losses
from idc.nn.init import mlp_block, small_normal_


class _MLPHead(nn.Module):
    def __init__(self, d_in: int, hidden_dim: int, n_clusters: int, init_std: float = 1e-3):
        super().__init__()
        self.net = nn.Sequential(*mlp_block(d_in, hidden_dim), nn.Linear(hidden_dim, n_clusters))
        self.net.apply(lambda m: small_normal_(m, init_std))

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x)


class ClusteringHead(_MLPHead):
    """Cluster logits from the bottleneck embedding: ``bottleneck -> hidden (BN, ReLU) -> K``."""


class AuxiliaryClassifier(_MLPHead):
    """Predicts the head's pseudo-label from ``x * z * z^G``: ``D -> hidden (BN, ReLU) -> K``; it exists only
    to train the global gates and is discarded at inference."""


def fit_kmeans(embeddings: Tensor, n_clusters: int, seed: int, n_init: int = 1) -> KMeans:
    """scikit-learn's k-means++ (``n_init`` seeded restarts, the best inertia kept) fitted on the embeddings (on
    the host); ``labels_`` is the partition, ``cluster_centers_`` the centroids."""
    if n_init < 1:
        raise ValueError(f"head.n_init (k-means restarts) must be >= 1, got {n_init}")
    x = embeddings.detach().float().cpu().numpy()
    return KMeans(n_clusters, init="k-means++", n_init=n_init, random_state=seed).fit(x)


class KMeansHead(nn.Module):
    """``kmeans``: K centroids placed by k-means++ on the frozen head inputs (the embeddings, in the decoder's metric
    with ``head.metric=decoder``), never trained; logits ``-||z - mu_j||^2``."""

    learnable = False

    def __init__(self, dim: int, n_clusters: int):
        super().__init__()
        centroids = torch.zeros(n_clusters, dim)
        if self.learnable:
            self.centroids = nn.Parameter(centroids)
        else:
            self.register_buffer("centroids", centroids)

    @torch.no_grad()
    def fit(self, embeddings: Tensor, seed: int, n_init: int = 1) -> np.ndarray:
        """Put the centroids at k-means' centres of ``embeddings`` and return its partition (N,)."""
        km = fit_kmeans(embeddings, len(self.centroids), seed, n_init)
        self.centroids.copy_(torch.as_tensor(km.cluster_centers_, dtype=self.centroids.dtype))
        return km.labels_

    def squared_distances(self, z: Tensor) -> Tensor:
        """``||z_i - mu_j||^2`` (B x K)."""
        return (z.unsqueeze(1) - self.centroids).square().sum(-1)

    def forward(self, z: Tensor) -> Tensor:
        """Cluster logits ``-||z_i - mu_j||^2``."""
        return -self.squared_distances(z)


class DECHead(KMeansHead):
    """``dec``: learnable centroids (initialised by :meth:`fit`), Student-t soft assignments
    ``q_ij ∝ (1 + ||z_i - mu_j||^2 / alpha)^(-(alpha + 1) / 2)`` (DEC, Eq. 1), trained by ``KL(P || Q)``."""

    learnable = True

    def __init__(self, dim: int, n_clusters: int, alpha: float = 1.0):
        super().__init__(dim, n_clusters)
        if alpha <= 0:
            raise ValueError(f"head.alpha (Student-t degrees of freedom) must be > 0, got {alpha}")
        self.alpha = float(alpha)

    def forward(self, z: Tensor) -> Tensor:
        """``log q_ij`` (B x K): log soft assignments, usable as logits."""
        log_kernel = -0.5 * (self.alpha + 1.0) * torch.log1p(self.squared_distances(z) / self.alpha)
        return torch.log_softmax(log_kernel, dim=1)

    def soft_assignments(self, z: Tensor) -> Tensor:
        """``q_ij`` (B x K), rows summing to 1."""
        return self(z).exp()


class DECTarget:
    """DEC's target distribution ``P`` over every row of the frozen table, recomputed from all soft assignments
    every ``every`` steps (DEC's update interval T) and constant in between."""

    def __init__(self, every: int):
        if every < 1:
            raise ValueError(f"head.target_every (steps between DEC target refreshes) must be >= 1, got {every}")
        self.every = int(every)
        self.target: Tensor | None = None
        self._labels: Tensor | None = None
        self._next_step = 0

    def due(self, step: int) -> bool:
        """Whether the target must be (re)computed before ``step``: at the first step and every ``every`` steps."""
        return self.target is None or step >= self._next_step

    @torch.no_grad()
    def refresh(self, q: Tensor, step: int) -> float:
        """Recompute ``P`` from the soft assignments ``q`` of all N rows; return the share of rows whose hard
        assignment changed since the last refresh (1.0 at the first; DEC stops below a tolerance)."""
        labels = q.argmax(1)
        changed = 1.0 if self._labels is None else float((labels != self._labels).float().mean())
        self.target, self._labels = losses.dec_target_distribution(q), labels
        self._next_step = step + self.every
        return changed

    def state_dict(self) -> dict[str, Any]:
        """What a checkpoint keeps, so that a resumed run refreshes and trains as an uninterrupted one."""
        return {"target": None if self.target is None else self.target.cpu(),
                "labels": None if self._labels is None else self._labels.cpu(), "next_step": self._next_step}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.target, self._labels, self._next_step = state["target"], state["labels"], int(state["next_step"])

    def __getitem__(self, idx: Tensor) -> Tensor:
        """Target rows ``P[idx]``."""
        if self.target is None:
            raise RuntimeError("DECTarget has no target yet: call refresh(q, step) when due(step) says so")
        return self.target[idx]


def head_kind(head: Mapping[str, Any]) -> str:
    """The clustering head a ``head`` config node names (``mcr`` when ``kind`` is absent: ``head=mcr``,
    ``head=official`` and configs written before the key existed)."""
    return str(head.get("kind") or "mcr")


def make_head(head: Mapping[str, Any], dim: int, n_clusters: int) -> nn.Module:
    """One clustering head as the ``head`` config node says, on ``dim``-dimensional embeddings."""
    kind = head_kind(head)
    if kind == "mcr":
        return ClusteringHead(dim, int(head["hidden_dim"]), n_clusters)
    if kind == "kmeans":
        return KMeansHead(dim, n_clusters)
    if kind == "dec":
        return DECHead(dim, n_clusters, float(head.get("alpha", 1.0)))
    raise ValueError(f"head.kind must be one of mcr, kmeans, dec; got {kind!r}")
