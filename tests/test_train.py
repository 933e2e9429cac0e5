"""Training in-process: the ablation without gates, stage bookkeeping, and a resumed run matching a straight one."""
import numpy as np
import pytest
import torch

from idc.run_dir import read_predictions
from idc.train import train

from .conftest import acc_of_run


def test_without_gates_all_local_gates_stay_open(cfg_factory, tmp_path):
    metrics = train(cfg_factory("gates=none", "dataset=digits"))
    pred = read_predictions(tmp_path / "predictions.h5")
    assert np.all(pred["local_gates"] == 1.0) and metrics["open_local_gates"] == 64
    # ten classes: random clusters score about 0.13 and one cluster 0.10; eight smoke epochs reach about 0.25
    assert metrics["acc"] == pytest.approx(acc_of_run(tmp_path)) and metrics["acc"] > 0.18
    assert metrics["dataset"] == "digits"


@pytest.mark.parametrize("head", [[], ["head=kmeans"], ["head=dec", "head.target_every=3", "head.freeze_after_selection=false"]], ids=["mcr", "kmeans", "dec"])
def test_a_resumed_run_ends_where_an_uninterrupted_one_does(cfg_factory, tmp_path, head):
    import pytest
    from pytorch_lightning import Callback

    from idc.callbacks import EpochPicks
    from idc.data import load_table
    from idc.fit import fit

    class Crash(Callback):  # dies at the start of epoch 5 (stage 2), after epoch 4's checkpoint
        def on_train_epoch_start(self, trainer, module):
            if trainer.current_epoch == 5:
                raise RuntimeError("simulated crash")

    # smoke: 8 epochs of 5 steps; dec trains on after the crash and refreshes its target every 3 steps, so a
    # resumed run must restore the target of the refresh before the crash
    cfg = cfg_factory("checkpoint_every=1", "schedule.eval_every=1", *head)
    table = load_table(cfg.dataset)
    straight, trainer, _ = fit(cfg, table, tmp_path / "straight")
    straight_picks = EpochPicks.of(trainer)
    assert straight_picks.best_by_silhouette["epoch"] >= 4  # stage 2 was evaluated: there is a pick to carry over
    with pytest.raises(RuntimeError, match="simulated crash"):
        fit(cfg, table, tmp_path / "split", callbacks=[Crash()])
    resumed, trainer, resumed_from = fit(cfg, table, tmp_path / "split")
    assert resumed_from.endswith("last.ckpt")
    for key, value in straight.state_dict().items():
        torch.testing.assert_close(resumed.state_dict()[key], value, rtol=0, atol=0, msg=key)
    # the epochs picked before the crash come back with the checkpoint (epoch 4 is evaluated only before it)
    assert EpochPicks.of(trainer).selections() == straight_picks.selections()


def test_stage_boundaries_and_schedule_validation(cfg_factory):
    import pytest

    from idc.fit import build_module

    from idc.schema import ConfigError

    schedule = build_module(cfg_factory(), 13, 4).schedule  # smoke: T0 = 1, T1 = 3, global gates from 5, 8 epochs
    assert (schedule.ungated_epochs, schedule.stage1_epochs, schedule.head_epochs, schedule.stage2_epochs) == (2, 4, 1, 4)
    flags = [(schedule.in_stage1(e), schedule.gates_on(e), schedule.global_gates_on(e)) for e in range(7)]
    assert flags == [(True, False, False), (True, False, False), (True, True, False), (True, True, False),
                     (False, True, False), (False, True, True), (False, True, True)]
    with pytest.raises(ConfigError, match="stage2_epochs >= 2"):  # refused when composed, before any module
        cfg_factory("schedule.stage2_epochs=1", "schedule.head_epochs=1")
    with pytest.raises(ConfigError, match="ungated_epochs must be >= 0 and < schedule.stage1_epochs"):
        cfg_factory("schedule.ungated_epochs=4")
    with pytest.raises(ConfigError, match="model.tasks\\[0\\]: 'denoise' is not allowed"):
        cfg_factory("model.tasks=[denoise]")
    assert list(cfg_factory("model.tasks=[]").model.tasks) == []  # no reconstruction: the ablation w/o L_recon


def test_epochs_picked_in_stage_2_are_the_evaluations_with_the_highest_silhouette_and_acc(cfg_factory, tmp_path):
    import csv

    cfg = cfg_factory(
        "method=idc_faithful", "dataset=digits", "schedule.stage2_epochs=12", "schedule.eval_every=1"
    )
    metrics = train(cfg)
    rows = [r for r in csv.DictReader(open(tmp_path / "history.csv")) if r.get("val/silhouette")]
    assert len(rows) == 12  # every stage-2 evaluation (epochs 4..15), none from stage 1
    assert len({r["val/silhouette"] for r in rows}) > 1  # the head moves: there is something to choose
    for key, column in (("silhouette_selected_epoch", "val/silhouette"), ("label_selected_best_epoch", "val/acc")):
        best = max(rows, key=lambda r: float(r[column]))  # the first of equal values, as the module keeps it
        picked = metrics[key]
        assert picked["epoch"] == int(float(best["epoch"])), key
        for name in ("silhouette", "acc", "nmi"):
            assert picked[name] == pytest.approx(float(best[f"val/{name}"]), abs=1e-6), (key, name)
    assert metrics["selection"] == "final_epoch"  # the headline stays the final model's




def test_weight_decay_gives_stage_1_a_decoupled_decay_and_none_keeps_adam(cfg_factory):
    from types import SimpleNamespace

    from idc.fit import build_module

    for decay, kind in ((0.5, torch.optim.AdamW), (0.0, torch.optim.Adam)):
        module = build_module(cfg_factory(f"model.weight_decay={decay}", "dataset=digits"), 64, 10)
        module._trainer = SimpleNamespace(estimated_stepping_batches=8, max_epochs=8)
        stage1, head, _ = module.configure_optimizers()[0]
        assert type(stage1) is kind and stage1.param_groups[0]["weight_decay"] == decay
        assert type(head) is torch.optim.Adam  # the head's: no decay
