"""Stage-2 starts and restarts of the clustering head on the fixed embeddings (robust IDC, not in the paper).

* ``kmeans`` initialisation: the head is first fitted, by cross-entropy, to a k-means++ partition of the
  frozen embeddings of gated inputs, so stage 2 starts from K-means' answer instead of a random one.
* Restarts: several heads train side by side on the same fixed embeddings (different seeds); one is kept by a
  label-free criterion, lowest first: the compression loss of its hard partition (paper Eq. 6), minus the
  silhouette of the embedding, or minus its mean ARI with the other restarts (agreement).
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.cluster import KMeans
from sklearn.metrics import adjusted_rand_score
from torch import Tensor, nn

from idc import losses
from idc.metrics import silhouette
from idc.nn.init import evaluation_mode

CRITERIA = ("compression", "silhouette", "agreement")


def kmeans_partition(embeddings: Tensor, n_clusters: int, seed: int, n_init: int = 1) -> np.ndarray:
    """k-means++ partition of the embeddings (on the host; they are N x bottleneck)."""
    x = embeddings.detach().float().cpu().numpy()
    return KMeans(n_clusters, init="k-means++", n_init=n_init, random_state=seed).fit_predict(x)


def fit_head_to_partition(
    head: nn.Module, embeddings: Tensor, partition: np.ndarray, steps: int = 200, lr: float = 1e-2,
    batch_size: int = 512, seed: int = 0,
) -> float:
    """Fit ``head`` (in training mode) to reproduce ``partition`` by cross-entropy (Adam, seeded minibatches) and
    return the share of rows whose evaluation-mode argmax equals the partition."""
    target = torch.as_tensor(partition, dtype=torch.long, device=embeddings.device)
    gen = torch.Generator(device="cpu").manual_seed(seed)
    opt = torch.optim.Adam(head.parameters(), lr=lr)
    n = len(embeddings)
    with torch.enable_grad():
        for _ in range(steps):
            idx = torch.randperm(n, generator=gen)[: min(batch_size, n)].to(embeddings.device)
            loss = F.cross_entropy(head(embeddings[idx]), target[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
    with torch.no_grad(), evaluation_mode(head):
        return (head(embeddings).argmax(1) == target).float().mean().item()


def criterion_values(
    name: str, embeddings: Tensor, partitions: list[Tensor], n_clusters: int, eps: float, seed: int = 0,
    balance: float = 0.0,
) -> list[float]:
    """One label-free score per restart (lower is better) for the hard ``partitions`` of ``embeddings``; the
    compression criterion is the head's training objective (with its ``balance`` term) on the hard partition."""
    if name == "compression":
        onehots = [F.one_hot(p, n_clusters).to(embeddings.dtype) for p in partitions]
        return [
            float(losses.cluster_compression_loss(embeddings, q, eps) + balance * losses.assignment_imbalance(q))
            for q in onehots
        ]
    hard = [p.cpu().numpy() for p in partitions]
    if name == "silhouette":
        x = embeddings.float().cpu().numpy()
        return [-silhouette(x, p, seed=seed, undefined=-1.0) for p in hard]  # one cluster only: the worst score
    if name == "agreement":
        if len(hard) == 1:
            return [0.0]
        return [
            -float(np.mean([adjusted_rand_score(p, q) for j, q in enumerate(hard) if j != i]))
            for i, p in enumerate(hard)
        ]
    raise ValueError(f"head.restart_criterion must be one of {CRITERIA}, got {name!r}")
