"""Datasets bundled with scikit-learn (no download, no file)."""
from __future__ import annotations

from sklearn.datasets import load_digits

from idc.data.table import Table


def digits() -> Table:
    """scikit-learn's 8x8 handwritten digits: 1797 x 64, 10 classes, pixel values 0..16."""
    bunch = load_digits()
    names = [f"px{r}_{c}" for r in range(8) for c in range(8)]
    return Table(bunch.data, bunch.target, names, name="digits", class_names=[str(c) for c in range(10)])
