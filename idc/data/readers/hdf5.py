"""HDF5 ``.h5`` (dense, or sparse in anndata's encoding) and AnnData ``.h5ad`` files."""
from __future__ import annotations

import logging
import warnings
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from idc.data.readers.common import listing, numeric, reader, unique_names
from idc.data.table import DataError, Table
from idc.schema import did_you_mean

log = logging.getLogger(__name__)


@reader
def read_h5(
    path: Path, x_key: str = "X", y_key: str | None = None, names_key: str | None = None,
    transpose: bool = False, **_: Any,
) -> Table:
    """HDF5: the matrix at ``x_key``, optional labels at ``y_key`` and feature names at ``names_key``."""
    with _open_h5(path) as f:
        keys = _h5_keys(f)
        for key in [k for k in (x_key, y_key, names_key) if k]:
            if key not in f:
                raise DataError(f"{path}: no dataset {key!r}; the file holds {keys} (set x_key / y_key / names_key)")
        X = _matrix(f[x_key], path)
        y = _decode(f[y_key][()]).reshape(-1) if y_key else None
        names = [str(n) for n in _decode(f[names_key][()])] if names_key else []
    unique_names(names, path, f"feature names ({names_key})")
    return Table(numeric(X.T if transpose else X, path), y, names, name=path.name)


@reader
def read_h5ad(path: Path, label_column: str | None = None, **_: Any) -> Table:
    """AnnData ``.h5ad`` read with ``anndata``: ``X`` as stored (a sparse matrix stays sparse), labels from
    the ``obs`` column ``label_column`` (plain, categorical or nullable; a missing one is an error naming the
    rows), feature names from ``var``'s index. Files of AnnData >= 0.7 are read element by element (``X``,
    ``var``, ``obs``: nothing else is loaded); older ones, whose ``obs`` and ``var`` are compound datasets with
    categories in ``uns``, through ``anndata.read_h5ad``."""
    import anndata
    from anndata.io import read_elem

    with warnings.catch_warnings(action="ignore", category=anndata.OldFormatWarning):
        with _open_h5(path) as f:
            if "X" not in f:
                raise DataError(f"{path}: no X in this .h5ad (it holds {_h5_keys(f)}); save the matrix as adata.X")
            legacy = isinstance(f.get("obs"), h5py.Dataset)
            if not legacy:
                X, var = read_elem(f["X"]), read_elem(f["var"])
                obs = read_elem(f["obs"]) if label_column is not None else None
        if legacy:
            log.info("%s: written by AnnData < 0.7 (obs and var as compound datasets); read with anndata's "
                     "backwards-compatible reader", path.name)
            adata = anndata.read_h5ad(path)
            X, var, obs = adata.X, adata.var, adata.obs
    names = [str(n) for n in var.index]
    unique_names(names, path, "feature names in var",
                 "make them unique (adata.var_names_make_unique()) and save the file again")
    y = None
    if label_column is not None:
        if label_column not in obs.columns:
            columns = [str(c) for c in obs.columns]
            raise DataError(f"{path}: obs has no column {label_column!r}{did_you_mean(str(label_column), columns)}; "
                            f"it has {listing(columns)}")
        y = _obs_labels(obs[label_column])
    return Table(numeric(X, path), y, names, name=path.name)


def _obs_labels(column: Any) -> np.ndarray:
    """Labels of an ``obs`` column: a categorical's categories, a nullable column's values, a plain column as
    is; missing entries (NaN, NA, code -1) stay missing, so that :class:`Table` reports their rows."""
    import pandas as pd

    if column.isna().any():
        return column.to_numpy(dtype=object, na_value=None)
    if isinstance(column.dtype, pd.CategoricalDtype):
        return np.asarray(column.cat.categories)[column.cat.codes.to_numpy()]
    if hasattr(column.dtype, "numpy_dtype"):  # nullable Int64, boolean, ...
        return column.to_numpy(dtype=column.dtype.numpy_dtype)
    return column.to_numpy()


def _matrix(node: h5py.Dataset | h5py.Group, path: Path) -> Any:
    """A dense dataset, or a sparse matrix in anndata's encoding (a group with ``data``, ``indices``,
    ``indptr`` and its attributes), read by ``anndata`` and kept sparse."""
    if not isinstance(node, h5py.Group):
        return np.asarray(node[()])
    parts = [k for k in ("data", "indices", "indptr") if k not in node]
    encoded = any(k in node.attrs for k in ("encoding-type", "h5sparse_format"))
    if parts or not encoded:
        missing = ", ".join(parts) or "the encoding-type attribute"
        raise DataError(f"{path}: {node.name} is a group, not a matrix ({missing} missing for a sparse one); save "
                        "the matrix as a dense dataset or as an AnnData .h5ad")
    import anndata
    from anndata.io import read_elem

    with warnings.catch_warnings(action="ignore", category=anndata.OldFormatWarning):
        return read_elem(node)


def _open_h5(path: Path) -> h5py.File:
    try:
        return h5py.File(path, "r")
    except OSError as err:
        raise DataError(f"{path}: not a readable HDF5 file ({err})") from None


def _h5_keys(f: h5py.File) -> list[str]:
    keys: list[str] = []
    f.visit(keys.append)
    return keys[:30]


def _decode(values: Any) -> Any:
    if isinstance(values, bytes):
        return values.decode()
    if isinstance(values, np.ndarray) and values.dtype.kind in "OS":
        return np.array([v.decode() if isinstance(v, bytes) else str(v) for v in values.reshape(-1)]).reshape(values.shape)
    return values
