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

import logging
import math
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import torch
import yaml
from torch import Tensor, nn

from idc import schema, stage2
from idc.metrics import subsample_rows
from idc.nn import AuxiliaryClassifier, GlobalGates
from idc.run_dir import ABSENT_MEANS


log = logging.getLogger(__name__)

PREFIX = "head.global_gates."
#: numeric keys that must be positive (the others may be 0)
POSITIVE = ("lr", "reg_sigma")
#: keys a refit cannot change: the auxiliary classifier's width is part of the saved model's shape
FIXED = ("enabled", "aux_hidden_dim")
#: how many times :func:`guard_overlap` halves ``overlap_weight`` before it refits without the term
HALVINGS = 2
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


def global_gate_steps(module: nn.Module, n_rows: int, batch: int) -> int:
    """The optimizer steps of the global gates' phase on one device: the epochs from ``global_gates_start`` on,
    times the steps per epoch (``n_rows // batch``, the last partial batch dropped, as the DataModule does); a run
    trained them ``head.global_gates.train_factor`` times as long (:func:`idc.stage2.extend_global_gates`)."""
    return (module.schedule.epochs - module.schedule.global_gates_start) * max(n_rows // batch, 1)


def refit_global_gates(module: nn.Module, gated: Tensor, clusters: Tensor, batch: int, steps: int,
                       seed: int, watch: Callable[[dict[str, Tensor]], None] | None = None) -> None:
    """Fresh global gates and auxiliary classifier in ``module``, trained ``steps`` steps towards ``clusters`` of the
    gated rows ``gated`` (:func:`idc.stage2.train_global_gates`) with the module's own optimizer choice; the weight
    follows ``head.global_gates.reg_schedule`` over the epochs of the run's global-gate phase, then stays at its
    last value, as in training. They replace the module's only once trained (an error leaves it as it was), and
    the global random state is left as it was; ``watch`` sees each step's terms (training's NaN and SIGTERM guard)."""
    gg = module.head_cfg["global_gates"]
    n, d = gated.shape
    per_epoch = max(n // batch, 1)
    start, epochs = module.schedule.global_gates_start, module.schedule.epochs

    def weight(step: int) -> float:
        epoch = min(start + step // per_epoch, epochs - 1)
        return module.schedule.global_reg_weight(epoch, float(gg["reg_lambda"]), gg.get("reg_schedule", "constant"))

    old = module.global_gates, module.aux_classifier
    try:
        with torch.random.fork_rng(devices=[gated.device] if gated.device.type == "cuda" else []):
            torch.manual_seed(seed)
            module.global_gates = GlobalGates(module.n_clusters, d, float(gg["init_std"])).to(gated.device)
            aux = AuxiliaryClassifier(d, int(gg["aux_hidden_dim"]), module.n_clusters)
            module.aux_classifier = aux.to(gated.device)
            module.aux_classifier.train()
            stage2.train_global_gates(module, gated, clusters, batch, steps, module.aux_optimizer(),
                                      torch.Generator().manual_seed(seed), weight, watch)
            module.aux_classifier.eval()
    except BaseException:
        module.global_gates, module.aux_classifier = old
        raise


def guard_overlap(module: nn.Module, gated: Tensor, clusters: Tensor, batch: int, steps: int, seed: int,
                  watch: Callable[[dict[str, Tensor]], None] | None = None,
                  agree: Callable[[float], float] = float) -> list[dict[str, Any]]:
    """``head.global_gates.min_cluster_fidelity`` (not in the paper): the overlap term can close a feature that two
    clusters both need (clusters that truly share their features), and then a cluster is no longer recognised from
    what its global gates keep. Where the weakest cluster's fidelity (:func:`idc.stage2.global_gate_fidelity`, at
    most 2000 rows) is below that floor, the global gates are refitted (:func:`refit_global_gates`, ``steps`` steps)
    at half the overlap weight, :data:`HALVINGS` times at most, then without the term, until a fit reaches the
    floor; the best fit is kept (the fidelity need not rise at every halving: on one ``synthetic`` run it held at
    63 / 61 % at 2 and 1 and rose to 93 % at 0.5, so a halving that does not help does not end the search).
    Off where the floor or the weight is 0. ``agree`` turns each measure into the
    one every process acts on (rank 0's under DDP). Returns the fits measured, in order (``overlap_weight``,
    ``fidelity_min``, ``kept``; a refit that went NaN: ``nonfinite``, no measure, never kept), none where off;
    ``head_cfg`` keeps its configured weight."""
    gg = module.head_cfg["global_gates"]
    floor, configured = float(gg.get("min_cluster_fidelity", 0.0)), float(gg.get("overlap_weight", 0.0))
    if floor <= 0 or configured <= 0:
        return []
    rows = torch.as_tensor(subsample_rows(len(clusters), 2000, seed), device=gated.device)

    def weakest() -> float:
        return agree(stage2.global_gate_fidelity(module, gated[rows], clusters[rows], seed)["global_gate_fidelity_min"])

    fits = [{"overlap_weight": configured, "fidelity_min": weakest(), "kept": True}]
    best = fits[0], (module.global_gates, module.aux_classifier)
    try:
        while best[0]["fidelity_min"] < floor and fits[-1]["overlap_weight"] > 0:
            gg["overlap_weight"] = fits[-1]["overlap_weight"] / 2 if len(fits) <= HALVINGS else 0.0
            finite = _watched_refit(module, gated, clusters, batch, steps, seed, watch, agree)
            fits.append({"overlap_weight": gg["overlap_weight"], "fidelity_min": weakest() if finite else None,
                         "kept": False, **({} if finite else {"nonfinite": True})})
            if finite and fits[-1]["fidelity_min"] > best[0]["fidelity_min"]:
                best = fits[-1], (module.global_gates, module.aux_classifier)
    finally:
        gg["overlap_weight"] = configured
    for fit in fits:
        fit["kept"] = fit is best[0]
    module.global_gates, module.aux_classifier = best[1]
    return fits


def _watched_refit(module: nn.Module, gated: Tensor, clusters: Tensor, batch: int, steps: int, seed: int,
                   watch: Callable[[dict[str, Tensor]], None] | None, agree: Callable[[float], float]) -> bool:
    """One refit of :func:`guard_overlap`; whether its loss terms stayed finite (one host sync per fit; rank 0's
    answer under DDP). A fit that went NaN is left out, not the run stopped: the trained fit is still there."""
    bad = torch.zeros((), dtype=torch.bool, device=gated.device)

    def seen(terms: dict[str, Tensor]) -> None:
        nonlocal bad
        bad = bad | stage2.nonfinite_terms(terms).any()
        if watch is not None:
            watch(terms)

    refit_global_gates(module, gated, clusters, batch, steps, seed, seen)
    return not agree(float(bad))


def guard_trained(module: nn.Module) -> list[dict[str, Any]]:
    """:func:`guard_overlap` at the end of training (after :func:`idc.stage2.extend_global_gates`): the frozen gated
    table, the kept head's partition, the run's own global-gate steps and batch (a batch per DDP process; every
    process measures and refits alike from rank 0's gates and acts on rank 0's measures, then takes rank 0's fit).
    A kept refit's weights go into the run's own modules, whose optimizer state (of the replaced fit) is cleared.
    The fits go to ``module.head_selection["overlap_guard"]`` (metrics.json); a kept refit is logged."""
    gg, trainer, frozen = module.head_cfg["global_gates"], module.trainer, module.frozen
    batch = int(trainer.datamodule.batch_size) * trainer.world_size
    steps = round(float(gg.get("train_factor", 1.0)) * stage2.global_gate_phase_steps(module))
    distributed = trainer.world_size > 1
    if distributed:
        stage2.share_rank_zero(stage2.global_gate_tensors(module))
    own = module.global_gates, module.aux_classifier
    fits = guard_overlap(module, frozen.gated, stage2.frozen_partition(module), batch, steps, module.seed,
                         stage2.after_last_epoch_watch(module, nan_guard=False),
                         (lambda v: float(trainer.strategy.broadcast(float(v), 0))) if distributed else float)
    if fits:
        module.head_selection["overlap_guard"] = fits
    for fit in fits:
        if fit.get("nonfinite") and trainer.is_global_zero:
            log.warning("global gates: the refit at overlap_weight %g went NaN or infinite and was left out",
                        fit["overlap_weight"])
    if module.global_gates is not own[0]:  # a refit kept: into the modules that the run's optimizer holds
        for mine, fitted in zip(own, (module.global_gates, module.aux_classifier)):
            mine.load_state_dict(fitted.state_dict())
        module.global_gates, module.aux_classifier = own
        module.optimizers()[-1].optimizer.state.clear()  # Adam's moments were the replaced fit's
        stage2.share_rank_zero(stage2.global_gate_tensors(module))
        kept = next(f for f in fits if f["kept"])
        if trainer.is_global_zero:
            log.info("global gates: refitted at overlap_weight %g, where the weakest cluster is recognised from its "
                     "features in %.0f %% of its rows (%.0f %% at %g; head.global_gates.min_cluster_fidelity %g)",
                     kept["overlap_weight"], 100 * kept["fidelity_min"], 100 * fits[0]["fidelity_min"],
                     fits[0]["overlap_weight"], float(gg["min_cluster_fidelity"]))
    return fits


def refit(module: nn.Module, X: np.ndarray, local_gates: np.ndarray, clusters: np.ndarray, batch: int, seed: int,
          overrides: list[str], steps_factor: float = 1.0) -> dict[str, Any]:
    """Apply ``overrides`` to ``module.head_cfg`` (and its saved hyperparameters) and refit its global gates on the
    gated rows ``X * local_gates`` towards ``clusters`` for ``steps_factor`` times as many steps as the run gave them
    (:func:`global_gate_steps` times ``train_factor``) at ``batch`` rows, under :func:`guard_overlap`; returns the
    overrides, steps, batch and the guard's fits. A bad override or a failed refit raises and leaves ``module`` as
    it was."""
    absent = ("train_factor", "overlap_weight", "min_cluster_fidelity")  # keys that older runs lack
    current = {**{k: float(ABSENT_MEANS[PREFIX + k]) for k in absent}, **module.head_cfg["global_gates"]}
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
    old = module.global_gates, module.aux_classifier
    try:
        if not _watched_refit(module, gated, labels, batch, steps, seed, None, float):
            raise ValueError(f"the refit of the global gates under {overrides} went NaN or infinite; the run's "
                             "own are kept (a lower head.global_gates.lr may help)")
        guarded = guard_overlap(module, gated, labels, batch, steps, seed)
    except BaseException:
        module.head_cfg["global_gates"] = current
        module.global_gates, module.aux_classifier = old
        raise
    if "head" in module.hparams:  # saved with the model (IDC.save): the refitted gates' settings
        module.hparams["head"] = {**module.hparams["head"], "global_gates": dict(settings)}
    return {"overrides": parsed, "steps": steps, "batch": batch, "overlap_guard": guarded}
