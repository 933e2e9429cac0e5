"""Every bad input gets a clear error that names the file (or table) and what to do."""
import logging
import time

import h5py
import numpy as np
import pytest
import scipy.io

from idc.config import compose
from idc.data import DataError, load_table
from tests.test_readers import write_anndata

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
    with pytest.raises(DataError, match="file not found") as err:  # one's own file: no download advice
        load(tmp_path / "nope.csv", "dataset.n_clusters=2")
    assert "download" not in str(err.value) and "Check dataset.path" in str(err.value)
    with pytest.raises(DataError, match="scripts/download_data.py allaml"):  # a paper dataset's file, by path
        load(tmp_path / "ALLAML.mat", "dataset.n_clusters=2")
    with pytest.raises(DataError, match="it is not downloadable: PBMC-2 expression matrix") as err:  # a manual one
        load_table(compose(["dataset=pbmc"]).dataset)
    assert "download_data.py" not in str(err.value)


def test_no_path_or_a_folder_as_the_path(tmp_path, capsys):
    from idc.cli.data import main

    with pytest.raises(DataError, match="dataset=table needs dataset.path=FILE"):
        load_table(compose(["dataset=table"]).dataset)
    assert main(["dataset=table"]) == 2 and "needs dataset.path=FILE" in capsys.readouterr().err
    np.save(tmp_path / "x.npy", GOOD)
    with pytest.raises(DataError, match=r"is a folder, not a file; give the path of one file in it \(it holds \['x.npy'\]\)"):
        load(tmp_path, "dataset.n_clusters=2")


def test_unreadable_or_unsupported_files(tmp_path):
    (tmp_path / "bad.npz").write_bytes(b"not a zip at all")
    with pytest.raises(DataError, match=r"bad.npz: not an .npz archive"):  # not "pickled data"
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
    for name, match in [("cut.npz", "not an .npz archive .* cut short"), ("empty.npy", "empty or truncated"),
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
    import pandas as pd

    batch = pd.array(y, dtype="Int64")  # anndata writes nullable integers as values + mask
    write_anndata(tmp_path / "n.h5ad", GOOD, {"batch": batch})
    assert load(tmp_path / "n.h5ad", "dataset.label_column=batch").y.tolist() == y.tolist()
    batch[3] = pd.NA
    kind = pd.Categorical(["a", None] + ["b"] * 8)  # a categorical's missing value: code -1
    write_anndata(tmp_path / "n.h5ad", GOOD, {"batch": batch, "kind": kind})
    with pytest.raises(DataError, match=r"1 of 10 rows have no label \(first: row 3\)"):
        load(tmp_path / "n.h5ad", "dataset.label_column=batch")
    with pytest.raises(DataError, match=r"1 of 10 rows have no label \(first: row 1\)"):
        load(tmp_path / "n.h5ad", "dataset.label_column=kind")
    np.savetxt(tmp_path / "spaced.txt", GOOD)  # numpy's default: values separated by spaces
    t = load(tmp_path / "spaced.txt", "dataset.n_clusters=2", "dataset.scaler=none")
    assert t.X.shape == (10, 3)
    np.testing.assert_allclose(t.X, GOOD, rtol=1e-6)


def test_pickled_object_arrays_are_refused(tmp_path):
    np.save(tmp_path / "obj.npy", np.array([{"a": 1}, None], dtype=object), allow_pickle=True)
    with pytest.raises(DataError, match="object arrays are refused"):
        load(tmp_path / "obj.npy", "dataset.n_clusters=2")
    np.savez(tmp_path / "obj.npz", X=np.array([{"a": 1}, None], dtype=object))
    with pytest.raises(DataError, match="obj.npz: unreadable .npz .*object arrays are refused"):
        load(tmp_path / "obj.npz", "dataset.n_clusters=2")


def test_mat_without_the_expected_keys_lists_what_it_holds(tmp_path):
    scipy.io.savemat(tmp_path / "d.mat", {"data": GOOD, "label": np.arange(10)})
    with pytest.raises(DataError, match=r"no variable 'X'.*\['data', 'label'\]"):
        load(tmp_path / "d.mat", "dataset.n_clusters=2")


def test_nan_and_inf_are_counted_and_located_or_imputed(tmp_path):
    bad = GOOD.copy()
    bad[3, 1], bad[7, 2] = np.nan, np.inf
    np.save(tmp_path / "nan.npy", bad)
    with pytest.raises(DataError, match=r"^nan\.npy: 2 NaN or infinite value\(s\), the first in row 3, column 'f1'.*"
                                        "impute"):  # the file named as the user wrote it
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


def test_idc_data_describes_a_table_without_labels_and_says_what_training_needs(tmp_path, capsys):
    import json

    from idc.cli.data import main

    np.save(tmp_path / "x.npy", GOOD)
    assert main(["dataset=table", f"dataset.path={tmp_path / 'x.npy'}"]) == 0
    facts = json.loads(capsys.readouterr().out)
    assert facts["n_samples"] == 10 and facts["n_clusters"] is None and "dataset.n_clusters=K" in facts["note"]


def test_all_constant_table(tmp_path):
    np.save(tmp_path / "c.npy", np.ones((10, 4)))
    with pytest.raises(DataError, match="every column is constant"):
        load(tmp_path / "c.npy", "dataset.n_clusters=2", "dataset.drop_constant=false")
    with pytest.raises(DataError, match="every column is constant"):
        load(tmp_path / "c.npy", "dataset.n_clusters=2")


def test_dropped_constant_columns_are_named_in_the_log(tmp_path, caplog):
    x = np.column_stack([GOOD, np.full(len(GOOD), 7.0)])
    np.save(tmp_path / "x.npy", x)
    with caplog.at_level(logging.INFO, logger="idc"):
        t = load(tmp_path / "x.npy", "dataset.n_clusters=2")
    assert t.n_features == x.shape[1] - 1
    assert "dropped 1 constant column(s) ['f3'] (dataset.drop_constant=false keeps them)" in caplog.text


def test_unknown_label_column_lists_the_columns(tmp_path):
    p = tmp_path / "t.csv"
    p.write_text("a,b\n" + "".join(f"{r[0]},{r[1]}\n" for r in GOOD))
    with pytest.raises(DataError, match=r"label column 'kind' not found; columns are \['a', 'b'\]"):
        load(p, "dataset.label_column=kind")


def test_incomplete_npz_and_h5ad_files_say_what_they_hold(tmp_path):
    np.savez(tmp_path / "d.npz", X=GOOD)
    with pytest.raises(DataError, match=r"^\S+d.npz: no array 'genes' for feature names; the file holds \['X'\]$"):
        load(tmp_path / "d.npz", "dataset.n_clusters=2", "dataset.names_key=genes")
    write_anndata(tmp_path / "cells.h5ad", GOOD)
    with pytest.raises(DataError, match=r"obs has no column 'cell_type'; it has \[\]"):
        load(tmp_path / "cells.h5ad", "dataset.label_column=cell_type")
    write_anndata(tmp_path / "no_x.h5ad", GOOD)
    with h5py.File(tmp_path / "no_x.h5ad", "a") as f:  # AnnData(X=None) saved: no X in the file
        del f["X"]
    with pytest.raises(DataError, match="no X in this .h5ad"):
        load(tmp_path / "no_x.h5ad", "dataset.n_clusters=2")


def test_an_unexpected_failure_inside_a_reader_names_the_file_and_what_to_do(tmp_path):
    with h5py.File(tmp_path / "odd.h5ad", "w") as f:  # X readable, var a group anndata cannot read
        f["X"] = GOOD
        f.create_group("var").attrs["encoding-type"] = "no-such-encoding"
    with pytest.raises(DataError) as err:
        load(tmp_path / "odd.h5ad", "dataset.n_clusters=2")
    msg = str(err.value)
    assert msg.startswith(f"{tmp_path / 'odd.h5ad'}: cannot read this .h5ad file (") and "\n" not in msg
    assert "save it again as .csv, .npz or .h5ad" in msg


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
    with pytest.raises(DataError, match=r"1 of the 2 features the model was trained on are missing \(first: \['f1'\]\)"):
        unnamed.apply(Table(np.ones((2, 1))))  # fewer columns: the missing ones named


@pytest.mark.parametrize(("override", "value"), [("dataset.n_clusters=2.7", 2.7), ("dataset.top_k_variance=-1", -1),
                                               ("+dataset.rows=-3", -3), ("dataset.n_clusters=true", True)])
def test_counting_options_must_be_whole_numbers(tmp_path, override, value):
    from omegaconf import open_dict

    from idc.schema import ConfigError

    np.save(tmp_path / "x.npy", GOOD)
    extra = [] if "n_clusters" in override else ["dataset.n_clusters=2"]
    key = override.split("=")[0].lstrip("+")
    with pytest.raises(ConfigError, match=rf"^{key}: {value!r} is not allowed; a whole number >= 1 \(a count\)$"):
        load(tmp_path / "x.npy", override, *extra)  # refused at composition (idc.schema)
    dataset = compose(["dataset=table", f"dataset.path={tmp_path / 'x.npy'}", "dataset.n_clusters=2"]).dataset
    with open_dict(dataset):  # a config that skipped the schema: the reader refuses it too
        dataset[key.split(".", 1)[1]] = value
    with pytest.raises(DataError, match=rf"{key} must be a whole number of at least 1 \(or null\), got {value!r}"):
        load_table(dataset)


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


ROWS = "".join(",".join(f"{v:.4f}" for v in row) + "\n" for row in GOOD)


def test_duplicate_column_names_are_named_not_renamed(tmp_path):
    p = tmp_path / "dup.csv"
    p.write_text("a,b,a\n" + ROWS)
    with pytest.raises(DataError, match=r"dup.csv: duplicate column names in the header: \['a'\]; give every column"):
        load(p, "dataset.n_clusters=2")
    np.savez(tmp_path / "d.npz", X=GOOD, names=np.array(["g", "h", "g"]))
    with pytest.raises(DataError, match=r"duplicate feature names \(names\): \['g'\]"):
        load(tmp_path / "d.npz", "dataset.n_clusters=2", "dataset.names_key=names")


def test_the_separator_is_sniffed(tmp_path):
    p = tmp_path / "semi.csv"
    p.write_text("a;b;c\n" + ROWS.replace(",", ";"))
    t = load(p, "dataset.n_clusters=2", "dataset.scaler=none")
    assert t.feature_names == ["a", "b", "c"]
    np.testing.assert_allclose(t.X, GOOD, atol=1e-4)
    p.write_text("".join(f"{r[0]:.4f}|{r[1]:.4f}|{r[2]:.4f}|{'xy'[i % 2]}\n" for i, r in enumerate(GOOD)))
    assert load(p, "dataset.label_column=3").n_features == 3  # no header, a text label column, pipes
    p.write_text("a,b,c,kind\n" + "".join(f"{r.rstrip()},\"T; CD{i % 2}\"\n" for i, r in enumerate(ROWS.splitlines())))
    assert load(p, "dataset.label_column=kind").class_names == ["T; CD0", "T; CD1"]  # one `;` a line, in quotes
    q = tmp_path / "decimal_comma.csv"  # `;` between cells, `,` inside numbers: `;` wins (csv.Sniffer picks `,`)
    q.write_text("1,5;2,5;3,5\n4,5;5,5;6,5\n7,5;8,5;9,5\n")  # split at `,`, every line has 4 cells too
    with pytest.raises(DataError, match=r"the first '1,5' in row 0 \(line 1 of the file\), column 'f0'; numbers need "
                                        "a decimal point"):
        load(q, "dataset.n_clusters=1", "dataset.header=false")


def test_a_comma_inside_a_number_names_the_row_and_the_column(tmp_path):
    p = tmp_path / "t.csv"
    p.write_text("a,b,c\n1,2,3\n4,5,6\n7,\"1,5\",9\n" + ROWS)
    with pytest.raises(DataError, match=r"non-numeric values in column\(s\) \['b'\], the first '1,5' in row 2 \(line 4 "
                                        r"of the file\), column 'b'; numbers need a decimal point"):
        load(p, "dataset.n_clusters=2")


def test_the_encoding_option_and_its_error(tmp_path):
    p = tmp_path / "latin.csv"
    p.write_bytes(("café,b,c\n" + ROWS).encode("latin-1"))
    with pytest.raises(DataError, match=r"latin.csv: not utf-8 text \(line 1: byte 0xe9\); set dataset.encoding"):
        load(p, "dataset.n_clusters=2")
    assert load(p, "dataset.n_clusters=2", "dataset.encoding=latin-1").feature_names == ["café", "b", "c"]
    late = tmp_path / "late.csv"  # the bad byte past the lines read ahead: pandas finds it, the line is named
    late.write_bytes(("a,b,c\n" + ROWS * 3 + "9,9,9\n" + "1,2,3 \xe9\n").encode("latin-1"))
    with pytest.raises(DataError, match=r"late.csv: not utf-8 text \(line 33: byte 0xe9\)"):
        load(late, "dataset.n_clusters=2")
    with pytest.raises(DataError, match="unknown encoding 'klingon'"):
        load(p, "dataset.n_clusters=2", "dataset.encoding=klingon")


def test_a_ragged_line_is_named(tmp_path):
    p = tmp_path / "ragged.csv"
    lines = ROWS.splitlines()
    lines[3] += ",9"
    p.write_text("a,b,c\n" + "\n".join(lines) + "\n")
    with pytest.raises(DataError, match=r"ragged.csv: line 5 has 4 cells where the lines before it have 3 "
                                        r"\(separator ','\); fix line 5"):
        load(p, "dataset.n_clusters=2")


def test_one_row_and_header_only_files(tmp_path):
    p = tmp_path / "one.csv"
    p.write_text("a,b,c\n1,2,3\n")
    with pytest.raises(DataError, match="the table has one row"):
        load(p, "dataset.n_clusters=1")
    p.write_text("1,2,3\n")
    with pytest.raises(DataError, match=r"one.csv: the file holds one row \(one sample\) of 3 values"):
        load(p, "dataset.n_clusters=1")
    np.save(tmp_path / "one.npy", GOOD[:1])
    with pytest.raises(DataError, match="the table has one row"):
        load(tmp_path / "one.npy", "dataset.n_clusters=1")
    wide = tmp_path / "wide.csv"
    wide.write_text(",".join(f"gene{i}" for i in range(200_000)) + "\n")
    started = time.perf_counter()
    with pytest.raises(DataError, match="a header of 200000 column names and no data rows"):
        load(wide, "dataset.n_clusters=2")
    assert time.perf_counter() - started < 20  # was 53 s: told before any parsing (a loose bound: CI is loaded)
    (tmp_path / "empty.csv").write_text("\n")
    with pytest.raises(DataError, match="the file is empty"):
        load(tmp_path / "empty.csv", "dataset.n_clusters=2")


def test_more_clusters_than_classes_trains_with_a_note(tmp_path, caplog):
    p = tmp_path / "t.csv"
    p.write_text("a,b,c,label\n" + "".join(f"{r.rstrip()},{'xy'[i % 2]}\n" for i, r in enumerate(ROWS.splitlines())))
    with caplog.at_level("WARNING", logger="idc.data.preprocess"):
        t = load(p, "dataset.label_column=label", "dataset.n_clusters=3")
    assert t.n_clusters == 3 and t.class_names == ["x", "y"]
    assert "n_clusters=3 is more than the 2 classes in the labels" in caplog.text
    caplog.clear()
    load(p, "dataset.label_column=label")
    assert "more than" not in caplog.text


def test_estimator_input_checks():
    from idc.estimator import IDC

    with pytest.raises(ValueError, match=r"IDC\(n_clusters=None\): n_clusters must be a whole number of at least 1"):
        IDC(n_clusters=None).fit(GOOD)
    bad = GOOD.copy()
    bad[2, 1] = np.nan
    with pytest.raises(DataError, match=r"1 NaN or infinite value\(s\), the first in row 2.*SimpleImputer") as err:
        IDC(n_clusters=2).fit(bad)
    assert "impute=" not in str(err.value)  # IDC has no such option


def test_idc_eval_prints_strict_json(monkeypatch, capsys):
    import json

    import idc.evaluate
    from idc.cli.eval import main

    monkeypatch.setattr(idc.evaluate, "evaluate_run", lambda run_dir, overrides: {"acc": float("nan"), "nmi": 0.5,
                                                                                  "k": 3, "name": "x"})
    assert main(["some/run"]) == 0
    printed = capsys.readouterr().out
    assert json.loads(printed, parse_constant=lambda c: pytest.fail(f"{c} in {printed}")) == {"acc": None, "k": 3,
                                                                                              "nmi": 0.5}


def test_a_feature_named_as_the_label_column_is_refused(tmp_path):
    p = tmp_path / "t.csv"
    y = np.repeat([0.0, 1.0], 5)  # integer-valued floats and text are labels
    p.write_text("gene0,gene1,gene2,k,kind\n" + "".join(f"{r[0] - 7},{r[1]},{r[2]},{c},t{c:g}\n"
                                                        for r, c in zip(GOOD, y)))
    assert load(p, "dataset.label_column=k", "dataset.drop_columns=[kind]").class_names == ["0.0", "1.0"]
    assert load(p, "dataset.label_column=kind").class_names == ["t0", "t1"]
    for extra in ([], ["dataset.n_clusters=3"]):
        with pytest.raises(DataError, match=r"label column 'gene0' holds 10 distinct non-integer values \(e\.g\. "
                                            r"-6\.\d+\), so it looks like a feature, not labels; set "
                                            r"dataset\.label_column"):
            load(p, "dataset.label_column=gene0", "dataset.drop_columns=[kind]", *extra)


def test_unknown_label_column_names_the_closest_columns_first(tmp_path):
    p = tmp_path / "t.csv"
    names = [f"gene{i}" for i in range(30)] + ["cell_type"]
    p.write_text(",".join(names) + "\n" + "".join(",".join(["1.5"] * 30) + ",a\n" for _ in range(4)))
    with pytest.raises(DataError, match=r"label column 'celltype' not found \(did you mean 'cell_type'\?\); "
                                        r"columns are \['gene0', .*'gene19'\] \.\.\. \(31 in all\)$"):
        load(p, "dataset.label_column=celltype")
    write_anndata(tmp_path / "cells.h5ad", GOOD, obs_columns={"cell_type": list("ab") * 5})
    with pytest.raises(DataError, match=r"obs has no column 'celltype' \(did you mean 'cell_type'\?\)"):
        load(tmp_path / "cells.h5ad", "dataset.label_column=celltype")
