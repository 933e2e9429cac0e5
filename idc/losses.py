"""The paper's loss terms as pure functions of tensors (no Lightning, no Hydra).

Equation numbers refer to the ICLR-2024 submission of the paper (docs/method.md); where the
official code (``jsvir/idc``) differs, the default follows the code and the paper's variant is an argument.
"""
from __future__ import annotations

import functools
import math
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = [
    "cluster_compression_loss",
    "coding_rate",
    "dec_kl_loss",
    "dec_target_distribution",
    "expected_open_gates",
    "gate_regulariser",
    "gates_coding_rate_loss",
    "gumbel_softmax_probs",
    "hard_concrete_regulariser",
    "logdet_spd",
    "reconstruction_loss",
    "share_divergence",
    "share_shortfall",
]

# Louizos, Welling & Kingma (2018): temperature and stretch interval of the hard-concrete distribution
HARD_CONCRETE_BETA = 2.0 / 3.0
HARD_CONCRETE_GAMMA = -0.1
HARD_CONCRETE_ZETA = 1.1


def full_precision(fn: Callable[..., Tensor]) -> Callable[..., Tensor]:
    """Run a log-det loss outside autocast, in at least float32 (under ``bf16-mixed`` the Gram matrices and
    their factorisation would otherwise lose most of their digits)."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        def up(a):
            return a.float() if isinstance(a, Tensor) and a.dtype in (torch.float16, torch.bfloat16) else a

        device = next((a.device.type for a in args if isinstance(a, Tensor)), "cpu")
        with torch.autocast(device_type=device, enabled=False):
            return fn(*map(up, args), **{k: up(v) for k, v in kwargs.items()})

    return wrapper


def logdet_spd(matrix: Tensor) -> Tensor:
    """log-determinant of (a batch of) symmetric positive-definite matrices via Cholesky.

    The matrices here are ``I + c * Gram`` (always SPD), so no fallback is checked: that check would cost a
    host sync every step. A failed factorisation shows up as a NaN, which the training guard reports.
    """
    chol, _ = torch.linalg.cholesky_ex(matrix)
    return 2.0 * torch.log(torch.diagonal(chol, dim1=-2, dim2=-1)).sum(-1)


def coding_rate(z: Tensor, scale: float, small_side: bool = True) -> Tensor:
    """``logdet(I_p + scale * Z^T Z)`` for ``Z`` of shape (n, p).

    By Sylvester's determinant identity this equals ``logdet(I_n + scale * Z Z^T)``; with ``small_side`` the
    smaller of the two Gram matrices is factorised (exact, and B x B instead of D x D for the gates).
    """
    n, p = z.shape
    if small_side and n < p:
        gram = z @ z.T
    else:
        gram = z.T @ z
    eye = torch.eye(gram.shape[0], dtype=z.dtype, device=z.device)
    return logdet_spd(eye + scale * gram)


def gate_regulariser(mu: Tensor, sigma: float = 1.0, reduction: str = "mean") -> Tensor:
    """Expected L0 norm of stochastic gates, ``P(z > 0) = Phi((mu + 0.5) / sigma)`` (paper Eq. 3).

    The official code uses ``sigma = 1`` and a mean over samples and features (``reduction="mean"``); the
    paper uses ``sigma = 0.5`` and sums over features, averaged over samples (``reduction="sum"``).
    """
    return expected_open_gates(open_probability(mu, sigma), reduction)


def open_probability(mu: Tensor, sigma: float = 1.0) -> Tensor:
    """``P(z > 0) = Phi((mu + 0.5) / sigma)`` of hard-sigmoid gates ``clamp(mu + 0.5 + sigma * eps, 0, 1)``."""
    return 0.5 * (1.0 + torch.erf((mu + 0.5) / (sigma * math.sqrt(2.0))))


def gate_overlap(mu: Tensor, shares: Tensor, sigma: float = 1.0, reduction: str = "mean") -> Tensor:
    """Features open in two clusters at once (not in the paper). ``mu`` (K x D, in [-1, 1]: the global gates'
    ``tanh(W^G)``) gives each gate's excess open probability over the closed gate's, ``q = (P(z > 0) - P_min) /
    (P_max - P_min)`` with ``P(z > 0) = Phi((mu + 0.5) / sigma)`` (0 closed, 1 open at ``mu`` = -1, 1); the term is
    the mean over pairs of clusters ``k != l``, weighted by their ``shares`` of the rows, of ``q_kd q_ld``, averaged
    (``mean``) or summed (``sum``) over features as :func:`expected_open_gates`. A feature open in one cluster alone
    costs nothing; clusters without rows count for nothing; 0 with fewer than two clusters in ``shares``. A penalty
    on it keeps a feature open in the clusters whose recognition needs it most, for the global gates' diversity
    (paper Sec. 5, ICLR-sub)."""
    low, high = (0.5 * (1.0 + math.erf((m + 0.5) / (sigma * math.sqrt(2.0)))) for m in (-1.0, 1.0))
    q = (open_probability(mu, sigma) - low) / (high - low)
    w = shares.to(q.dtype)
    # sum over k != l of w_k w_l, at least 2 (B - 1) / B^2 with two clusters in a batch of B rows; with one it is 0 and
    # so is every feature's sum: clamped (far below any real value, far above what would overflow a gradient)
    # rather than tested, so that no step waits on the device
    pairs = (w.sum() ** 2 - (w * w).sum()).clamp_min(1e-12)
    weighted = w[:, None] * q
    shared = (weighted.sum(0) ** 2 - (weighted * weighted).sum(0)) / pairs  # per feature
    return expected_open_gates(shared.unsqueeze(0), reduction)


def expected_open_gates(open_prob: Tensor, reduction: str = "mean") -> Tensor:
    """Reduce per-gate probabilities ``P(z != 0)`` (B x D) to the expected L0 norm: ``mean`` over samples and
    features, or ``sum`` over features averaged over samples."""
    if reduction == "mean":
        return open_prob.mean()
    if reduction == "sum":
        return open_prob.sum(-1).mean()
    raise ValueError(f"reduction must be 'mean' or 'sum', got {reduction!r}")


def hard_concrete_regulariser(
    log_alpha: Tensor, beta: float = HARD_CONCRETE_BETA, gamma: float = HARD_CONCRETE_GAMMA,
    zeta: float = HARD_CONCRETE_ZETA, reduction: str = "mean",
) -> Tensor:
    """Expected L0 norm of hard-concrete gates, ``P(z != 0) = sigmoid(log_alpha - beta * log(-gamma / zeta))``
    (Louizos, Welling & Kingma 2018, Eq. 12), reduced as in :func:`gate_regulariser`."""
    return expected_open_gates(torch.sigmoid(log_alpha - beta * math.log(-gamma / zeta)), reduction)


@full_precision
def gates_coding_rate_loss(
    gates: Tensor, eps: float = 1.0, projection: Tensor | None = None, small_side: bool = True, center: bool = False
) -> Tensor:
    """Negative total coding rate of the gate vectors (GTCR, paper Eq. 4; code's scale).

    ``L = -(1/B) * 1/2 * logdet(I_p + p / (B * eps) * Z^T Z)`` with ``Z`` the B x D gates, optionally
    projected to ``p`` dimensions by a fixed random matrix. Minimising it spreads the gates of different
    samples apart, and also opens gates (a larger ``Z`` has a larger rate); with ``center`` ``Z`` is taken minus
    its batch mean, so that only the differences between samples' gates count.
    """
    z = gates if projection is None else gates @ projection
    if center:
        z = z - z.mean(dim=0, keepdim=True)
    b, p = z.shape
    return -0.5 * coding_rate(z, p / (b * eps), small_side=small_side) / b


@full_precision
def cluster_compression_loss(embeddings: Tensor, probs: Tensor, eps: float = 0.1) -> Tensor:
    """Mean cluster coding rate of L2-normalised embeddings under soft assignments (paper Eq. 6; MCR^2
    compression term as in the official code).

    ``L = (1/d) * sum_k n_k / (2B) * logdet(I_d + d / (n_k * eps) * H^T diag(p_k) H)`` with
    ``n_k = sum_i p_ik``.
    """
    h = F.normalize(embeddings, dim=1)
    b, d = h.shape
    mass = probs.sum(0) + 1e-8  # (K,)
    weighted = torch.einsum("bk,bi,bj->kij", probs, h, h)  # (K, d, d)
    eye = torch.eye(d, dtype=h.dtype, device=h.device)
    scale = (d / (mass * eps)).view(-1, 1, 1)
    logdets = logdet_spd(eye + scale * weighted)
    return (mass * logdets / (2.0 * b)).sum() / d


def assignment_imbalance(probs: Tensor) -> Tensor:
    """``log K - H(mean_i p_i)``: KL divergence of the batch's mean cluster assignment from uniform (0 when
    balanced, log K when every row is in one cluster). Not in the paper; the entropy prior of deep clustering
    (IIC, Ji et al. 2019; SCAN, Van Gansbeke et al. 2020) against merging clusters."""
    mean = probs.mean(0).clamp_min(1e-12)
    return math.log(probs.shape[1]) + (mean * mean.log()).sum()


def share_divergence(probs: Tensor, target: Tensor) -> Tensor:
    """``KL(sort(mean_i p_i) || sort(target))``: how far the batch's cluster shares are from the shares
    ``target`` (K, summing to 1), compared sorted, so that only the sizes count, not which cluster has which
    (``head.balance=kmeans_proportions``: the k-means start's shares). With a uniform target it is
    :func:`assignment_imbalance`. Not in the paper."""
    mean = torch.sort(probs.mean(0).clamp_min(1e-12)).values
    goal = torch.sort(target.to(probs).clamp_min(1e-12)).values
    return (mean * (mean.log() - goal.log())).sum()


def share_shortfall(probs: Tensor, min_share: float) -> Tensor:
    """``sum_k max(0, log(min_share) - log(mean_i p_ik))``: a penalty only for clusters whose share of the batch
    falls below ``min_share`` (``head.balance=min_share``), zero, with a zero gradient, for any partition above
    it, so that unequal clusters are not pulled to equal sizes while empty ones are refused. Not in the paper."""
    mean = probs.mean(0).clamp_min(1e-12)
    return torch.relu(math.log(min_share) - mean.log()).sum()


def gumbel_softmax_probs(logits: Tensor, tau: float) -> Tensor:
    """Soft cluster assignments ``softmax((log_softmax(l) + g) / tau)``, ``g ~ Gumbel(0, 1)`` (paper Eq. 5)."""
    logp = torch.log_softmax(logits, dim=-1)
    uniform = torch.rand_like(logp).clamp_(1e-10, 1.0 - 1e-7)
    gumbel = -torch.log(-torch.log(uniform))
    return torch.softmax((logp + gumbel) / tau, dim=-1)


def dec_target_distribution(q: Tensor) -> Tensor:
    """DEC's auxiliary target ``p_ij = (q_ij^2 / f_j) / sum_j' (q_ij'^2 / f_j')`` with cluster frequencies
    ``f_j = sum_i q_ij`` (Xie, Girshick & Farhadi 2016, Eq. 3): sharper than ``q``, with large clusters damped.
    A constant target: no gradient flows through it."""
    q = q.detach()
    weight = q.square() / q.sum(0).clamp_min(torch.finfo(q.dtype).tiny)
    return weight / weight.sum(1, keepdim=True)


def dec_kl_loss(log_q: Tensor, target: Tensor) -> Tensor:
    """``KL(P || Q) = (1/B) sum_ij p_ij log(p_ij / q_ij)`` of the soft assignments (given as ``log q``) to the
    target ``P`` (DEC, Eq. 2), averaged over the batch's rows."""
    return F.kl_div(log_q, target, reduction="batchmean")


def reconstruction_loss(recon: Tensor, target: Tensor, kind: str = "mse") -> Tensor:
    """Reconstruction error: ``mse`` (official code) or ``l1`` (the paper's ||.||_1, as a mean)."""
    if kind == "mse":
        return F.mse_loss(recon, target)
    if kind == "l1":
        return F.l1_loss(recon, target)
    raise ValueError(f"reconstruction loss must be 'mse' or 'l1', got {kind!r}")

