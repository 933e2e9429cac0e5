"""Hyperparameter search with Optuna (``configs/hparams_search``): every trial is an ordinary training run in
its own run directory, scored without labels by default (silhouette of the final embedding)."""
from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from omegaconf import OmegaConf

from idc import run_dir as rd
from idc.config import compose, compose_run

log = logging.getLogger(__name__)
LABEL_FREE = ("silhouette",)


def suggest(trial: Any, params: dict[str, dict[str, Any]]) -> list[str]:
    """Hydra overrides for one trial from the ``params`` spec (``float``/``int`` with ``low``/``high``/``log``,
    or ``categorical`` with ``choices``)."""
    overrides = []
    for key, spec in params.items():
        kind = spec["type"]
        if kind == "float":
            value = trial.suggest_float(key, float(spec["low"]), float(spec["high"]), log=bool(spec.get("log", False)))
        elif kind == "int":
            value = trial.suggest_int(key, int(spec["low"]), int(spec["high"]), log=bool(spec.get("log", False)))
        elif kind == "categorical":
            value = trial.suggest_categorical(key, list(spec["choices"]))
        else:
            raise ValueError(f"hparams_search.params.{key}: type must be float, int or categorical, got {kind!r}")
        overrides.append(f"{key}={value}")
    return overrides


def score(run_dir: Path, objective: str) -> float:
    """The trial's objective from its run directory: ``silhouette`` of the final embedding under the final
    clusters (label-free; -1 when everything fell into one cluster), or a label-based metric from
    ``metrics.json``."""
    if objective == "silhouette":
        from idc.metrics import silhouette

        pred = rd.read_predictions(run_dir / rd.PREDICTIONS)
        value = silhouette(pred["embeddings"], pred["clusters"])
        return -1.0 if np.isnan(value) else value  # one cluster left: the worst silhouette, not a failure
    value = json.loads((run_dir / rd.METRICS).read_text()).get(objective)
    if value is None:
        raise ValueError(f"{run_dir / rd.METRICS} has no {objective!r} (labels needed for a label-based objective)")
    return float(value)


def run_search(overrides: Sequence[str]) -> Any:
    """Run (or resume) the study ``hparams_search`` describes; returns the Optuna study."""
    import optuna

    from idc.train import train

    base = compose(overrides)
    if base.get("hparams_search") is None:
        raise SystemExit("idc-search: choose a search, e.g. `idc-search hparams_search=idc_silhouette`")
    spec = OmegaConf.to_container(base.hparams_search, resolve=True)
    if spec["objective"] not in LABEL_FREE:
        log.warning("objective %r uses the labels: its best trial is label-selected", spec["objective"])
    storage = Path(spec["storage"]).resolve()
    storage.parent.mkdir(parents=True, exist_ok=True)
    study = optuna.create_study(
        study_name=spec["study_name"], storage=f"sqlite:///{storage}", load_if_exists=True,
        direction=spec["direction"], sampler=optuna.samplers.TPESampler(seed=int(spec["sampler_seed"])),
    )
    finished = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.FAIL, optuna.trial.TrialState.PRUNED)
    remaining = int(spec["n_trials"]) - len(study.get_trials(deepcopy=False, states=finished))

    def objective(trial: optuna.Trial) -> float:
        run_dir = storage.parent / f"trial{trial.number}"
        cfg = compose_run([*overrides, *suggest(trial, spec["params"])], run_dir)
        train(cfg)
        trial.set_user_attr("run_dir", str(run_dir))
        return score(run_dir, spec["objective"])

    if remaining > 0:
        study.optimize(objective, n_trials=remaining, catch=(Exception,))
    return study
