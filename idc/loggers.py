"""Experiment loggers (W&B offline by default, CSV, or none) built from the ``logger`` config group."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from pytorch_lightning.loggers import Logger


def build_logger(logger_cfg: Any, run_dir: Path) -> Logger | bool:
    """Instantiate the configured logger writing into ``run_dir``; ``False`` when the group is ``none``."""
    if not logger_cfg or logger_cfg.get("_target_") is None:
        return False
    from idc.config import instantiate

    return instantiate(logger_cfg, save_dir=str(run_dir))


def finish_logger(logger: Logger | bool) -> None:
    """Close the W&B run so that the next job of a multirun starts its own."""
    if logger and type(logger).__name__ == "WandbLogger":
        import wandb

        wandb.finish()
