"""The end of an ``idc-train -m`` sweep (a Hydra callback, ``configs/hydra/default.yaml``): one line that says how many
of its jobs finished, and one naming the jobs that failed or did not finish, so that a failure inside a long sweep is
not lost among its jobs' output; a sweep with a failed job exits with status 1 (the jobs after it still ran)."""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig

from idc import run_dir as rd

log = logging.getLogger(__name__)


def job_configs(root: Path) -> dict[Path, float]:
    """Hydra's ``.hydra/config.yaml`` of every job below ``root``, with its modification time."""
    return {c: c.stat().st_mtime for c in Path(root).rglob(".hydra/config.yaml")}


def sweep_jobs(root: Path, before: dict[Path, float] | None = None) -> dict[str, list[Path]]:
    """The job directories below a sweep's folder (those Hydra wrote ``.hydra/config.yaml`` into; with ``before``,
    :func:`job_configs` at the sweep's start, only those it wrote since: a folder that earlier sweeps share, as
    ``idc-paper``'s, holds their jobs too) by status: ``done``, ``failed`` (``FAILED``: an error, or a config
    refused), ``unfinished`` (neither: still running elsewhere, or stopped)."""
    jobs: dict[str, list[Path]] = {"done": [], "failed": [], "unfinished": []}
    for config, mtime in sorted(job_configs(root).items()):
        if before is not None and before.get(config) == mtime:
            continue
        job = config.parent.parent
        status = "failed" if (job / rd.FAILED).exists() else "done" if rd.is_done(job) else "unfinished"
        jobs[status].append(job)
    return jobs


class SweepSummary(Callback):
    """Logs :func:`sweep_jobs` of the sweep's folder, the jobs this sweep wrote, when the sweep ends."""

    def __init__(self) -> None:
        self.before: dict[Path, float] = {}

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        root = Path(config.hydra.sweep.dir)
        self.before = job_configs(root) if root.is_dir() else {}

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        jobs = sweep_jobs(Path(config.hydra.sweep.dir), self.before)
        total = sum(map(len, jobs.values()))
        if not total:
            return
        log.info("sweep: %d of %d jobs done, %d failed, %d unfinished (%s)", len(jobs["done"]), total,
                 len(jobs["failed"]), len(jobs["unfinished"]), config.hydra.sweep.dir)
        for status in ("failed", "unfinished"):
            if jobs[status]:
                log.error("sweep: %s: %s", status, ", ".join(str(j) for j in jobs[status]))
        if jobs["failed"]:
            raise SystemExit(1)  # as a single run that failed: scripts and schedulers must not read it as done
