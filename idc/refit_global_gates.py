"""The global gates of a finished run trained again under other settings (``idc-eval RUN head.global_gates.KEY=V``,
``scripts/global_gate_study.py``).

The global gates learn from a partition that is already fixed: the kept head is frozen when they start
(``head.freeze_after_selection``), so their settings change no cluster. Refitting them alone, from scratch, on the
run's own gated inputs and clusters, for the run's own number of global-gate steps at its batch size, is what a
new run with those settings would give them (paper Sec. 4.3; :func:`idc.stage2.global_gate_losses`), in seconds
instead of a whole training run: a user can choose how few features explain each cluster after training.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import torch
import yaml
from torch import Tensor

from idc import stage2
from idc.nn import AuxiliaryClassifier, GlobalGates

PREFIX = "head.global_gates."
#: numeric keys that must be positive (the others may be 0)
POSITIVE = ("lr", "reg_sigma", "aux_hidden_dim")


def parse_overrides(overrides: list[str], current: Mapping[str, Any]) -> dict[str, Any]:
    """``head.global_gates.KEY=VALUE`` strings -> ``{KEY: value}`` (values read as YAML); raises ValueError for a
    string of another form or a key the run's ``head.global_gates`` lacks."""
    parsed: dict[str, Any] = {}
    for item in overrides:
        key, sep, value = item.partition("=")
        name = key.removeprefix(PREFIX)
        if not sep or not key.startswith(PREFIX) or name not in current or name == "enabled":
            known = ", ".join(k for k in current if k != "enabled")
            raise ValueError(f"{item!r}: give {PREFIX}KEY=VALUE with KEY one of {known}")
        parsed[name] = yaml.safe_load(value)
        if isinstance(current[name], (int, float)):
            number = parsed[name]
            numeric = isinstance(number, (int, float)) and not isinstance(number, bool)
            if not numeric or not (number > 0 if name in POSITIVE else number >= 0):  # NaN fails both
                least = "> 0" if name in POSITIVE else ">= 0"
                raise ValueError(f"{item!r}: {key} takes a number {least}, got {value!r}")
    return parsed


def global_gate_steps(module: Any, n_rows: int, batch: int) -> int:
    """The optimizer steps the run gave its global gates: the epochs from ``global_gates_start`` on, times the
    steps per epoch (``n_rows // batch``, the last partial batch dropped, as the DataModule does)."""
    return (module.schedule.epochs - module.schedule.global_gates_start) * max(n_rows // batch, 1)


def refit_global_gates(module: Any, gated: Tensor, clusters: Tensor, batch: int, steps: int, seed: int) -> None:
    """Fresh global gates and auxiliary classifier in ``module``, trained ``steps`` steps on batches of shuffled rows of
    ``gated`` (the gated inputs ``x * z``) towards ``clusters`` with ``ce + reg_lambda * reg`` and the module's own
    optimizer choice (``head.global_gates``)."""
    gg = module.head_cfg["global_gates"]
    n, d = gated.shape
    torch.manual_seed(seed)
    module.global_gates = GlobalGates(module.n_clusters, d, float(gg["init_std"])).to(gated.device)
    module.aux_classifier = AuxiliaryClassifier(d, int(gg["aux_hidden_dim"]), module.n_clusters).to(gated.device)
    module.aux_classifier.train()
    opt = module.aux_optimizer()
    order = torch.Generator().manual_seed(seed)
    per_epoch = max(n // batch, 1)
    done = 0
    with torch.enable_grad():
        while done < steps:
            for rows in torch.randperm(n, generator=order)[: per_epoch * batch].split(batch)[: steps - done]:
                rows = rows.to(gated.device)
                ce, reg = stage2.global_gate_losses(module, gated[rows], clusters[rows])
                opt.zero_grad(set_to_none=True)
                (ce + float(gg["reg_lambda"]) * reg).backward()
                opt.step()
                done += 1
    module.aux_classifier.eval()


def refit(module: Any, X: np.ndarray, local_gates: np.ndarray, clusters: np.ndarray, batch: int, seed: int,
          overrides: list[str]) -> dict[str, Any]:
    """Apply ``overrides`` (:func:`parse_overrides`, then the stage-2 option checks; a ValueError leaves ``module``
    as it was) and refit its global gates on the gated rows ``X * local_gates`` towards ``clusters`` for the
    run's own number of steps (:func:`global_gate_steps`) at ``batch`` rows; returns the overrides and steps."""
    current = dict(module.head_cfg["global_gates"])
    try:
        parsed = parse_overrides(overrides, current)
        module.head_cfg["global_gates"] = {**current, **parsed}
        stage2.check_options(module.head_cfg, module.model_cfg)
    except ValueError:
        module.head_cfg["global_gates"] = current
        raise
    gated = torch.as_tensor(X * local_gates, dtype=torch.float32, device=module.device)
    labels = torch.as_tensor(clusters, dtype=torch.long, device=module.device)
    batch = max(min(int(batch), len(gated)), 1)
    steps = global_gate_steps(module, len(gated), batch)
    refit_global_gates(module, gated, labels, batch, steps, seed)
    return {"overrides": parsed, "steps": steps}
