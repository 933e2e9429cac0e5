"""The global gates of a finished run trained again under other settings (``idc-eval RUN head.global_gates.KEY=V``,
``IDC.refit_cluster_gates``, ``scripts/global_gate_study.py``).

With the default head the kept head is frozen when the global gates start (``head.freeze_after_selection``), so
they learn from a partition that is already fixed and their settings change no cluster. Refitting them alone, from
scratch, on the run's own gated inputs and final clusters, for the run's own number of global-gate steps at its
batch size and with its weight schedule, is then what a new run with those settings would give them (paper Sec.
4.3; :func:`idc.stage2.global_gate_losses`), in seconds instead of a whole training run. (A head that trained on
while they did taught them from moving pseudo-labels; a refit learns from the final partition.)
"""
from __future__ import annotations

import math
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
import yaml
from torch import Tensor

from idc import schema, stage2
from idc.nn import AuxiliaryClassifier, GlobalGates
from idc.run_dir import ABSENT_MEANS

if TYPE_CHECKING:
    from idc.module import IDCModule

PREFIX = "head.global_gates."
#: numeric keys that must be positive (the others may be 0)
POSITIVE = ("lr", "reg_sigma")
#: keys a refit cannot change: the auxiliary classifier's width is part of the saved model's shape
FIXED = ("enabled", "aux_hidden_dim")
#: the choice keys of ``head.global_gates`` that :func:`idc.stage2.check_options` does not check
CHOICES = {"reg_reduction": schema.choices(schema.Reduction), "reg_schedule": schema.choices(schema.RegSchedule)}


def parse_overrides(overrides: list[str], current: Mapping[str, Any]) -> dict[str, Any]:
    """``head.global_gates.KEY=VALUE`` strings -> ``{KEY: value}``: a finite number for a numeric key (``> 0``
    where it must be), one of the choices for a choice key; raises ValueError naming what to give instead."""
    parsed: dict[str, Any] = {}
    for item in overrides:
        key, sep, value = item.partition("=")
        name = key.removeprefix(PREFIX)
        if not sep or not key.startswith(PREFIX) or name not in current or name in FIXED:
            known = ", ".join(k for k in current if k not in FIXED)
            raise ValueError(f"{item!r}: give {PREFIX}KEY=VALUE with KEY one of {known}")
        if isinstance(current[name], (int, float)) and not isinstance(current[name], bool):
            try:
                number = float(value)
            except ValueError:
                number = math.nan
            if not math.isfinite(number) or not (number > 0 if name in POSITIVE else number >= 0):
                raise ValueError(f"{item!r}: {key} takes a finite number {'> 0' if name in POSITIVE else '>= 0'}")
            parsed[name] = number
        else:
            parsed[name] = yaml.safe_load(value)
            if name in CHOICES and parsed[name] not in CHOICES[name]:
                raise ValueError(f"{item!r}: {key} must be one of {CHOICES[name]}")
    return parsed


def global_gate_steps(module: IDCModule, n_rows: int, batch: int) -> int:
    """The optimizer steps of the global gates' phase on one device: the epochs from ``global_gates_start`` on,
    times the steps per epoch (``n_rows // batch``, the last partial batch dropped, as the DataModule does); a run
    trained them ``head.global_gates.train_factor`` times as long (:func:`idc.stage2.extend_global_gates`)."""
    return (module.schedule.epochs - module.schedule.global_gates_start) * max(n_rows // batch, 1)


def refit_global_gates(module: IDCModule, gated: Tensor, clusters: Tensor, batch: int, steps: int,
                       seed: int) -> None:
    """Fresh global gates and auxiliary classifier in ``module``, trained ``steps`` steps towards ``clusters`` of the
    gated rows ``gated`` (:func:`idc.stage2.train_global_gates`) with the module's own optimizer choice; the weight
    follows ``head.global_gates.reg_schedule`` over the epochs of the run's global-gate phase, then stays at its
    last value, as in training. They replace the module's only once trained (an error leaves it as it was), and
    the global random state is left as it was."""
    gg = module.head_cfg["global_gates"]
    n, d = gated.shape
    per_epoch = max(n // batch, 1)
    start, epochs = module.schedule.global_gates_start, module.schedule.epochs

    def weight(step: int) -> float:
        epoch = min(start + step // per_epoch, epochs - 1)
        return module.schedule.global_reg_weight(epoch, float(gg["reg_lambda"]), gg.get("reg_schedule", "constant"))

    old = module.global_gates, module.aux_classifier
    try:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            module.global_gates = GlobalGates(module.n_clusters, d, float(gg["init_std"])).to(gated.device)
            aux = AuxiliaryClassifier(d, int(gg["aux_hidden_dim"]), module.n_clusters)
            module.aux_classifier = aux.to(gated.device)
            module.aux_classifier.train()
            stage2.train_global_gates(module, gated, clusters, batch, steps, module.aux_optimizer(),
                                      torch.Generator().manual_seed(seed), weight)
            module.aux_classifier.eval()
    except BaseException:
        module.global_gates, module.aux_classifier = old
        raise


def refit(module: IDCModule, X: np.ndarray, local_gates: np.ndarray, clusters: np.ndarray, batch: int, seed: int,
          overrides: list[str], steps_factor: float = 1.0) -> dict[str, Any]:
    """Apply ``overrides`` to ``module.head_cfg`` (and its saved hyperparameters) and refit its global gates on the
    gated rows ``X * local_gates`` towards ``clusters`` for ``steps_factor`` times as many steps as the run gave them
    (:func:`global_gate_steps` times ``train_factor``) at ``batch`` rows; returns the overrides, steps and batch. A bad
    override or a failed refit raises and leaves ``module`` as it was."""
    current = {**{k: float(ABSENT_MEANS[PREFIX + k]) for k in ("train_factor", "overlap_weight")},  # older runs
               **module.head_cfg["global_gates"]}
    parsed = parse_overrides(overrides, current)
    settings = {**current, **parsed}
    stage2.check_options({**module.head_cfg, "global_gates": settings}, module.model_cfg)
    gated = torch.as_tensor(X * local_gates, dtype=torch.float32, device=module.device)
    labels = torch.as_tensor(clusters, dtype=torch.long, device=module.device)
    batch = max(min(int(batch), len(gated)), 1)
    steps = int(steps_factor * float(settings["train_factor"]) * global_gate_steps(module, len(gated), batch))
    if steps < 1:
        raise ValueError("the run gave its global gates no training step (its schedule ends before "
                         "global_gates_start): nothing to refit")
    module.head_cfg["global_gates"] = settings
    try:
        refit_global_gates(module, gated, labels, batch, steps, seed)
    except BaseException:
        module.head_cfg["global_gates"] = current
        raise
    if "head" in module.hparams:  # saved with the model (IDC.save): the refitted gates' settings
        module.hparams["head"] = {**module.hparams["head"], "global_gates": dict(settings)}
    return {"overrides": parsed, "steps": steps, "batch": batch}
