"""Configs are checked when composed (idc.schema): every choice with a bad value, misspelt keys, counts below 1
and impossible schedules fail at once, naming the key, the value and what is allowed; every YAML file under
configs/ composes and validates."""
from __future__ import annotations

import subprocess
import sys
from dataclasses import fields, is_dataclass
from pathlib import Path
from typing import get_type_hints

import pytest

from idc import schema
from idc.config import compose, config_dir
from idc.schema import Choice, ConfigError, choices

from .test_configs import GROUPS, options


def choice_options() -> list[tuple[str, type[Choice]]]:
    """Every choice-valued option of every group schema (a list of choices: its first item), walked from the
    schemas themselves, so that a new choice is tested without editing this file."""
    out = []

    def walk(prefix: str, kind: type) -> None:
        for f in fields(kind):
            inner = schema._type_at(kind, [f.name])
            key = f"{prefix}.{f.name}"
            if isinstance(inner, type) and issubclass(inner, Choice):
                is_list = "List" in str(get_type_hints(kind)[f.name])
                out.append((f"{key}[0]" if is_list else key, inner))
            elif is_dataclass(inner):
                walk(key, inner)

    for group, kind in schema.GROUPS.items():
        walk(group, kind)
    return out + [("data_loading", schema.DataLoading)]


CHOICES = choice_options()


def test_the_walk_finds_the_choices_the_module_branches_on():
    keys = {k for k, _ in CHOICES}
    assert {"head.restart_criterion", "head.init", "head.lr_until", "head.global_gates.optimizer",
            "head.global_gates.baseline", "head.global_gates.reg_schedule", "head.global_gates.reg_reduction",
            "gates.reg_reduction", "model.bn_stats", "model.recon_loss", "model.tasks[0]", "dataset.scaler",
            "dataset.impute", "hparams_search.objective", "data_loading"} <= keys


@pytest.mark.parametrize("override", ["trainer.max_epochs=5", "+trainer.max_steps=10", "+trainer.min_epochs=3",
                                      "trainer.max_epochs=400", "trainer.max_epochs=${schedule.stage1_epochs}",
                                      "+trainer.max_time=00:00:01:00"])
def test_the_trainer_cannot_cut_the_schedule_short(override):
    with pytest.raises(ConfigError, match=r"trainer\.\w+=\S+: the schedule sets how long each stage trains .* "
                                          "schedule=quick"):
        compose([override])
    assert compose(["+trainer.max_steps=-1"]).trainer.max_epochs == compose([]).schedule.epochs  # Lightning's unset


@pytest.mark.parametrize("key,kind", CHOICES, ids=[k for k, _ in CHOICES])
def test_every_choice_refuses_a_value_outside_it_at_once(key, kind):
    search = ["hparams_search=idc_silhouette"] if key.startswith("hparams_search") else []
    override = (f"++{key.removesuffix('[0]')}=[not_a_choice]" if key.endswith("[0]")
                else f"++{key}=not_a_choice")
    with pytest.raises(ConfigError) as err:  # at once: composing refuses it, before anything runs
        compose([*search, override])
    assert str(err.value) == f"{key}: 'not_a_choice' is not allowed; allowed: {', '.join(choices(kind))}"


@pytest.mark.parametrize("override,message", [
    ("+gates.reg_lamda=1", "gates.reg_lamda: unknown key (did you mean 'reg_lambda'?); gates has: enabled,"),
    ("+head.global_gates.reg_shedule=cosine", "head.global_gates.reg_shedule: unknown key (did you mean 'reg_schedule'?)"),
    ("+schedule.stage1_epoch=3", "schedule.stage1_epoch: unknown key (did you mean 'stage1_epochs'?)"),
    ("+sed=3", "sed: unknown key (did you mean 'seed'?); the root config has: task_name, seed,"),
    ("head.restarts=0", "head.restarts: 0 is not allowed; a whole number >= 1 (a count)"),
    ("model.hidden=[32,0]", "model.hidden: [32, 0] is not allowed; a whole number >= 1 (a count)"),
    ("seed=abc", "seed: 'abc' is not allowed; a whole number >= 0"),
    ("gates.reg_lambda=-1", "gates.reg_lambda: -1 is not allowed; a finite number >= 0 (a weight or a scale)"),
    ("head.global_gates.overlap_weight=-0.5", "head.global_gates.overlap_weight: -0.5 is not allowed; a finite number >= 0"),
    ("head.balance_weight=nan", "head.balance_weight: nan is not allowed; a finite number >= 0"),
    ("dataset.batch_size=0", "dataset.batch_size: 0 is not allowed; a whole number >= 1"),
    ("schedule.eval_every=0", "schedule.eval_every: 0 is not allowed; a whole number >= 1"),
    ("checkpoint_every=0", "checkpoint_every: 0 is not allowed; a whole number >= 1"),
    ("model.lr.pretrain=fast", "model.lr.pretrain: Value 'fast' of type 'str' could not be converted to Float"),
])
def test_misspelt_keys_counts_and_types_are_refused(override, message):
    with pytest.raises(ConfigError) as err:
        compose([override])
    assert str(err.value).startswith(message)


@pytest.mark.parametrize("overrides,message", [
    (["schedule.ungated_epochs=101"], "schedule.ungated_epochs must be >= 0 and < schedule.stage1_epochs"),
    (["schedule.ungated_epochs=-1"], "schedule.ungated_epochs must be >= 0"),
    (["schedule.head_epochs=0"], "schedule needs stage2_epochs >= 2 and 1 <= head_epochs <= stage2_epochs"),
    (["schedule.head_epochs=300"], "schedule needs stage2_epochs >= 2 and 1 <= head_epochs <= stage2_epochs"),
    (["schedule.stage2_epochs=1", "schedule.head_epochs=1"], "schedule needs stage2_epochs >= 2"),
    (["schedule.epochs=400"], None),  # the default's total: allowed
    (["schedule.epochs=500"], "schedule.epochs must be stage1_epochs + stage2_epochs = 400, got 500"),
    (["schedule=paper", "dataset=digits"], "schedule.ungated_epochs: cannot be resolved"),
])
def test_impossible_schedules_are_refused(overrides, message):
    if message is None:
        assert compose(overrides).schedule.epochs == 400
        return
    with pytest.raises(ConfigError, match=message.replace("[", r"\[").replace("+", r"\+")):
        compose(overrides)


def test_faithfulness_over_every_open_feature_is_allowed():
    """docs/outputs.md: ``eval.faithfulness_max_features=null`` removes every open feature (Table 1's protocol)."""
    assert compose(["eval.faithfulness_max_features=null"]).eval.faithfulness_max_features is None
    assert compose(["eval.faithfulness_max_features=0"]).eval.faithfulness_max_features == 0  # skips the metric


def test_the_head_count_equal_to_stage_2_means_no_global_gate_epochs():
    assert compose(["schedule.head_epochs=299"]).schedule.head_epochs == 299
    assert compose(["method=ae_kmeans"]).schedule.stage2_epochs == 0  # stage 1 only: no head, no stage 2


def yaml_choices() -> list[list[str]]:
    """Overrides that load each YAML file under configs/ that tests/test_configs.py does not compose (its
    GROUPS: each option composed, validated and instantiated there): tuning files through a dataset and
    schedule that include them, experiments, searches, Hydra's and the paths' settings, the root config."""
    root, out = config_dir(), []
    datasets = {p.stem: p.read_text() for p in (root / "dataset").glob("*.yaml")}
    for path in sorted(root.rglob("*.yaml")):
        group, name = path.parent.relative_to(root).as_posix(), path.stem
        if group in GROUPS:
            continue
        if group == ".":
            out.append([])
        elif group == "tuning" and not (root / "schedule" / f"{name.rpartition('_')[2]}.yaml").is_file():
            # not <kind>_<schedule>: settings the size rule reads (size_rule.high_dim_settings), for a wide table
            out.append(["dataset=table", "dataset.path=t.csv", f"size_rule.high_dim_settings={name}"])
        elif group == "tuning":
            first, _, sched = name.rpartition("_")
            dataset = first if first in datasets else next(d for d, text in sorted(datasets.items())
                                                           if f"{first}_${{schedule}}" in text)
            out.append([f"dataset={dataset}", f"schedule={sched}"])
        elif group == "hydra":
            out.append([f"hydra={name}"])
        else:
            out.append([f"{group}={name}", *(["dataset.path=t.csv"] if (group, name) == ("dataset", "table") else [])])
    return out


@pytest.mark.parametrize("overrides", yaml_choices(), ids=lambda o: " ".join(o) or "train")
def test_every_yaml_file_composes_and_validates(overrides):
    cfg = compose(overrides)  # compose validates
    if any(o.startswith("size_rule.high_dim_settings=") for o in overrides):
        from idc.size_rule import apply_size_rule

        assert apply_size_rule(cfg, 72, 7129)  # the file's settings, as the rule applies them to a wide table
        schema.validate(cfg)


def test_yaml_walk_covers_every_file():  # with tests/test_configs.py::test_every_option_composes_and_instantiates
    composed_there = sum(len(options(group)) for group in GROUPS)
    assert len(yaml_choices()) + composed_there == len(list(config_dir().rglob("*.yaml")))


def test_idc_train_refuses_a_bad_value_before_training(tmp_path):
    exe = Path(sys.executable).with_name("idc-train")
    proc = subprocess.run([str(exe), "head.global_gates.reg_schedule=cosin", "logger=none"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2  # bad input, as the module's docstring says
    written = {p.name for p in (tmp_path / "outputs").rglob("*") if ".hydra" not in p.parts and p.is_file()}
    assert not written & {"config.yaml", "FAILED", "STARTED", "DONE"}  # refused before the run directory is touched
    assert "idc-train: head.global_gates.reg_schedule: 'cosin' is not allowed; allowed: constant, cosine" in proc.stderr


def test_the_estimator_and_idc_paper_and_idc_search_validate():
    import argparse

    import numpy as np

    from idc import IDC
    from idc.cli import paper
    from idc.search import run_search

    with pytest.raises(ConfigError, match="head.init: 'kmean' is not allowed; allowed: random, kmeans"):
        IDC(n_clusters=2, head={"init": "kmean"}).fit(np.random.default_rng(0).random((20, 3)))
    with pytest.raises(SystemExit, match="dataset=digits schedule=paper: schedule.ungated_epochs: cannot be resolved"):
        paper.check_configs(argparse.Namespace(schedule="paper", methods=["idc"], logger="none", table="methods",
                                               overrides=[]), ["digits"])
    with pytest.raises(ConfigError, match="hparams_search.objective: 'accuracy' is not allowed"):
        run_search(["hparams_search=idc_silhouette", "hparams_search.objective=accuracy"])


def test_weights_are_finite_numbers_and_may_come_as_strings(monkeypatch):
    """A weight must be finite and >= 0; one from an environment variable (a string OmegaConf converts) is fine."""
    from idc.config import compose
    from idc.schema import ConfigError

    monkeypatch.setenv("IDC_TEST_LAMBDA", "0.5")
    assert float(compose(["gates.reg_lambda=${oc.env:IDC_TEST_LAMBDA}"]).gates.reg_lambda) == 0.5
    for value in ("inf", "-0.1"):
        with pytest.raises(ConfigError, match="overlap_weight: .* a finite number >= 0"):
            compose([f"head.global_gates.overlap_weight={value}"])
