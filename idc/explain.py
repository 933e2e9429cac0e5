"""Ranking features by gate value: the one place explanations are built from gates."""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def top_features(
    gates: np.ndarray, names: Sequence[str], top_k: int = 5, tiebreak: np.ndarray | None = None
) -> list[list[tuple[str, float]]]:
    """For each row of ``gates`` (samples x D or clusters x D), its open features (gate > 0) with the
    largest gates, at most ``top_k``, as ``(name, value)``; ties (e.g. many gates at 1) are broken by
    ``tiebreak`` (default: none), larger first."""
    gates = np.atleast_2d(np.asarray(gates, dtype=float))
    tie = np.zeros_like(gates) if tiebreak is None else np.atleast_2d(np.asarray(tiebreak, dtype=float))
    out = []
    for start in range(0, len(gates), 4096):  # chunks keep the sort keys small for large tables
        g, t = gates[start : start + 4096], tie[start : start + 4096]
        order = np.lexsort((-t, -g), axis=-1)[:, :top_k]
        for row, idx in zip(g, order):
            out.append([(str(names[j]), float(row[j])) for j in idx if row[j] > 0])
    return out


def as_columns(ranked: list[tuple[str, float]], top_k: int) -> list[str | float]:
    """``[feature_1, value_1, ..., feature_k, value_k]`` cells, blank where fewer features are open."""
    cells: list[str | float] = []
    for i in range(top_k):
        cells += [ranked[i][0], round(ranked[i][1], 4)] if i < len(ranked) else ["", ""]
    return cells


def column_names(top_k: int) -> list[str]:
    return [f"{p}_{i}" for i in range(1, top_k + 1) for p in ("feature", "value")]
