"""Readers for every supported file format; each returns a raw :class:`Table` with feature names.

CSV/TSV/text (:mod:`.text`: header optional, separator sniffed, ``encoding`` option), ``.npy``/``.npz``
(``allow_pickle=False``) and MATLAB ``.mat`` (:mod:`.arrays`; v5 via scipy, v7.3 via h5py), HDF5 ``.h5`` and
AnnData ``.h5ad`` (:mod:`.hdf5`, read with ``anndata``, current and pre-0.7 layouts). Sparse matrices stay sparse
(see :class:`Table`). Problems raise :class:`DataError` naming the file and what to do; any other exception inside a
reader becomes one too (:func:`.common.reader`). This module finds the file and dispatches on its suffix.
"""
from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from idc.data.readers.arrays import npz_array, read_mat, read_npy, read_npz
from idc.data.readers.common import check_labels, select
from idc.data.readers.hdf5 import read_h5, read_h5ad
from idc.data.readers.text import read_csv
from idc.data.table import DataError, Table

__all__ = ["READERS", "load_file", "npz_array", "read_any", "read_csv", "read_h5", "read_h5ad", "read_mat",
           "read_npy", "read_npz", "require_file"]
DOWNLOAD_HINT = "python scripts/download_data.py"
#: what to do when the labels named by ``label_column`` look like a feature
LABEL_FIX = "set dataset.label_column to the column of class labels (or null, with dataset.n_clusters=K)"

if TYPE_CHECKING:
    from idc.data.download import Source


def require_file(path: str | Path, dataset: str = "table") -> Path:
    """``path`` as a Path, or a :class:`DataError` that says where it was looked for and what to do: the
    download command only for a paper dataset's file."""
    path = Path(path).expanduser()
    if path.is_file():
        return path
    if path.is_dir():
        inside = sorted(p.name for p in path.iterdir() if p.suffix.lower() in READERS)
        example = f" (it holds {inside[:5]}{' ...' if len(inside) > 5 else ''})" if inside else ""
        raise DataError(f"{dataset}: {path.resolve()} is a folder, not a file; give the path of one file in it"
                        f"{example}, e.g. dataset.path={path / (inside[0] if inside else 'cells.csv')}")
    source = _source_of(path)
    paper = dataset if dataset != "table" else (source.datasets[0] if source else None)
    if paper is None:
        raise DataError(f"{dataset}: file not found: {path.resolve()}. Check dataset.path (a relative path starts "
                        f"in the folder you run from: {Path.cwd()})")
    fetch = (f"it is not downloadable: {source.note}" if source is not None and source.how == "manual" else
             f"fetch the paper's datasets with `{DOWNLOAD_HINT} {paper}` (in the repository's folder)")
    raise DataError(
        f"{dataset}: file not found: {path.resolve()}. Put it there or point IDC_DATA_DIR (or paths.data_dir=...) at "
        f"the folder that holds it; {fetch}."
    )


def _source_of(path: Path) -> Source | None:
    """The paper dataset's source (:data:`idc.data.download.SOURCES`) whose file ``path`` names
    (``.../ALLAML.mat``), if any."""
    from idc.data.download import SOURCES

    posix = path.as_posix()
    return next((s for s in SOURCES if posix == s.file or posix.endswith("/" + s.file)), None)


READERS = {
    ".csv": read_csv, ".tsv": read_csv, ".tab": read_csv, ".txt": read_csv,
    ".npy": read_npy, ".npz": read_npz, ".mat": read_mat,
    ".h5": read_h5, ".hdf5": read_h5, ".h5ad": read_h5ad,
}


def read_any(path: Path) -> Table:
    """Dispatch on the file suffix with every reader's defaults."""
    read = READERS.get(path.suffix.lower())
    if read is None:
        raise DataError(f"{path}: unsupported file type {path.suffix!r}; use one of {sorted(READERS)}")
    return read(path)


def load_file(
    path: str | Path | None,
    label_column: str | int | None = None,
    x_key: str | None = None,
    y_key: str | None = None,
    names_key: str | None = None,
    drop_columns: Sequence[str | int] = (),
    feature_columns: Sequence[str | int] | None = None,
    header: str | bool = "auto",
    sep: str | None = None,
    encoding: str = "utf-8",
) -> Table:
    """A user's table in any supported format (the ``dataset=table`` loader): labels from ``label_column``
    (CSV column, ``.h5ad`` obs column) or ``y_key`` (``.npz``/``.mat``/``.h5``); ``feature_columns`` (names, or
    indices of the file's columns) keeps only those features, in that order; ``sep`` and ``encoding`` for
    text files. Labels with fractions (a feature named as the labels) are an error (:func:`.common.check_labels`)."""
    if path is None or str(path) == "???":
        raise DataError(f"dataset=table needs dataset.path=FILE (one of {', '.join(READERS)}), e.g. "
                        "idc-train dataset=table dataset.path=cells.csv dataset.label_column=cell_type")
    path = require_file(path, "table")
    suffix = path.suffix.lower()
    if suffix in (".csv", ".tsv", ".tab", ".txt"):  # selected before the numeric check: other columns may be text
        table = read_csv(path, label_column=label_column, feature_columns=feature_columns,
                         drop_columns=drop_columns, header=header, sep=sep, encoding=encoding or "utf-8")
        check_labels(table.y, path, f"label column {label_column!r}", LABEL_FIX)
        return table
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
    if label_column is not None:
        check_labels(table.y, path, f"obs column {label_column!r}", LABEL_FIX)
    else:
        check_labels(table.y, path, f"label array {y_key!r}" if y_key else "the label array",
                     "set dataset.y_key to the array of class labels")
    if feature_columns:
        table = table.take_columns(select(table.feature_names, list(feature_columns), path, "feature column"))
    return table
