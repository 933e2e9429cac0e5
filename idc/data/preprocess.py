"""From a raw table to the one IDC trains on: labels encoded, values checked, columns filtered and scaled.

Order: encode labels -> NaN/inf check (or impute) -> log1p -> drop constant columns ->
top-k variance -> dense -> scale -> first ``rows`` rows -> cluster-count checks. Every step is a scikit-learn,
scipy or numpy operation on the whole matrix; a sparse matrix stays sparse until the column filters have run.
New samples for a trained model (``fitted``) take the training table's columns and scaling instead of refitting
them.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import scipy.sparse as sp
from sklearn.impute import SimpleImputer
from sklearn.feature_extraction.text import TfidfTransformer
from sklearn.preprocessing import MinMaxScaler, StandardScaler, normalize
from sklearn.utils.sparsefuncs import mean_variance_axis

from idc.data.table import GENERATED_NAME, DataError, NoClusterCount, Table, check_count
from idc.io import replacing

SCALERS = {"minmax": MinMaxScaler, "standard": StandardScaler, "tfidf": TfidfTransformer}
IMPUTE = ("mean", "median", "zero")
#: what the NaN error advises for a file (the estimator passes its own advice)
IMPUTE_ADVICE = "clean the file or set dataset.impute=mean|median|zero"
log = logging.getLogger(__name__)


def encode_labels(table: Table) -> Table:
    """Map labels (strings, gaps, any order) to ``0..K-1``; ``class_names[k]`` keeps the original label."""
    if table.y is None or (np.issubdtype(table.y.dtype, np.integer) and table.class_names is not None):
        return table
    values, codes = np.unique(table.y.astype(str) if table.y.dtype.kind in "OUS" else table.y, return_inverse=True)
    names = [str(v.item() if hasattr(v, "item") else v) for v in values]
    return replace(table, y=codes.astype(np.int64), class_names=names, n_clusters=table.n_clusters or len(names))


def check_finite(table: Table, impute: str | None = None, advice: str = IMPUTE_ADVICE) -> Table:
    """NaN or infinite values are an error naming their count, first position and ``advice``, unless
    ``impute`` is ``mean``, ``median`` or ``zero`` (infinities are treated as missing; a sparse table is made
    dense first)."""
    if np.isfinite(table.X.data if sp.issparse(table.X) else table.X).all():
        return table
    table = table.densified()
    bad = ~np.isfinite(table.X)
    if impute is None:
        row, col = np.argwhere(bad)[0]
        raise DataError(
            f"{table.name}: {int(bad.sum())} NaN or infinite value(s), the first in row {row}, column "
            f"{table.feature_names[col]!r}; {advice}"
        )
    if impute not in IMPUTE:
        raise DataError(f"{table.name}: impute must be one of {IMPUTE}, got {impute!r}")
    X = np.where(bad, np.nan, table.X)
    strategy = "constant" if impute == "zero" else impute
    X = SimpleImputer(strategy=strategy, fill_value=0.0, keep_empty_features=True).fit_transform(X)
    return replace(table, X=X)


def log1p(table: Table) -> Table:
    """``log(1 + x)`` (count data such as scRNA-seq); negative values are an error."""
    if table.X.min() < 0:
        raise DataError(f"{table.name}: log1p needs non-negative values (min {table.X.min():g})")
    return replace(table, X=table.X.log1p() if sp.issparse(table.X) else np.log1p(table.X))


def column_ranges(X: np.ndarray | sp.csr_matrix) -> np.ndarray:
    """Max minus min of each column (a sparse matrix's implicit zeros included)."""
    if sp.issparse(X):
        return (X.max(axis=0) - X.min(axis=0)).toarray().reshape(-1)
    return np.ptp(X, axis=0)


def drop_constant(table: Table) -> Table:
    """Remove columns with a single value (all-zero genes included), saying which in the log."""
    varying = column_ranges(table.X) > 0
    if varying.all():
        return table
    dropped = [table.feature_names[j] for j in np.flatnonzero(~varying)]
    log.info("%s: dropped %d constant column(s) %s%s (dataset.drop_constant=false keeps them)", table.name,
             len(dropped), dropped[:5], " ..." if len(dropped) > 5 else "")
    return table.take_columns(np.flatnonzero(varying))


def top_k_variance(table: Table, k: int | None) -> Table:
    """Keep the ``k`` columns of highest variance (in their original order)."""
    if not k or k >= table.n_features:
        return table
    variance = mean_variance_axis(table.X, axis=0)[1] if sp.issparse(table.X) else table.X.var(axis=0)
    keep = np.sort(np.argsort(-variance, kind="stable")[:k])
    return table.take_columns(keep)


def unit_mean_square_rows(X: np.ndarray) -> np.ndarray:
    """Each row of ``X`` scaled to L2 norm sqrt(D), i.e. a mean square of 1 per entry: the direction of a unit-norm
    row (what tf-idf compares) at the standard scaler's per-entry scale. At unit norm an entry's square is 1/D on
    average, and the autoencoder's reconstruction losses (Eq. 3-4) fell to that floor without learning anything
    (BASEHOCK, D = 4862: every loss 2.0e-4 from epoch 10 on); a global factor moves no k-means partition."""
    return normalize(X) * np.sqrt(X.shape[1])


def scale(table: Table, scaler: str | None) -> Table:
    """Scale columns by ``minmax`` ([0, 1]), ``standard`` (z-score), ``tfidf`` (counts: each column weighted by its
    inverse document frequency, scikit-learn's smooth idf, then each row to a mean square of 1,
    :func:`unit_mean_square_rows`; the standard for word counts) or ``none``."""
    if scaler in (None, "none"):
        return table
    if scaler not in SCALERS:
        raise DataError(f"{table.name}: unknown scaler {scaler!r}; choose one of {sorted(SCALERS)} or 'none'")
    X = table.X.astype(np.float64)
    if scaler == "tfidf":
        if (X < 0).any():
            raise DataError(f"{table.name}: the tfidf scaler weights counts, and this table holds negative values; "
                            "choose minmax or standard")
        idf = SCALERS["tfidf"](norm=None).fit(X).idf_
        return replace(table, X=unit_mean_square_rows(X * idf), affine=(idf, np.zeros_like(idf)), unit_rows=True)
    fitted = SCALERS[scaler]().fit(X)
    if scaler == "minmax":
        mul, add = fitted.scale_, fitted.min_
    else:
        mul, add = 1.0 / fitted.scale_, -fitted.mean_ / fitted.scale_
    return replace(table, X=fitted.transform(X), affine=(mul, add))


@dataclass(frozen=True)
class Fitted:
    """What preprocessing learned from a training table: the features kept, in order, whether ``log1p`` ran,
    and the scaling ``X * mul + add`` (identity without a scaler), then rows to a mean square of 1 when
    ``unit_rows`` (``tfidf``, :func:`unit_mean_square_rows`); saved in the run directory as ``preprocessing.npz``."""

    feature_names: list[str]
    mul: np.ndarray
    add: np.ndarray
    log1p: bool = False
    unit_rows: bool = False

    @classmethod
    def of(cls, table: Table, log1p_: bool = False) -> "Fitted":
        ones, zeros = np.ones(table.n_features), np.zeros(table.n_features)
        mul, add = table.affine if table.affine is not None else (ones, zeros)
        return cls(list(table.feature_names), np.asarray(mul, np.float64), np.asarray(add, np.float64), log1p_,
                   table.unit_rows)

    def save(self, path: Path) -> None:
        with replacing(path) as tmp, open(tmp, "wb") as f:
            np.savez(f, feature_names=np.array(self.feature_names, dtype=str), mul=self.mul, add=self.add,
                     log1p=np.array(self.log1p), unit_rows=np.array(self.unit_rows))

    @classmethod
    def load(cls, path: Path) -> "Fitted":
        with np.load(path, allow_pickle=False) as z:
            flags = {k: bool(z[k]) if k in z.files else False for k in ("log1p", "unit_rows")}
            return cls([str(n) for n in z["feature_names"]], z["mul"], z["add"], **flags)

    def as_dict(self) -> dict:
        """Plain lists and numbers (what ``torch.load(weights_only=True)`` reads); :meth:`from_dict` inverts it."""
        return {"feature_names": list(self.feature_names), "mul": self.mul.tolist(), "add": self.add.tolist(),
                "log1p": bool(self.log1p), "unit_rows": bool(self.unit_rows)}

    @classmethod
    def from_dict(cls, state: dict) -> "Fitted":
        return cls(list(state["feature_names"]), np.asarray(state["mul"], np.float64),
                   np.asarray(state["add"], np.float64), bool(state.get("log1p", False)),
                   bool(state.get("unit_rows", False)))

    def rescale(self, X: np.ndarray) -> np.ndarray:
        """The training table's scaling ``X * mul + add`` of a matrix of its columns, then rows to a mean square of 1
        when ``unit_rows`` (after ``log1p`` when fitted with it: :meth:`apply` does both)."""
        out = X.astype(np.float64) * self.mul + self.add
        return unit_mean_square_rows(out) if self.unit_rows else out

    def apply(self, table: Table, impute: str | None = None) -> Table:
        """``table``'s trained columns (by name; by place when the training table had none), then the NaN
        check, ``log1p`` and scaling of the training table (nothing refitted; other columns are ignored)."""
        if table.feature_names == self.feature_names:
            index = list(range(table.n_features))
        elif all(GENERATED_NAME.fullmatch(n) for n in self.feature_names) and (
                table.n_features > len(self.feature_names)
                or not all(GENERATED_NAME.fullmatch(n) for n in table.feature_names)):
            # generic names (f0, f1, ...) on both sides and fewer columns: matched by name below (the missing named)
            raise DataError(
                f"{table.name}: the model was trained on a table without column names (or named f0, f1, ...), so the "
                f"new table must hold "
                f"the same {len(self.feature_names)} columns in the same places ({self.feature_names[:3]}...); it "
                f"holds {table.n_features} ({table.feature_names[:3]}...). Remove the extra columns or name them")
        else:
            where = {n: i for i, n in enumerate(table.feature_names)}
            dups = {n for n in self.feature_names if self.feature_names.count(n) > 1}
            dups |= {n for n in self.feature_names if n in where and table.feature_names.count(n) > 1}
            if dups:
                raise DataError(f"{table.name}: duplicate feature names {sorted(dups)[:5]} cannot be matched to the "
                                "trained features; give the columns the training table's names in its order")
            missing = [n for n in self.feature_names if n not in where]
            if missing:
                raise DataError(
                    f"{table.name}: {len(missing)} of the {len(self.feature_names)} features the model was trained "
                    f"on are missing (first: {missing[:5]}); the same feature names are required"
                )
            index = [where[n] for n in self.feature_names]
        picked = check_finite(table.take_columns(index).densified(), impute)
        if self.log1p:
            picked = log1p(picked)
        return replace(picked, X=self.rescale(picked.X), affine=(self.mul, self.add), unit_rows=self.unit_rows)


def check_clusters(table: Table) -> None:
    """The table must vary, and hold at least two samples per cluster on average; more clusters than the
    labels' classes is allowed (the metrics match clusters to classes) and logged."""
    if table.n_clusters is None:
        raise NoClusterCount(f"{table.name}: the table has no labels, so n_clusters must be given "
                             "(dataset.n_clusters=K)")
    k, n = int(table.n_clusters), table.n_samples
    if k < 1:
        raise DataError(f"{table.name}: n_clusters must be at least 1, got {k}")
    if k > n:
        raise DataError(f"{table.name}: n_clusters={k} is more than the {n} samples")
    if n < 2 * k:
        raise DataError(f"{table.name}: {n} samples for {k} clusters is fewer than 2 per cluster on average")
    check_varies(table)
    classes = None if table.y is None else len(np.unique(table.y))
    if classes is not None and k > classes:
        log.warning("%s: n_clusters=%d is more than the %d classes in the labels; training %d clusters, and "
                    "ACC/NMI/ARI compare them with the %d classes (unmatched clusters count as wrong in ACC)",
                    table.name, k, classes, k, classes)


def check_varies(table: Table) -> None:
    """The table must hold more than one row, and at least one column must take more than one value."""
    if table.n_samples == 0:
        raise DataError(f"{table.name}: the table has no rows")
    if table.n_samples == 1:
        raise DataError(f"{table.name}: the table has one row (one sample); clustering needs at least two "
                        "samples per cluster: add rows, or check that the file holds its samples as rows")
    if table.n_features == 0 or not (column_ranges(table.X) > 0).any():
        raise DataError(f"{table.name}: every column is constant; there is nothing to cluster")


def preprocess(
    table: Table,
    scaler: str | None = "none",
    log1p_: bool = False,
    drop_constant_: bool = False,
    top_k: int | None = None,
    impute: str | None = None,
    rows: int | None = None,
    n_clusters: int | None = None,
    fitted: Fitted | None = None,
) -> Table:
    """The whole pipeline (see the module docstring); returns a validated float32 table. With ``fitted`` (new
    samples for a trained model) the columns, ``log1p`` and scaling are the training table's and ``log1p_``,
    ``drop_constant_``, ``top_k``, ``scaler`` and ``rows`` are not used (``impute`` still fills from this table)."""
    for key, value in (("n_clusters", n_clusters), ("top_k_variance", top_k), ("rows", rows)):
        check_count(table.name, key, value)
    if n_clusters is not None:
        table = replace(table, n_clusters=int(n_clusters))
    table = encode_labels(table)
    if fitted is not None:
        return fitted.apply(table, impute)
    table = check_finite(table, impute)
    if log1p_:
        table = log1p(table)
    check_varies(table)
    if drop_constant_:
        table = drop_constant(table)
    table = scale(top_k_variance(table, top_k).densified(), scaler)
    if rows:
        table = replace(table, X=table.X[:rows], y=None if table.y is None else table.y[:rows])
    check_clusters(table)
    return table
