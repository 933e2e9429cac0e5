"""idc-eval RUN head.global_gates.KEY=VALUE: the global gates alone refitted under other settings, clusters kept."""
import json

import pytest

from idc.data import DataError
from idc.evaluate import evaluate_run
from idc.refit_global_gates import parse_overrides
from idc.train import train

from .conftest import make_cfg


@pytest.fixture(scope="module")
def smoke_run(tmp_path_factory):
    run = tmp_path_factory.mktemp("refit") / "run"
    train(make_cfg(run, "dataset=synthetic", "dataset.n_samples=300", "seed=2", "eval.enabled=true"))
    return run


def test_a_stronger_weight_closes_global_gates_and_keeps_the_clusters_and_the_runs_files(smoke_run):
    own = (smoke_run / "eval.json").read_text()
    metrics = evaluate_run(smoke_run, ["head.global_gates.reg_lambda=300", "head.global_gates.lr=0.5"])
    out = smoke_run / "eval_global_gates_reg_lambda300_lr0.5"
    written = json.loads((out / "eval.json").read_text())
    assert (out / "explanations.csv").is_file()
    assert written["refitted_global_gates"]["overrides"] == {"reg_lambda": 300, "lr": 0.5}
    assert written["refitted_global_gates"]["steps"] > 0
    before = json.loads(own)
    assert metrics["acc"] == before["acc"] and metrics["open_local_gates"] == before["open_local_gates"]
    assert metrics["open_global_gates"] < before["open_global_gates"]
    assert (smoke_run / "eval.json").read_text() == own  # the run's own evaluation is left as it was


@pytest.mark.parametrize("overrides, says", [
    (["head.global_gates.reg_lambda=30", "dataset.path=x.csv"], "alone"),
    (["head.global_gates.bogus=1"], "KEY one of"),
    (["head.global_gates.reg_lambda=-1"], "a number >= 0"),
    (["head.global_gates.lr=fast"], "a number > 0"),
    (["head.global_gates.optimizer=lbfgs"], "must be one of"),
])
def test_a_bad_refit_override_is_refused_with_what_to_give(smoke_run, overrides, says):
    with pytest.raises(DataError, match=says):
        evaluate_run(smoke_run, overrides)


def test_overrides_are_read_as_yaml_values_of_known_keys():
    current = {"enabled": True, "reg_lambda": 10.0, "lr": 0.01, "baseline": "permute"}
    assert parse_overrides(["head.global_gates.reg_lambda=30", "head.global_gates.baseline=zero"], current) == {
        "reg_lambda": 30, "baseline": "zero"}
    with pytest.raises(ValueError, match="KEY one of reg_lambda, lr, baseline"):
        parse_overrides(["head.global_gates.enabled=false"], current)  # refitting is not switching them off
    with pytest.raises(ValueError, match="> 0"):
        parse_overrides(["head.global_gates.lr=0"], current)
    with pytest.raises(ValueError, match=">= 0"):
        parse_overrides(["head.global_gates.reg_lambda=.nan"], current)
