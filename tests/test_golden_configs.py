"""Every combination that existed before the schedules and methods moved (tests/golden/, written before the
move by tests/golden/generate.py of commit f6c73fa) composes the new way to the same settings: the new ``schedule`` node
is translated back to the old ``model.schedule`` indices (the schedule contract's formulas), ``method`` back to
``model.name`` / ``model.baseline``, and the keys that are new are dropped."""
from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from omegaconf import OmegaConf

from idc.config import compose_run

GOLDEN = Path(__file__).resolve().parent / "golden"
BASELINES = ("kmeans", "gmm", "spectral", "agglomerative", "ls_kmeans", "cae_kmeans", "ae_kmeans")
#: golden file -> (dotted key, old value, new value, why the difference is right)
EXCEPTIONS = {
    "model/ae_kmeans.yaml": [(
        "model.schedule.global_gates_start", 1000000, 101,
        "both say 'never': the run ends after stage 1 (epoch 101), and schedule.stage1_only_schedule already wrote "
        "global_gates_start = epochs = 101 into every ae_kmeans run's saved config",
    )],
    "dataset/table.yaml": [
        (key, "<absent>", "utf-8", "new after the move (the readers' encoding option); utf-8 is what was read before")
        for key in ("dataset.encoding", "dataset.load.encoding")
    ],
}
#: defaults changed on purpose since the move: (dotted key, old value, new value, goldens that keep the old value,
#: why); every other golden that held the old value must now hold the new one
CHANGED_DEFAULTS = [(
    "head.global_gates.reg_lambda", 1.0, 10.0, ("model/idc_faithful.yaml",),
    "issue 22, section 5: at 1 most global gates stay open (lung_small 276 of 325 per cluster, SRBCT 1487 of 2308); "
    "10 is the official PBMC value; idc_faithful keeps the weight of its records",
)]


def new_overrides(golden: str) -> list[str]:
    """The overrides that select, the new way, what the golden file's old overrides selected."""
    group, _, name = golden.removesuffix(".yaml").partition("/")
    if group == "experiment" and "/" in name:  # experiment=<schedule>/<dataset>
        schedule, dataset = name.split("/")
        return [f"dataset={dataset}", f"schedule={schedule}"]
    if group == "experiment":
        return [f"experiment={name}"]
    if group == "dataset":
        return [f"dataset={name}", *(["dataset.path='<TABLE>'"] if name == "table" else [])]
    if name == "idc":
        return []
    return [f"method={name}"]  # model=idc_faithful and the baselines


def as_before(cfg: dict) -> dict:
    """The new config in the old keys: schedule counts back to 0-based indices under ``model``."""
    s = cfg.pop("schedule")
    cfg["model"]["schedule"] = {
        "non_gated_epochs": s["ungated_epochs"] - 1,
        "pretrain_epochs": s["stage1_epochs"] - 1,
        "global_gates_start": s["stage1_epochs"] + s["head_epochs"],
        "epochs": s["epochs"],
    }
    assert s["epochs"] == s["stage1_epochs"] + s["stage2_epochs"]
    cfg["model"]["eval_every"] = s["eval_every"]
    method = cfg.pop("method")
    cfg["model"]["name"] = method.pop("name")
    cfg["model"].update(method)  # a baseline's spec lived in model.baseline
    cfg["dataset"].pop("table7", None)  # new: Table 7's facts with each dataset
    if cfg["dataset"].get("class_shares", 0) is None:  # new: synthetic's unbalanced variant, off
        del cfg["dataset"]["class_shares"], cfg["dataset"]["load"]["class_shares"]
    cfg["model"].pop("n_init", None)  # new: consensus of several runs (issue 22)
    cfg.pop("size_rule", None)  # new: the size rule of a user's table (idc/size_rule.py)
    # new keys since the move, each at the value that keeps today's behaviour (checked here, then dropped;
    # trainer.enable_model_summary=false only stops printing the model summary):
    new = {("head", "balance"): "entropy", ("head", "balance_min_share"): 0.5, ("threads",): None,
           ("progress_every",): None, ("trainer", "enable_model_summary"): False, ("model", "weight_decay"): 0.0,
           ("model", "linear_path"): False, ("gates", "gtcr_center"): False,
           ("gates", "gtcr_noise"): True, ("head", "metric"): "embedding",
           ("model", "bottleneck_min"): 0, ("model", "n_jobs"): 1,
           ("model", "fused_optimizers"): True}  # the same updates up to float rounding
    for path, value in new.items():
        node = cfg
        for key in path[:-1]:
            node = node.get(key, {})
        if path[-1] in node:
            assert node.pop(path[-1]) == value, path
    # new, and not the old behaviour on purpose (issue 22, section 5): the global gates train on after the last
    # epoch, 3 times their phase in all; the official head (idc_faithful) keeps 1, what every run did before
    factor = cfg["head"]["global_gates"].pop("train_factor")
    assert factor == (1.0 if cfg["model"]["name"] == "idc_faithful" else 3.0), factor
    # and a term on the features that two clusters' global gates share (weight 2); the official head has none
    overlap = cfg["head"]["global_gates"].pop("overlap_weight")
    assert overlap == (0.0 if cfg["model"]["name"] == "idc_faithful" else 2.0), overlap
    # with a guard that refits at less overlap where a cluster is no longer recognised (none where the term is off)
    floor = cfg["head"]["global_gates"].pop("min_cluster_fidelity")
    assert floor == (0.0 if cfg["model"]["name"] == "idc_faithful" else 0.9), floor
    return cfg


def flat(node: dict, prefix: str = "") -> dict:
    out = {}
    for key, value in node.items():
        if isinstance(value, dict):
            out.update(flat(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


GOLDEN_FILES = sorted(p.relative_to(GOLDEN).as_posix() for p in GOLDEN.rglob("*.yaml"))


def test_golden_files_cover_every_old_combination():
    assert len(GOLDEN_FILES) == 52  # 29 experiment files, 14 datasets, 9 models before the move
    assert {f.split("/")[0] for f in GOLDEN_FILES} == {"experiment", "dataset", "model"}


@pytest.mark.parametrize("golden", GOLDEN_FILES)
def test_old_combination_composes_to_the_same_settings(golden, monkeypatch):
    monkeypatch.setenv("IDC_DATA_DIR", "<DATA_DIR>")
    old = flat(yaml.safe_load((GOLDEN / golden).read_text()))
    cfg = compose_run(new_overrides(golden), "<OUTPUT_DIR>")
    new = flat(as_before(OmegaConf.to_container(cfg, resolve=True)))
    differences = {k: (old.get(k, "<absent>"), new.get(k, "<absent>")) for k in old.keys() | new.keys()
                   if old.get(k, "<absent>") != new.get(k, "<absent>")}
    expected = {key: (before, after) for key, before, after, _ in EXCEPTIONS.get(golden, [])}
    expected.update({key: (before, after) for key, before, after, keep, _ in CHANGED_DEFAULTS
                     if old.get(key) == before and golden not in keep})
    assert differences == expected
