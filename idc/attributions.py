"""Post-hoc attributions turned into "gates", for the comparison rows of the paper's interpretability table
(ICLR-sub Table 1): K-means + SHAP and IDC w/o gates + Integrated Gradients / GradientSHAP.

A model is any torch callable mapping a float batch ``(B, D)`` to cluster scores ``(B, K)`` (logits or
probabilities); each row is explained for its own cluster (the argmax of its scores), with Captum:

- ``ig``: :class:`captum.attr.IntegratedGradients` (Sundararajan et al. 2017) from the all-zero input (the
  value :func:`idc.metrics.faithfulness` removes features to);
- ``gradient_shap``: :class:`captum.attr.GradientShap`, expected gradients from a background of table rows
  (the paper's explainers used 100);
- ``kernel_shap``: :class:`captum.attr.KernelShap` (Lundberg & Lee 2017), model-agnostic, with the feature
  means as the reference of absent features.

The paper's explainers keep the top 15 features (the number of gates IDC opens): :func:`top_k_gates` makes
per-sample "local gates" (1 on a row's k largest ``|attribution|``, 0 elsewhere) and :func:`cluster_top_k_gates`
per-cluster "global gates" (the k largest mean ``|attribution|`` over the cluster's rows), the arrays IDC
produces, so the interpretability metrics score them unchanged.
"""
from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
from torch import Tensor

#: the attribution methods, by the names used in ``eval_<method>.json``
METHODS = ("ig", "gradient_shap", "kernel_shap")
#: features each explanation keeps (paper Sec. 6.1: the number of gates IDC opens on MNIST10K)
TOP_K = 15

Forward = Callable[[Tensor], Tensor]


def kmeans_forward(centers: np.ndarray, temperature: float) -> Forward:
    """A differentiable K-means assignment: ``p_k(x) = softmax_k(-||x - c_k||^2 / T)``; its argmax is the
    nearest centre, i.e. K-means' own assignment."""
    c = torch.as_tensor(np.asarray(centers), dtype=torch.float32)
    if not torch.isfinite(c).all():
        raise ValueError("kmeans_forward: centres must be finite (an empty cluster has no centre)")
    if not temperature > 0:
        raise ValueError(f"kmeans_forward: temperature must be > 0, got {temperature}")

    def forward(x: Tensor) -> Tensor:
        return torch.softmax(-torch.cdist(x, c.to(x.device)).square() / temperature, dim=1)

    return forward


def margin_temperature(X: np.ndarray, centers: np.ndarray) -> float:
    """The median over rows of (squared distance to the second-nearest centre - to the nearest): with it the
    typical row has ``p ≈ 0.73`` for its cluster against the runner-up, so the soft assignment is neither flat
    nor a step (at least 1e-8)."""
    d2 = np.sort(((X[:, None, :] - centers[None]) ** 2).sum(-1), axis=1)
    return float(max(np.median(d2[:, 1] - d2[:, 0]), 1e-8))


def own_clusters(forward: Forward, X: np.ndarray, batch_size: int = 4096) -> np.ndarray:
    """Each row's cluster: the argmax of the model's scores."""
    with torch.no_grad():
        x = torch.as_tensor(X, dtype=torch.float32)
        return torch.cat([forward(x[i : i + batch_size]).argmax(1) for i in range(0, len(x), batch_size)]).numpy()


def attribute(
    forward: Forward,
    X: np.ndarray,
    method: str,
    targets: np.ndarray | None = None,
    background: np.ndarray | None = None,
    n_samples: int | None = None,
    seed: int = 0,
    batch_size: int = 256,
) -> np.ndarray:
    """Attributions (N x D) of each row of ``X`` to its cluster ``targets`` (default: :func:`own_clusters`).

    ``background``: rows whose values stand in for absent features (``gradient_shap``: the baselines it samples
    from; ``kernel_shap``: their mean is the reference; ``ig`` ignores it and starts from zeros). Default: ``X``.
    ``n_samples``: random draws per row (``gradient_shap``: default 20; ``kernel_shap``: coalitions, default
    shap's ``2 D + 2048``); ``ig`` takes 50 steps. Random draws come from a torch generator seeded by ``seed``
    (the global one is restored afterwards).
    """
    from captum.attr import GradientShap, IntegratedGradients, KernelShap

    if method not in METHODS:
        raise ValueError(f"attribution method {method!r} is unknown; choose one of {', '.join(METHODS)}")
    X = np.asarray(X, dtype=np.float32)
    targets = own_clusters(forward, X) if targets is None else np.asarray(targets)
    background = X if background is None else np.asarray(background, dtype=np.float32)
    base = torch.as_tensor(background)
    parts = []
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        for i in range(0, len(X), batch_size):
            x = torch.as_tensor(X[i : i + batch_size])
            t = torch.as_tensor(targets[i : i + batch_size], dtype=torch.long)
            if method == "ig":
                a = IntegratedGradients(forward).attribute(x, torch.zeros_like(x), target=t, n_steps=50,
                                                           internal_batch_size=batch_size * 8)
            elif method == "gradient_shap":
                a = GradientShap(forward).attribute(x, base, target=t, n_samples=n_samples or 20)
            else:
                a = kernel_shap_rows(KernelShap(forward), x, t, base.mean(0, keepdim=True), n_samples)
            parts.append(a.detach())
    return torch.cat(parts).numpy()


def kernel_shap_rows(explainer, x: Tensor, targets: Tensor, reference: Tensor, n_samples: int | None) -> Tensor:
    """Kernel SHAP fits one weighted linear model per row: explain the rows one at a time (Captum's advice)."""
    n = n_samples or 2 * x.shape[1] + 2048
    return torch.cat([
        explainer.attribute(x[j : j + 1], reference, target=int(targets[j]), n_samples=n,
                            perturbations_per_eval=min(n, 512))
        for j in range(len(x))
    ])


def top_k_gates(attributions: np.ndarray, k: int = TOP_K) -> np.ndarray:
    """Per-row "local gates" (N x D, float32): 1 on the row's ``k`` features of largest ``|attribution|``
    (ties: the lower index), 0 elsewhere; a feature whose attribution is exactly 0 never opens, so such a row
    may keep fewer than ``k``."""
    mag = np.abs(np.asarray(attributions, dtype=np.float64))
    if not 1 <= k <= mag.shape[1]:
        raise ValueError(f"top-k gates: k must be between 1 and the {mag.shape[1]} features, got {k}")
    order = np.argsort(-mag, axis=1, kind="stable")[:, :k]
    gates = np.zeros(mag.shape, dtype=np.float32)
    np.put_along_axis(gates, order, 1.0, axis=1)
    gates[mag == 0] = 0.0
    return gates


def cluster_top_k_gates(attributions: np.ndarray, clusters: np.ndarray, n_clusters: int, k: int = TOP_K) -> np.ndarray:
    """Per-cluster "global gates" (K x D): 1 on the ``k`` features of largest mean ``|attribution|`` over the
    cluster's rows; a cluster without rows gets none."""
    mag = np.abs(np.asarray(attributions, dtype=np.float64))
    members = np.eye(int(n_clusters))[np.asarray(clusters)]  # N x K one-hot
    means = (members.T @ mag) / np.maximum(members.sum(0), 1.0)[:, None]
    return top_k_gates(means, k)


def attribution_gates(
    forward: Forward,
    X: np.ndarray,
    method: str,
    n_clusters: int,
    k: int = TOP_K,
    **options,
) -> dict[str, np.ndarray]:
    """``clusters``, ``attributions``, ``local_gates`` and ``global_gates`` of ``X`` under ``forward`` and
    ``method`` (``options`` go to :func:`attribute`): the arrays an IDC run's evaluation reads."""
    clusters = own_clusters(forward, X)
    attributions = attribute(forward, X, method, targets=clusters, **options)
    return {
        "clusters": clusters.astype(np.int64),
        "attributions": attributions,
        "local_gates": top_k_gates(attributions, k),
        "global_gates": cluster_top_k_gates(attributions, clusters, n_clusters, k),
    }
