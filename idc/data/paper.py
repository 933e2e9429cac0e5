"""Loaders of the paper's datasets, in the file layouts of docs/data.md and the official code.

Each returns a raw :class:`Table` (original labels, feature names); scaling and filters come from the dataset
config through :func:`idc.data.loading.load_table`.
"""
from __future__ import annotations

import numpy as np

from idc.data.readers import npz_array, read_csv, read_mat, read_npz, require_file
from idc.data.table import DataError, Table


def mat(path: str, name: str, x_key: str = "X", y_key: str = "Y") -> Table:
    """scikit-feature ``.mat`` files (ALLAML, PROSTATE-GE, TOX-171; SRBCT with keys ``data``/``label``)."""
    table = read_mat(require_file(path, name), x_key=x_key, y_key=y_key)
    table.name = name
    return table


def csv(path: str, name: str, label_column: str | int = -1, drop_columns: list[str | int] | tuple = ()) -> Table:
    """A CSV with a header and the class in ``label_column`` (CNAE-9, MFEAT-Zernike)."""
    table = read_csv(require_file(path, name), label_column=label_column, drop_columns=drop_columns, header=True)
    table.name = name
    return table


def npz(path: str, name: str, image_shape: tuple[int, int] | None = None, **keys: str) -> Table:
    """An ``.npz`` with ``X``/``y`` and optional names (MNIST, BIASE49); images get pixel names ``px<row>_<col>``."""
    table = read_npz(require_file(path, name), **keys)
    table.name = name
    if image_shape is not None:
        rows, cols = image_shape
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
