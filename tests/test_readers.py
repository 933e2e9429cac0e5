"""Every supported file format, written tiny to a temporary directory and read back through dataset=table."""
import logging

import h5py
import numpy as np
import pytest
import scipy.io
import scipy.sparse as sp

from idc.config import compose
from idc.data import DataError, load_table

X = np.array([[1.0, 0.0, 3.0], [2.0, 1.0, 0.5], [0.0, 4.0, 1.0], [3.0, 2.0, 2.0], [5.0, 1.5, 0.0], [0.5, 0.5, 9.0]])
Y = np.array(["b", "a", "b", "c", "a", "c"])  # strings, mapped to 0..K-1 in sorted order
CODES = [1, 0, 1, 2, 0, 2]


def load(path, *overrides):
    return load_table(compose(["dataset=table", f"dataset.path={path}", "dataset.scaler=none", *overrides]).dataset)


def check(t, names=("f0", "f1", "f2"), labels=True):
    np.testing.assert_allclose(t.X, X, rtol=1e-6)
    assert t.feature_names == list(names)
    if labels:
        assert t.y.tolist() == CODES and t.class_names == ["a", "b", "c"] and t.n_clusters == 3


def test_csv_with_header_and_label_column(tmp_path):
    p = tmp_path / "cells.csv"
    p.write_text("id,gene_a,cell_type,gene_b,gene_c\n" + "".join(
        f"c{i},{r[0]},{y},{r[1]},{r[2]}\n" for i, (r, y) in enumerate(zip(X, Y))))
    t = load(p, "dataset.label_column=cell_type", "dataset.drop_columns=[id]")
    check(t, names=("gene_a", "gene_b", "gene_c"))


def test_csv_without_header_and_tsv(tmp_path):
    p = tmp_path / "plain.csv"
    p.write_text("".join(",".join(map(str, r)) + "\n" for r in X))
    check(load(p, "dataset.n_clusters=2"), labels=False)
    q = tmp_path / "t.tsv"
    q.write_text("a\tb\tc\tlabel\n" + "".join("\t".join(map(str, r)) + f"\t{y}\n" for r, y in zip(X, Y)))
    check(load(q, "dataset.label_column=-1"), names=("a", "b", "c"))
    # no header, a text label column: the first row is a sample, not names
    r = tmp_path / "labelled.csv"
    r.write_text("".join(",".join(map(str, row)) + f",{y}\n" for row, y in zip(X, Y)))
    check(load(r, "dataset.label_column=3"))
    # integer column names above a text label column; a saved pandas index (empty first header cell)
    s = tmp_path / "intnames.csv"
    s.write_text("0,1,2,cell_type\n" + "".join(",".join(map(str, row)) + f",{y}\n" for row, y in zip(X, Y)))
    check(load(s, "dataset.label_column=cell_type"), names=("0", "1", "2"))
    check(load(s, "dataset.label_column=3"), names=("0", "1", "2"))
    u = tmp_path / "index.csv"
    u.write_text(",a,b,c\n" + "".join(f"{i}," + ",".join(map(str, row)) + "\n" for i, row in enumerate(X)))
    check(load(u, "dataset.n_clusters=2", "dataset.drop_columns=[0]"), names=("a", "b", "c"), labels=False)
    # R's write.table: the header has one field fewer than the rows (row names)
    v = tmp_path / "r.tsv"
    v.write_text("a\tb\tc\n" + "".join(f"r{i}\t" + "\t".join(map(str, row)) + "\n" for i, row in enumerate(X)))
    check(load(v, "dataset.n_clusters=2"), names=("a", "b", "c"), labels=False)


def test_header_detection_keeps_every_sample(tmp_path):
    rows = [",".join(map(str, r)) for r in X]
    frac = [",".join(f"{v + 0.25}" for v in r) for r in X]  # every column holds fractions
    cases = {  # file text -> (feature names, overrides); each must keep all 6 samples
        "0,1,2\n": (["0", "1", "2"], []),                                   # pandas' default column names
        "7157,672,1956\n": (["7157", "672", "1956"], []),                   # gene IDs above fractions
        "": (["f1", "f2", "f3"], ["dataset.drop_columns=[0]"]),                   # headerless, a sample-ID column
    }
    for i, (top, (names, extra)) in enumerate(cases.items()):
        p = tmp_path / f"c{i}.csv"
        body = [f"cell_{j},{r}" for j, r in enumerate(rows)] if not top else (frac if "7157" in top else rows)
        p.write_text(top + "\n".join(body) + "\n")
        t = load(p, "dataset.n_clusters=2", *extra)
        assert t.n_samples == 6 and t.feature_names == names, (top, t.feature_names)
    # a missing value in the first row is data, not a header, and is reported as missing
    q = tmp_path / "na.csv"
    q.write_text("\n".join(["NA,0.0,3.0"] + rows[1:]) + "\n")
    with pytest.raises(DataError, match="NaN"):
        load(q, "dataset.n_clusters=2")
    assert load(q, "dataset.n_clusters=2", "dataset.impute=mean").n_samples == 6
    # headerless, many classes: the first row's class never recurs, yet it is a sample
    r = tmp_path / "classes.csv"
    r.write_text("".join(f"{row},class{9 if j == 0 else j % 2}\n" for j, row in enumerate(rows)))
    assert load(r, "dataset.label_column=3").n_samples == 6
    # a name above numbers next to a number above numbers: ask, never guess
    u = tmp_path / "mixed.csv"
    u.write_text("gene_a,1.5,2.5\n" + "\n".join(rows) + "\n")
    with pytest.raises(DataError, match="set dataset.header=true or dataset.header=false"):
        load(u, "dataset.n_clusters=2")
    assert load(u, "dataset.n_clusters=2", "dataset.header=true").feature_names == ["gene_a", "1.5", "2.5"]


def test_feature_columns_keep_a_subset(tmp_path):
    p = tmp_path / "cells.csv"
    p.write_text("a,b,c\n" + "".join(",".join(map(str, r)) + "\n" for r in X))
    t = load(p, "dataset.n_clusters=2", "dataset.feature_columns=[c,a]")
    assert t.feature_names == ["c", "a"] and t.X[:, 0].tolist() == X[:, 2].tolist()
    q = tmp_path / "labelled.csv"
    q.write_text("id,label,a,b\n" + "".join(f"s{i},{y},{r[0]},{r[1]}\n" for i, (r, y) in enumerate(zip(X, Y))))
    with pytest.raises(DataError, match=r"names the label or a dropped column: \['id', 'label'\]"):
        load(q, "dataset.label_column=label", "dataset.drop_columns=[id]", "dataset.feature_columns=[0,1]")
    np.savez(tmp_path / "d.npz", X=X, names=np.array(["u", "v", "w"]))
    t = load(tmp_path / "d.npz", "dataset.n_clusters=2", "dataset.names_key=names", "dataset.feature_columns=[2,u]")
    assert t.feature_names == ["w", "u"] and t.X[:, 1].tolist() == X[:, 0].tolist()


def test_npy_and_npz(tmp_path):
    np.save(tmp_path / "x.npy", X)
    check(load(tmp_path / "x.npy", "dataset.n_clusters=2"), labels=False)
    np.savez(tmp_path / "d.npz", X=X, y=Y, names=np.array(["u", "v", "w"]))
    check(load(tmp_path / "d.npz", "dataset.names_key=names"), names=("u", "v", "w"))
    np.savez(tmp_path / "official.npz", arr_0=X)  # the official code's key
    check(load(tmp_path / "official.npz", "dataset.n_clusters=2"), labels=False)


def test_mat_v5_and_v73(tmp_path):
    scipy.io.savemat(tmp_path / "d.mat", {"X": X, "Y": Y.reshape(-1, 1)})
    check(load(tmp_path / "d.mat", "dataset.y_key=Y"))
    p = tmp_path / "v73.mat"  # MATLAB v7.3 = HDF5 with a 512-byte header; arrays stored transposed
    with h5py.File(p, "w", userblock_size=512) as f:
        f["X"] = X.T
        f["Y"] = np.array([CODES])
    header = b"MATLAB 7.3 MAT-file, written by a test".ljust(116) + b"\0" * 8 + b"\x00\x02IM"
    with open(p, "r+b") as f:
        f.write(header)
    t = load(p, "dataset.y_key=Y")
    np.testing.assert_allclose(t.X, X)
    assert t.y.tolist() == CODES


def test_hdf5_with_configurable_names(tmp_path):
    with h5py.File(tmp_path / "d.h5", "w") as f:
        f["expr/matrix"] = X
        f["meta/label"] = Y.astype("S")
        f["meta/genes"] = np.array([b"g1", b"g2", b"g3"])
    t = load(tmp_path / "d.h5", "dataset.x_key=expr/matrix", "dataset.y_key=meta/label", "dataset.names_key=meta/genes")
    check(t, names=("g1", "g2", "g3"))


def write_anndata(path, X, obs_columns=None, var_names=None):
    """An .h5ad in the current layout, written by anndata (indexes of object dtype: the same file whether
    pandas is 2.x, as anndata asks, or 3.x)."""
    import anndata
    import pandas as pd

    n, d = X.shape
    obs = pd.DataFrame(obs_columns or {}, index=pd.Index([f"cell{i}" for i in range(n)], dtype=object))
    var = pd.DataFrame(index=pd.Index(var_names or [f"g{j}" for j in range(d)], dtype=object))
    anndata.AnnData(X, obs=obs, var=var).write_h5ad(path)


def write_old_h5ad(path, X, codes, categories, sparse=False):
    """The layout of AnnData < 0.7 (scanpy's pbmc68k_reduced.h5ad), by hand: ``obs`` and ``var`` single
    compound datasets whose first field is the index, a categorical column stored as codes with its
    categories in ``uns/<column>_categories``, a sparse ``X`` as an h5sparse group."""
    n, d = X.shape
    with h5py.File(path, "w") as f:
        if sparse:
            m = sp.csr_matrix(X)
            g = f.create_group("X")
            g.attrs["h5sparse_format"], g.attrs["h5sparse_shape"] = "csr", X.shape
            g["data"], g["indices"], g["indptr"] = m.data, m.indices, m.indptr
        else:
            f["X"] = X
        obs = np.zeros(n, dtype=[("index", "S12"), ("bulk_labels", "i1"), ("n_genes", "<i8")])
        obs["index"] = [f"cell{i}".encode() for i in range(n)]
        obs["bulk_labels"], obs["n_genes"] = codes, 100
        f["obs"] = obs
        var = np.zeros(d, dtype=[("index", "S12"), ("n_counts", "<f4")])
        var["index"] = [f"gene{j}".encode() for j in range(d)]
        f["var"] = var
        f["uns/bulk_labels_categories"] = np.array(categories, dtype="S")


@pytest.mark.parametrize("sparse", [False, True])
def test_h5ad_current_layout(tmp_path, sparse):
    import pandas as pd

    from idc.data.readers import read_h5ad

    p = tmp_path / "cells.h5ad"
    obs = {"cell_type": pd.Categorical(Y), "batch": pd.array(CODES, dtype="Int64"), "plain": np.array(CODES) * 10}
    write_anndata(p, sp.csr_matrix(X) if sparse else X, obs, ["CD3E", "CD4", "MS4A1"])
    check(load(p, "dataset.label_column=cell_type"), names=("CD3E", "CD4", "MS4A1"))  # categorical
    assert load(p, "dataset.label_column=batch").y.tolist() == CODES  # nullable integers
    assert load(p, "dataset.label_column=plain").class_names == ["0", "10", "20"]  # a plain column
    assert sp.issparse(read_h5ad(p).X) == sparse  # sparse stays sparse until preprocessing


@pytest.mark.parametrize("sparse", [False, True])
def test_h5ad_layout_before_anndata_0_7(tmp_path, sparse):
    rng = np.random.default_rng(0)
    data = (rng.random((700, 765)) * (rng.random((700, 765)) < 0.1)).astype(np.float32)  # pbmc68k_reduced's shape
    codes = rng.integers(0, 3, 700)
    categories = ["CD14+ Monocyte", "CD4+/CD25 T Reg", "CD56+ NK"]
    write_old_h5ad(tmp_path / "pbmc68k_reduced.h5ad", data, codes, categories, sparse)
    t = load(tmp_path / "pbmc68k_reduced.h5ad", "dataset.label_column=bulk_labels", "dataset.drop_constant=false")
    assert t.X.shape == (700, 765) and t.feature_names[:2] == ["gene0", "gene1"]
    np.testing.assert_allclose(t.X, data, rtol=1e-6)
    assert t.class_names == categories and t.y.tolist() == codes.tolist()


def test_sparse_and_dense_tables_preprocess_alike(tmp_path):
    data = np.column_stack([X, np.zeros(len(X))])  # an all-zero gene
    for sparse in (False, True):
        m = sp.csr_matrix(data) if sparse else data
        with h5py.File(tmp_path / f"{sparse}.h5", "w") as f:
            if sparse:
                g = f.create_group("X")
                g.attrs["encoding-type"], g.attrs["encoding-version"], g.attrs["shape"] = "csr_matrix", "0.1.0", data.shape
                g["data"], g["indices"], g["indptr"] = m.data, m.indices, m.indptr
            else:
                f["X"] = m
    options = ["dataset.n_clusters=2", "dataset.log1p=true", "dataset.drop_constant=true", "dataset.top_k_variance=2",
               "dataset.scaler=standard"]
    dense, sparse = (load(tmp_path / f"{s}.h5", *options) for s in (False, True))
    assert isinstance(sparse.X, np.ndarray) and sparse.feature_names == dense.feature_names
    np.testing.assert_allclose(sparse.X, dense.X, rtol=1e-5, atol=1e-6)


def test_preprocessing_options(tmp_path):
    data = np.column_stack([X, np.full(len(X), 7.0)])  # a constant column
    np.save(tmp_path / "x.npy", data)
    t = load(tmp_path / "x.npy", "dataset.n_clusters=2", "dataset.drop_constant=true", "dataset.top_k_variance=2",
             "dataset.log1p=true", "dataset.scaler=minmax")
    assert t.n_features == 2 and t.X.min() == 0 and t.X.max() == 1
    raw_var = np.log1p(X).var(0)
    assert t.feature_names == [f"f{i}" for i in sorted(np.argsort(-raw_var)[:2])]


def test_row_names_written_by_pandas_and_r_are_not_features(tmp_path, caplog):
    body = [",".join(map(str, r)) + f",{y}" for r, y in zip(X, Y)]
    files = {  # row names under an empty header cell (pandas' to_csv(), R's write.csv()) or none (write.table)
        "pandas.csv": ",a,b,c,cell_type\n" + "".join(f"{i},{row}\n" for i, row in enumerate(body)),
        "r.csv": '"","a","b","c","cell_type"\n' + "".join(f'"{i + 1}",{row}\n' for i, row in enumerate(body)),
        "table.csv": "a,b,c,cell_type\n" + "".join(f"r{i},{row}\n" for i, row in enumerate(body)),
    }
    for name, text in files.items():
        (tmp_path / name).write_text(text)
        caplog.clear()
        with caplog.at_level(logging.INFO, logger="idc"):
            check(load(tmp_path / name, "dataset.label_column=cell_type"), names=("a", "b", "c"))
        assert f"{name}: first column read as row names, not a feature" in caplog.text, name
    # a first column with a real name stays a feature, even when it counts rows
    q = tmp_path / "named.csv"
    q.write_text("row,a,b,cell_type\n" + "".join(f"{i},{r[0]},{r[1]},{y}\n" for i, (r, y) in enumerate(zip(X, Y))))
    assert load(q, "dataset.label_column=cell_type").feature_names == ["row", "a", "b"]
    # lines that end with a separator are not row names: every name stays on its column
    t = tmp_path / "trailing.csv"
    t.write_text("a,b,c,cell_type\n" + "".join(f"{row},\n" for row in body))
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="idc"):
        check(load(t, "dataset.label_column=cell_type"), names=("a", "b", "c"))
    assert "every line ends with a separator" in caplog.text and "row names" not in caplog.text
