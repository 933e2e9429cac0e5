"""Interpretability metrics of the paper (Sec. 5 of the ICLR-2024 submission) as functions of numpy arrays.

Gates are "open" where they are > 0 (hard-sigmoid gates are exactly 0 when closed).
"""
from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import numpy as np
from scipy.stats import pearsonr
from sklearn.metrics import f1_score
from sklearn.model_selection import train_test_split
from sklearn.neighbors import NearestNeighbors
from sklearn.svm import LinearSVC

from idc.metrics.clustering import hungarian_accuracy

#: a gate vector is separated when at least this share of its gates is closed (exactly 0) ...
MIN_CLOSED_SHARE = 0.1
#: ... and at least half of its open gates are at or above this value (half open, where every gate starts)
CLEARLY_OPEN = 0.5


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


def gates_separated(gates: np.ndarray) -> np.ndarray:
    """Per row of ``gates`` (a sample's local gates, or a cluster's global gates): whether the gates have made
    a selection that an explanation may name, i.e. the closed gates and the open ones have come apart.

    A row is *separated* when (1) at least :data:`MIN_CLOSED_SHARE` (10 %) of its gates, and at least one, are
    closed (exactly 0: hard-sigmoid and hard-concrete gates are clipped, so a closed gate is 0, the rule of
    ``open_gates``), (2) at least one gate is open, and (3) at least half of its open gates are at
    :data:`CLEARLY_OPEN` (0.5) or above, so the open gates stand apart from the closed ones rather than trail
    off towards 0. Gates start at 0.5 (``mu = 0``, paper Eq. 1); after too short a schedule they sit around it
    with none closed, and their ranking names features the model has not chosen between.
    """
    g = np.atleast_2d(np.asarray(gates, dtype=float))
    closed = g <= 0.0
    n_closed, n_open = closed.sum(axis=1), (~closed).sum(axis=1)
    n_clear = (g >= CLEARLY_OPEN).sum(axis=1)
    min_closed = max(1, int(np.ceil(MIN_CLOSED_SHARE * g.shape[1])))
    return (n_closed >= min_closed) & (n_open >= 1) & (2 * n_clear >= n_open)


def used_global_gates(global_gates: np.ndarray, clusters: np.ndarray) -> np.ndarray:
    """The rows of ``global_gates`` whose cluster has samples: no cross-entropy reaches an unused cluster's gates,
    so the regulariser alone sets them."""
    used = np.bincount(np.asarray(clusters, dtype=np.int64), minlength=len(global_gates)) > 0
    return np.asarray(global_gates)[used]


def separated_shares(local_gates: np.ndarray, global_gates: np.ndarray, clusters: np.ndarray) -> dict[str, float]:
    """``gates_separated_local``: the share of samples whose local gates are separated (:func:`gates_separated`);
    ``gates_separated_global``: the share of non-empty clusters whose global gates are (NaN with none)."""
    apart = gates_separated(used_global_gates(global_gates, clusters))
    return {
        "gates_separated_local": float(gates_separated(local_gates).mean()),
        "gates_separated_global": float(apart.mean()) if apart.size else float("nan"),
    }


def global_gate_sets(global_gates: np.ndarray, clusters: np.ndarray) -> dict[str, float | int]:
    """Diversity of the used clusters' global-gate sets (open: > 0) and how many of those sets are empty.

    A cluster without samples is left out (:func:`used_global_gates`): the regulariser closes all its gates, and
    an empty set would count as sharing nothing (raising the diversity for no explanation at all)."""
    sets = used_global_gates(global_gates, clusters) > 0
    out: dict[str, float | int] = {"empty_sets_global_gates": empty_sets(sets)}
    out["diversity_global_gates"] = diversity(sets, "paper") if len(sets) > 1 else float("nan")
    return out


def diversity(sets: np.ndarray, variant: str = "paper") -> float:
    """Diversity of the groups' feature sets, in percent (100 = no two groups share a feature).

    ``paper``: ``100 * (1 - sum_{i<j} J(S_i, S_j) / (K(K-1)/2))`` with J the Jaccard similarity.
    ``official``: the code's ``100 * (1 - sum_{i,j} J(S_i, S_j) / (K(K-1)))``, whose sum includes the
    diagonal (about 100/(K-1) points lower for the same gates). An empty set shares nothing, itself included
    (J = 0: scikit-learn's and the official code's convention), so groups with no open gate raise diversity;
    :func:`empty_sets` counts them.
    """
    k = len(sets)
    if k < 2:
        raise ValueError("diversity needs at least two groups")
    sim = jaccard_matrix(sets)
    if variant == "paper":
        return float(100.0 * (1.0 - sim[np.triu_indices(k, 1)].sum() / (k * (k - 1) / 2)))
    if variant == "official":
        return float(100.0 * (1.0 - sim.sum() / (k * (k - 1))))
    raise ValueError(f"variant must be 'paper' or 'official', got {variant!r}")


def jaccard_matrix(sets: np.ndarray) -> np.ndarray:
    """Jaccard similarity ``|S_i & S_j| / |S_i | S_j|`` of every pair of rows of a boolean ``(K, D)`` matrix, 0
    where both sets are empty (scikit-learn's ``jaccard_score(..., zero_division=0)`` of each pair, at once)."""
    member = np.asarray(sets, dtype=bool).astype(np.int64)
    shared = member @ member.T
    sizes = member.sum(axis=1)
    union = sizes[:, None] + sizes[None, :] - shared
    return np.divide(shared, union, out=np.zeros(shared.shape), where=union > 0)


def empty_sets(sets: np.ndarray) -> int:
    """Groups whose feature set is empty (no gate open for most of their samples, or no samples)."""
    return int((~np.asarray(sets, dtype=bool).any(axis=1)).sum())


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


def neighbour_ratios(X: np.ndarray, gates: np.ndarray, k: int = 2) -> np.ndarray:
    """An N x (k-1) matrix: for each sample and each of its k-1 nearest neighbours j in input space,
    ``||w_i - w_j|| / ||x_i - x_j||`` (NaN where the inputs coincide)."""
    dist, idx = NearestNeighbors(n_neighbors=k).fit(X).kneighbors(X)
    d_in, nn = dist[:, 1:], idx[:, 1:]
    d_gate = np.linalg.norm(gates[:, None, :] - gates[nn], axis=2)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(d_in > 0, d_gate / np.where(d_in > 0, d_in, 1.0), np.nan)


def uniqueness_stability(X: np.ndarray, gates: np.ndarray, k: int = 2) -> dict[str, float]:
    """The official code's ``uniqueness`` (mean over samples of the smallest ratio of gate distance to input
    distance among the k-1 nearest neighbours; higher: explanations more sample-specific) and ``stability``
    (the same with the largest ratio, a Lipschitz-style estimate; lower: more stable). With the official k = 2
    the two coincide. Samples whose neighbours all sit at distance 0 are skipped."""
    ratios = neighbour_ratios(X, gates, k)
    ratios = ratios[~np.isnan(ratios).all(axis=1)]
    if ratios.size == 0:
        return {"uniqueness": float("nan"), "stability": float("nan")}
    return {"uniqueness": float(np.nanmin(ratios, axis=1).mean()), "stability": float(np.nanmax(ratios, axis=1).mean())}


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


def subsample_rows(n: int, max_samples: int | None, seed: int = 0) -> np.ndarray:
    """The sorted rows the sample-level metrics use: all ``n``, or a seeded draw of ``max_samples`` of them."""
    if max_samples is None or n <= int(max_samples):
        return np.arange(n)
    return np.sort(np.random.default_rng(seed).choice(n, int(max_samples), replace=False))


def interpretability_metrics(
    X: np.ndarray,
    clusters: np.ndarray,
    local_gates: np.ndarray,
    global_gates: np.ndarray,
    predict: Callable[[np.ndarray], np.ndarray],
    n_clusters: int,
    labels: np.ndarray | None = None,
    n_labels: int | None = None,
    informative: Mapping[int, Sequence[int]] | None = None,
    seed: int = 0,
    max_samples: int | None = 2000,
    faithfulness_max_features: int | None = None,
) -> dict[str, float | int | str | dict]:
    """Every interpretability metric of one set of explanations (IDC's gates, or an attribution's top-k gates):
    diversity of the clusters' and the labels' feature sets over all rows, then uniqueness/stability,
    generalizability and faithfulness (``predict`` re-clusters masked inputs) on :func:`subsample_rows`, against
    the labels when given, else the clusters; gate F1 where the ``informative`` features are known."""
    idx = subsample_rows(len(X), max_samples, seed)
    m: dict[str, float | int | str | dict] = {"subsample": {"n": int(len(idx)), "of": int(len(X)), "seed": int(seed)}}
    Xs, gs, cs = X[idx], local_gates[idx], clusters[idx]
    reference = labels[idx] if labels is not None else cs
    m["interpretability_reference"] = "labels" if labels is not None else "model clusters (no labels)"
    for name, groups, n_groups in (("clusters", clusters, n_clusters), ("labels", labels, n_labels)):
        if groups is None or n_groups is None or n_groups < 2:
            continue
        sets = group_feature_sets(local_gates, groups, int(n_groups))
        m[f"diversity_{name}"] = diversity(sets, "paper")
        m[f"diversity_{name}_official"] = diversity(sets, "official")
        m[f"empty_sets_{name}"] = empty_sets(sets)
    m.update(global_gate_sets(global_gates, clusters))
    m.update(separated_shares(local_gates, global_gates, clusters))  # docs/outputs.md: when gates separate
    m.update(uniqueness_stability(Xs, gs))
    m["generalizability"] = generalizability(Xs, gs, reference, seed=seed)
    m.update(faithfulness(Xs, gs, predict, reference, max_features=faithfulness_max_features))
    if informative is not None and labels is not None:
        m["gate_f1"] = gate_f1(local_gates, labels, informative)
        # a sample's gates within its cluster's: x * z * z^G is what the auxiliary classifier sees (Sec. 4.3)
        m["gate_f1_local_x_global"] = gate_f1(local_gates * global_gates[clusters], labels, informative)
    return m
