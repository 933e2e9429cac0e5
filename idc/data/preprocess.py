"""Column scaling shared by every dataset (scikit-learn scalers)."""
from __future__ import annotations

from dataclasses import replace

import numpy as np
from sklearn.preprocessing import MinMaxScaler, StandardScaler

from idc.data.table import Table

SCALERS = {"minmax": MinMaxScaler, "standard": StandardScaler}


def scale(table: Table, scaler: str | None) -> Table:
    """Return ``table`` with its columns scaled by ``minmax`` ([0, 1]), ``standard`` (z-score) or ``none``."""
    if scaler in (None, "none"):
        return table
    if scaler not in SCALERS:
        raise ValueError(f"unknown scaler {scaler!r}; choose one of {sorted(SCALERS)} or 'none'")
    X = SCALERS[scaler]().fit_transform(table.X.astype(np.float64))
    return replace(table, X=X)
