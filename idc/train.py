"""One run from a composed config to a finished run directory: the table, the size rule, the resume check and
the files every run writes, then a baseline (:mod:`idc.baselines`, no Lightning: it starts in seconds), a
consensus of seeds (:mod:`idc.consensus_run`) or one neural run (:mod:`idc.fit`)."""
from __future__ import annotations

import time
from collections.abc import Collection
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from idc import run_dir as rd
from idc.data import load_table
from idc.schedule import stage1_only_schedule
from idc.size_rule import apply_size_rule, command_line_keys


def train(cfg: DictConfig, show_progress: bool = False, callbacks: list = (),
          explicit: Collection[str] | None = None) -> dict[str, Any]:
    """Train IDC as ``cfg`` says and fill ``cfg.paths.output_dir``: resolved config, checkpoints,
    ``metrics.json``, ``predictions.h5``, the evaluation and, last, ``DONE``; a failure leaves ``FAILED`` (the
    error and its traceback) and is raised again; a directory whose checkpoint has other settings is refused
    (:class:`idc.run_dir.SettingsChanged`) and left untouched. ``callbacks`` (Lightning's) join the run's own.
    Under DDP only rank 0 writes to the run directory (the other ranks run this function too, from Lightning's
    launcher). ``explicit``: the keys the size rule must leave as given (default: the running Hydra app's command
    line, :func:`idc.size_rule.command_line_keys`). Returns the final metrics."""
    run_dir = Path(cfg.paths.output_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    stage1_only_schedule(cfg)
    started = time.perf_counter()
    baseline = bool(cfg.method.get("baseline"))
    try:  # the table first: the size rule sets keys from its shape before the settings are compared and saved
        table = load_table(cfg.dataset)
        if not baseline:
            apply_size_rule(cfg, table.n_samples, table.n_features,
                            command_line_keys() if explicit is None else explicit)
    except Exception as err:
        rd.mark_started(run_dir)  # no DONE of an earlier attempt beside this FAILED
        rd.mark_failed(run_dir, err)
        raise
    if cfg.get("resume", True):  # before anything is written: a mismatch leaves the directory as it was
        rd.check_resumable(run_dir, OmegaConf.to_container(cfg, resolve=True))
    if baseline:
        from idc.baselines import run_baseline

        try:
            rd.start_run(run_dir, cfg)
            return run_baseline(cfg, table, run_dir)
        except Exception as err:
            rd.mark_failed(run_dir, err)
            raise
    from idc.fit import is_rank_zero, train_model  # Lightning: imported for a neural run only

    try:
        if int(cfg.model.get("n_init", 1)) > 1:
            from idc.consensus_run import train_consensus

            return train_consensus(cfg, run_dir, table, train, show_progress)
        return train_model(cfg, run_dir, table, started, show_progress, list(callbacks))
    except Exception as err:
        if is_rank_zero():
            rd.mark_failed(run_dir, err)
        raise
