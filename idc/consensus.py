"""Consensus clustering of several runs' partitions of the same samples (evidence accumulation, Fred & Jain,
IEEE TPAMI 2005): the co-association of two samples is the share of runs that put them in one cluster; average
linkage on ``1 - co-association`` cut into K clusters is the partition that agrees best with the runs. Label-free
and without extra training; the partitions' cluster numbers need not correspond between runs."""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy.cluster.hierarchy import fcluster, linkage
from scipy.spatial.distance import pdist


def coassociation_distance(partitions: Sequence[np.ndarray]) -> np.ndarray:
    """Condensed ``1 - co-association`` (scipy's ``pdist`` layout): for each pair of samples, the share of runs
    that separate them (the Hamming distance between their rows of run labels). Memory: N(N-1)/2 floats."""
    runs = np.column_stack([np.asarray(p).ravel() for p in partitions])
    if runs.shape[1] == 0:
        raise ValueError("consensus needs at least one partition")
    return pdist(runs, metric="hamming")


def consensus_partition(partitions: Sequence[np.ndarray], n_clusters: int) -> np.ndarray:
    """The consensus of ``partitions`` (each N cluster numbers, same sample order) as N cluster numbers
    ``0..K'-1`` (K' <= ``n_clusters``; fewer when the runs agree on fewer groups), numbered by first appearance."""
    lengths = {len(np.asarray(p).ravel()) for p in partitions}
    if len(lengths) > 1:
        raise ValueError(f"partitions of different lengths {sorted(lengths)}: they must cover the same samples")
    n = lengths.pop() if lengths else 0
    if n < 2:
        return np.zeros(n, dtype=np.int64)
    tree = linkage(coassociation_distance(partitions), method="average")
    flat = fcluster(tree, t=int(n_clusters), criterion="maxclust")
    _, first, inverse = np.unique(flat, return_index=True, return_inverse=True)
    return np.argsort(np.argsort(first))[inverse].astype(np.int64)
