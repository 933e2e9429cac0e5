"""A Lightning logger that keeps every epoch-level value in ``history.csv`` of the run directory, whatever
experiment logger is chosen, so that curves can be redrawn from files alone."""
from __future__ import annotations

import csv
import time
from pathlib import Path
from typing import Any

from pytorch_lightning.loggers import Logger
from pytorch_lightning.utilities import rank_zero_only

from idc.io import replacing

HISTORY = "history.csv"


class HistoryLogger(Logger):
    """Collects ``{name: value}`` per epoch and rewrites ``history.csv`` on ``save``/``finalize``."""

    def __init__(self, run_dir: str | Path, every_seconds: float = 30.0):
        super().__init__()
        self.path = Path(run_dir) / HISTORY
        self.rows: dict[int, dict[str, float]] = {}
        self.every_seconds = every_seconds  # Lightning asks to save after every log call: rewrite at most this often
        self._saved_at = 0.0
        if self.path.exists():  # a resumed run keeps its earlier epochs
            with open(self.path, newline="") as f:
                for row in csv.DictReader(f):
                    epoch = int(float(row.pop("epoch")))
                    self.rows[epoch] = {"epoch": epoch, **{k: float(v) for k, v in row.items() if v not in ("", None)}}

    @property
    def name(self) -> str:
        return "history"

    @property
    def version(self) -> str:
        return ""

    @rank_zero_only
    def log_hyperparams(self, params: Any, *args: Any, **kwargs: Any) -> None:
        pass

    @rank_zero_only
    def log_metrics(self, metrics: dict[str, float], step: int | None = None) -> None:
        epoch = int(metrics.get("epoch", -1))
        if epoch >= 0:
            self.rows.setdefault(epoch, {"epoch": epoch}).update(
                {k: float(v) for k, v in metrics.items() if k != "epoch"}
            )

    @rank_zero_only
    def save(self, force: bool = False) -> None:
        if not self.rows or (not force and time.monotonic() - self._saved_at < self.every_seconds):
            return
        self._saved_at = time.monotonic()
        self.path.parent.mkdir(parents=True, exist_ok=True)  # fit() may log before anything else made the run dir
        columns = ["epoch", *sorted({k for row in self.rows.values() for k in row} - {"epoch"})]
        with replacing(self.path) as tmp, open(tmp, "w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=columns)
            writer.writeheader()
            for epoch in sorted(self.rows):
                writer.writerow(self.rows[epoch])

    @rank_zero_only
    def after_save_checkpoint(self, checkpoint_callback: Any) -> None:
        """Written with every checkpoint, so a run killed later resumes with its history up to that epoch."""
        self.save(force=True)

    @rank_zero_only
    def finalize(self, status: str) -> None:
        self.save(force=True)
