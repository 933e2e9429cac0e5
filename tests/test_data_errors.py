"""Every bad input gets a clear error that names the file (or table) and what to do."""
import h5py
import numpy as np
import pytest
import scipy.io

from idc.config import compose
from idc.data import DataError, load_table

GOOD = np.random.default_rng(0).random((10, 3))


def load(path, *overrides):
    return load_table(compose(["dataset=table", f"dataset.path={path}", *overrides]).dataset)


def test_missing_file_names_the_path_the_variable_and_the_download_command(tmp_path, monkeypatch):
    monkeypatch.setenv("IDC_DATA_DIR", str(tmp_path))
    with pytest.raises(DataError) as err:
        load_table(compose(["dataset=allaml"]).dataset)
    msg = str(err.value)
    assert str(tmp_path / "ALLAML.mat") in msg and "IDC_DATA_DIR" in msg
    assert "scripts/download_data.py allaml" in msg
    with pytest.raises(DataError, match="file not found"):
        load(tmp_path / "nope.csv", "dataset.n_clusters=2")


def test_unreadable_or_unsupported_files(tmp_path):
    (tmp_path / "bad.npz").write_bytes(b"not a zip at all")
    with pytest.raises(DataError, match="bad.npz"):
        load(tmp_path / "bad.npz", "dataset.n_clusters=2")
    (tmp_path / "bad.h5").write_text("plain text")
    with pytest.raises(DataError, match="not a readable HDF5"):
        load(tmp_path / "bad.h5", "dataset.n_clusters=2")
    (tmp_path / "x.parquet").write_text("")
    with pytest.raises(DataError, match="unsupported file type"):
        load(tmp_path / "x.parquet", "dataset.n_clusters=2")


def test_truncated_empty_or_odd_files_get_a_data_error(tmp_path):
    np.savez(tmp_path / "good.npz", X=GOOD)
    (tmp_path / "cut.npz").write_bytes((tmp_path / "good.npz").read_bytes()[:200])  # a zip cut short
    (tmp_path / "empty.npy").write_bytes(b"")
    np.savez(tmp_path / "complex.npz", X=GOOD + 1j)
    with h5py.File(tmp_path / "group.h5", "w") as f:  # a group where the matrix should be (10x-like)
        f.create_group("X")["data"] = np.ones(3)
    for name, match in [("cut.npz", "BadZipFile"), ("empty.npy", "empty or truncated"),
                        ("complex.npz", "complex numbers"), ("group.h5", "/X is a group, not a matrix")]:
        with pytest.raises(DataError, match=match):
            load(tmp_path / name, "dataset.n_clusters=2")


def test_sparse_matrices_cell_array_labels_nullable_obs_and_spaced_text_are_read(tmp_path):
    import scipy.sparse as sp

    y = np.array([0, 1] * 5)
    scipy.io.savemat(tmp_path / "s.mat", {"X": sp.csc_matrix(GOOD), "Y": np.array([["a"], ["b"]] * 5, dtype=object)})
    t = load(tmp_path / "s.mat", "dataset.y_key=Y", "dataset.scaler=none")
    np.testing.assert_allclose(t.X, GOOD, rtol=1e-6)
    assert t.class_names == ["a", "b"] and t.y.tolist() == y.tolist()
    with h5py.File(tmp_path / "n.h5ad", "w") as f:  # anndata >= 0.10 writes nullable integers as values + mask
        f["X"] = GOOD
        g = f.create_group("obs").create_group("batch")
        g["values"], g["mask"] = y, np.zeros(10, bool)
    assert load(tmp_path / "n.h5ad", "dataset.label_column=batch").y.tolist() == y.tolist()
    with h5py.File(tmp_path / "n.h5ad", "a") as f:
        f["obs/batch/mask"][3] = True
    with pytest.raises(DataError, match="1 label\\(s\\) are missing"):
        load(tmp_path / "n.h5ad", "dataset.label_column=batch")
    np.savetxt(tmp_path / "spaced.txt", GOOD)  # numpy's default: values separated by spaces
    t = load(tmp_path / "spaced.txt", "dataset.n_clusters=2", "dataset.scaler=none")
    assert t.X.shape == (10, 3)
    np.testing.assert_allclose(t.X, GOOD, rtol=1e-6)


def test_pickled_object_arrays_are_refused(tmp_path):
    np.save(tmp_path / "obj.npy", np.array([{"a": 1}, None], dtype=object), allow_pickle=True)
    with pytest.raises(DataError, match="object arrays are refused"):
        load(tmp_path / "obj.npy", "dataset.n_clusters=2")


def test_mat_without_the_expected_keys_lists_what_it_holds(tmp_path):
    scipy.io.savemat(tmp_path / "d.mat", {"data": GOOD, "label": np.arange(10)})
    with pytest.raises(DataError, match=r"no variable 'X'.*\['data', 'label'\]"):
        load(tmp_path / "d.mat", "dataset.n_clusters=2")


def test_nan_and_inf_are_counted_and_located_or_imputed(tmp_path):
    bad = GOOD.copy()
    bad[3, 1], bad[7, 2] = np.nan, np.inf
    np.save(tmp_path / "nan.npy", bad)
    with pytest.raises(DataError, match=r"2 NaN or infinite value\(s\), the first in row 3, column 'f1'.*impute"):
        load(tmp_path / "nan.npy", "dataset.n_clusters=2")
    t = load(tmp_path / "nan.npy", "dataset.n_clusters=2", "dataset.impute=median", "dataset.scaler=none")
    assert np.isfinite(t.X).all() and t.X[3, 1] == pytest.approx(np.median(np.delete(GOOD[:, 1], 3)))


def test_non_numeric_columns_are_named(tmp_path):
    p = tmp_path / "t.csv"
    p.write_text("a,b,comment\n" + "".join(f"{r[0]},{r[1]},text{i}\n" for i, r in enumerate(GOOD)))
    with pytest.raises(DataError, match=r"non-numeric values in column\(s\) \['comment'\]"):
        load(p, "dataset.n_clusters=2")
    assert load(p, "dataset.n_clusters=2", "dataset.drop_columns=[comment]").n_features == 2
    kept = load(p, "dataset.n_clusters=2", "dataset.feature_columns=[b,0]")  # the text column is simply not chosen
    assert kept.feature_names == ["b", "a"] and kept.n_features == 2


@pytest.mark.parametrize("kind", ["text", "numbers"])
def test_rows_without_a_label_are_an_error_not_an_extra_class(tmp_path, kind):
    labels = ["x", "y"] if kind == "text" else ["1", "2"]
    p = tmp_path / "t.csv"
    p.write_text("a,b,c,label\n" + "".join(
        f"{r[0]},{r[1]},{r[2]},{'' if i in (3, 7) else labels[i % 2]}\n" for i, r in enumerate(GOOD)))
    with pytest.raises(DataError, match=r"2 of 10 rows have no label \(first: row 3\)"):
        load(p, "dataset.label_column=label")


def test_labels_and_samples_of_different_lengths(tmp_path):
    with h5py.File(tmp_path / "d.h5", "w") as f:
        f["X"], f["y"] = GOOD, np.arange(9) % 2
    with pytest.raises(DataError, match="9 labels for 10 samples"):
        load(tmp_path / "d.h5", "dataset.y_key=y")


def test_cluster_counts_against_the_sample_count(tmp_path):
    np.save(tmp_path / "x.npy", GOOD)
    with pytest.raises(DataError, match="n_clusters=11 is more than the 10 samples"):
        load(tmp_path / "x.npy", "dataset.n_clusters=11")
    with pytest.raises(DataError, match="fewer than 2 per cluster on average"):
        load(tmp_path / "x.npy", "dataset.n_clusters=6")
    with pytest.raises(DataError, match="n_clusters must be given"):
        load(tmp_path / "x.npy")


def test_all_constant_table(tmp_path):
    np.save(tmp_path / "c.npy", np.ones((10, 4)))
    with pytest.raises(DataError, match="every column is constant"):
        load(tmp_path / "c.npy", "dataset.n_clusters=2", "dataset.drop_constant=false")
    with pytest.raises(DataError, match="every column is constant"):
        load(tmp_path / "c.npy", "dataset.n_clusters=2")


def test_unknown_label_column_lists_the_columns(tmp_path):
    p = tmp_path / "t.csv"
    p.write_text("a,b\n" + "".join(f"{r[0]},{r[1]}\n" for r in GOOD))
    with pytest.raises(DataError, match=r"label column 'kind' not found; columns are \['a', 'b'\]"):
        load(p, "dataset.label_column=kind")


def test_incomplete_npz_and_h5ad_files_say_what_they_hold(tmp_path):
    np.savez(tmp_path / "d.npz", X=GOOD)
    with pytest.raises(DataError, match=r"^\S+d.npz: no array 'genes' for feature names; the file holds \['X'\]$"):
        load(tmp_path / "d.npz", "dataset.n_clusters=2", "dataset.names_key=genes")
    with h5py.File(tmp_path / "no_obs.h5ad", "w") as f:
        f["X"] = GOOD
    with pytest.raises(DataError, match="has no obs"):
        load(tmp_path / "no_obs.h5ad", "dataset.label_column=cell_type")
    with h5py.File(tmp_path / "no_shape.h5ad", "w") as f:
        g = f.create_group("X")
        g["data"], g["indices"], g["indptr"] = np.ones(3), np.arange(3), np.array([0, 3])
    with pytest.raises(DataError, match="the shape attribute missing for a sparse one"):
        load(tmp_path / "no_shape.h5ad", "dataset.n_clusters=2")


def test_missing_label_codes_and_empty_byte_labels_are_errors(tmp_path):
    np.savez(tmp_path / "codes.npz", X=GOOD, y=np.r_[np.zeros(9, int), -1], classes=np.array(["a", "b"]))
    from idc.data.readers import read_npz

    with pytest.raises(DataError, match=r"1 label code\(s\) are missing"):
        read_npz(tmp_path / "codes.npz", class_names_key="classes")
    with h5py.File(tmp_path / "b.h5", "w") as f:
        f["X"], f["y"] = GOOD, np.array([b"a", b"b"] * 4 + [b"", b"a"])
    with pytest.raises(DataError, match=r"1 of 10 rows have no label \(first: row 8\)"):
        load(tmp_path / "b.h5", "dataset.y_key=y")


def test_new_samples_are_matched_to_the_trained_features_by_name():
    from idc.data import Table
    from idc.data.preprocess import Fitted

    fitted = Fitted(["g", "h"], np.array([2.0, 1.0]), np.array([0.0, -1.0]))
    new = Table(np.array([[np.nan, 1.0, 3.0], [np.nan, 2.0, 4.0]]), feature_names=["junk", "h", "g"])
    out = fitted.apply(new)  # the unused column's NaN does not matter
    assert out.feature_names == ["g", "h"] and out.X.tolist() == [[6.0, 0.0], [8.0, 1.0]]
    same = Fitted(["g", "g"], np.ones(2), np.zeros(2))
    assert same.apply(Table(np.eye(2), feature_names=["g", "g"])).X.tolist() == [[1.0, 0.0], [0.0, 1.0]]
    with pytest.raises(DataError, match=r"duplicate feature names \['g'\]"):
        same.apply(Table(np.eye(3), feature_names=["x", "g", "g"]))
    with pytest.raises(DataError, match=r"1 of the 2 features the model was trained on are missing \(first: \['h'\]\)"):
        fitted.apply(Table(np.eye(2), feature_names=["g", "x"]))
    unnamed = Fitted(["f0", "f1"], np.ones(2), np.zeros(2))  # a training file without a header
    assert unnamed.apply(Table(np.eye(2))).X.tolist() == [[1.0, 0.0], [0.0, 1.0]]
    with pytest.raises(DataError, match=r"trained on a table without column names.*it holds 3"):
        unnamed.apply(Table(np.arange(6.0).reshape(2, 3)))  # an extra column would shift every feature


@pytest.mark.parametrize("override", ["dataset.n_clusters=2.7", "dataset.top_k_variance=-1", "+dataset.rows=-3",
                                      "dataset.n_clusters=true"])
def test_counting_options_must_be_whole_numbers(tmp_path, override):
    np.save(tmp_path / "x.npy", GOOD)
    extra = [] if "n_clusters" in override else ["dataset.n_clusters=2"]
    key = override.split("=")[0].lstrip("+")
    with pytest.raises(DataError, match=f"{key} must be a whole number of at least 1"):
        load(tmp_path / "x.npy", override, *extra)


def test_a_batch_size_below_one_is_an_error():
    from idc.data import Table, TableDataModule

    with pytest.raises(DataError, match="batch_size must be a whole number of at least 1, got 0"):
        TableDataModule(Table(GOOD), 0)


def test_a_write_that_fails_half_way_leaves_the_previous_file(tmp_path):
    from idc.io import replacing

    path = tmp_path / "model.pt"
    path.write_text("the good model")
    with pytest.raises(RuntimeError), replacing(path) as tmp:
        tmp.write_text("half a mod")
        raise RuntimeError("killed while saving")
    assert path.read_text() == "the good model" and list(tmp_path.iterdir()) == [path]
