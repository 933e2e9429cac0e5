"""``idc-train``: the Hydra application that trains IDC (root config ``configs/train.yaml``).

Examples::

    idc-train                                     # synthetic data, CPU, W&B offline
    idc-train dataset=digits trainer=cpu logger=csv
    idc-train dataset=allaml schedule=paper       # the paper's schedule (Table 7) for ALLAML
    idc-train -m seed=0,1,2                       # a multirun sweep

Exit status: 0 done (or skipped), 1 failed, 2 bad input, 128 + N stopped by signal N (143: SIGTERM), which
leaves ``INTERRUPTED`` in the run directory; the same command resumes.
"""
from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig

from idc.cli.overrides import checked, refuse
from idc.config import config_dir

if TYPE_CHECKING:
    from idc.signals import Interrupted

log = logging.getLogger("idc")


@checked("idc-train")  # a misspelt key: the schema's "did you mean", not Hydra's "+key" advice
@hydra.main(version_base="1.3", config_path=str(config_dir()), config_name="train")
def main(cfg: DictConfig) -> None:
    from idc import console, signals

    signals.interrupt_on_signals()
    console.quiet_libraries()
    console.route_lightning_logs()
    hydra_cfg = HydraConfig.get()
    multirun = hydra_cfg.mode == RunMode.MULTIRUN
    run_dir = Path(cfg.paths.output_dir)
    if multirun and hydra_cfg.job.num == 0:
        log.info("multirun folder: %s", Path(hydra_cfg.sweep.dir).resolve())
    log.info("run directory: %s", run_dir)
    if hydra_cfg.runtime.choices.get("trainer") == "smoke" and (not multirun or hydra_cfg.job.num == 0):
        log.warning("trainer=smoke is a deprecated alias of schedule=smoke (the same run); use schedule=smoke")
    from idc.schema import ConfigError, validate

    try:
        validate(cfg)
    except ConfigError as err:  # nothing was written (a sweep's job: its FAILED, for idc-table to list)
        if multirun:
            from idc.run_dir import CONFIG, mark_failed

            # an earlier run in this job's directory (a sweep run again with other values) keeps its own state
            where = "" if (run_dir / CONFIG).exists() else f" ({mark_failed(run_dir, err)})"
            log.error("job not run, the sweep goes on: %s%s", err, where)
            return
        refuse("idc-train", err)
    threads = console.apply_threads(console.threads_for(cfg.get("threads"), console.hydra_parallel_jobs()))
    log.debug("torch threads: %d", threads)

    from idc.data import DataError
    from idc.run_dir import FAILED, SettingsChanged, is_done
    from idc.train import train  # imported here so that `--help` and `--cfg` stay fast

    if cfg.get("skip_done") and is_done(run_dir):
        log.info("already done, skipped: %s", run_dir)
        return
    since = len(signals.RECEIVED)
    try:
        metrics = train(cfg, show_progress=console.show_progress(cfg.get("progress_bar", "auto")))
    except SettingsChanged as err:  # nothing was written
        if multirun:
            log.error("job not run, the sweep goes on: %s", err)
            return
        refuse("idc-train", err)
    except Exception as err:  # train() has written FAILED
        if (stop := signals.stopped_by_signal(err, since)) is not None:  # an error that a signal caused: a stop
            interrupted(cfg, run_dir, stop)
        signals.clear_interrupted(run_dir)
        failed = run_dir / FAILED
        if multirun:  # one failed job must not stop the sweep
            log.error("job failed, the sweep goes on: %s (details in %s)", err, failed)
            return
        if isinstance(err, DataError):
            refuse("idc-train", err)
        raise
    except BaseException as err:
        stop = signals.as_interrupted(err)
        if stop is None:
            raise
        interrupted(cfg, run_dir, stop)
    signals.clear_interrupted(run_dir)
    console.log_summary(f"done ({metrics.get('selection', 'final model')}), run directory: {run_dir}", metrics,
                        run_dir)


def interrupted(cfg: DictConfig, run_dir: Path, stop: Interrupted) -> NoReturn:
    """A signal stopped the run: ``INTERRUPTED`` in place of a ``FAILED`` that an error after it left, a line
    saying what the same command resumes from, and the exit status 128 + the signal's number."""
    from idc import signals
    from idc.run_dir import CHECKPOINT, FAILED

    if int(cfg.model.get("n_init", 1)) > 1:  # the runs keep their own checkpoints; the parent has none
        from idc.consensus_run import RUNS

        resumes = f"each run's own last checkpoint in {run_dir / RUNS} (runs that are done are kept)"
    else:
        resumes = signals.resumes_from(run_dir / CHECKPOINT)
    marker = signals.mark_interrupted(run_dir, stop, run_dir / CHECKPOINT, resumes, replaces=(FAILED,))
    log.error("interrupted (%s): the same command resumes from %s; see %s", stop, resumes, marker)
    raise SystemExit(stop.exit_code) from None


if __name__ == "__main__":
    main()
