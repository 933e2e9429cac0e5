"""Every config group composes and instantiates (Hydra compose API)."""
from pathlib import Path

import hydra
import numpy as np
import pytest
import pytorch_lightning as pl
from omegaconf import OmegaConf

from idc.config import config_dir
from idc.data import load_table
from idc.loggers import build_logger
from idc.train import build_module

from .conftest import needs_files

GROUPS = ["dataset", "gates", "head", "model", "trainer", "logger"]


def options(group):
    return sorted(p.stem for p in (config_dir() / group).glob("*.yaml"))


def test_required_options_exist():
    assert {"synthetic", "digits"} <= set(options("dataset"))
    assert {"stg", "none"} <= set(options("gates"))
    assert "mcr" in options("head") and "idc" in options("model")
    assert {"cpu", "gpu", "ddp", "smoke"} <= set(options("trainer"))
    assert {"wandb", "csv", "none"} <= set(options("logger"))


def test_default_config(cfg_factory):
    cfg = cfg_factory()
    assert cfg.dataset.name == "synthetic" and cfg.trainer.max_epochs == cfg.model.schedule.epochs
    assert Path(cfg.paths.output_dir).exists()


@pytest.mark.parametrize("group,option", [(g, o) for g in GROUPS for o in options(g)])
def test_every_option_composes_and_instantiates(cfg_factory, tmp_path, group, option):
    extra = []
    if group == "dataset" and option == "table":
        np.savetxt(tmp_path / "t.csv", np.random.default_rng(0).random((8, 3)), delimiter=",")
        extra = [f"dataset.path={tmp_path / 't.csv'}", "dataset.n_clusters=2", "dataset.n_samples=8", "dataset.n_features=3"]
    elif group == "dataset":
        needs_files(option)
    cfg = cfg_factory(f"{group}={option}", *extra)
    OmegaConf.resolve(cfg)
    if group == "dataset":
        table = load_table(cfg.dataset)
        assert table.n_features == cfg.dataset.n_features and table.n_clusters == cfg.dataset.n_clusters
        assert table.n_samples == cfg.dataset.n_samples
    elif group in ("gates", "head", "model"):
        module = build_module(cfg, n_features=13, n_clusters=4)
        assert (module.gating is None) == (not cfg.gates.enabled)
    elif group == "trainer":
        if option in ("gpu", "ddp"):
            cfg.trainer.accelerator = "cpu"  # CI has no GPU; the config must still build a Trainer
            cfg.trainer.devices = 1
        trainer = hydra.utils.instantiate(cfg.trainer, logger=False, enable_progress_bar=False)
        assert isinstance(trainer, pl.Trainer) and trainer.max_epochs == cfg.model.schedule.epochs
    elif group == "logger":
        logger = build_logger(cfg.logger, tmp_path)
        assert (logger is False) == (option == "none")


def test_experiment_group_is_optional(cfg_factory):
    assert cfg_factory().get("experiment") is None


EXPERIMENTS = [f"{s}/{p.stem}" for s in ("paper", "short", "quick")
               for p in sorted((config_dir() / "experiment" / s).glob("*.yaml"))]


@pytest.mark.parametrize("experiment", EXPERIMENTS)
def test_every_experiment_composes_with_an_ordered_schedule(cfg_factory, experiment):
    cfg = cfg_factory(f"experiment={experiment}")
    s = cfg.model.schedule
    assert cfg.dataset.name == experiment.split("/")[1]
    assert 0 <= s.non_gated_epochs < s.pretrain_epochs <= s.global_gates_start <= s.epochs
    assert cfg.trainer.max_epochs == s.epochs


def test_short_schedule_keeps_the_paper_settings_but_a_quarter_of_the_epochs(cfg_factory):
    assert {e.split("/")[1] for e in EXPERIMENTS if e.startswith("short/")} == {"allaml", "prostate", "srbct", "tox171"}
    for name in ("allaml", "prostate", "tox171"):
        paper, short = cfg_factory(f"experiment=paper/{name}"), cfg_factory(f"experiment=short/{name}")
        assert short.model.schedule.epochs == 3000 and short.model.schedule.epochs * 3 < paper.model.schedule.epochs
        assert short.gates.reg_lambda == 0.1 and paper.gates.reg_lambda == 1.0
        assert (short.model.bottleneck, short.gates.hidden_dim) == (paper.model.bottleneck, paper.gates.hidden_dim)
    assert cfg_factory("experiment=short/srbct").model == cfg_factory("experiment=paper/srbct").model
