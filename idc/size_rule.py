"""Settings chosen from the table's shape, as the paper's Table 7 chooses them per dataset (issue 22, section 1).

A user's table (``dataset=table``, ``IDC()``) has no Table 7 row, nor has any dataset config without a ``table7``
node (``digits``, the wider benchmark), so once it is loaded (N rows, D columns) the rule of the ``size_rule``
config node picks:

* the batch: the whole table for ``N <= full_batch_max`` (Table 7: full batch on every table of at most 1000 rows);
* the local gates' sparsity weight ``gates.reg_lambda``: ``gates_reg_lambda`` on a table without the
  high-dimensional settings (which carry their own);
* the high-dimensional settings (a file of ``configs/tuning``: bottleneck, gate width, sparsity weight, head
  learning rate) when ``D > N`` and ``D >= high_dim_min_features`` (the paper's microarray and scRNA tables);
* the schedule as numbers of optimizer steps, not epochs: ``stage1_steps`` gated steps and ``stage2_steps`` steps
  converted to epochs from N and the batch (``N // batch`` steps per epoch, the last partial batch dropped),
  clamped to ``[min_epochs, max_epochs]``.

A key given explicitly (on the command line, by an experiment or a non-default schedule, or to ``IDC(...)``) is
never replaced; the schedule is one choice (any of its keys given keeps all of them). What the rule chose, and
why, goes to ``size_rule.chosen`` (saved in config.yaml) and to the log, one line per choice.
"""
from __future__ import annotations

import logging
import math
from collections.abc import Collection, Mapping
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf, open_dict

from idc.config import config_dir

log = logging.getLogger("idc")

SCHEDULE_KEYS = ("ungated_epochs", "stage1_epochs", "head_epochs", "stage2_epochs", "epochs")
#: config nodes that are one choice each: any key of one given explicitly keeps all of the rule's settings of it out
WHOLE_NODES = ("head",)


def enabled(cfg: DictConfig) -> bool:
    """Whether the rule applies: ``size_rule.enabled`` when set, else for a dataset whose config has no Table 7 row
    (no ``dataset.table7``): a user's table, ``IDC()``, ``digits`` and the wider benchmark's tables."""
    node = cfg.get("size_rule")
    if node is None:
        return False
    if node.get("enabled") is not None:
        return bool(node.enabled)
    return cfg.dataset.get("table7") is None


def command_line_keys() -> set[str]:
    """The keys a running Hydra app (or :func:`idc.config.compose_run`) was given: each dotted override's key, and
    ``schedule`` when a schedule other than ``default`` was chosen in any way (``schedule=short``, the
    ``trainer=smoke`` alias, an experiment). Other group choices (``dataset=table``, ``gates=none``) are not
    settings of the rule's keys."""
    from hydra.core.hydra_config import HydraConfig

    if not HydraConfig.initialized():
        return set()
    hydra_cfg = HydraConfig.get()
    keys = override_keys(list(hydra_cfg.overrides.task))
    if hydra_cfg.runtime.choices.get("schedule") not in (None, "default"):
        keys.add("schedule")
    if hydra_cfg.runtime.choices.get("head") not in (None, "mcr"):  # a head chosen elsewhere: method=idc_faithful
        keys.add("head")
    return keys


def override_keys(overrides: Collection[str]) -> set[str]:
    """The dotted keys of Hydra overrides, and the group choices of :data:`WHOLE_NODES`:
    ``["+model.bottleneck=8", "dataset=table", "head=mcr"]`` -> ``{"model.bottleneck", "head"}``."""
    keys = {item.split("=", 1)[0].lstrip("+~") for item in overrides}
    return {key for key in keys if "." in key or key in WHOLE_NODES}


def is_given(key: str, explicit: Collection[str]) -> bool:
    """``key`` or a node above it was given explicitly, or, for a key of one of the :data:`WHOLE_NODES`, any key of
    that node."""
    node = key.split(".", 1)[0]
    if node in WHOLE_NODES:
        return any(e.split(".", 1)[0] == node for e in explicit)
    return any(key == e or key.startswith(e + ".") for e in explicit)


def high_dim_settings(name: str) -> dict[str, Any]:
    """The leaf settings of ``configs/tuning/<name>.yaml`` as ``dotted key -> value``, the files of its defaults
    list merged first, a group choice there (``- override /head: kmeans``) as that group file's leaves under
    ``head.`` (read directly: Hydra's compose API cannot run inside the running ``idc-train`` app)."""
    folder = config_dir() / "tuning"
    if not (folder / f"{name}.yaml").is_file():
        raise FileNotFoundError(f"size_rule.high_dim_settings: {name!r} is not a file of {folder}; choose one of "
                                f"{sorted(p.stem for p in folder.glob('hdlss_*.yaml'))}")
    return file_settings(folder, name)


def file_settings(folder: Path, name: str, package: str = "") -> dict[str, Any]:
    """The leaves of ``folder/<name>.yaml`` under ``package`` (``""``: global), its defaults list merged in order:
    a name is another file of the same folder, ``{"override /<group>": choice}`` the file of that config group."""
    path = folder / f"{name}.yaml"
    if not path.is_file():
        raise FileNotFoundError(f"{path} does not exist (named in a defaults list of {folder})")
    node = OmegaConf.load(path)
    defaults = list(node.pop("defaults", None) or [])
    merged: dict[str, Any] = {}
    for entry in defaults if "_self_" in defaults else [*defaults, "_self_"]:
        if entry == "_self_":
            merged.update(leaves(OmegaConf.to_container(node, resolve=True), package))
        elif isinstance(entry, str):
            merged.update(file_settings(folder, entry, package))
        else:
            ((key, choice),) = entry.items()
            group = str(key).removeprefix("override").strip().strip("/")
            merged.update(file_settings(config_dir() / group, str(choice), group))
    return merged


def leaves(value: Any, prefix: str = "") -> dict[str, Any]:
    """Nested mappings as ``dotted key -> value`` (``{"model": {"lr": {"clustering": 1}}}`` -> ``{"model.lr.clustering": 1}``)."""
    if not isinstance(value, dict):
        return {prefix: value}
    out: dict[str, Any] = {}
    for key, inner in value.items():
        out.update(leaves(inner, f"{prefix}.{key}" if prefix else str(key)))
    return out


def schedule_for(n_samples: int, batch_size: int, rule: Mapping[str, Any]) -> dict[str, int]:
    """Epoch counts that give about ``rule.stage1_steps`` gated stage-1 steps and ``rule.stage2_steps`` stage-2
    steps at ``N // batch`` steps per epoch, each stage clamped to ``[min_epochs, max_epochs]``; the ungated epochs
    and the head's epochs are shares (``ungated_share`` of the gated epochs, ``head_share`` of stage 2)."""
    per_epoch = max(n_samples // max(min(batch_size, n_samples), 1), 1)
    low, high = int(rule["min_epochs"]), int(rule["max_epochs"])

    def epochs(steps: int) -> int:
        return min(max(math.ceil(int(steps) / per_epoch), low), high)

    gated, stage2 = epochs(rule["stage1_steps"]), max(epochs(rule["stage2_steps"]), 2)
    ungated = max(round(float(rule["ungated_share"]) * gated), 1)
    head = min(max(round(float(rule["head_share"]) * stage2), 1), stage2)
    return {"ungated_epochs": ungated, "stage1_epochs": ungated + gated, "head_epochs": head,
            "stage2_epochs": stage2, "epochs": ungated + gated + stage2}


def log_choice(key: str, why: str, given: bool) -> None:
    """Log a choice of the rule at INFO; a key the user gave (kept, what the rule would choose recorded in
    ``size_rule.chosen``) only at DEBUG, and of a node of :data:`WHOLE_NODES` only its ``kind`` (the other keys
    follow from it), so that a run's console shows what the rule did and nothing else."""
    node, _, leaf = key.partition(".")
    quiet = given or (node in WHOLE_NODES and leaf != "kind")
    log.log(logging.DEBUG if quiet else logging.INFO, "size rule: %s = %s", key, why)


def apply_size_rule(cfg: DictConfig, n_samples: int, n_features: int, explicit: Collection[str] = ()) -> dict[str, str]:
    """Set the keys the rule chooses for an ``n_samples`` x ``n_features`` table in ``cfg`` (in place), except those
    in ``explicit`` (dotted keys or nodes); returns, and stores in ``cfg.size_rule.chosen``, ``key -> why``. Does
    nothing when the rule is off (:func:`enabled`)."""
    if not enabled(cfg):
        return {}
    rule = cfg.size_rule
    chosen: dict[str, str] = {}

    def choose(key: str, value: Any, why: str) -> None:
        given = is_given(key, explicit)
        if given:
            chosen[key] = f"given ({OmegaConf.select(cfg, key)}); the rule would choose {value}: {why}"
        else:
            OmegaConf.update(cfg, key, value, force_add=True)
            chosen[key] = f"{value}: {why}"
        log_choice(key, chosen[key], given)

    n, d = int(n_samples), int(n_features)
    with open_dict(cfg):
        if n <= int(rule.full_batch_max):
            choose("dataset.batch_size", n, f"full batch, N = {n} <= size_rule.full_batch_max = {rule.full_batch_max}")
        high_dim = d > n and d >= int(rule.high_dim_min_features)
        if high_dim:  # the tuning file's settings, its sparsity weight among them
            why = (f"D = {d} > N = {n} and D >= size_rule.high_dim_min_features = {rule.high_dim_min_features}: "
                   f"configs/tuning/{rule.high_dim_settings}.yaml")
            for key, value in high_dim_settings(str(rule.high_dim_settings)).items():
                if OmegaConf.select(cfg, key) != value:  # a value the config already holds is no choice
                    choose(key, value, why)
        elif rule.get("gates_reg_lambda") is not None:
            choose("gates.reg_lambda", float(rule.gates_reg_lambda), "size_rule.gates_reg_lambda, the local gates' "
                   "sparsity weight of a table without the high-dimensional settings")
        batch = int(cfg.dataset.batch_size)
        counts = schedule_for(n, batch, rule)
        why = (f"{rule.stage1_steps} gated stage-1 steps and {rule.stage2_steps} stage-2 steps at "
               f"{max(n // min(batch, n), 1)} step(s) per epoch, epochs clamped to [{rule.min_epochs}, {rule.max_epochs}]")
        # the schedule is one choice: given in part, kept whole
        given = any(is_given(f"schedule.{k}", explicit) for k in SCHEDULE_KEYS)
        if given:
            chosen["schedule"] = f"given; the rule would choose {counts}: {why}"
        else:
            for key, value in counts.items():
                OmegaConf.update(cfg, f"schedule.{key}", value)
            chosen["schedule"] = f"{counts}: {why}"
        log_choice("schedule", chosen["schedule"], given)
        cfg.size_rule.chosen = chosen
    return chosen
