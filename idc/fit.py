"""A neural IDC run with Lightning: the module and ``Trainer`` a config describes, their fit (resuming from the
run's last checkpoint), and the run's predictions, evaluation and files (:func:`train_model`, called by
:func:`idc.train.train`)."""
from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
from omegaconf import DictConfig, OmegaConf
from pytorch_lightning.callbacks import ModelCheckpoint
from pytorch_lightning.loggers import Logger
from pytorch_lightning.utilities import rank_zero_only

from idc import run_dir as rd
from idc import signals, stage2
from idc.callbacks import (CheckpointOnSigterm, EpochPicks, Stage1Checkpoint, StopOnEarlySignal, progress_callbacks,
                           resumed_epoch, stop_if_any)
from idc.config import instantiate
from idc.data import Table, TableDataModule
from idc.data.preprocess import Fitted
from idc.evaluate import evaluate, image_shape_of
from idc.history import HistoryLogger
from idc.inference import predict
from idc.loggers import build_logger, finish_logger
from idc.metrics import headline_metrics
from idc.module import IDCModule
from idc.schedule import stage1_only_schedule


def is_rank_zero() -> bool:
    """Whether this process is rank 0 (Lightning's rank from the environment, known before a ``Trainer``
    exists; always under one process)."""
    return rank_zero_only.rank == 0


def build_module(cfg: DictConfig, n_features: int, n_clusters: int) -> IDCModule:
    """The LightningModule a config describes, for a table of ``n_features`` columns and ``n_clusters``; the
    ``schedule`` node when the config has one, else ``model.schedule``."""
    def plain(node: Any) -> dict:
        return OmegaConf.to_container(node, resolve=True)

    schedule = plain(cfg.schedule) if cfg.get("schedule") is not None else None
    return IDCModule(n_features, n_clusters, plain(cfg.gates), plain(cfg.head), plain(cfg.model), schedule, seed=cfg.seed)


def log_evaluation(logger: Any, metrics: dict[str, Any], plots: list[Path], step: int) -> None:
    """Numbers to the experiment logger under ``eval/``; plots as images when it is W&B."""
    if not logger:
        return
    logger.log_metrics({f"eval/{k}": v for k, v in metrics.items() if isinstance(v, (int, float))}, step=step)
    if plots and hasattr(logger, "log_image"):
        for path in plots:
            logger.log_image(key=f"plots/{path.stem}", images=[str(path)], step=step)


def fit(
    cfg: DictConfig,
    table: Table,
    run_dir: Path,
    show_progress: bool = False,
    logger: Logger | bool = False,
    **trainer_kwargs: Any,
) -> tuple[IDCModule, pl.Trainer, str | None]:
    """Seed, build the data module, model and Lightning ``Trainer`` from ``cfg`` and train on ``table``;
    checkpoints go to ``run_dir/checkpoints`` and training resumes from ``last.ckpt`` when it exists (and
    ``cfg.resume``). ``trainer_kwargs`` override the ``trainer`` config. Returns the module, the trainer (its
    :class:`EpochPicks` holds the epochs picked) and the checkpoint resumed from."""
    stage1_only_schedule(cfg)
    pl.seed_everything(cfg.seed, workers=True, verbose=False)
    per_row = cfg.get("data_loading", "index") == "per_row"
    datamodule = TableDataModule(table, cfg.dataset.batch_size, seed=cfg.seed, per_row=per_row)
    module = build_module(cfg, table.n_features, int(table.n_clusters))
    if cfg.model.get("stage1_checkpoint"):
        stage2.load_stage1(module, cfg.model.stage1_checkpoint)
    callbacks: list[pl.Callback] = [
        EpochPicks(table.y),
        Stage1Checkpoint(run_dir / rd.STAGE1_CHECKPOINT),
        StopOnEarlySignal(),
        ModelCheckpoint(
            dirpath=run_dir / Path(rd.CHECKPOINT).parent,
            filename=Path(rd.CHECKPOINT).stem,
            every_n_epochs=int(cfg.get("checkpoint_every", 50)),
            save_top_k=1,
            enable_version_counter=False,
            save_on_train_epoch_end=True,  # after the module's non-finite-loss check of that epoch
        ),
        CheckpointOnSigterm(run_dir / rd.CHECKPOINT),
    ]
    callbacks += progress_callbacks(show_progress, cfg.get("progress_every"))  # a bar, or a line every N epochs
    callbacks += list(trainer_kwargs.pop("callbacks", []))  # the caller's callbacks come in addition
    history = HistoryLogger(run_dir)
    arguments = dict(
        callbacks=callbacks,
        logger=[history, logger] if logger else [history],
        default_root_dir=str(run_dir),
        enable_progress_bar=show_progress,
    )
    trainer: pl.Trainer = instantiate(cfg.trainer, **{**arguments, **trainer_kwargs})
    last = run_dir / rd.CHECKPOINT
    ckpt_path = str(last) if cfg.get("resume", True) and last.exists() else None
    with signals.deferred_to_lightning() as since:  # the saves too: a SIGTERM inside is noted, not raised there
        trainer.fit(module, datamodule=datamodule, ckpt_path=ckpt_path, weights_only=True)
        trainer.save_checkpoint(last, weights_only=False)
        history.save(force=True)
    # noted after the last epoch's check (or while fit tore down, or the saves ran): the run stops here,
    # resumable at its end
    stop_if_any(trainer, trainer.received_sigterm or signals.noted_since(since))
    module.to(trainer.strategy.root_device)
    return module, trainer, ckpt_path


def train_model(
    cfg: DictConfig, run_dir: Path, table: Table, started: float, show_progress: bool, callbacks: list[pl.Callback]
) -> dict[str, Any]:
    """The neural run of :func:`idc.train.train`: fit, predict, evaluate and finish ``run_dir`` (rank 0 only
    writes). Returns the final metrics."""
    first = is_rank_zero()
    if first:
        rd.start_run(run_dir, cfg)
        Fitted.of(table, bool(cfg.dataset.get("log1p", False))).save(run_dir / rd.PREPROCESSING)
    logger = build_logger(cfg.get("logger"), run_dir) if first else False
    try:
        module, trainer, ckpt_path = fit(cfg, table, run_dir, show_progress, logger, callbacks=callbacks)
        train_seconds = time.perf_counter() - started
        pred = predict(module, table.X, module.hparams.model.get("embedding_clusterer"), int(cfg.seed))
        selections = EpochPicks.of(trainer).selections()
        metrics = headline_metrics(pred, table.y, table.n_clusters, selections)
        metrics.update(dataset=cfg.dataset.name, seed=int(cfg.seed), epochs=int(trainer.current_epoch))
        if module.head_selection:  # restarts / k-means start of the head: the label-free criterion's values
            metrics["head_selection"] = module.head_selection
        if not trainer.is_global_zero:
            return metrics
        if logger:
            logger.log_metrics(
                {f"final/{k}": v for k, v in metrics.items() if isinstance(v, (int, float))},
                step=trainer.global_step,
            )
        eval_cfg = cfg.get("eval") or {}
        if eval_cfg.get("enabled", True):
            scores, plots = evaluate(module, table, run_dir, eval_cfg, pred, image_shape_of(cfg.dataset), selections)
            log_evaluation(logger, scores, plots, trainer.global_step)
    finally:
        finish_logger(logger)
    rd.finish_run(
        run_dir, metrics, pred, table.feature_names, table.y, time.perf_counter() - started, str(module.device),
        class_names=table.class_names, train_seconds=round(train_seconds, 3), lightning=pl.__version__,
        world_size=trainer.world_size, resumed_from=ckpt_path, resumed_at_epoch=resumed_epoch(trainer),
    )
    return metrics
