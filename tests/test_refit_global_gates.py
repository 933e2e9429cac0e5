"""idc-eval RUN head.global_gates.KEY=VALUE: the global gates alone refitted under other settings, clusters kept."""
import copy
import json
import shutil

import numpy as np
import torch
import pytest
import pytorch_lightning as pl

from idc import stage2
from idc.data import DataError
from idc.evaluate import evaluate_run, load_module
from idc.inference import predict
from idc import refit_global_gates as rgg
from idc.refit_global_gates import guard_overlap, parse_overrides, refit
from idc.schedule import Schedule
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
    out = smoke_run / "eval_global_gates_lr0.5_reg_lambda300"  # keys sorted, numbers in short form
    written = json.loads((out / "eval.json").read_text())
    assert (out / "explanations.csv").is_file()
    assert written["refitted_global_gates"]["overrides"] == {"reg_lambda": 300.0, "lr": 0.5}
    assert written["refitted_global_gates"]["steps"] > 0
    before = json.loads(own)
    assert metrics["acc"] == before["acc"] and metrics["open_local_gates"] == before["open_local_gates"]
    assert metrics["open_global_gates"] < before["open_global_gates"]
    assert (smoke_run / "eval.json").read_text() == own  # the run's own evaluation is left as it was


def test_a_ddp_runs_refit_takes_its_batch_in_every_process_and_their_steps(smoke_run, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(smoke_run, run)
    info = json.loads((run / "run_info.json").read_text())
    assert info["world_size"] == 1

    def refitted(weight):
        evaluate_run(run, [f"head.global_gates.reg_lambda={weight}"])
        return json.loads((run / f"eval_global_gates_reg_lambda{weight}" / "eval.json").read_text())[
            "refitted_global_gates"]

    one = refitted(20)
    (run / "run_info.json").write_text(json.dumps({**info, "world_size": 2}))  # as two DDP processes wrote it
    two = refitted(21)
    assert two["batch"] == 2 * one["batch"]  # one batch in each process: two in each step
    assert abs(2 * two["steps"] - one["steps"]) <= one["steps"] // 10  # each process's steps, not the table's
    (run / "run_info.json").write_text("{")
    with pytest.raises(DataError, match="run_info.json: unreadable"):
        refitted(22)


@pytest.mark.parametrize("overrides, says", [
    (["head.global_gates.reg_lambda=30", "dataset.path=x.csv"], "alone"),
    (["head.global_gates.bogus=1"], "KEY one of"),
    (["head.global_gates.reg_lambda=-1"], "a finite number >= 0"),
    (["head.global_gates.lr=fast"], "a finite number > 0"),
    (["head.global_gates.optimizer=lbfgs"], "must be one of"),
    (["head.global_gates.reg_reduction=median"], "must be one of"),
])
def test_a_bad_refit_override_is_refused_with_what_to_give(smoke_run, overrides, says):
    with pytest.raises(DataError, match=says):
        evaluate_run(smoke_run, overrides)


def test_overrides_are_checked_numbers_and_choices_of_known_keys():
    current = {"enabled": True, "aux_hidden_dim": 8, "reg_lambda": 10.0, "lr": 0.01, "baseline": "permute",
               "reg_schedule": "constant"}
    assert parse_overrides(["head.global_gates.reg_lambda=1e-4", "head.global_gates.baseline=zero",
                            "head.global_gates.reg_schedule=cosine"], current) == {
        "reg_lambda": 1e-4, "baseline": "zero", "reg_schedule": "cosine"}  # 1e-4: a number (YAML says a string)
    for fixed in ("enabled=false", "aux_hidden_dim=16"):  # not switching them off; the saved model's shape
        with pytest.raises(ValueError, match="KEY one of reg_lambda, lr, baseline, reg_schedule"):
            parse_overrides([f"head.global_gates.{fixed}"], current)
    for bad, says in (("lr=0", "> 0"), ("reg_lambda=.nan", ">= 0"), ("reg_lambda=inf", "finite"),
                      ("reg_schedule=linear", "must be one of")):
        with pytest.raises(ValueError, match=says):
            parse_overrides([f"head.global_gates.{bad}"], current)


def test_a_failed_refit_leaves_the_model_as_it_was_and_the_weight_follows_its_schedule(smoke_run, monkeypatch):
    module, _ = load_module(smoke_run)
    X = np.random.default_rng(0).normal(size=(40, 13)).astype(np.float32)
    pred = predict(module, X)
    gates, settings, head = module.global_gates, dict(module.head_cfg["global_gates"]), dict(module.hparams["head"])

    def broken(*args, **kwargs):
        raise RuntimeError("out of memory")

    monkeypatch.setattr(stage2, "global_gate_losses", broken)
    with pytest.raises(RuntimeError):
        refit(module, X, pred["local_gates"], pred["clusters"], 8, 0,
              ["head.global_gates.reg_lambda=30"])
    assert module.global_gates is gates and module.head_cfg["global_gates"] == settings
    assert dict(module.hparams["head"]) == head
    monkeypatch.undo()
    losses = stage2.global_gate_losses

    def nan(*args, **kwargs):  # a refit that goes NaN: a clear error (idc-eval: exit 2), nothing replaced
        ce, reg = losses(*args, **kwargs)
        return ce * float("nan"), reg

    monkeypatch.setattr(stage2, "global_gate_losses", nan)
    with pytest.raises(ValueError, match="went NaN or infinite"):
        refit(module, X, pred["local_gates"], pred["clusters"], 8, 0, ["head.global_gates.reg_lambda=30"])
    assert module.global_gates is gates and module.head_cfg["global_gates"] == settings
    monkeypatch.undo()
    weights = []
    original = Schedule.global_reg_weight
    monkeypatch.setattr(Schedule, "global_reg_weight", lambda self, epoch, value, shape="constant": weights.append(
        (epoch, shape)) or original(self, epoch, value, shape))
    refit(module, X, pred["local_gates"], pred["clusters"], 8, 0,
          ["head.global_gates.reg_schedule=cosine", "head.global_gates.min_cluster_fidelity=0"], steps_factor=2.0)
    epochs = [e for e, _ in weights]
    assert {shape for _, shape in weights} == {"cosine"}
    start, end = module.schedule.global_gates_start, module.schedule.epochs
    assert epochs == sorted(epochs) and sorted(set(epochs)) == list(range(start, end))  # the phase's epochs in turn
    assert module.hparams["head"]["global_gates"]["reg_schedule"] == "cosine"  # saved with the model
    phase = len(weights) // 6  # steps_factor 2 times the run's train_factor 3
    del module.head_cfg["global_gates"]["train_factor"]  # a run from before the option: trained ×1, can be told ×2
    assert refit(module, X, pred["local_gates"], pred["clusters"], 8, 0, ["head.global_gates.train_factor=2"])[
        "steps"] == 2 * phase
    del module.head_cfg["global_gates"]["overlap_weight"]  # nor the overlap term: refitted without it unless told
    refit(module, X, pred["local_gates"], pred["clusters"], 8, 0, [])
    assert module.head_cfg["global_gates"]["overlap_weight"] == 0.0
    del module.head_cfg["global_gates"]["overlap_weight"]
    out = refit(module, X, pred["local_gates"], pred["clusters"], 8, 0, ["head.global_gates.overlap_weight=1"])
    assert out["overrides"] == {"overlap_weight": 1.0} and module.head_cfg["global_gates"]["overlap_weight"] == 1.0


def test_the_global_gates_train_on_after_the_last_epoch_and_no_cluster_changes(tmp_path):
    from idc.run_dir import read_predictions

    pred = {}
    for factor in (1, 4):
        run = tmp_path / f"x{factor}"
        train(make_cfg(run, "dataset=synthetic", "dataset.n_samples=300", "seed=2", "head.global_gates.lr=0.1",
                       f"head.global_gates.train_factor={factor}",
                       "head.global_gates.overlap_weight=0"))  # with it this smoke run's gates all close at both
        pred[factor] = read_predictions(run / "predictions.h5")
        module, _ = load_module(run)  # the checkpoint holds the gates trained on
        np.testing.assert_array_equal(module.global_gates.matrix().numpy(), pred[factor]["global_gates"])
    np.testing.assert_array_equal(pred[1]["clusters"], pred[4]["clusters"])
    np.testing.assert_array_equal(pred[1]["local_gates"], pred[4]["local_gates"])
    assert not np.array_equal(pred[4]["global_gates"], pred[1]["global_gates"])  # they trained on


def test_a_nan_in_the_steps_after_the_last_epoch_stops_the_run_before_its_checkpoint(tmp_path, monkeypatch):
    from idc.module import NonFiniteLossError

    losses, extend, after = stage2.global_gate_losses, stage2.extend_global_gates, []

    def extend_marked(module):
        after.append(True)
        return extend(module)

    def nan_after_the_last_epoch(module, gated, pseudo):
        ce, reg = losses(module, gated, pseudo)
        return (ce * float("nan") if after else ce), reg

    monkeypatch.setattr(stage2, "extend_global_gates", extend_marked)
    monkeypatch.setattr(stage2, "global_gate_losses", nan_after_the_last_epoch)
    with pytest.raises(NonFiniteLossError, match=r"global gates after the last epoch, epoch \d+: .*\['aux_ce'"):
        train(make_cfg(tmp_path / "run", "dataset=synthetic", "dataset.n_samples=300", "seed=2"))
    assert after and not (tmp_path / "run" / "DONE").exists()


@pytest.mark.parametrize("floor, overlap, measured, refitted_at, kept", [
    (0.9, 1.0, [0.6, 0.95], [0.5], 1),              # the first halving holds
    (0.9, 1.0, [0.6, 0.7, 0.8, 0.85], [0.5, 0.25, 0.0], 3),  # never holds: twice halved, then without the term
    (0.9, 2.0, [0.63, 0.61, 0.93], [1.0, 0.5], 2),  # a halving that does not help does not end the search
    (0.9, 1.0, [0.6, 0.7, 0.65, 0.5], [0.5, 0.25, 0.0], 1),  # none holds: the best is kept
    (0.9, 1.0, [0.95], [], 0),                      # holds at once: nothing refitted
    (0.0, 1.0, [], [], None),                       # the guard off
    (0.9, 0.0, [], [], None),                       # no overlap term: nothing to guard
])
def test_the_overlap_guard_halves_the_weight_while_it_helps_the_weakest_cluster(
        smoke_run, monkeypatch, floor, overlap, measured, refitted_at, kept):
    module, _ = load_module(smoke_run)
    gg = module.head_cfg["global_gates"]
    gg.update(min_cluster_fidelity=floor, overlap_weight=overlap)
    scores, weights, fitted = iter(measured), [], [module.global_gates]

    def fake_refit(module, *args, **kwargs):
        weights.append(gg["overlap_weight"])
        module.global_gates = torch.nn.Linear(1, 1)  # a new fit, told apart by identity
        fitted.append(module.global_gates)

    monkeypatch.setattr(stage2, "global_gate_fidelity", lambda *a, **k: {"global_gate_fidelity_min": next(scores)})
    monkeypatch.setattr(rgg, "refit_global_gates", fake_refit)
    fits = guard_overlap(module, torch.rand(40, 13), torch.arange(40) % 4, 8, 5, 0)
    assert weights == refitted_at
    assert fits == [{"overlap_weight": w, "fidelity_min": f, "kept": i == kept}
                    for i, (w, f) in enumerate(zip([overlap, *refitted_at], measured))]
    assert module.global_gates is fitted[kept or 0]  # the kept fit's gates are the model's
    assert gg["overlap_weight"] == overlap  # the configured weight stays in the settings


def test_a_refit_of_the_guard_that_goes_nan_is_left_out_and_the_search_goes_on(smoke_run, monkeypatch):
    """A NaN in one of the guard's refits does not stop a run that trained to its end: that fit is listed as
    non-finite, never kept, and the next halving is tried; the run's watch still sees every step (SIGTERM)."""
    module, _ = load_module(smoke_run)
    gg = module.head_cfg["global_gates"]
    gg.update(min_cluster_fidelity=0.9, overlap_weight=2.0)
    scores, seen, fitted = iter([0.6, 0.95]), [], [module.global_gates]

    def fake_refit(module, gated, clusters, batch, steps, seed, watch):
        module.global_gates = torch.nn.Linear(1, 1)
        fitted.append(module.global_gates)
        value = torch.tensor(float("nan") if len(fitted) == 2 else 1.0)
        watch({"aux_ce": value, "global_gate_reg": torch.tensor(0.5)})

    monkeypatch.setattr(stage2, "global_gate_fidelity", lambda *a, **k: {"global_gate_fidelity_min": next(scores)})
    monkeypatch.setattr(rgg, "refit_global_gates", fake_refit)
    fits = guard_overlap(module, torch.rand(40, 13), torch.arange(40) % 4, 8, 5, 0, watch=seen.append)
    assert fits == [{"overlap_weight": 2.0, "fidelity_min": 0.6, "kept": False},
                    {"overlap_weight": 1.0, "fidelity_min": None, "kept": False, "nonfinite": True},
                    {"overlap_weight": 0.5, "fidelity_min": 0.95, "kept": True}]
    assert module.global_gates is fitted[2] and len(seen) == 2


def test_a_run_records_what_its_overlap_guard_measured(smoke_run):
    fits = json.loads((smoke_run / "metrics.json").read_text())["head_selection"]["overlap_guard"]
    assert fits[0]["overlap_weight"] == 2.0 and all(0.0 <= f["fidelity_min"] <= 1.0 for f in fits)
    assert sum(f["kept"] for f in fits) == 1
    assert [f["overlap_weight"] for f in fits] == [2.0, 1.0, 0.5, 0.0][: len(fits)]


def test_a_kept_refit_goes_into_the_runs_own_modules_and_checkpoint(tmp_path, monkeypatch):
    """The guard's kept fit replaces the weights of the modules that the run's optimizer holds (not the modules),
    whose optimizer state is cleared, and the last checkpoint saves it."""
    from idc import run_dir as rd

    held = {}

    def fake_guard(module, gated, clusters, *args, **kwargs):
        held["gates"], held["aux"] = module.global_gates, module.aux_classifier
        fitted = copy.deepcopy(module.global_gates)
        with torch.no_grad():
            fitted.weight.fill_(0.123)
        module.global_gates = fitted
        return [{"overlap_weight": 1.0, "fidelity_min": 0.1, "kept": False},
                {"overlap_weight": 0.5, "fidelity_min": 0.95, "kept": True}]

    class Ending(pl.Callback):
        def on_fit_end(self, trainer, module):
            held["end"] = module.global_gates, module.aux_classifier, module.optimizers()[-1].optimizer

    monkeypatch.setattr(rgg, "guard_overlap", fake_guard)
    run = tmp_path / "run"
    train(make_cfg(run, "dataset=synthetic", "dataset.n_samples=300", "seed=2"), callbacks=[Ending()])
    gates, aux, optimizer = held["end"]
    assert gates is held["gates"] and aux is held["aux"] and torch.all(gates.weight == 0.123)
    assert any(p is gates.weight for group in optimizer.param_groups for p in group["params"])
    ckpt = torch.load(run / rd.CHECKPOINT, map_location="cpu", weights_only=True)
    assert torch.all(ckpt["state_dict"]["global_gates.weight"] == 0.123)
    assert ckpt["optimizer_states"][-1]["state"] == {}  # the aux optimizer's moments were the replaced fit's
    assert json.loads((run / "metrics.json").read_text())["head_selection"]["overlap_guard"][1]["kept"]
