"""Hyperparameter search with Optuna (``configs/hparams_search``): every trial is an ordinary training run in
its own run directory, scored without labels by default (silhouette of the final embedding)."""
from __future__ import annotations

import json
import logging
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from omegaconf import OmegaConf

from idc import run_dir as rd
from idc.console import also_to_file, show_progress
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
        return silhouette(pred["embeddings"], pred["clusters"], undefined=-1.0)  # one cluster: the worst, not a failure
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
    study = open_study(spec, storage)
    check_same_search(study, overrides)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        optuna.storages.fail_stale_trials(study)  # a killed search's trial: failed, and queued again as it was
        retried = {optuna.storages.RetryHeartbeatStaleTrialCallback.retried_trial_number(t) for t in study.trials} - {None}
    finished = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.FAIL, optuna.trial.TrialState.PRUNED)
    done = [t for t in study.get_trials(deepcopy=False, states=finished) if t.number not in retried]
    remaining = int(spec["n_trials"]) - len(done)
    # reseeded by the trials so far: a resumed search does not replay the settings its sampler already tried
    study.sampler = optuna.samplers.TPESampler(seed=int(spec["sampler_seed"]) + len(study.trials))

    def objective(trial: optuna.Trial) -> float:
        # a retried trial inherits its first attempt's run_dir (user attributes are copied) and resumes there
        run_dir = Path(trial.user_attrs.get("run_dir") or storage.parent / f"trial{trial.number}")
        trial.set_user_attr("run_dir", str(run_dir))
        cfg = compose_run([*overrides, *suggest(trial, spec["params"])], run_dir)
        run_dir.mkdir(parents=True, exist_ok=True)
        log.info("trial %d: run directory: %s", trial.number, run_dir)
        with also_to_file(run_dir / "train.log"):  # as idc-train's run directories
            train(cfg, show_progress=show_progress("auto"))
        return score(run_dir, spec["objective"])

    if remaining > 0:
        study.optimize(objective, n_trials=remaining, catch=(Exception,))
    return study


def open_study(spec: dict[str, Any], storage: Path) -> Any:
    """The study in SQLite ``storage`` (created or loaded), with heartbeats: a trial silent for twice
    ``heartbeat_seconds`` counts as killed and is queued again, with its settings, up to ``max_retry`` times."""
    import optuna

    beat = int(spec.get("heartbeat_seconds", 60))
    with warnings.catch_warnings():  # heartbeats are marked experimental (in Optuna since 2.9)
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        retry = optuna.storages.RetryHeartbeatStaleTrialCallback(max_retry=int(spec.get("max_retry", 2)))
        rdb = optuna.storages.RDBStorage(
            f"sqlite:///{storage}", heartbeat_interval=beat, grace_period=2 * beat, heartbeat_stale_trial_callback=retry
        )
    return optuna.create_study(
        study_name=spec["study_name"], storage=rdb, load_if_exists=True, direction=spec["direction"]
    )


def check_same_search(study: Any, overrides: Sequence[str]) -> None:
    """A study holds the trials of one configuration: the first search records its overrides (all but
    ``hparams_search.*``), and a later one with other overrides is refused instead of mixing into it."""
    settings = sorted(o for o in overrides if not o.lstrip("+~").startswith("hparams_search"))
    recorded = study.user_attrs.get("overrides")
    if recorded is None:
        study.set_user_attr("overrides", settings)
    elif list(recorded) != settings:
        raise SystemExit(
            f"idc-search: study {study.study_name!r} was run with {recorded}, this search has {settings}; resume "
            "with the same overrides, or start another study with hparams_search.study_name=NAME"
        )
