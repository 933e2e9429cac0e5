"""scripts/global_gate_study.py: the global gates alone retrained on a finished run, one record per variant."""
import json
import sys

from idc.train import train

from .conftest import load_script, make_cfg


def test_a_stronger_weight_keeps_fewer_global_gates_and_a_recorded_run_is_skipped(tmp_path, monkeypatch):
    run = tmp_path / "run"
    train(make_cfg(run, "dataset=synthetic", "dataset.n_samples=300", "seed=1", "eval.enabled=true"))
    script, root = load_script("global_gate_study"), tmp_path / "results"
    argv = ["global_gate_study.py", "--study", "w", "--root", str(root), "--variant", "weak", "reg_lambda=0.1",
            "lr=0.5", "--variant", "strong", "reg_lambda=300", "lr=0.5", "--variant", "long", "steps=3", "--", str(run)]
    monkeypatch.setattr(sys, "argv", argv)
    script.main()
    out = root / "global_gates" / "w.jsonl"
    weak, strong, long = map(json.loads, out.read_text().splitlines())
    assert (weak["dataset"], weak["schedule"], weak["seed"], weak["n_features"]) == ("synthetic", "default", 1, 13)
    assert strong["overrides"] == {"reg_lambda": 300.0, "lr": 0.5} and strong["steps"] == weak["steps"] > 0
    assert strong["open_global_gates"] < weak["open_global_gates"]  # the weight alone differs
    assert 0.0 <= strong["global_gate_fidelity"] <= 1.0
    assert long["overrides"] == {"steps": 3.0} and long["steps"] == 3 * weak["steps"]
    assert strong["settings"] == {"reg_lambda": 300.0, "train_factor": 3.0, "overlap_weight": 2.0,
                                 "min_cluster_fidelity": 0.9}  # as refitted
    assert long["settings"]["reg_lambda"] == 10.0  # the run's own, each variant from it
    assert set(long["code"]) <= {"idc", "commit"} and "idc" in long["code"]  # which code refitted
    script.main()  # every variant recorded: nothing refitted
    assert len(out.read_text().splitlines()) == 3
