"""scripts/gpu_check.py's logic, run as its --dry-run does (CPU, smoke schedule, tiny shapes)."""
import json

from .conftest import load_script


def gpu_check():
    return load_script("gpu_check")


def test_dry_run_writes_every_record(tmp_path, monkeypatch):
    check = gpu_check()
    monkeypatch.setattr(check, "VARIANTS", {"fp32": []})  # one variant keeps the test short; each runs alike
    assert check.main(["--out", str(tmp_path), "--dry-run", "dataset=synthetic"]) == 0
    mnist = json.loads((tmp_path / "mnist10k_official.json").read_text())
    assert mnist["dry_run"] and mnist["complete"] and mnist["epochs"] == 8  # trainer=smoke: 8 epochs
    assert "dataset=synthetic" in mnist["overrides"] and "dataset=mnist10k" not in mnist["overrides"]
    assert 0.0 <= mnist["acc"] <= 1.0 and mnist["stage1_s_per_epoch"] > 0 and mnist["stage2_s_per_epoch"] > 0
    size_rule = json.loads((tmp_path / "mnist10k_size_rule.json").read_text())
    assert size_rule["complete"] and size_rule["case"].startswith("dry run") and "acc" in size_rule
    bench = json.loads((tmp_path / "bench_pbmc2.json").read_text())
    assert bench["dry_run"] and bench["variants"]["fp32"]["stage1_s_per_epoch"] > 0


def test_stages_split_at_the_last_stage1_epoch():
    assert gpu_check().per_stage({0: 1.0, 1: 3.0, 2: 10.0}, t1=1) == {"stage1_s_per_epoch": 2.0,
                                                                      "stage2_s_per_epoch": 10.0}
