"""The paper's synthetic dataset (Sec. 6.2.1, App. I), generated following the official recipe.

Three informative coordinates built from 2-D Gaussian blobs plus ten nuisance features; four clusters, two
explained by {x1, x2} and two by {x1, x3}.
"""
from __future__ import annotations

import numpy as np
from sklearn.datasets import make_blobs

from idc.data.table import DataError, Table

#: Features (0-based) that explain each class: classes 0/1 differ in x2, classes 2/3 in x3; x1 separates pairs.
INFORMATIVE = {0: [0, 1], 1: [0, 1], 2: [0, 2], 3: [0, 2]}


def _rescale(values: np.ndarray, low: float, high: float) -> np.ndarray:
    span = values.max() - values.min()
    return low + (values - values.min()) * (high - low) / (span if span > 0 else 1.0)


def make_synthetic(
    n_samples: int = 5000, n_noise: int = 10, noise_std: float = 0.01, seed: int = 0,
    class_shares: list[float] | None = None,
) -> Table:
    """Generate the synthetic table.

    ``noise_std`` defaults to the official code's 0.01 (the paper's text says 0.1). Classes are balanced by
    truncation to the smallest class, so the table has about 4 x 820 rows; with ``class_shares`` (four shares
    summing to 1, e.g. 0.55/0.25/0.15/0.05: an unbalanced variant) each class is truncated to its share of the
    largest table the generated classes allow. The informative columns are z-scored. The result depends only
    on ``seed`` and the shares.
    """
    rng = np.random.default_rng(seed)
    xy, y = make_blobs(n_samples, 2, centers=3, cluster_std=0.5, random_state=seed)
    # stretch blob 2 along x2 over the whole x2 range, then split it at random into classes 2 and 3
    in2 = y == 2
    xy[in2, 1] = _rescale(xy[in2, 1], xy[:, 1].min(), xy[:, 1].max())
    u = rng.random(n_samples)
    y[in2 & (u > 0.5)] = 3
    # classes 0 and 1 share x1 (so only x2 separates them)
    xy[y == 0, 0] = np.resize(xy[y == 1, 0], int((y == 0).sum()))
    # x3: the split variable, shifted for class 3; classes 0 and 1 rescaled into the same range
    x3 = u.copy()
    x3[y == 3] += 0.5
    low, high = x3[y >= 2].min(), x3[y >= 2].max()
    for c in (0, 1):
        x3[y == c] = _rescale(x3[y == c], low, high)
    noise = rng.normal(0.0, noise_std, size=(n_samples, n_noise))
    X = np.column_stack([xy, x3, noise])
    keep = np.concatenate([np.flatnonzero(y == c)[:size] for c, size in enumerate(class_sizes(y, class_shares))])
    X, y = X[keep], y[keep]
    X[:, :3] = (X[:, :3] - X[:, :3].mean(0)) / X[:, :3].std(0)
    names = ["x1", "x2", "x3"] + [f"noise{i + 1}" for i in range(n_noise)]
    return Table(X, y.astype(np.int64), names, name="synthetic", informative=INFORMATIVE)


def class_sizes(y: np.ndarray, class_shares: list[float] | None) -> list[int]:
    """Rows kept per class: the smallest class's size for every class, or ``floor(share * total)`` with the
    largest ``total`` for which every class has that many rows."""
    available = [int((y == c).sum()) for c in range(4)]
    if class_shares is None:
        return [min(available)] * 4
    shares = np.asarray(class_shares, dtype=float)
    if shares.shape != (4,) or not np.all(shares > 0) or not np.isclose(shares.sum(), 1.0):
        raise DataError(f"synthetic: dataset.class_shares must be 4 positive shares summing to 1 (one per class), "
                        f"got {list(class_shares)}")
    total = min(a / s for a, s in zip(available, shares))
    return [int(np.floor(s * total)) for s in shares]
