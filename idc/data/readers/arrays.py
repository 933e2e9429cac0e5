"""NumPy ``.npy``/``.npz`` (``allow_pickle=False``) and MATLAB ``.mat`` files (v7.3 through :mod:`.hdf5`)."""
from __future__ import annotations

import zipfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from idc.data.readers.common import UNREADABLE, categories, numeric, reader, unique_names
from idc.data.readers.hdf5 import read_h5
from idc.data.table import DataError, Table

#: what a file of object arrays (read only through pickle, which can run code) should hold instead
OBJECT_ARRAYS = ("object arrays are refused (they load through pickle): save numbers, e.g. X.astype(float), and "
                 "labels as strings or integers, e.g. np.asarray(y, dtype=str)")


def _npz_key(keys: list[str], wanted: str | None, path: Path, what: str, candidates: Sequence[str]) -> str | None:
    if wanted is not None:
        if wanted not in keys:
            raise DataError(f"{path}: no array {wanted!r} for {what}; the file holds {keys}")
        return wanted
    found = [k for k in candidates if k in keys]
    return found[0] if found else None


@reader
def read_npy(path: Path, **_: Any) -> Table:
    """A 2-D ``.npy`` array (no labels)."""
    try:
        X = np.load(path, allow_pickle=False)
    except UNREADABLE as err:
        raise DataError(f"{path}: not a plain numeric .npy array ({type(err).__name__}: {err}); {OBJECT_ARRAYS}; an "
                        "empty or truncated file cannot be read") from None
    return Table(numeric(X, path), name=path.name)


@contextmanager
def open_npz(path: Path) -> Iterator[Any]:
    """``np.load`` of an ``.npz`` without pickles; a missing file, one that is no zip archive, a truncated one, and
    any ValueError, OSError or EOFError raised in the ``with`` block (keep only reads of the archive there: an object
    array fails when read) are a :class:`DataError` naming the file (a DataError raised there passes as it is)."""
    if not Path(path).is_file():
        raise DataError(f"{path}: no such file")
    if not zipfile.is_zipfile(path):
        raise DataError(f"{path}: not an .npz archive (an .npz is a zip of .npy arrays, as np.savez writes); the "
                        "file is empty, cut short or of another format")
    try:
        with np.load(path, allow_pickle=False) as z:
            yield z
    except DataError:
        raise
    except UNREADABLE as err:
        hint = f"; {OBJECT_ARRAYS}" if "Object arrays" in str(err) else ""
        raise DataError(f"{path}: unreadable .npz ({type(err).__name__}: {err}){hint}") from None


@reader
def npz_array(path: Path, key: str) -> np.ndarray:
    """One array of an ``.npz`` (no pickles), with a clear error for a missing key."""
    with open_npz(path) as z:
        if key not in z.files:
            raise DataError(f"{path}: no array {key!r}; the file holds {list(z.files)}")
        return z[key]


@reader
def read_npz(
    path: Path, x_key: str | None = None, y_key: str | None = None, names_key: str | None = None,
    class_names_key: str | None = None, **_: Any,
) -> Table:
    """``.npz`` with the matrix under ``x_key`` (default ``X``, ``x``, ``data`` or ``arr_0``) and optional labels
    (``y_key``, default ``y``/``Y``/``labels``) and feature names (``names_key``)."""
    with open_npz(path) as z:
        keys = list(z.files)
        xk = _npz_key(keys, x_key, path, "X", ("X", "x", "data", "arr_0"))
        if xk is None:
            raise DataError(f"{path}: no matrix found; set x_key to one of {keys}")
        yk = _npz_key(keys, y_key, path, "labels", ("y", "Y", "labels", "label"))
        nk = _npz_key(keys, names_key, path, "feature names", ()) if names_key else None
        ck = _npz_key(keys, class_names_key, path, "class names", ()) if class_names_key else None
        X, y = z[xk], (z[yk] if yk else None)
        names = [str(n) for n in z[nk]] if nk else []
        class_names = [str(n) for n in z[ck]] if ck else None
    unique_names(names, path, f"feature names ({nk})")
    if class_names is not None and y is not None:  # labels stored as indices into class_names
        y = categories(class_names, y, path)
    return Table(numeric(X, path), y, names, name=path.name)


@reader
def read_mat(path: Path, x_key: str = "X", y_key: str | None = "Y", **_: Any) -> Table:
    """MATLAB ``.mat``: v5 files through ``scipy.io.loadmat``, v7.3 (HDF5) files through h5py."""
    import scipy.io
    import scipy.sparse as sp

    try:
        mat = scipy.io.loadmat(path)
    except NotImplementedError:  # MATLAB v7.3 is HDF5; arrays are stored transposed
        return read_h5(path, x_key=x_key, y_key=y_key, transpose=True)
    except (ValueError, TypeError, OSError) as err:
        raise DataError(f"{path}: not a readable MATLAB file ({err})") from None
    keys = sorted(k for k in mat if not k.startswith("__"))
    for key in [x_key] + ([y_key] if y_key else []):
        if key not in mat:
            raise DataError(f"{path}: no variable {key!r}; the file holds {keys} (set x_key / y_key)")
    y = _mat_labels(mat[y_key], path) if y_key else None
    X = mat[x_key] if sp.issparse(mat[x_key]) else np.asarray(mat[x_key])
    return Table(numeric(X, path), y, name=path.name)


def _mat_labels(values: Any, path: Path) -> np.ndarray:
    """A label vector, or a cell array of strings (each cell a 1-element array)."""
    values = np.asarray(values).reshape(-1)
    if values.dtype != object:
        return values
    cells = [np.asarray(v).reshape(-1) for v in values]
    if any(c.size != 1 for c in cells):
        raise DataError(f"{path}: the labels are a cell array whose cells are not single values; store one "
                        "number or string per sample")
    return np.array([str(c[0]) for c in cells])
