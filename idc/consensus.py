"""Consensus clustering of several runs' partitions of the same samples (evidence accumulation, Fred & Jain,
IEEE TPAMI 2005): the co-association of two samples is the share of runs that put them in one cluster; average
linkage on ``1 - co-association`` cut into K clusters is the partition that agrees best with the runs. Label-free
and without extra training; the partitions' cluster numbers need not correspond between runs."""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy.cluster.hierarchy import fcluster
from scipy.spatial.distance import pdist, squareform

from idc.metrics.clustering import matched_confusion


def coassociation_distance(partitions: Sequence[np.ndarray]) -> np.ndarray:
    """Condensed ``1 - co-association`` (scipy's ``pdist`` layout): for each pair of samples, the share of runs
    that separate them (the Hamming distance between their rows of run labels). Memory: N(N-1)/2 floats."""
    runs = np.column_stack([np.asarray(p).ravel() for p in partitions])
    if runs.shape[1] == 0:
        raise ValueError("consensus needs at least one partition")
    return pdist(runs, metric="hamming")


def average_linkage(distance: np.ndarray, sizes: np.ndarray) -> np.ndarray:
    """Average linkage (UPGMA) of m groups of identical samples: ``distance`` the m x m distances between the groups,
    ``sizes`` how many samples each holds. Returns scipy's linkage matrix over the m groups, the tree that average
    linkage of the samples themselves builds above its distance-0 merges (the distance between two clusters is the
    mean over their pairs of samples, Lance-Williams with sizes). Nearest-neighbour chain: O(m^2) time."""
    m = len(sizes)
    d = np.array(distance, dtype=np.float64)
    np.fill_diagonal(d, np.inf)
    size = np.asarray(sizes, dtype=np.float64).copy()
    alive = np.ones(m, dtype=bool)  # slots holding a cluster; a merge keeps one slot and empties the other
    merges: list[tuple[float, int, int]] = []  # (height, kept slot, absorbed slot), in the order found
    chain: list[int] = []
    while len(merges) < m - 1:
        if not chain:
            chain.append(int(np.flatnonzero(alive)[0]))
        a = chain[-1]
        b = int(np.argmin(d[a]))
        if len(chain) > 1 and d[a, chain[-2]] <= d[a, b]:
            b = chain[-2]  # a tie with the previous link closes the chain (keeps the algorithm finite)
        if len(chain) > 1 and b == chain[-2]:
            chain.pop(), chain.pop()
            keep, gone = min(a, b), max(a, b)
            merges.append((float(d[a, b]), keep, gone))
            merged = (size[keep] * d[keep] + size[gone] * d[gone]) / (size[keep] + size[gone])
            d[keep], d[:, keep] = merged, merged
            d[gone], d[:, gone] = np.inf, np.inf
            d[keep, keep] = np.inf
            size[keep] += size[gone]
            alive[gone] = False
        else:
            chain.append(b)
    # scipy's numbering: merge i makes cluster m + i; slots name the cluster that currently lives there
    order = sorted(range(len(merges)), key=lambda i: merges[i][0])
    slot_cluster = list(range(m))
    leaves = np.ones(m)  # scipy's fourth column counts the tree's leaves (the groups), not the samples
    tree = np.empty((len(merges), 4))
    for step, i in enumerate(order):
        height, keep, gone = merges[i]
        left, right = sorted((slot_cluster[keep], slot_cluster[gone]))
        leaves[keep] += leaves[gone]
        tree[step] = (left, right, height, leaves[keep])
        slot_cluster[keep] = m + step
    return tree


def consensus_partition(partitions: Sequence[np.ndarray], n_clusters: int) -> np.ndarray:
    """The consensus of ``partitions`` (each N cluster numbers, same sample order) as N cluster numbers
    ``0..K'-1`` (K' <= ``n_clusters``; fewer when the runs agree on fewer groups), numbered by first appearance.
    Samples that every run puts together are one leaf of the average-linkage tree, so its cost grows with the
    number of distinct rows of run labels, not with N."""
    lengths = {len(np.asarray(p).ravel()) for p in partitions}
    if len(lengths) > 1:
        raise ValueError(f"partitions of different lengths {sorted(lengths)}: they must cover the same samples")
    n = lengths.pop() if lengths else 0
    if n < 2:
        return np.zeros(n, dtype=np.int64)
    runs = np.column_stack([np.asarray(p).ravel() for p in partitions])
    rows, first, leaf, sizes = np.unique(runs, axis=0, return_index=True, return_inverse=True, return_counts=True)
    if len(rows) == 1:
        return np.zeros(n, dtype=np.int64)
    order = np.argsort(first)  # groups in the order of their first sample: ties break by sample order, never by
    rows, sizes = rows[order], sizes[order]  # the runs' cluster numbers (the consensus ignores relabelling)
    leaf = np.argsort(order)[leaf.ravel()]
    tree = average_linkage(squareform(coassociation_distance(list(rows.T))), sizes)
    flat = fcluster(tree, t=int(n_clusters), criterion="maxclust")[leaf]
    _, first, inverse = np.unique(flat, return_index=True, return_inverse=True)
    return np.argsort(np.argsort(first))[inverse].astype(np.int64)


def run_seeds(seed: int, n_init: int) -> list[int]:
    """The seeds of ``n_init`` independent runs: ``seed .. seed + n_init - 1``."""
    return [seed + s for s in range(n_init)]


@dataclass
class Consensus:
    """What :func:`combine_runs` makes of S runs: the consensus ``labels`` (N, numbered as the run that agrees
    best with it, ``representative``), each run's ARI to them (``run_agreement``) and their mean, the label-free
    confidence ``agreement``; per-sample ``local_gates`` (N x D) and per-cluster ``global_gates`` (K x D)."""

    labels: np.ndarray
    agreement: float
    run_agreement: list[float]
    representative: int
    local_gates: np.ndarray | None = None
    global_gates: np.ndarray | None = None


def cluster_map(reference: np.ndarray, partition: np.ndarray, n_clusters: int) -> np.ndarray:
    """``map[c]``: the cluster of ``reference`` matched one-to-one to cluster ``c`` of ``partition`` (Hungarian
    on their contingency table, :func:`idc.metrics.clustering.matched_confusion`), for ``c`` in ``0..K-1``;
    clusters left unmatched take the reference's unused numbers in order."""
    matched = matched_confusion(reference, partition)
    out = np.full(max(int(n_clusters), int(np.max(partition)) + 1), -1, dtype=np.int64)
    pairs = min(len(matched.classes), len(matched.clusters))
    out[matched.clusters[:pairs]] = matched.classes[:pairs]
    free = iter(sorted(set(range(len(out))) - set(out[out >= 0].tolist())))
    for c in np.flatnonzero(out < 0):
        out[c] = next(free)
    return out


def combine_runs(
    partitions: Sequence[np.ndarray], n_clusters: int, local_gates: Sequence[np.ndarray] | None = None,
    global_gates: Sequence[np.ndarray] | None = None,
) -> Consensus:
    """The consensus of S runs (issue 22, section 3): :func:`consensus_partition` of their clusters, renumbered as
    the run with the highest ARI to it; each sample's local gates averaged over the runs whose (matched) cluster
    for it is the consensus cluster (all runs where none is); each consensus cluster's global gates averaged over
    the runs' matched clusters (Hungarian); the mean ARI of the runs to the consensus as ``agreement``."""
    from sklearn.metrics import adjusted_rand_score

    parts = [np.asarray(p).ravel().astype(np.int64) for p in partitions]
    consensus = consensus_partition(parts, n_clusters)
    aris = [float(adjusted_rand_score(consensus, p)) for p in parts]
    best = int(np.argmax(aris))
    labels = cluster_map(parts[best], consensus, n_clusters)[consensus]  # the representative run's numbers
    maps = [cluster_map(labels, p, n_clusters) for p in parts]  # run cluster -> consensus cluster
    out = Consensus(labels, float(np.mean(aris)), aris, best)
    if local_gates is not None:
        agree = np.stack([m[p] == labels for m, p in zip(maps, parts)]).astype(np.float64)  # S x N
        agree[:, agree.sum(0) == 0] = 1.0  # no run agrees on this sample: all of them
        gates = np.stack([np.asarray(g, dtype=np.float64) for g in local_gates])  # S x N x D
        out.local_gates = np.einsum("sn,snd->nd", agree, gates) / agree.sum(0)[:, None]
    if global_gates is not None:
        rows = []
        for m, g in zip(maps, global_gates):
            g = np.asarray(g, dtype=np.float64)
            inverse = np.argsort(m[: len(g)])  # consensus cluster -> the run's cluster matched to it
            rows.append(g[inverse])
        out.global_gates = np.mean(rows, axis=0)
    return out
