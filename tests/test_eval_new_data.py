"""`idc-eval RUN_DIR dataset.path=NEW` on a run trained with a label column: a new file without that column is
scored without labels (one INFO line says so), one with it against it; a label column named now stays required."""
import json
import logging
from pathlib import Path

import numpy as np
import pytest

from idc.cli.eval import main as idc_eval
from idc.evaluate import evaluate_run

from .conftest import make_cfg

pytestmark = pytest.mark.slow
NAMES = [f"f{i}" for i in range(8)]


def write_csv(path: Path, X: np.ndarray, labels: np.ndarray | None) -> Path:
    head = (["label"] if labels is not None else []) + NAMES
    rows = [([str(labels[i])] if labels is not None else []) + [f"{v:.5f}" for v in x] for i, x in enumerate(X)]
    path.write_text("\n".join(",".join(r) for r in [head, *rows]) + "\n")
    return path


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> tuple[Path, np.ndarray, np.ndarray]:
    """A smoke run trained on three separated cell types with a text ``label`` column, and its table."""
    from idc.train import train

    rng = np.random.default_rng(0)
    y = np.repeat(np.array(["t", "b", "nk"]), 30)
    X = rng.normal(0, 4, (3, len(NAMES)))[np.repeat([0, 1, 2], 30)] + rng.normal(0, 1, (90, len(NAMES)))
    data = tmp_path_factory.mktemp("data")
    run_dir = tmp_path_factory.mktemp("run")
    train(make_cfg(run_dir, "dataset=table", f"dataset.path={write_csv(data / 'cells.csv', X, y)}",
                   "dataset.label_column=label", "eval.enabled=false"))
    return run_dir, X, y


def test_a_new_file_without_the_label_column_is_scored_without_labels(run, tmp_path, caplog):
    run_dir, X, _ = run
    new = write_csv(tmp_path / "new_nolabel.csv", X[::3], None)
    with caplog.at_level(logging.INFO, logger="idc"):
        metrics = evaluate_run(run_dir, [f"dataset.path={new}"])
    assert metrics["n_samples"] == 30 and "acc" not in metrics and "nmi" not in metrics
    assert (run_dir / "eval_new_nolabel" / "explanations.csv").is_file()
    said = [r.getMessage() for r in caplog.records if "without labels" in r.getMessage()]
    assert len(said) == 1 and "dataset.label_column=<name>" in said[0] and r"'label'" in said[0]


def test_a_label_column_named_now_and_missing_is_an_error(run, tmp_path, capsys):
    run_dir, X, _ = run
    new = write_csv(tmp_path / "new_missing.csv", X[::3], None)
    assert idc_eval([str(run_dir), f"dataset.path={new}", "dataset.label_column=label"]) == 2
    assert "label column 'label' not found" in capsys.readouterr().err
    assert not (run_dir / "eval_new_missing").exists()


def test_a_new_file_with_the_label_column_is_scored_against_it(run, tmp_path, caplog):
    run_dir, X, y = run
    new = write_csv(tmp_path / "new_labelled.csv", X[1::3], y[1::3])
    with caplog.at_level(logging.INFO, logger="idc"):
        metrics = evaluate_run(run_dir, [f"dataset.path={new}"])
    assert metrics["n_samples"] == 30 and {"acc", "nmi", "ari"} <= set(metrics)
    assert not any("without labels" in r.getMessage() for r in caplog.records)
    assert json.loads((run_dir / "eval_new_labelled" / "eval.json").read_text())["acc"] == metrics["acc"]
