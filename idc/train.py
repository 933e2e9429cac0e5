"""One training run from a composed config to a finished run directory."""
from __future__ import annotations

import platform
import time
from pathlib import Path
from typing import Any

import hydra
import numpy as np
import pytorch_lightning as pl
import torch
from omegaconf import DictConfig, OmegaConf
from pytorch_lightning.callbacks import ModelCheckpoint, RichProgressBar

from idc import run_dir as rd
from idc.data import TableDataModule, load_table
from idc.loggers import build_logger, finish_logger
from idc.metrics import cluster_sizes, clustering_metrics, open_gates
from idc.module import IDCModule


def build_module(cfg: DictConfig, n_features: int, n_clusters: int) -> IDCModule:
    """The LightningModule a config describes, for a table of ``n_features`` columns and ``n_clusters``."""
    def plain(node: Any) -> dict:
        return OmegaConf.to_container(node, resolve=True)

    return IDCModule(n_features, n_clusters, plain(cfg.gates), plain(cfg.head), plain(cfg.model), seed=cfg.seed)


def final_outputs(module: IDCModule, labels: np.ndarray | None) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """Predictions of the final model on the attached table and their metrics (no label-based selection)."""
    module.eval()
    out = {k: v.cpu().numpy() for k, v in module.infer().items()}
    arrays = {
        "clusters": out["clusters"].astype(np.int64),
        "local_gates": out["gates"].astype(np.float32),
        "global_gates": module.global_gates.matrix().cpu().numpy().astype(np.float32),
        "embeddings": out["embeddings"].astype(np.float32),
    }
    k = module.hparams.n_clusters
    metrics: dict[str, Any] = {
        "selection": "final_epoch",
        "open_local_gates": open_gates(arrays["local_gates"], "median"),
        "open_global_gates": open_gates(arrays["global_gates"], "mean"),
        "cluster_sizes": cluster_sizes(arrays["clusters"], k),
        "n_samples": int(len(arrays["clusters"])),
        "n_clusters": int(k),
    }
    if labels is not None:
        arrays["labels"] = np.asarray(labels)
        metrics.update(clustering_metrics(labels, arrays["clusters"]))
    if module.best_by_label:
        # chosen with the labels: shown only under a name that says so, never as the headline
        metrics["label_selected_best_epoch"] = dict(module.best_by_label)
    return arrays, metrics


def train(cfg: DictConfig, show_progress: bool = False) -> dict[str, Any]:
    """Train IDC as ``cfg`` says and fill ``cfg.paths.output_dir``; returns the final metrics.

    Resumes from ``checkpoints/last.ckpt`` when it exists (and ``cfg.resume``) and the run is not DONE.
    """
    run_dir = Path(cfg.paths.output_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / rd.CONFIG).write_text(OmegaConf.to_yaml(cfg, resolve=True))
    started = time.perf_counter()
    pl.seed_everything(cfg.seed, workers=True, verbose=False)

    table = load_table(cfg.dataset)
    datamodule = TableDataModule(table, cfg.dataset.batch_size, seed=cfg.seed)
    module = build_module(cfg, table.n_features, int(table.n_clusters))
    module.attach_table(datamodule.X, table.y)

    ckpt_dir = run_dir / Path(rd.CHECKPOINT).parent
    callbacks: list[pl.Callback] = [
        ModelCheckpoint(
            dirpath=ckpt_dir,
            filename=Path(rd.CHECKPOINT).stem,
            every_n_epochs=int(cfg.checkpoint_every),
            save_top_k=1,
            enable_version_counter=False,
        )
    ]
    if show_progress:
        callbacks.append(RichProgressBar())
    logger = build_logger(cfg.get("logger"), run_dir)
    trainer: pl.Trainer = hydra.utils.instantiate(
        cfg.trainer,
        callbacks=callbacks,
        logger=logger,
        default_root_dir=str(run_dir),
        enable_progress_bar=show_progress,
    )
    resume = run_dir / rd.CHECKPOINT
    ckpt_path = str(resume) if cfg.get("resume", True) and resume.exists() else None
    try:
        trainer.fit(module, datamodule=datamodule, ckpt_path=ckpt_path, weights_only=True)
        trainer.save_checkpoint(resume, weights_only=False)
        module.to(trainer.strategy.root_device)
        arrays, metrics = final_outputs(module, table.y)
        if logger:
            logger.log_metrics(
                {f"final/{k}": v for k, v in metrics.items() if isinstance(v, (int, float))},
                step=trainer.global_step,
            )
    finally:
        finish_logger(logger)
    metrics.update(dataset=cfg.dataset.name, seed=int(cfg.seed), epochs=int(trainer.current_epoch))
    if not trainer.is_global_zero:
        return metrics
    rd.write_predictions(run_dir / rd.PREDICTIONS, arrays, table.feature_names)
    rd.write_json(run_dir / rd.METRICS, metrics)
    rd.write_json(
        run_dir / rd.RUN_INFO,
        {
            "wall_seconds": round(time.perf_counter() - started, 3),
            "device": str(module.device),
            "torch": torch.__version__,
            "lightning": pl.__version__,
            "threads": torch.get_num_threads(),
            "python": platform.python_version(),
            "resumed_from": ckpt_path,
        },
    )
    rd.mark_done(run_dir)
    return metrics
