"""The results store (idc/results.py) and the report built from it (idc/report.py, `make report`)."""
import json
from pathlib import Path

import numpy as np
import pytest

from idc import report, results
from idc.train import train

ROOT = Path(__file__).resolve().parents[1]


def test_committed_page_matches_the_committed_records(tmp_path):
    written = report.build(ROOT / "results", tmp_path)
    for kind, path in written.items():
        committed = ROOT / "docs" / path.name
        assert committed.read_text() == path.read_text(), f"docs/{path.name} is stale: run `make report` and commit it"


def test_a_finished_run_becomes_a_small_record(cfg_factory, tmp_path):
    train(cfg_factory("method=kmeans"))
    store = tmp_path / "store"
    dest = results.add(tmp_path, store)
    assert dest == store / "default" / "kmeans" / "synthetic" / "seed0"
    assert sorted(p.name for p in dest.iterdir()) == ["clusters.txt", "config.yaml", "metrics.json", "run_info.json"]
    clusters, labels = results.read_clusters(dest / "clusters.txt")
    metrics = json.loads((dest / "metrics.json").read_text())
    assert len(clusters) == metrics["n_samples"] == 3256 and labels is not None
    (record,) = results.load_records(store)
    assert (record.schedule, record.method, record.dataset, record.seed) == ("default", "kmeans", "synthetic", 0)
    assert results.add(tmp_path, store, schedule="paper").parts[-4] == "paper"  # a given name wins


def test_an_unfinished_run_is_refused(tmp_path):
    (tmp_path / "config.yaml").write_text("dataset: {name: synthetic}\n")
    with pytest.raises(results.RecordError, match="not a finished run"):
        results.add(tmp_path, tmp_path / "store")


@pytest.mark.parametrize("choices, method", [
    ({"model": "idc"}, "idc"), ({"model": "idc_faithful"}, "idc_faithful"),
    ({"method": "idc", "head": "official"}, "idc_faithful"), ({"model": "idc", "gates": "none"}, "idc_no_gates"),
    ({"method": "kmeans", "model": "idc"}, "kmeans"), ({"model": "ae_kmeans", "gates": "stg"}, "idc_features_kmeans"),
])
def test_runs_are_named_by_their_choices(choices, method):
    assert results.method_of(choices) == method


def test_schedules_are_named_by_their_choices():
    assert results.schedule_of({"experiment": "paper/tox171"}) == "paper"
    assert results.schedule_of({"schedule": "short", "experiment": "digits"}) == "short"
    assert results.schedule_of({}) == results.DEFAULT_SCHEDULE


def fake_record(store: Path, method: str, seed: int, clusters: np.ndarray, labels: np.ndarray, acc: float) -> None:
    d = results.record_dir(store, "paper", method, "synthetic", seed)
    d.mkdir(parents=True)
    (d / "metrics.json").write_text(json.dumps({"acc": acc, "n_clusters": 2}))
    results.write_clusters(d / "clusters.txt", clusters, labels)


def test_page_rows_consensus_bold_and_not_run(tmp_path):
    labels = np.repeat([0, 1], 10)
    fake_record(tmp_path, "kmeans", 0, labels, labels, 0.9)  # consensus: both runs agree on the true split
    fake_record(tmp_path, "kmeans", 1, 1 - labels, labels, 0.7)
    page = report.build(tmp_path, tmp_path / "docs")["md"].read_text()
    row = next(line for line in page.splitlines() if "| synthetic | kmeans | final epoch | paper | 2 |" in line)
    assert "80.0 ± 14.1" in row and "25.7 (+54.3)" in row  # mean ± sample std; published K-means+SHAP beside it
    consensus = next(line for line in page.splitlines() if "| synthetic | kmeans | consensus |" in line)
    assert "**100.0**" in consensus and "ensemble of 2 runs" in consensus  # the best label-free value is bold
    assert "| synthetic | idc | not run | paper |" in page and "idc-paper --schedule paper --datasets synthetic" in page
    assert "## GPU" in page and "Not measured" in page


def test_the_store_copies_eval_json_under_the_name_evaluate_writes():
    from idc.evaluate import EVAL

    assert EVAL in results.COPIED
