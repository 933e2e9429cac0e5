"""The size rule (issue 22, section 1): settings from the table's shape, explicit settings never replaced."""
import math

import numpy as np
import pytest
from omegaconf import OmegaConf

from idc.config import compose
from idc.schema import ConfigError
from idc.size_rule import apply_size_rule, command_line_keys, high_dim_settings, leaves, override_keys, schedule_for


def table_cfg(*overrides: str):
    return compose(["dataset=table", "logger=none", *overrides])


def test_small_tables_train_full_batch_and_large_ones_keep_the_batch():
    small, large = table_cfg(), table_cfg()
    apply_size_rule(small, 300, 20)
    apply_size_rule(large, 5000, 20)
    assert small.dataset.batch_size == 300 and "full batch" in small.size_rule.chosen["dataset.batch_size"]
    assert large.dataset.batch_size == 256 and "dataset.batch_size" not in large.size_rule.chosen


def test_high_dimensional_tables_get_the_settings_of_the_tuning_file():
    wide, lung, tall, narrow = table_cfg(), table_cfg(), table_cfg(), table_cfg()
    apply_size_rule(wide, 72, 7129)
    apply_size_rule(lung, 73, 325)  # lung_small's shape
    apply_size_rule(tall, 2000, 1000)  # D < N
    apply_size_rule(narrow, 50, 80)  # D > N but below 100 features
    assert high_dim_settings("hdlss_short") == {"model.bottleneck": 128, "model.lr.clustering": 1e-3,
                                                "gates.hidden_dim": 1024, "gates.reg_lambda": 0.1}  # hdlss_paper first
    settings = high_dim_settings(str(wide.size_rule.high_dim_settings))
    assert settings["model.hidden"] == [] and settings["head.kind"] == "kmeans"  # the default: hdlss_linear_kmeans
    defaults = table_cfg()
    for key, value in settings.items():
        assert OmegaConf.select(wide, key) == value and OmegaConf.select(lung, key) == value
        if OmegaConf.select(defaults, key, default="<absent>") != value:  # a value the config held is no choice
            assert "D = 7129 > N = 72" in wide.size_rule.chosen[key]
            assert "D = 325 > N = 73" in lung.size_rule.chosen[key]
        else:
            assert key not in wide.size_rule.chosen
    for cfg in (tall, narrow):
        assert cfg.model.bottleneck is None and cfg.gates.hidden_dim is None and "gates.hidden_dim" not in cfg.size_rule.chosen


@pytest.mark.parametrize("n, batch", [(72, 72), (3256, 256), (1000, 1000), (60000, 256)])
def test_the_schedule_is_a_number_of_optimizer_steps(n, batch):
    rule = table_cfg().size_rule
    s = schedule_for(n, batch, rule)
    per_epoch = n // batch
    gated = s["stage1_epochs"] - s["ungated_epochs"]
    for epochs, steps in ((gated, rule.stage1_steps), (s["stage2_epochs"], rule.stage2_steps)):
        want = min(max(math.ceil(steps / per_epoch), rule.min_epochs), rule.max_epochs)
        assert epochs == want
    assert s["epochs"] == s["stage1_epochs"] + s["stage2_epochs"] and 1 <= s["head_epochs"] <= s["stage2_epochs"]
    if n == 72:  # full batch: one step per epoch, the paper's short schedule of the microarray tables
        assert (gated, s["stage2_epochs"]) == (2000, 1000)
    if n == 60000:  # 234 steps per epoch: the lower clamp
        assert gated == rule.min_epochs


def test_the_chosen_schedule_passes_the_schema():
    cfg = table_cfg()
    apply_size_rule(cfg, 3256, 13)
    assert cfg.schedule.stage1_epochs == cfg.schedule.ungated_epochs + math.ceil(2000 / 12)
    from idc.schema import validate

    validate(cfg)


def test_explicit_settings_win_and_are_recorded_as_given():
    cfg = table_cfg("dataset.batch_size=16", "gates.hidden_dim=8", "schedule.stage2_epochs=60")
    before = OmegaConf.to_container(cfg.schedule, resolve=True)
    explicit = override_keys(["dataset.batch_size=16", "+gates.hidden_dim=8", "schedule.stage2_epochs=60"])
    chosen = apply_size_rule(cfg, 100, 900, explicit)
    assert cfg.dataset.batch_size == 16 and cfg.gates.hidden_dim == 8
    assert OmegaConf.to_container(cfg.schedule, resolve=True) == before  # given in part: kept whole
    assert chosen["dataset.batch_size"].startswith("given") and chosen["schedule"].startswith("given")
    assert list(cfg.model.hidden) == [] and cfg.head.kind == "kmeans"  # not given: still the rule's


def test_a_schedule_chosen_by_name_on_the_command_line_is_explicit(tmp_path):
    from idc.config import compose_run

    compose_run(["dataset=table", "schedule=smoke", "dataset.batch_size=8"], tmp_path)
    assert {"schedule", "dataset.batch_size"} <= command_line_keys()
    compose_run(["dataset=table", "trainer=smoke"], tmp_path)  # the alias selects schedule=smoke
    assert "schedule" in command_line_keys()


def test_the_rule_is_off_for_datasets_with_settings_of_their_own_unless_asked():
    off, on = compose(["dataset=synthetic"]), compose(["dataset=synthetic", "size_rule.enabled=true"])
    assert apply_size_rule(off, 3256, 13) == {} and off.dataset.batch_size == 800
    apply_size_rule(on, 3256, 13)
    assert on.size_rule.chosen and on.schedule.stage2_epochs == math.ceil(1000 / 4)  # 3256 // 800 = 4 steps


@pytest.mark.parametrize("dataset", ["digits", "coil20", "lung_small"])
def test_datasets_without_a_table7_row_get_the_rule_as_a_users_table_does(dataset):
    cfg = compose([f"dataset={dataset}"])
    assert cfg.dataset.get("table7") is None
    apply_size_rule(cfg, 1797, 64)
    assert cfg.gates.reg_lambda == cfg.size_rule.gates_reg_lambda and "schedule" in cfg.size_rule.chosen


def test_an_experiment_on_such_a_dataset_keeps_its_own_settings():
    own = compose(["experiment=digits"])
    assert apply_size_rule(own, 1797, 64) == {} and own.gates.reg_lambda == 0.1


def test_tables_without_the_high_dimensional_settings_get_the_rules_sparsity_weight_unless_given():
    tall, wide = table_cfg("size_rule.gates_reg_lambda=0.3"), table_cfg("size_rule.gates_reg_lambda=0.3")
    apply_size_rule(tall, 1440, 1024)  # coil20's shape: D < N, no high-dimensional settings
    apply_size_rule(wide, 83, 2308)  # SRBCT's: the tuning file's weight
    assert tall.gates.reg_lambda == 0.3 and tall.size_rule.chosen["gates.reg_lambda"] == (
        "0.3: size_rule.gates_reg_lambda, the local gates' sparsity weight of a table without the high-dimensional "
        "settings")
    assert wide.gates.reg_lambda == high_dim_settings(str(wide.size_rule.high_dim_settings))["gates.reg_lambda"] != 0.3
    assert "D = 2308 > N = 83" in wide.size_rule.chosen["gates.reg_lambda"]
    default = table_cfg()
    apply_size_rule(default, 1440, 1024)
    assert default.gates.reg_lambda < compose(["dataset=synthetic"]).gates.reg_lambda  # lighter than the model's
    given = table_cfg("gates.reg_lambda=3")
    apply_size_rule(given, 1440, 1024, {"gates.reg_lambda"})
    assert given.gates.reg_lambda == 3 and given.size_rule.chosen["gates.reg_lambda"].startswith("given")
    off = table_cfg("size_rule.gates_reg_lambda=null")
    apply_size_rule(off, 1440, 1024)
    assert off.gates.reg_lambda == compose(["dataset=synthetic"]).gates.reg_lambda and (
        "gates.reg_lambda" not in off.size_rule.chosen)


def test_bad_rule_settings_are_refused_by_the_schema():
    with pytest.raises(ConfigError, match="size_rule.head_share"):
        table_cfg("size_rule.head_share=1.5")
    with pytest.raises(ConfigError, match="size_rule.min_epochs"):
        table_cfg("size_rule.min_epochs=50", "size_rule.max_epochs=20")
    with pytest.raises(ConfigError, match="size_rule.gates_reg_lambda"):
        table_cfg("size_rule.gates_reg_lambda=-1")


def test_idc_train_records_the_choices_in_config_yaml(cfg_factory, tmp_path):
    from idc.train import train

    rng = np.random.default_rng(0)
    path = tmp_path / "cells.csv"
    np.savetxt(path, rng.normal(size=(60, 5)), delimiter=",")
    cfg = cfg_factory("dataset=table", f"dataset.path={path}", "dataset.n_clusters=2", "eval.enabled=false")
    train(cfg)
    saved = OmegaConf.load(tmp_path / "config.yaml")
    assert saved.dataset.batch_size == 60 and "full batch" in saved.size_rule.chosen["dataset.batch_size"]
    assert saved.schedule.stage1_epochs == 4 and saved.size_rule.chosen["schedule"].startswith("given")  # smoke


def test_the_estimator_chooses_unless_told():
    from idc import IDC
    from idc.data import Table

    table = Table(np.zeros((40, 600), np.float32), None, [], n_clusters=2)
    auto, told = IDC(n_clusters=2), IDC(n_clusters=2, batch_size=8, gates={"hidden_dim": 16})
    cfg_auto, cfg_told = auto._config(table), told._config(table)
    assert cfg_auto.dataset.batch_size == 40 and cfg_auto.gates.hidden_dim == 1024 and auto.size_rule_
    assert cfg_told.dataset.batch_size == 8 and cfg_told.gates.hidden_dim == 16 and list(cfg_told.model.hidden) == []
    assert cfg_auto.head.kind == "kmeans" != IDC(n_clusters=2, head={"balance_weight": 0.5})._config(table).head.get(
        "kind", "mcr")  # a head setting given: the head stays the user's


def test_the_linear_option_gives_wide_tables_a_linear_encoder_to_k_dimensions():
    from idc.nn.autoencoder import Autoencoder

    cfg = table_cfg("size_rule.high_dim_settings=hdlss_linear")
    apply_size_rule(cfg, 73, 325)  # lung_small's shape
    assert list(cfg.model.hidden) == [] and cfg.model.bottleneck is None and cfg.gates.reg_lambda == 0.1
    ae = Autoencoder(325, cfg.model.hidden, 7)
    assert [type(m).__name__ for m in ae.encoder] == ["Linear"] and ae.encoder[0].out_features == 7
    narrow = table_cfg("size_rule.high_dim_settings=hdlss_linear")
    apply_size_rule(narrow, 2000, 325)  # D < N: the model's own deep encoder
    assert list(narrow.model.hidden) == [512, 512, 2048]


def test_a_tuning_file_can_choose_a_head_and_the_head_is_one_choice(tmp_path):
    from idc.config import compose_run

    settings = high_dim_settings("hdlss_linear_kmeans")
    kmeans_head = compose(["head=kmeans"]).head
    assert settings["head.kind"] == "kmeans" and settings["model.hidden"] == []
    assert all(settings[f"head.{k}"] == v for k, v in leaves(OmegaConf.to_container(kmeans_head)).items())
    cfg = table_cfg("size_rule.high_dim_settings=hdlss_linear_kmeans")
    chosen = apply_size_rule(cfg, 73, 325)
    assert cfg.head.kind == "kmeans" and cfg.head.balance_weight == 0 and "head.kind" in chosen
    assert "model.bottleneck" not in chosen  # already null (K): a value the config holds is no choice
    given = table_cfg("size_rule.high_dim_settings=hdlss_linear_kmeans", "head.balance_weight=0.5")
    chosen = apply_size_rule(given, 73, 325, {"head.balance_weight"})  # one head key given: the head is the user's
    assert given.head.get("kind", "mcr") == "mcr" and given.head.balance_weight == 0.5
    assert chosen["head.kind"].startswith("given") and given.model.hidden == []  # the rest is still the rule's
    compose_run(["dataset=table", "head=mcr"], tmp_path)
    assert "head" in command_line_keys() and override_keys(["head=kmeans", "gates=stg"]) == {"head"}
    compose_run(["dataset=table", "method=idc_faithful"], tmp_path)  # a method that chooses its head
    assert "head" in command_line_keys()
    compose_run(["dataset=table", "head.global_gates.lr=0.1"], tmp_path)
    assert "head.global_gates.lr" in command_line_keys()
    compose_run(["dataset=table"], tmp_path)
    assert "head" not in command_line_keys()


@pytest.mark.parametrize("n_clusters,width", [(2, 10), (13, 13)])
def test_the_wide_option_gives_a_code_of_at_least_ten_dimensions_and_the_decoders_metric(n_clusters, width):
    from idc.module import IDCModule

    cfg = table_cfg("size_rule.high_dim_settings=hdlss_linear_kmeans_wide", f"dataset.n_clusters={n_clusters}")
    chosen = apply_size_rule(cfg, 72, 7129)  # ALLAML's shape
    assert "model.bottleneck_min" in chosen and "head.metric" in chosen and cfg.model.bottleneck is None
    gates, head, model, schedule = (OmegaConf.to_container(cfg[k], resolve=True) for k in ("gates", "head", "model",
                                                                                         "schedule"))
    module = IDCModule(7129, n_clusters, gates, head, model, schedule)
    assert module.autoencoder.encoder[0].out_features == width and module.head_cfg["metric"] == "decoder"
    assert module.cluster_head.centroids.shape == (n_clusters, width)
