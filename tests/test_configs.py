"""Every config group composes and instantiates (Hydra compose API)."""
import hydra
import numpy as np
import pytest
import pytorch_lightning as pl
from omegaconf import OmegaConf

from idc.config import compose_run, config_dir
from idc.data import load_table
from idc.data.registry import dataset_files, dataset_node
from idc.loggers import build_logger
from idc.fit import build_module

from .conftest import needs_files
from .test_paper_datasets import EXPECTED as PAPER_FILES

GROUPS = ["dataset", "gates", "head", "model", "schedule", "method", "trainer", "logger"]


def options(group):
    return sorted(p.stem for p in (config_dir() / group).glob("*.yaml"))


def test_required_options_exist():
    assert {"synthetic", "digits"} <= set(options("dataset"))
    assert {"stg", "none"} <= set(options("gates"))
    assert {"mcr", "official"} <= set(options("head")) and options("model") == ["idc"]  # model: the autoencoder only
    assert {"default", "paper", "short", "quick", "smoke"} <= set(options("schedule"))
    assert {"idc", "idc_faithful", "kmeans", "ae_kmeans"} <= set(options("method"))
    assert {"cpu", "gpu", "ddp"} <= set(options("trainer"))
    assert {"wandb", "csv", "none"} <= set(options("logger"))


def test_default_config(cfg_factory, tmp_path):
    cfg = cfg_factory()
    assert cfg.dataset.name == "synthetic" and cfg.trainer.max_epochs == cfg.schedule.epochs == 8  # smoke: 4 + 4
    assert cfg.trainer.check_val_every_n_epoch == cfg.schedule.eval_every and cfg.method.name == "idc"
    assert cfg.paths.output_dir == str(tmp_path)


def test_trainer_smoke_is_an_alias_of_schedule_smoke(tmp_path):
    from idc.config import compose_run

    old, new = (compose_run([o, "logger=none"], tmp_path) for o in ("trainer=smoke", "schedule=smoke"))
    assert new.schedule.epochs == 8
    assert old.schedule == new.schedule and old.model == new.model and old.trainer == new.trainer


@pytest.mark.parametrize("group,option", [(g, o) for g in GROUPS for o in options(g)])
def test_every_option_composes_and_instantiates(tmp_path, group, option):
    """Each option of GROUPS composed alone (and so validated) and instantiated; tests/test_schema.py composes
    every other YAML file."""
    extra = []
    if group == "dataset" and option == "table":
        np.savetxt(tmp_path / "t.csv", np.random.default_rng(0).random((8, 3)), delimiter=",")
        extra = [f"dataset.path={tmp_path / 't.csv'}", "dataset.n_clusters=2", "dataset.n_samples=8", "dataset.n_features=3"]
    cfg = compose_run([f"{group}={option}", *extra], tmp_path)
    OmegaConf.resolve(cfg)
    if group == "dataset" and option != "table":  # the facts idc-data --list and file checks read uncomposed
        node = dataset_node(option)
        for key in ("name", "n_samples", "n_features", "n_clusters", "scaler", "batch_size"):
            assert node.get(key) == cfg.dataset.get(key), key
        assert dataset_files(node) == dataset_files(cfg.dataset)
        needs_files(option)
    if group == "dataset" and option in PAPER_FILES:
        return  # loaded, and its facts compared with its config, by test_paper_datasets.py::test_shapes...
    if group == "dataset":
        table = load_table(cfg.dataset)
        assert table.n_features == cfg.dataset.n_features and table.n_clusters == cfg.dataset.n_clusters
        assert table.n_samples == cfg.dataset.n_samples
    elif group == "method" and cfg.method.get("baseline"):
        from idc.clusterers import make_clusterer

        assert hasattr(make_clusterer(cfg.method.baseline, 4, 0), "fit_predict")
    elif group in ("gates", "head", "model", "schedule", "method"):
        module = build_module(cfg, n_features=13, n_clusters=4)
        assert (module.gating is None) == (not cfg.gates.enabled)
    elif group == "trainer":
        if option in ("gpu", "ddp"):
            cfg.trainer.accelerator = "cpu"  # CI has no GPU; the config must still build a Trainer
            cfg.trainer.devices = 1
        trainer = hydra.utils.instantiate(cfg.trainer, logger=False, enable_progress_bar=False)
        assert isinstance(trainer, pl.Trainer) and trainer.max_epochs == cfg.schedule.epochs
    elif group == "logger":
        logger = build_logger(cfg.logger, tmp_path)
        assert (logger is False) == (option == "none")


def test_experiment_group_is_optional(cfg_factory):
    assert cfg_factory().get("experiment") is None


PAPER_DATASETS = sorted(p.stem for p in (config_dir() / "dataset").glob("*.yaml") if "table7:" in p.read_text())


@pytest.mark.parametrize("schedule", ["paper", "short", "quick"])
@pytest.mark.parametrize("dataset", PAPER_DATASETS)
def test_every_paper_dataset_builds_a_module_under_every_schedule(cfg_factory, dataset, schedule):
    """The composed schedule (checked by idc.schema when composed) is one the module accepts."""
    cfg = cfg_factory(f"dataset={dataset}", f"schedule={schedule}", "model.hidden=[8,8,16]", "gates.hidden_dim=8")
    s = cfg.schedule
    assert cfg.dataset.name == dataset and cfg.trainer.max_epochs == s.epochs == s.stage1_epochs + s.stage2_epochs
    build_module(cfg, n_features=13, n_clusters=4)  # the module refuses a schedule it cannot run


def test_paper_schedule_needs_a_dataset_with_table7(cfg_factory):
    from idc.schema import ConfigError

    assert len(PAPER_DATASETS) == 12
    with pytest.raises(ConfigError, match="schedule=paper reads dataset.table7, which dataset 'digits' does not have"):
        cfg_factory("dataset=digits", "schedule=paper")


def test_short_schedule_keeps_the_paper_settings_but_a_quarter_of_the_epochs(cfg_factory):
    for name in ("allaml", "prostate", "tox171"):
        paper, short = cfg_factory(f"dataset={name}", "schedule=paper"), cfg_factory(f"dataset={name}", "schedule=short")
        assert short.schedule.epochs == 3000 and short.schedule.epochs * 3 < paper.schedule.epochs
        assert short.gates.reg_lambda == 0.1 and paper.gates.reg_lambda == 1.0
        assert (short.model.bottleneck, short.gates.hidden_dim) == (paper.model.bottleneck, paper.gates.hidden_dim) == (128, 1024)
    paper, short = cfg_factory("dataset=srbct", "schedule=paper"), cfg_factory("dataset=srbct", "schedule=short")
    assert (short.model, short.gates, short.schedule) == (paper.model, paper.gates, paper.schedule)


def test_high_dimensional_settings_apply_only_to_their_schedule(cfg_factory):
    from idc.config import compose

    plain, quick = compose(["dataset=allaml"]), compose(["dataset=allaml", "schedule=quick"])
    assert (plain.model.bottleneck, plain.gates.hidden_dim) == (None, None)  # the model defaults
    assert (quick.model.bottleneck, quick.gates.hidden_dim) == (32, 256)
    assert cfg_factory("dataset=allaml", "schedule=paper", "model.bottleneck=64").model.bottleneck == 64  # overrides win


def test_a_composed_config_is_remembered_but_each_caller_gets_its_own_copy(monkeypatch):
    from idc import config

    first = config.compose(["dataset=synthetic", "seed=11"])
    first.model.bottleneck = 999  # a caller changes its config...
    again = config.compose(["dataset=synthetic", "seed=11"])
    assert again.model.bottleneck != 999 and again.seed == 11  # ...and the next one does not see it
    key = config._compose_key(["dataset=synthetic", "seed=11"], "train")
    assert key in config._COMPOSED
    monkeypatch.setenv("IDC_DATA_DIR", "/elsewhere")  # what interpolations resolve against is part of the key
    assert config._compose_key(["dataset=synthetic", "seed=11"], "train") != key
