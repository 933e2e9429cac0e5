"""Interpretability metrics of the paper (Sec. 5 of the ICLR-2024 submission) as functions of numpy arrays.

Gates are "open" where they are > 0 (hard-sigmoid gates are exactly 0 when closed).
"""
from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import numpy as np
from scipy.stats import pearsonr
from sklearn.metrics import f1_score, jaccard_score
from sklearn.model_selection import train_test_split
from sklearn.neighbors import NearestNeighbors
from sklearn.svm import LinearSVC

from idc.metrics.clustering import hungarian_accuracy


def group_feature_sets(local_gates: np.ndarray, groups: np.ndarray, n_groups: int) -> np.ndarray:
    """``S_k`` (a K x D boolean matrix): feature d belongs to group k when the median of its gate over the
    samples of group k is > 0 (the official code's rule; groups are labels or clusters). Empty groups get
    an empty set."""
    sets = np.zeros((n_groups, local_gates.shape[1]), dtype=bool)
    for k in range(n_groups):
        members = local_gates[groups == k]
        if len(members):
            sets[k] = np.median(members, axis=0) > 0
    return sets


def diversity(sets: np.ndarray, variant: str = "paper") -> float:
    """Diversity of the groups' feature sets, in percent (100 = no two groups share a feature).

    ``paper``: ``100 * (1 - sum_{i<j} J(S_i, S_j) / (K(K-1)/2))`` with J the Jaccard similarity.
    ``official``: the code's ``100 * (1 - sum_{i,j} J(S_i, S_j) / (K(K-1)))``, whose sum includes the
    diagonal ``J_ii = 1`` (about 100/(K-1) points lower for the same gates).
    """
    k = len(sets)
    if k < 2:
        raise ValueError("diversity needs at least two groups")
    sim = np.ones((k, k))
    for i in range(k):
        for j in range(i + 1, k):
            sim[i, j] = sim[j, i] = jaccard_score(sets[i], sets[j], zero_division=1.0)
    if variant == "paper":
        return float(100.0 * (1.0 - sim[np.triu_indices(k, 1)].sum() / (k * (k - 1) / 2)))
    if variant == "official":
        return float(100.0 * (1.0 - sim.sum() / (k * (k - 1))))
    raise ValueError(f"variant must be 'paper' or 'official', got {variant!r}")


def faithfulness(
    X: np.ndarray,
    local_gates: np.ndarray,
    predict: Callable[[np.ndarray], np.ndarray],
    reference: np.ndarray,
    max_features: int | None = None,
) -> dict[str, float | int]:
    """Correlation between feature importance and the drop in clustering accuracy as features are removed
    in importance order (paper Sec. 5).

    Importance = number of samples whose gate is open (official code). Features with nonzero importance are
    zeroed cumulatively, most important first; after each removal ``predict`` re-clusters and ACC (Hungarian)
    is taken against ``reference`` (labels, or the model's own clusters for a label-free score).
    ``faithfulness``: Pearson r of importance with each removal's *drop* in ACC (high: the important
    features carry the clustering). ``faithfulness_official``: the official code's r of importance with the
    ACC *left after* each removal.
    """
    importance = (local_gates > 0).sum(axis=0)
    order = [int(d) for d in np.argsort(-importance, kind="stable") if importance[d] > 0]
    if max_features is not None:
        order = order[: int(max_features)]
    result: dict[str, float | int] = {
        "faithfulness": float("nan"), "faithfulness_official": float("nan"), "features_removed": len(order)
    }
    if len(order) < 3:
        return result
    Xr = np.array(X, dtype=np.float32, copy=True)
    accs = [hungarian_accuracy(reference, predict(Xr))]
    for d in order:
        Xr[:, d] = 0.0
        accs.append(hungarian_accuracy(reference, predict(Xr)))
    imp, left = importance[order].astype(float), np.asarray(accs[1:])
    drops = -np.diff(accs)
    if np.ptp(imp) > 0 and np.ptp(drops) > 0:
        result["faithfulness"] = float(pearsonr(imp, drops)[0])
    if np.ptp(imp) > 0 and np.ptp(left) > 0:
        result["faithfulness_official"] = float(pearsonr(imp, left)[0])
    return result


def neighbour_ratios(X: np.ndarray, gates: np.ndarray) -> np.ndarray:
    """For each sample, ``||w_i - w_j|| / ||x_i - x_j||`` with j its nearest neighbour in input space (pairs
    at distance 0 are skipped)."""
    dist, idx = NearestNeighbors(n_neighbors=2).fit(X).kneighbors(X)
    nn = idx[:, 1]
    d_in = dist[:, 1]
    d_gate = np.linalg.norm(gates - gates[nn], axis=1)
    keep = d_in > 0
    return d_gate[keep] / d_in[keep]


def uniqueness_stability(X: np.ndarray, gates: np.ndarray) -> dict[str, float]:
    """``uniqueness``: mean over samples of the nearest-neighbour ratio of gate distance to input distance
    (higher: explanations more sample-specific); ``stability``: the same ratio's maximum (the LSPIN/SENN
    Lipschitz-style estimate; lower: more stable). Official-code definitions."""
    ratios = neighbour_ratios(X, gates)
    if ratios.size == 0:
        return {"uniqueness": float("nan"), "stability": float("nan")}
    return {"uniqueness": float(ratios.mean()), "stability": float(ratios.max())}


def generalizability(
    X: np.ndarray, gates: np.ndarray, targets: np.ndarray, test_size: float = 0.3, seed: int = 0
) -> float:
    """Accuracy of a linear SVM trained on the gated features ``X * gates`` of one split and scored on the
    other (stratified split; ``targets`` are labels, or clusters for a label-free score)."""
    Z = X * gates
    counts = np.bincount(np.unique(targets, return_inverse=True)[1])
    stratify = targets if counts.min() >= 2 else None
    z_tr, z_te, t_tr, t_te = train_test_split(Z, targets, test_size=test_size, random_state=seed, stratify=stratify)
    if len(np.unique(t_tr)) < 2:
        return float("nan")
    return float(LinearSVC(random_state=seed).fit(z_tr, t_tr).score(z_te, t_te))


def gate_f1(local_gates: np.ndarray, labels: np.ndarray, informative: Mapping[int, Sequence[int]]) -> float:
    """Mean per-sample F1 between the open local gates and the sample's known informative features
    (synthetic data: ``informative[class]``)."""
    truth = np.zeros(local_gates.shape, dtype=bool)
    for cls, feats in informative.items():
        truth[np.ix_(labels == int(cls), list(feats))] = True
    return float(f1_score(truth, local_gates > 0, average="samples", zero_division=0.0))
