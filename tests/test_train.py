"""Training in-process: the ablation without gates, stage bookkeeping, and resuming from last.ckpt."""
import json

import numpy as np
import torch
from omegaconf import open_dict

from idc.run_dir import read_predictions
from idc.train import train


def test_without_gates_all_local_gates_stay_open(cfg_factory, tmp_path):
    metrics = train(cfg_factory("gates=none", "dataset=digits"))
    pred = read_predictions(tmp_path / "predictions.h5")
    assert np.all(pred["local_gates"] == 1.0) and metrics["open_local_gates"] == 64
    assert 0.0 <= metrics["acc"] <= 1.0 and metrics["dataset"] == "digits"


def test_resume_continues_from_the_last_checkpoint(cfg_factory, tmp_path):
    cfg = cfg_factory()
    with open_dict(cfg):
        cfg.model.schedule.epochs = 5
        cfg.trainer.max_epochs = 5
    train(cfg)
    ckpt = tmp_path / "checkpoints" / "last.ckpt"
    first = torch.load(ckpt, weights_only=True)
    assert first["epoch"] == 5
    # mark the checkpoint: the gating network is frozen after stage 1 (epoch 3), so a resumed run keeps the mark
    key = "gating.net.0.weight"
    first["state_dict"][key] += 1.0
    torch.save(first, ckpt)
    with open_dict(cfg):
        cfg.model.schedule.epochs = 8
        cfg.trainer.max_epochs = 8
    metrics = train(cfg)
    info = json.loads((tmp_path / "run_info.json").read_text())
    assert info["resumed_from"].endswith("last.ckpt") and metrics["epochs"] == 8
    second = torch.load(ckpt, weights_only=True)
    assert second["global_step"] > first["global_step"]
    assert torch.equal(first["state_dict"][key], second["state_dict"][key])  # restored, not re-initialised
