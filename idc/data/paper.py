"""Loaders of the paper's datasets, in the file layouts of docs/data.md and the official code.

Each returns a raw :class:`Table` (original labels, feature names); scaling and filters come from the dataset
config through :func:`idc.data.loading.load_table`.
"""
from __future__ import annotations

import numpy as np

from idc.data.readers import npz_array, read_csv, read_mat, read_npz, require_file
from idc.data.table import DataError, Table


def mat(path: str, name: str, x_key: str = "X", y_key: str = "Y", image_shape: tuple[int, int] | None = None,
        image_order: str = "C") -> Table:
    """scikit-feature ``.mat`` files (ALLAML, PROSTATE-GE, TOX-171, the wider benchmark; SRBCT with keys
    ``data``/``label``); image tables (COIL20, warpPIE10P) store each image column-major (``image_order: F``)."""
    table = read_mat(require_file(path, name), x_key=x_key, y_key=y_key)
    table.name = name
    return as_images(table, image_shape, image_order) if image_shape is not None else table


def csv(path: str, name: str, label_column: str | int = -1, drop_columns: list[str | int] | tuple = ()) -> Table:
    """A CSV with a header and the class in ``label_column`` (CNAE-9, MFEAT-Zernike)."""
    table = read_csv(require_file(path, name), label_column=label_column, drop_columns=drop_columns, header=True)
    table.name = name
    return table


def npz(path: str, name: str, image_shape: tuple[int, int] | None = None, **keys: str) -> Table:
    """An ``.npz`` with ``X``/``y`` and optional names (MNIST, BIASE49); images get pixel names ``px<row>_<col>``."""
    table = read_npz(require_file(path, name), **keys)
    table.name = name
    return as_images(table, image_shape) if image_shape is not None else table


def as_images(table: Table, image_shape: tuple[int, int], order: str = "C") -> Table:
    """Name the columns ``px<row>_<col>`` of ``image_shape`` (rows, cols) images, row-major: columns stored
    column-major (``order="F"``, MATLAB's layout) are reordered first, so that ``x.reshape(image_shape)`` is upright."""
    rows, cols = (int(n) for n in image_shape)
    if rows * cols != table.n_features:
        raise DataError(f"{table.name}: image_shape [{rows}, {cols}] holds {rows * cols} pixels, the table has "
                        f"{table.n_features} features; fix dataset.load.image_shape")
    if order not in ("C", "F"):
        raise DataError(f"{table.name}: image_order {order!r} is not allowed; allowed: C (row-major), F (column-major)")
    if order == "F":
        table.X = table.X[:, np.arange(rows * cols).reshape((rows, cols), order="F").ravel()]
    table.feature_names = [f"px{r}_{c}" for r in range(rows) for c in range(cols)]
    return table


def pbmc(x_path: str, y_path: str, name: str = "pbmc") -> Table:
    """PBMC-2 as the official code ships it: ``pbmc_x.npz`` and ``pbmc_y.npz``, each under key ``arr_0``."""
    X = npz_array(require_file(x_path, name), "arr_0")
    y = npz_array(require_file(y_path, name), "arr_0").reshape(-1)
    return Table(X, y, name=name)


def intestine(data_path: str, cell_path: str, name: str = "intestine", label_index: int = 2) -> Table:
    """The official CSV pair: ``<name>_data.csv`` (genes x cells, gene ids in column 0, cell ids in the header)
    and ``<name>_celldata.csv`` (one row per cell: cell id in column 0, cell type in column ``label_index``)."""
    import pandas as pd

    genes = pd.read_csv(require_file(data_path, name), index_col=0)
    cells = pd.read_csv(require_file(cell_path, name), index_col=0)
    missing = [c for c in genes.columns if c not in cells.index]
    if missing:
        raise DataError(f"{cell_path}: no cell type for {len(missing)} cell(s) of {data_path}, e.g. {missing[:3]}")
    labels = cells.iloc[:, label_index - 1].reindex(genes.columns).to_numpy()
    return Table(genes.to_numpy(dtype=np.float64).T, labels, [str(g) for g in genes.index], name=name)
