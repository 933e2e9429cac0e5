"""Explanations that say when they mean nothing (unseparated gates, empty clusters) and keep the class names."""
from __future__ import annotations

import csv
import json
import logging

import numpy as np
import pytest

from idc import plots
from idc import run_dir as rd
from idc.data import Table
from idc.explain import explanation_warnings, majority_classes, write_explanations
from idc.metrics import gates_separated, separated_shares

NAMES = [f"g{i}" for i in range(10)]
CLASSES = ["naïve T", "B cell", "NK"]  # a non-ASCII name: UTF-8 through every file


def separated_gates(rows: int, open_at: list[int]) -> np.ndarray:
    """Gates that chose: the features ``open_at`` at 0.9-1.0, every other one closed (0)."""
    g = np.zeros((rows, len(NAMES)), dtype=np.float32)
    g[:, open_at] = np.linspace(1.0, 0.9, len(open_at))
    return g


def predictions(local: np.ndarray, global_: np.ndarray, clusters: list[int]) -> dict[str, np.ndarray]:
    n = len(clusters)
    return {"clusters": np.asarray(clusters, dtype=np.int64), "local_gates": local[:n], "global_gates": global_,
            "embeddings": np.random.default_rng(0).normal(size=(n, 2)).astype(np.float32)}


def table(n: int, labels: list[int] | None = None) -> Table:
    X = np.random.default_rng(0).normal(size=(n, len(NAMES)))
    return Table(X, None if labels is None else np.asarray(labels), NAMES,
                 class_names=None if labels is None else CLASSES)


def read_rows(path) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def test_the_separation_rule_on_its_cases():
    start = np.full((1, 10), 0.6)  # every gate near its start (0.5), none closed: a short schedule
    chosen = separated_gates(1, [0, 1, 2])
    trailing = np.array([[0, 0, 0.1, 0.2, 0.2, 0.3, 0.3, 0.4, 0.6, 0.9]])  # closed ones, but the rest trails off
    few_closed = np.array([[0, 0.6, 0.6, 0.6, 0.6, 0.6, 0.6, 0.6, 0.6, 0.6, 0.6, 0.6]])  # 1 of 12 < 10 %
    shut = np.zeros((1, 10))
    got = gates_separated(np.vstack([start, chosen, trailing, shut]))
    assert got.tolist() == [False, True, False, False]
    assert gates_separated(few_closed).tolist() == [False]
    assert gates_separated(np.array([[0.0, 0.5, 0.2, 1.0]])).tolist() == [True]  # 2 of 3 open gates >= 0.5


def test_unseparated_gates_are_flagged_in_the_csv_and_the_log(tmp_path, caplog):
    local, global_ = np.full((6, 10), 0.6, np.float32), np.full((2, 10), 0.6, np.float32)
    local[:, 3] = 0.72  # the spread of a short schedule: the ranking still names features
    pred = predictions(local, global_, [0, 0, 0, 1, 1, 1])
    with caplog.at_level(logging.WARNING, logger="idc.explain"):
        notes = write_explanations(tmp_path / "explanations.csv", table(6), pred, top_k=3)
    rows = read_rows(tmp_path / "explanations.csv")
    assert {r["gates_separated"] for r in rows} == {"false"}
    assert rows[3]["feature_1"] == "g3"  # the features are still named, with the flag beside them
    assert any("global gates of 2 of 2 non-empty clusters and the local gates of 6 of 6 samples have not "
               "separated" in n for n in notes)
    assert any("have not separated" in r.getMessage() for r in caplog.records if r.levelno == logging.WARNING)
    assert separated_shares(local, global_, pred["clusters"]) == {"gates_separated_local": 0.0,
                                                                  "gates_separated_global": 0.0}


def test_separated_gates_are_marked_true_and_not_warned_about(tmp_path, caplog):
    pred = predictions(separated_gates(4, [0, 1, 5]), np.vstack([separated_gates(1, [0, 1]),
                                                                 separated_gates(1, [7, 8])]), [0, 0, 1, 1])
    with caplog.at_level(logging.WARNING, logger="idc.explain"):
        notes = write_explanations(tmp_path / "explanations.csv", table(4), pred, top_k=3)
    assert notes == [] and not caplog.records
    rows = read_rows(tmp_path / "explanations.csv")
    assert {r["gates_separated"] for r in rows} == {"true"}
    assert [r["empty"] for r in rows] == ["false", "false", "", "", "", ""]
    assert "majority_class" not in rows[0]  # no labels: no class columns


def test_identical_explanations_of_every_cluster_are_warned_about():
    same = np.vstack([separated_gates(1, [0, 1])] * 3)
    pred = predictions(separated_gates(3, [0, 1]), same, [0, 1, 2])
    assert any("same top 3 features" in n for n in explanation_warnings(pred, NAMES, 3))
    pred["global_gates"] = np.vstack([separated_gates(1, [0, 1]), separated_gates(1, [2]), separated_gates(1, [4])])
    assert not any("same top" in n for n in explanation_warnings(pred, NAMES, 3))


def test_an_empty_cluster_is_marked_empty_in_the_csv_and_the_plots(tmp_path, monkeypatch):
    global_ = np.vstack([separated_gates(1, [0]), separated_gates(1, [4]), separated_gates(1, [9])])  # 2: no samples
    pred = predictions(separated_gates(4, [0, 4]), global_, [0, 0, 1, 1])
    notes = write_explanations(tmp_path / "explanations.csv", table(4, [0, 0, 1, 1]), pred, top_k=3)
    row = read_rows(tmp_path / "explanations.csv")[2]
    assert (row["kind"], row["size"], row["empty"], row["gates_separated"]) == ("cluster", "0", "true", "")
    assert row["feature_1"] == "" and row["majority_class"] == ""  # no "top features" for a cluster of nothing
    assert any("have no samples ([2])" in n for n in notes)

    figures = {}
    monkeypatch.setattr(plots, "_save", lambda fig, path: figures.setdefault(path.name, fig) and path)
    plots.save_run_plots({**pred, "feature_names": np.array(NAMES)}, tmp_path / "plots", image_shape=(2, 5))
    heat = figures["global_gates_heatmap.png"].axes[0]
    assert [t.get_text() for t in heat.get_yticklabels()][2] == "cluster 2: empty"
    assert "empty" in [t.get_text() for t in heat.texts]
    assert "g9" not in [t.get_text() for t in heat.get_xticklabels()]  # the empty cluster's open gates add no column
    bars = figures["cluster_top_features.png"].axes[2]
    assert bars.get_title() == "cluster 2: empty" and not bars.patches
    images = figures["gate_images.png"].axes
    assert images[2].get_title() == "cluster 2: empty" and not images[2].images and not images[5].images


def test_class_names_round_trip_and_name_the_csv_and_the_confusion_axes(tmp_path, monkeypatch):
    labels = [0, 0, 0, 1, 1, 2, 2, 2]
    clusters = [1, 1, 0, 0, 0, 2, 2, 2]  # cluster 0: one naïve T, two B cells; cluster 1: naïve T only
    gates = separated_gates(8, [0, 1])
    pred = predictions(gates, separated_gates(3, [0, 2]), clusters)
    path = tmp_path / rd.PREDICTIONS
    rd.write_predictions(path, {**pred, "labels": np.asarray(labels)}, NAMES, CLASSES)
    back = rd.read_predictions(path)
    assert back["class_names"].tolist() == CLASSES and back["feature_names"].tolist() == NAMES
    assert back["class_names"].dtype.kind == "U"  # str, not bytes or objects

    write_explanations(tmp_path / "explanations.csv", table(8, labels), pred, top_k=2)
    rows = read_rows(tmp_path / "explanations.csv")
    assert [(r["majority_class"], r["majority_share"]) for r in rows[:3]] == [
        ("B cell", "0.6667"), ("naïve T", "1.0"), ("NK", "1.0")]
    assert [r["label"] for r in rows[3:]] == [CLASSES[y] for y in labels]

    figures = {}
    monkeypatch.setattr(plots, "_save", lambda fig, path: figures.setdefault(path.name, fig) and path)
    plots.save_run_plots(back, tmp_path / "plots")
    axes = figures["confusion_matrix.png"].axes[0]
    assert [t.get_text() for t in axes.get_yticklabels()] == CLASSES
    legend = figures["embedding_map.png"].axes[1].get_legend()
    assert sorted(t.get_text() for t in legend.get_texts()) == sorted(CLASSES)


def test_majority_classes_of_clusters_with_ties_and_no_samples():
    top, share = majority_classes(np.array([2, 1, 1, 2]), np.array([0, 0, 2, 2]), 3)
    assert top.tolist() == [1, -1, 1] and share[0] == pytest.approx(0.5) and np.isnan(share[1])


def test_a_training_run_keeps_the_class_names(cfg_factory, tmp_path):
    from idc.train import train

    rng = np.random.default_rng(0)
    y = np.repeat(["T cell", "B cell", "NK"], 20)
    X = np.eye(3)[np.repeat([0, 1, 2], 20)] * 5 + rng.normal(0, 1, (60, 3))
    (tmp_path / "data").mkdir()
    path = tmp_path / "data" / "cells.csv"
    path.write_text("label,CD3E,MS4A1,NKG7\n" + "".join(f"{y[i]}," + ",".join(f"{v:.5f}" for v in X[i]) + "\n"
                                                       for i in range(60)))
    train(cfg_factory("dataset=table", f"dataset.path={path}", "dataset.label_column=label"))
    saved = rd.read_predictions(tmp_path / rd.PREDICTIONS)
    assert saved["class_names"].tolist() == ["B cell", "NK", "T cell"]  # sorted, as the codes 0..2
    assert [saved["class_names"][c] for c in saved["labels"]] == y.tolist()
    rows = read_rows(tmp_path / "explanations.csv")
    assert {r["label"] for r in rows if r["kind"] == "sample"} == set(y)
    assert {r["majority_class"] for r in rows if r["kind"] == "cluster" and r["empty"] == "false"} <= set(y)
    assert {r["gates_separated"] for r in rows if r["kind"] == "sample"} <= {"true", "false"}
    ev = json.loads((tmp_path / "eval.json").read_text())
    assert 0 <= ev["gates_separated_local"] <= 1


def test_a_few_unseparated_samples_are_no_warning_a_tenth_is():
    local = separated_gates(20, [0, 1])
    local[0] = 0.6  # 1 of 20 samples: below the 10 % that warns
    pred = predictions(local, np.vstack([separated_gates(1, [0]), separated_gates(1, [1])]), [0, 1] * 10)
    assert not any("samples have not separated" in n for n in explanation_warnings(pred, NAMES, 3))
    local[1] = 0.6  # 2 of 20
    assert any("the local gates of 2 of 20 samples have not separated" in n
               for n in explanation_warnings(pred, NAMES, 3))
    # a cluster whose global gates closed every feature: the advice is to lower their weight, not to raise it
    shut = predictions(separated_gates(20, [0, 1]), np.vstack([separated_gates(1, [0]), np.zeros((1, len(NAMES)))]),
                       [0, 1] * 10)
    said = explanation_warnings(shut, NAMES, 3)
    assert any("the global gates of 1 of 2 non-empty clusters closed every feature" in n and "lower" in n for n in said)
    assert not any("global gates of" in n and "have not separated" in n for n in said)
    # a model without local gates (gates=none): nothing to separate, no advice to raise their sparsity
    assert not any("samples have not separated" in n for n in explanation_warnings(pred, NAMES, 3, local_gates=False))
