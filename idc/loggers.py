"""Experiment loggers (W&B offline by default, CSV, or none) built from the ``logger`` config group."""
from __future__ import annotations

import csv
import os
from pathlib import Path
from typing import Any

from pytorch_lightning.loggers import CSVLogger, Logger
from pytorch_lightning.loggers.csv_logs import ExperimentWriter
from pytorch_lightning.loggers.logger import rank_zero_experiment

from idc.run_dir import replacing


def build_logger(logger_cfg: Any, run_dir: Path) -> Logger | bool:
    """Instantiate the configured logger writing into ``run_dir``; ``False`` when the group is ``none``."""
    if not logger_cfg or logger_cfg.get("_target_") is None:
        return False
    from idc.config import instantiate

    logger = instantiate(logger_cfg, save_dir=str(run_dir))
    if type(logger).__name__ == "WandbLogger":
        # Lightning always passes `anonymous`, which W&B now only answers with a warning that it has no effect
        getattr(logger, "_wandb_init", {}).pop("anonymous", None)
    return logger


def finish_logger(logger: Logger | bool) -> None:
    """Close the W&B run so that the next job of a multirun starts its own."""
    if logger and type(logger).__name__ == "WandbLogger":
        import wandb

        wandb.finish()


class _KeepingWriter(ExperimentWriter):
    """Lightning's CSV writer, except that an earlier ``metrics.csv`` (a resumed or re-run run) is kept rather than
    deleted: its rows come first, less those of the epochs the new run does again and the step-only rows (final
    and evaluation values) at or after the new run's first step."""

    def _check_log_dir_exists(self) -> None:
        self.earlier: list[dict[str, str]] = []
        if os.path.isfile(self.metrics_file_path):
            with open(self.metrics_file_path, newline="") as f:
                self.earlier = list(csv.DictReader(f))
        self.written: list[dict[str, Any]] = []

    def save(self) -> None:
        if not self.metrics:
            return
        self.written += self.metrics
        self.metrics = []
        from_epoch = min((e for e in map(_number, (r.get("epoch") for r in self.written)) if e is not None),
                         default=float("inf"))
        from_step = min((s for s in map(_number, (r.get("step") for r in self.written)) if s is not None),
                        default=float("inf"))

        def kept(row: dict[str, str]) -> bool:
            epoch = _number(row.get("epoch"))
            if epoch is not None:
                return epoch < from_epoch
            step = _number(row.get("step"))
            return step is None or step < from_step

        rows = [r for r in self.earlier if kept(r)] + self.written
        self.metrics_keys = sorted({k for r in rows for k in r})
        with replacing(Path(self.metrics_file_path)) as tmp, open(tmp, "w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=self.metrics_keys)
            writer.writeheader()
            writer.writerows(rows)


class HistoryKeepingCSVLogger(CSVLogger):
    """``CSVLogger`` whose ``metrics.csv`` keeps every epoch over resumes and re-runs (Lightning's own starts it
    over); epochs done again replace their earlier rows."""

    @property
    @rank_zero_experiment
    def experiment(self) -> _KeepingWriter:
        if self._experiment is None:
            self._fs.makedirs(self.root_dir, exist_ok=True)
            self._experiment = _KeepingWriter(log_dir=self.log_dir)
        return self._experiment


def _number(value: Any) -> float | None:
    if value in (None, ""):
        return None
    return float(value)
