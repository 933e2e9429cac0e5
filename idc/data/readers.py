"""Readers for every supported file format; each returns a raw :class:`Table` with feature names.

CSV/TSV (header optional), ``.npy``/``.npz`` (``allow_pickle=False``), MATLAB ``.mat`` (v5 via scipy, v7.3
via h5py), HDF5 ``.h5`` and AnnData ``.h5ad`` (read with h5py: dense or CSR/CSC ``X``, ``obs`` labels, ``var``
names). Problems raise :class:`DataError` naming the file and what to do.
"""
from __future__ import annotations

import logging
import os
import zipfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from idc.data.table import DataError, Table, generated_names

DOWNLOAD_HINT = "python scripts/download_data.py"
#: what numpy raises on a truncated, empty or foreign .npy/.npz
UNREADABLE = (ValueError, EOFError, OSError, zipfile.BadZipFile)
log = logging.getLogger(__name__)


def require_file(path: str | Path, dataset: str = "table") -> Path:
    """``path`` as a Path, or a :class:`DataError` that says where it was looked for and how to get it."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise DataError(
            f"{dataset}: file not found: {path.resolve()}. Put it there, point IDC_DATA_DIR (or paths.data_dir=...) at the "
            f"folder that holds it, or fetch the paper's datasets with `{DOWNLOAD_HINT} {dataset}`."
        )
    return path


def _numeric(values: np.ndarray, path: Path, what: str = "X") -> np.ndarray:
    if values.dtype.kind in "biuf":
        return values
    if values.dtype.kind == "c":
        raise DataError(f"{path}: {what} holds complex numbers; store real features (e.g. magnitudes)")
    try:
        return values.astype(np.float64)
    except (TypeError, ValueError) as err:
        raise DataError(f"{path}: {what} is not numeric (dtype {values.dtype}): {err}") from None


def _select(names: list[str], wanted: Sequence[str | int], path: Path, what: str) -> list[int]:
    index = []
    for w in wanted:
        if isinstance(w, int):
            if not -len(names) <= w < len(names):
                raise DataError(f"{path}: {what} {w} is out of range for {len(names)} columns")
            index.append(w % len(names))
        elif w in names:
            index.append(names.index(w))
        else:
            raise DataError(f"{path}: {what} {w!r} not found; columns are {names[:20]}{' ...' if len(names) > 20 else ''}")
    return index


def read_csv(
    path: Path,
    label_column: str | int | None = None,
    feature_columns: Sequence[str | int] | None = None,
    drop_columns: Sequence[str | int] = (),
    header: str | bool = "auto",
    sep: str | None = None,
) -> Table:
    """CSV (``,``) or TSV (``\\t``, from the suffix). ``header="auto"`` (see :func:`_has_header`) is a header
    whenever ``label_column`` is a name. ``feature_columns`` indices count the file's columns; the label and
    dropped columns cannot be chosen. Non-numeric feature columns are an error that names them."""
    import pandas as pd

    sep = sep or _separator(path)
    try:
        if header == "auto":
            header = isinstance(label_column, str) or _has_header(path, sep)
        frame = pd.read_csv(path, sep=sep, header=0 if header else None, low_memory=False)
    except (pd.errors.ParserError, UnicodeDecodeError, ValueError) as err:
        raise DataError(f"{path}: not a readable {'TSV' if sep == chr(9) else 'CSV'} file ({err})") from None
    if frame.empty:
        raise DataError(f"{path}: the file holds no rows")
    names = [str(c) for c in frame.columns] if header else generated_names(frame.shape[1])
    frame.columns = names
    labels = None
    drop = set(_select(names, list(drop_columns), path, "column to drop"))
    if label_column is not None:
        (li,) = _select(names, [label_column], path, "label column")
        labels = frame.iloc[:, li].to_numpy()
        drop.add(li)
    keep = [i for i in range(len(names)) if i not in drop]
    if feature_columns:
        keep = _select(names, list(feature_columns), path, "feature column")
        taken = [names[i] for i in keep if i in drop]
        if taken:
            raise DataError(f"{path}: feature_columns names the label or a dropped column: {taken}")
    features = frame.iloc[:, keep]
    bad = [names[i] for i, dt in zip(keep, features.dtypes) if not pd.api.types.is_numeric_dtype(dt)]
    if bad:
        raise DataError(
            f"{path}: non-numeric values in column(s) {bad[:10]}{' ...' if len(bad) > 10 else ''}; "
            "drop them (drop_columns=[...]), name the label column (label_column=...), or fix the values"
        )
    return Table(features.to_numpy(dtype=np.float64), labels, [names[i] for i in keep], name=path.stem)


#: cells that stand for a missing value: evidence for neither a header nor a data row
MISSING = {"", "na", "nan", "n/a", "null", "none", "-", "?"}


def _separator(path: Path) -> str:
    """Tab for ``.tsv``/``.tab``, comma for ``.csv``; for ``.txt`` what its first line uses (tab, comma, or
    runs of spaces as ``numpy.savetxt`` writes)."""
    suffix = path.suffix.lower()
    if suffix in (".tsv", ".tab"):
        return "\t"
    if suffix != ".txt":
        return ","
    with open(path, encoding="utf-8", errors="replace") as f:
        line = f.readline()
    return "\t" if "\t" in line else "," if "," in line else r"\s+"


def _has_header(path: Path, sep: str) -> bool:
    """Whether the first row names the columns, judged on the first 50 rows (missing-value cells say nothing):

    - names: a text cell above a column of numbers, or integer names (``0,1,2,...`` as pandas writes them, or
      distinct integers such as gene IDs, each above a column that holds fractions);
    - data: a number above a column of numbers (without the integer names above);
    - only where neither speaks: a text cell that never recurs below it in a column whose values do recur (a
      label column's name).

    Names and data at once are an error that asks for ``header=true|false``. A one-row file, or rows of uneven
    length (R's ``write.table``), fall back to: any text cell in the first row. The decision is logged."""
    import pandas as pd

    try:
        head = pd.read_csv(path, sep=sep, header=None, nrows=50, dtype=str, keep_default_na=False)
    except pd.errors.ParserError:
        head = pd.read_csv(path, sep=sep, header=None, nrows=1, dtype=str, keep_default_na=False)
    head = head.apply(lambda col: col.str.strip())
    first, rest = head.iloc[0], head.iloc[1:]
    missing = first.str.lower().isin(MISSING)
    number = pd.to_numeric(first, errors="coerce").notna() & ~missing
    text = ~number & ~missing
    if rest.empty:
        return _decided(path, bool(text.any()), "text in the only row" if text.any() else "no text in the only row")
    values = rest.where(~rest.apply(lambda col: col.str.lower().isin(MISSING)))
    numeric = values.apply(lambda col: pd.to_numeric(col, errors="coerce"))
    numbers_below = (numeric.notna() | values.isna()).all() & values.notna().any()
    integer = first.str.fullmatch(r"[+-]?\d+") & number
    ints = pd.to_numeric(first[integer]).astype(np.int64).tolist()
    fractions_below = [bool(((numeric[c] % 1).abs() > 0).any()) for c in head.columns[integer & numbers_below]]
    integer_names = bool(integer[number].all() and len(ints) >= 2 and len(set(ints)) == len(ints) and (
        sorted(ints) in (list(range(len(ints))), list(range(1, len(ints) + 1)))
        or (len(fractions_below) == len(ints) and all(fractions_below))))
    names = list(head.columns[text & numbers_below])
    data = [] if integer_names else list(head.columns[number & numbers_below])
    if names and data:
        raise DataError(
            f"{path}: cannot tell whether the first row is a header: column(s) {names[:5]} hold text above numbers, "
            f"column(s) {data[:5]} numbers above numbers; set dataset.header=true or dataset.header=false")
    if names or integer_names:
        return _decided(path, True, "integer column names" if integer_names else f"text above numbers in column {names[0]}")
    if data:
        return _decided(path, False, f"numbers above numbers in column {data[0]}")
    recurring = [c for c in head.columns if text[c] and rest[c].nunique() < len(rest) and first[c] not in set(rest[c])]
    return _decided(path, bool(recurring), f"a unique name above repeated values in column {recurring[0]}"
                    if recurring else "no column says otherwise")


def _decided(path: Path, header: bool, why: str) -> bool:
    log.info("%s: first row read as %s (%s); set dataset.header=%s if that is wrong",
             path.name, "column names" if header else "data", why, str(not header).lower())
    return header


def _npz_key(keys: list[str], wanted: str | None, path: Path, what: str, candidates: Sequence[str]) -> str | None:
    if wanted is not None:
        if wanted not in keys:
            raise DataError(f"{path}: no array {wanted!r} for {what}; the file holds {keys}")
        return wanted
    found = [k for k in candidates if k in keys]
    return found[0] if found else None


def read_npy(path: Path, **_: Any) -> Table:
    """A 2-D ``.npy`` array (no labels)."""
    try:
        X = np.load(path, allow_pickle=False)
    except UNREADABLE as err:
        raise DataError(f"{path}: not a plain numeric .npy array ({type(err).__name__}: {err}); object arrays are "
                        "refused, and an empty or truncated file cannot be read") from None
    return Table(_numeric(X, path), name=path.stem)


def npz_array(path: Path, key: str) -> np.ndarray:
    """One array of an ``.npz`` (no pickles), with a clear error for a missing key."""
    try:
        with np.load(path, allow_pickle=False) as z:
            if key not in z.files:
                raise DataError(f"{path}: no array {key!r}; the file holds {list(z.files)}")
            return z[key]
    except DataError:
        raise
    except UNREADABLE as err:
        raise DataError(f"{path}: unreadable .npz ({type(err).__name__}: {err}); object arrays are refused") from None


def read_npz(
    path: Path, x_key: str | None = None, y_key: str | None = None, names_key: str | None = None,
    class_names_key: str | None = None, **_: Any,
) -> Table:
    """``.npz`` with the matrix under ``x_key`` (default ``X``, ``x``, ``data`` or ``arr_0``) and optional labels
    (``y_key``, default ``y``/``Y``/``labels``) and feature names (``names_key``)."""
    try:
        with np.load(path, allow_pickle=False) as z:
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
    except DataError:  # a missing key, said as such (DataError is a ValueError)
        raise
    except UNREADABLE as err:
        raise DataError(f"{path}: unreadable .npz ({type(err).__name__}: {err}); object arrays are refused") from None
    if class_names is not None and y is not None:  # labels stored as indices into class_names
        y = _categories(class_names, y, path)
    return Table(_numeric(X, path), y, names, name=path.stem)


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
    X = mat[x_key]
    X = _densify(X, path) if sp.issparse(X) else np.asarray(X)
    return Table(_numeric(X, path), y, name=path.stem)


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
    return Table(_numeric(X.T if transpose else X, path), y, names, name=path.stem)


def read_h5ad(path: Path, label_column: str | None = None, **_: Any) -> Table:
    """AnnData ``.h5ad`` without the anndata package: ``X`` dense or sparse (CSR/CSC, densified once),
    labels from the ``obs`` column ``label_column`` (plain, categorical or nullable), feature names from ``var``'s
    index."""
    with _open_h5(path) as f:
        if "X" not in f:
            raise DataError(f"{path}: no X in this .h5ad; it holds {_h5_keys(f)}")
        X = _matrix(f["X"], path)
        names = _h5ad_index(f["var"]) if "var" in f else []
        y = None
        if label_column is not None:
            if "obs" not in f:
                raise DataError(f"{path}: label_column={label_column!r}, but this .h5ad has no obs; it holds {_h5_keys(f)}")
            obs = f["obs"]
            columns = [k for k in obs.keys() if not k.startswith("_")]
            if label_column not in obs:
                raise DataError(f"{path}: obs has no column {label_column!r}; it has {columns}")
            y = _h5ad_column(obs, label_column)
    return Table(_numeric(np.asarray(X), path), y, names, name=path.stem)


def _matrix(node: h5py.Dataset | h5py.Group, path: Path) -> np.ndarray:
    """A dense dataset, or a sparse matrix stored as anndata does (a group with ``data``, ``indices``,
    ``indptr`` and a ``shape`` attribute), densified after a memory check."""
    import scipy.sparse as sp

    if not isinstance(node, h5py.Group):
        return np.asarray(node[()])
    encoding = _decode(node.attrs.get("encoding-type", node.attrs.get("h5sparse_format", "csr_matrix")))
    shape = node.attrs.get("shape", node.attrs.get("h5sparse_shape"))
    parts = [k for k in ("data", "indices", "indptr") if k not in node]
    if shape is None or parts:
        missing = ", ".join(parts) or "the shape attribute"
        raise DataError(f"{path}: {node.name} is a group, not a matrix ({missing} missing for a sparse one); save "
                        "the matrix as a dense dataset or as an AnnData .h5ad")
    cls = sp.csc_matrix if "csc" in str(encoding) else sp.csr_matrix
    return _densify(cls((node["data"][()], node["indices"][()], node["indptr"][()]),
                        shape=tuple(int(n) for n in shape)), path)


def _densify(matrix: Any, path: Path) -> np.ndarray:
    """``matrix.toarray()``, refused with a clear error when the dense table (and the copies preprocessing makes)
    would not fit in this machine's memory."""
    n, d = matrix.shape
    need = 3 * n * d * 8  # float64 while preprocessing, about three copies at the peak
    total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") if hasattr(os, "sysconf") else None
    if total and need > total:
        raise DataError(
            f"{path}: the sparse {n} x {d} matrix needs about {need / 2**30:.0f} GiB dense, more than this machine's "
            f"{total / 2**30:.0f} GiB; keep fewer features first (e.g. highly variable genes) and save a smaller file")
    return matrix.toarray()


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


def _h5ad_index(group: h5py.Group) -> list[str]:
    key = _decode(group.attrs.get("_index", "_index"))
    return [str(v) for v in _decode(group[key][()])] if key in group else []


def _h5ad_column(obs: h5py.Group, column: str) -> np.ndarray:
    node = obs[column]
    if isinstance(node, h5py.Group) and "values" in node and "mask" in node:  # anndata >= 0.10 nullable int/bool
        mask = np.asarray(node["mask"][()], dtype=bool)
        if mask.any():
            raise DataError(f"obs column {column!r}: {int(mask.sum())} label(s) are missing; fill or drop those rows")
        return np.asarray(node["values"][()])
    if isinstance(node, h5py.Group):  # anndata >= 0.8 categorical: {categories, codes}
        if "categories" not in node or "codes" not in node:
            raise DataError(f"obs column {column!r} is stored as {sorted(node.keys())}, which idc cannot read; "
                            "store the labels as a categorical or plain column")
        return _categories(_decode(node["categories"][()]), node["codes"][()], f"obs column {column!r}")
    values = _decode(node[()])
    legacy = obs.get("__categories")  # anndata < 0.8: codes in the column, categories aside
    if legacy is not None and column in legacy:
        return _categories(_decode(legacy[column][()]), values, f"obs column {column!r}")
    return np.asarray(values)


def _categories(categories: Any, codes: Any, where: object) -> np.ndarray:
    """Labels from category codes; a negative code (-1: missing) is an error, not the last category."""
    codes = np.asarray(codes, dtype=np.int64)
    if (codes < 0).any() or (codes >= len(categories)).any():
        bad = int(((codes < 0) | (codes >= len(categories))).sum())
        raise DataError(f"{where}: {bad} label code(s) are missing (-1) or out of range; fill or drop those rows")
    return np.asarray(categories)[codes]


READERS = {
    ".csv": read_csv, ".tsv": read_csv, ".tab": read_csv, ".txt": read_csv,
    ".npy": read_npy, ".npz": read_npz, ".mat": read_mat,
    ".h5": read_h5, ".hdf5": read_h5, ".h5ad": read_h5ad,
}


def read_any(path: Path) -> Table:
    """Dispatch on the file suffix with every reader's defaults."""
    reader = READERS.get(path.suffix.lower())
    if reader is None:
        raise DataError(f"{path}: unsupported file type {path.suffix!r}; use one of {sorted(READERS)}")
    return reader(path)


def load_file(
    path: str | Path,
    label_column: str | int | None = None,
    x_key: str | None = None,
    y_key: str | None = None,
    names_key: str | None = None,
    drop_columns: Sequence[str | int] = (),
    feature_columns: Sequence[str | int] | None = None,
    header: str | bool = "auto",
    sep: str | None = None,
) -> Table:
    """A user's table in any supported format (the ``dataset=table`` loader): labels from ``label_column``
    (CSV column, ``.h5ad`` obs column) or ``y_key`` (``.npz``/``.mat``/``.h5``); ``feature_columns`` (names, or
    indices of the file's columns) keeps only those features, in that order."""
    path = require_file(path, "table")
    suffix = path.suffix.lower()
    if suffix in (".csv", ".tsv", ".tab", ".txt"):  # selected before the numeric check: other columns may be text
        return read_csv(path, label_column=label_column, feature_columns=feature_columns,
                        drop_columns=drop_columns, header=header, sep=sep)
    if suffix == ".h5ad":
        table = read_h5ad(path, label_column=label_column)
    elif label_column is not None:
        raise DataError(f"{path}: label_column is for CSV/TSV and .h5ad files; use y_key for {suffix} files")
    elif suffix == ".mat":
        table = read_mat(path, x_key=x_key or "X", y_key=y_key)
    elif suffix in (".h5", ".hdf5"):
        table = read_h5(path, x_key=x_key or "X", y_key=y_key, names_key=names_key)
    elif suffix == ".npz":
        table = read_npz(path, x_key=x_key, y_key=y_key, names_key=names_key)
    else:
        table = read_any(path)
    if feature_columns:
        table = table.take_columns(_select(table.feature_names, list(feature_columns), path, "feature column"))
    return table
