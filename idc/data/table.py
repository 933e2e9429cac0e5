"""The in-memory table every loader returns and every consumer (training, evaluation, baselines) reads."""
from __future__ import annotations

import os
import re
from dataclasses import dataclass, field, replace

import numpy as np
import scipy.sparse as sp

#: the names of a table's columns when its file has none: f0, f1, ... by the file's column
GENERATED_NAME = re.compile(r"f\d+")


def generated_names(n: int) -> list[str]:
    return [f"f{i}" for i in range(n)]


class DataError(ValueError):
    """A problem with input data that the user can fix; the message names the file and what to do."""


class NoClusterCount(DataError):
    """A table without labels and no ``n_clusters``: nothing says how many clusters to find."""


def check_count(name: str, key: str, value: object, optional: bool = True) -> None:
    """An option that counts something (``dataset.<key>``) is a whole number of at least 1, or unset where
    ``optional``."""
    if value is None and optional:
        return
    try:
        whole = not isinstance(value, bool) and float(value).is_integer() and int(value) >= 1  # type: ignore[arg-type]
    except (TypeError, ValueError):
        whole = False
    if not whole:
        unset = " (or null)" if optional else ""
        raise DataError(f"{name}: dataset.{key} must be a whole number of at least 1{unset}, got {value!r}")


@dataclass
class Table:
    """A samples x features matrix with optional labels and the names that explanations print.

    ``X`` is a float32 array, or a float32 CSR matrix when a file stores it sparse (``.h5ad`` counts); it stays
    sparse through the column filters of preprocessing and is made dense (:meth:`densified`) before scaling.
    ``class_names[k]`` is the original label of class ``k`` once labels are encoded to ``0..K-1``;
    ``informative`` maps a class to the indices of the features that explain it, when they are known
    (generated data), for the gate F1 metric; ``affine`` is the scaling preprocessing applied, ``X * mul + add``
    per column, then each row scaled to a mean square of 1 when ``unit_rows`` (the ``tfidf`` scaler), so that new samples
    can be scaled the same way.
    """

    X: np.ndarray
    y: np.ndarray | None = None
    feature_names: list[str] = field(default_factory=list)
    name: str = "table"
    n_clusters: int | None = None
    class_names: list[str] | None = None
    informative: dict[int, list[int]] | None = None
    affine: tuple[np.ndarray, np.ndarray] | None = None
    unit_rows: bool = False

    def __post_init__(self) -> None:
        if sp.issparse(self.X):
            self.X = sp.csr_matrix(self.X, dtype=np.float32)
        else:
            self.X = np.asarray(self.X)
            if self.X.ndim != 2:
                raise DataError(f"{self.name}: expected a 2-D samples x features matrix, got shape {self.X.shape}")
            self.X = np.ascontiguousarray(self.X, dtype=np.float32)
        self.feature_names = [str(n) for n in self.feature_names] or generated_names(self.X.shape[1])
        if len(self.feature_names) != self.X.shape[1]:
            raise DataError(f"{self.name}: {len(self.feature_names)} feature names for {self.X.shape[1]} columns")
        if self.y is not None:
            self.y = np.asarray(self.y).reshape(-1)
            if len(self.y) != self.X.shape[0]:
                raise DataError(
                    f"{self.name}: {len(self.y)} labels for {self.X.shape[0]} samples; labels and rows must match"
                )
            missing = np.flatnonzero(missing_labels(self.y))
            if len(missing):
                raise DataError(
                    f"{self.name}: {len(missing)} of {len(self.y)} rows have no label (first: row {missing[0]}); "
                    "fill them in, remove those rows, or leave the labels out (label_column=null, n_clusters=K)"
                )
            if self.n_clusters is None:
                self.n_clusters = int(len(np.unique(self.y)))

    def take_columns(self, index: np.ndarray | list[int]) -> "Table":
        """The table restricted to the feature columns ``index``, in that order (known informative features are
        dropped: their indices would no longer match)."""
        index = np.asarray(index, dtype=np.int64)
        affine = None if self.affine is None else (self.affine[0][index], self.affine[1][index])
        names = [self.feature_names[i] for i in index]
        return replace(self, X=self.X[:, index], feature_names=names, informative=None, affine=affine)

    def densified(self) -> "Table":
        """The table with a dense ``X`` (itself when it is dense); refused with a clear error when the dense
        matrix, and the copies preprocessing makes of it, would not fit in this machine's memory."""
        if not sp.issparse(self.X):
            return self
        n, d = self.X.shape
        need = 3 * n * d * 8  # float64 while scaling, about three copies at the peak
        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") if hasattr(os, "sysconf") else None
        if total and need > total:
            raise DataError(
                f"{self.name}: the sparse {n} x {d} matrix needs about {need / 2**30:.0f} GiB dense, more than this "
                f"machine's {total / 2**30:.0f} GiB; keep fewer features (dataset.top_k_variance=2000, or highly "
                "variable genes saved to a smaller file)")
        return replace(self, X=self.X.toarray())

    @property
    def n_samples(self) -> int:
        return int(self.X.shape[0])

    @property
    def n_features(self) -> int:
        return int(self.X.shape[1])


def missing_labels(y: np.ndarray) -> np.ndarray:
    """Where a label is missing: NaN, None, pandas NA, or an empty or "nan" string (bytes decoded)."""
    import pandas as pd

    if y.dtype.kind == "f":
        return np.isnan(y)
    if y.dtype.kind not in "OUS":
        return np.zeros(len(y), dtype=bool)

    def missing(v: object) -> bool:
        if isinstance(v, bytes):
            v = v.decode(errors="replace")
        return bool(pd.isna(v)) or str(v).strip().lower() in ("", "nan")

    return np.array([missing(v) for v in y.tolist()], dtype=bool)
