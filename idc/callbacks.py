"""Lightning callbacks of an IDC run: the per-evaluation metrics with the epochs they pick, the stage-1
checkpoint and progress lines. The labels (only ever logged and recorded, never trained on) reach these and never the model."""
from __future__ import annotations

import signal
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pytorch_lightning as pl
from pytorch_lightning.callbacks import Checkpoint
from pytorch_lightning.trainer.states import TrainerFn
import torch

from idc import signals, stage2
from idc.console import duration, log
from idc.metrics import clustering_metrics, open_gates, silhouette
from idc.run_dir import LABEL_SELECTED, SILHOUETTE_SELECTED

#: keys of the picks in checkpoints saved before the picks had their own callback state
LEGACY_KEYS = {"best_by_label": "idc_best_by_label", "best_by_silhouette": "idc_best_by_silhouette"}


class EpochPicks(pl.Callback):
    """Metrics of every evaluation (open gates; in stage 2 the silhouette of its partition on the frozen
    embeddings, -1 for one cluster, and with ``labels`` ACC/NMI/ARI), and the stage-2 evaluations kept: the one
    with the highest silhouette (the label-free checkpoint selection the paper's text names) and, apart, the one
    with the highest ACC (the official code's label-picked report). Each pick records the other scores of its
    epoch and the clusters it used.

    Args:
        labels: the training table's labels, or ``None`` (the silhouette still picks).
    """

    def __init__(self, labels: np.ndarray | None = None):
        self.labels = labels
        self.best_by_label: dict[str, float] = {}
        self.best_by_silhouette: dict[str, float] = {}
        self._outputs: list[dict[str, torch.Tensor]] = []
        self._late: int | None = None  # the last epoch, when the head is chosen after its evaluation

    @staticmethod
    def of(trainer: pl.Trainer) -> "EpochPicks":
        """The trainer's instance (an empty one when it has none)."""
        return next((c for c in trainer.callbacks if isinstance(c, EpochPicks)), EpochPicks())

    # ------------------------------------------------------------------------------------- the picks
    def score(self, clusters: np.ndarray, epoch: int, embeddings: np.ndarray | None, seed: int = 0,
              record: bool = True) -> dict[str, float]:
        """One stage-2 evaluation's ``val/`` metrics; kept as a pick when it beats the current ones (``record``)."""
        metrics: dict[str, float] = {}
        if embeddings is not None:
            metrics["val/silhouette"] = silhouette(embeddings, clusters, seed=seed, undefined=-1.0)
        scores = clustering_metrics(self.labels, clusters) if self.labels is not None else {}
        metrics.update({f"val/{k}": v for k, v in scores.items()})
        if not record:
            return metrics
        picked = {"epoch": int(epoch), "clusters_used": int(len(np.unique(clusters))),
                  **{k.removeprefix("val/"): v for k, v in metrics.items()}}
        if "silhouette" in picked and picked["silhouette"] > self.best_by_silhouette.get("silhouette", -2.0):
            self.best_by_silhouette = picked
        if "acc" in picked and picked["acc"] > self.best_by_label.get("acc", -1.0):
            self.best_by_label = picked
        return metrics

    def selections(self) -> dict[str, dict[str, float]]:
        """The picks under their ``metrics.json`` names (the label-picked one is never a result)."""
        return selections_of({"best_by_silhouette": self.best_by_silhouette, "best_by_label": self.best_by_label})

    # ----------------------------------------------------------------------------------- Lightning hooks
    def on_validation_batch_end(self, trainer: pl.Trainer, module: pl.LightningModule, outputs: Any, batch: Any,
                                batch_idx: int, dataloader_idx: int = 0) -> None:
        self._outputs.append(outputs)

    def on_validation_epoch_end(self, trainer: pl.Trainer, module: pl.LightningModule) -> None:
        gates = torch.cat([o["gates"] for o in self._outputs]).cpu().numpy()
        clusters = torch.cat([o["clusters"] for o in self._outputs]).cpu().numpy()
        self._outputs.clear()
        metrics = {
            "val/open_local_gates": open_gates(gates, "median"),
            "val/open_global_gates": open_gates(module.global_gates.matrix().cpu().numpy(), "mean"),
        }
        # the head trains only in stage 2; while restarts train side by side none is the model's head yet
        epoch = trainer.current_epoch
        if not module.schedule.in_stage1(epoch) and (module._selected >= 0 or len(module.cluster_heads) == 1):
            # a sanity check before a resumed epoch: logged, never picked
            metrics.update(self._score_module(module, clusters, epoch, record=not trainer.sanity_checking))
        # every DDP rank evaluates the whole table with the same weights: the values agree, their mean is the value
        module.log_dict(metrics, sync_dist=True)

    def on_train_epoch_end(self, trainer: pl.Trainer, module: pl.LightningModule) -> None:
        # runs before the module's own hook, which chooses a head still unchosen at the end of the last epoch
        last = trainer.current_epoch >= trainer.max_epochs - 1
        unchosen = not module.schedule.in_stage1(trainer.current_epoch) and module._selected < 0
        self._late = trainer.current_epoch if last and unchosen else None

    def on_train_end(self, trainer: pl.Trainer, module: pl.LightningModule) -> None:
        if self._late is not None and module._selected >= 0:  # its final partition still gets its picks
            self._score_module(module, stage2.partitions(module, [module.cluster_head])[0].cpu().numpy(), self._late)
            self._late = None

    def _score_module(self, module: pl.LightningModule, clusters: np.ndarray, epoch: int, record: bool = True) -> dict:
        embeddings = module.frozen.host_embeddings() if module.frozen is not None else None
        return self.score(clusters, epoch, embeddings, seed=module.seed, record=record)

    def state_dict(self) -> dict[str, Any]:
        return {"best_by_label": dict(self.best_by_label), "best_by_silhouette": dict(self.best_by_silhouette)}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.best_by_label = dict(state_dict.get("best_by_label", {}))
        self.best_by_silhouette = dict(state_dict.get("best_by_silhouette", {}))

    def on_load_checkpoint(self, trainer: pl.Trainer, module: pl.LightningModule, checkpoint: dict[str, Any]) -> None:
        # checkpoints of earlier versions keep the picks at the top level (a state of this callback, when the
        # checkpoint has one, is loaded after this and wins)
        self.load_state_dict(picks_in(checkpoint))


def picks_in(checkpoint: Mapping[str, Any]) -> dict[str, dict]:
    """The picks saved in a checkpoint (by :class:`EpochPicks`, or at the top level by earlier versions)."""
    for key, state in (checkpoint.get("callbacks") or {}).items():
        if key.startswith(EpochPicks.__qualname__):
            return {k: dict(v) for k, v in state.items()}
    return {name: dict(checkpoint.get(key, {})) for name, key in LEGACY_KEYS.items()}


def selections_of(picks: Mapping[str, Mapping]) -> dict[str, dict[str, float]]:
    """The picks (:func:`picks_in`) under their ``metrics.json`` names, leaving out those never made."""
    named = {SILHOUETTE_SELECTED: picks.get("best_by_silhouette"), LABEL_SELECTED: picks.get("best_by_label")}
    return {name: dict(pick) for name, pick in named.items() if pick}


class Stage1Checkpoint(pl.Callback):
    """Weights at the end of stage 1, kept as ``checkpoints/stage1.ckpt`` for stage-2 sweeps
    (``model.stage1_checkpoint``) and diagnostics."""

    def __init__(self, path: Path):
        self.path = path

    def on_train_epoch_end(self, trainer: pl.Trainer, module: pl.LightningModule) -> None:
        if trainer.current_epoch == module.schedule.stage1_epochs - 1 and not module.stage1_loaded:
            module.raise_if_nonfinite()  # callbacks run before the module's own epoch-end check
            trainer.save_checkpoint(self.path, weights_only=True)


class StopOnEarlySignal(pl.Callback):
    """A SIGTERM that came while ``Trainer.fit`` set up (restoring the checkpoint, the module's setup), before
    Lightning's handler took over and so only noted (:func:`idc.signals.deferred_to_lightning`), stops the run at
    the start of training, before its first step, rather than after all of it; under DDP every process stops if
    one was signalled."""

    def __init__(self) -> None:
        self.since = len(signals.RECEIVED)

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        stop_if_any(trainer, signals.noted_since(self.since))


def stop_if_any(trainer: pl.Trainer, stop: bool) -> None:
    """Raise :class:`~idc.signals.Interrupted` (SIGTERM) where ``stop`` holds, in every DDP process if it holds in
    one (all of them call this at the same point)."""
    if trainer.world_size > 1:
        stop = trainer.strategy.reduce_boolean_decision(bool(stop), all=False)
    if stop:
        raise signals.Interrupted(signal.SIGTERM)


class CheckpointOnSigterm(Checkpoint):
    """A SIGTERM during an epoch of a single-process run (a training or validation step, or the epoch's end) lets
    that epoch finish and saves ``path`` at its end (after the module's own end of epoch: its NaN check), where
    Lightning then stops the run. Lightning alone stops right after the step, before the epoch's end, and the run
    would resume from the last periodic checkpoint (``checkpoint_every`` epochs back, or from nothing). Not in the
    last epoch, whose end holds the global gates' extra steps (a SIGTERM stops them at once) and the head's late
    pick: that epoch is replayed, as before. A checkpoint callback, so that it runs after the module's hook; under
    DDP Lightning's own stop is kept (the ranks agree on it in its loop)."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self._noted = False

    def _takes_over(self, trainer: pl.Trainer) -> bool:
        return (trainer.world_size == 1 and trainer.state.fn == TrainerFn.FITTING and trainer.received_sigterm
                and trainer.current_epoch < int(trainer.max_epochs or 0) - 1)

    def _note(self, trainer: pl.Trainer) -> None:
        if self._takes_over(trainer):
            self._noted = True
            trainer._signal_connector.received_sigterm = False  # the epoch goes on to its end

    def on_train_batch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule, *args: Any) -> None:
        self._note(trainer)

    def on_validation_batch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule, *args: Any) -> None:
        self._note(trainer)

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if self._noted or self._takes_over(trainer):
            trainer.save_checkpoint(self.path, weights_only=False)
            trainer._signal_connector.received_sigterm = True  # Lightning stops at this epoch's end


class ProgressLines(pl.Callback):
    """One log line every ``every`` epochs (about ten per run when ``None``; none when ``0``, beside a progress
    bar) with the time left, for output that goes to a file or CI; also says from which epoch a resumed run goes
    on, and keeps it (:func:`resumed_epoch`). The parts of an IDC run train at different paces (stage 2 on frozen
    inputs; :meth:`idc.schedule.Schedule.phases`), so the time left is that of the current part, timed on its own
    epochs after its first (which sets it up: frozen inputs, the heads' k-means starts), and the parts after it are
    named by their epochs."""

    def __init__(self, every: int | None = None):
        self.every = every
        self.first_epoch = 0
        self._started = 0.0
        self._timed_from = (0.0, 0)  # (time, epoch) from which the current part's pace is timed

    def on_train_start(self, trainer: pl.Trainer, module: pl.LightningModule) -> None:
        self._started, self.first_epoch = time.monotonic(), trainer.current_epoch
        self._timed_from = (self._started, self.first_epoch)
        if trainer.ckpt_path and trainer.is_global_zero:
            log.info("resumed from %s at epoch %d of %d", trainer.ckpt_path, trainer.current_epoch,
                     trainer.max_epochs)

    def on_train_epoch_end(self, trainer: pl.Trainer, module: pl.LightningModule) -> None:
        total, done = int(trainer.max_epochs or 0), trainer.current_epoch + 1
        parts = phases(module)
        now = time.monotonic()
        # a part's first epoch, or a resumed run's (stage 2 computes its frozen inputs again): time from its end
        if trainer.current_epoch in {start for start, _ in parts[1:]} or trainer.current_epoch == self.first_epoch > 0:
            self._timed_from = (now, done)
        every = max(1, total // 10) if self.every is None else self.every
        if not every or not trainer.is_global_zero or (done % every and done != total):
            return
        since, from_epoch = self._timed_from
        ends = [start for start, _ in parts[1:]] + [total]
        current = next(i for i, end in enumerate(ends) if done <= end or end == total)
        if done > from_epoch:
            pace = (now - since) / (done - from_epoch)
        else:  # the end of a part's first epoch: the run's pace so far
            pace = (now - self._started) / max(1, done - self.first_epoch)
        left = f"about {duration(pace * (ends[current] - done))} left"
        if ends[current] < total:
            later = ", ".join(f"{end - start} epoch{'s' * (end - start != 1)} of {name}" for (start, name), end in
                              zip(parts[current + 1:], ends[current + 1:]))
            left += f" in {parts[current][1]} (then {later})"
        log.info("epoch %d/%d, %s elapsed, %s", done, total, duration(now - self._started), left)


def phases(module: pl.LightningModule) -> list[tuple[int, str]]:
    """The parts of ``module``'s run (:meth:`idc.schedule.Schedule.phases`); one part for a module without a
    schedule."""
    schedule = getattr(module, "schedule", None)
    if not hasattr(schedule, "phases"):
        return [(0, "training")]
    return schedule.phases(global_gates=bool(getattr(module, "global_gates_enabled", True)))


def progress_callbacks(bar: bool, every: int | None = None) -> list[pl.Callback]:
    """A rich progress bar (``bar``: a terminal) or a line every ``every`` epochs (a file, CI)."""
    if bar:
        from pytorch_lightning.callbacks import RichProgressBar

        return [RichProgressBar(), ProgressLines(every=0)]
    return [ProgressLines(int(every) if every else None)]


def resumed_epoch(trainer: pl.Trainer) -> int | None:
    """The epoch a resumed ``fit`` went on from (``None`` when it started afresh), as :class:`ProgressLines` saw it."""
    if not trainer.ckpt_path:
        return None
    return next((c.first_epoch for c in trainer.callbacks if isinstance(c, ProgressLines)), None)
