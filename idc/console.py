"""What a run shows: its threads, a quiet console (Lightning's and W&B's chatter off, warnings kept), whether to
show a progress bar (the bar and the progress lines are callbacks: :mod:`idc.callbacks`) and where it went and
what it found. Imports no Lightning, so that a run refused for its settings, or a baseline, starts in seconds."""
from __future__ import annotations

import logging
import os
import sys
import warnings
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

log = logging.getLogger("idc")

#: known messages of libraries that tell a user nothing they can act on (matched at the start of the message)
_KNOWN_WARNINGS = (
    r"`isinstance\(treespec, LeafSpec\)` is deprecated",  # torch's pytree, raised inside Lightning
    r"The anonymous setting has no effect",  # W&B, set by Lightning's WandbLogger
    r"Checkpoint directory .* exists and is not empty",  # a resumed run: its checkpoints are why it resumes
)


# ------------------------------------------------------------------------------------------------ threads
def available_cores() -> int:
    """The cores this process may run on (its CPU affinity, which ``taskset`` and schedulers restrict)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows
        return os.cpu_count() or 1


def parallel_jobs(n_jobs: int | None, cores: int) -> int:
    """How many jobs joblib runs at once for ``n_jobs`` (its convention: -1 all cores, -2 all but one, ...)."""
    if not n_jobs:
        return 1
    return max(1, n_jobs if n_jobs > 0 else cores + 1 + n_jobs)


def threads_for(setting: Any, n_jobs: int | None = None) -> int:
    """Torch threads of one run: ``setting`` when given, else ``OMP_NUM_THREADS`` when set, else the available
    cores split between the ``n_jobs`` jobs that run at once (at least one each)."""
    cores = available_cores()
    if setting in (None, "auto") and os.environ.get("OMP_NUM_THREADS", "").isdigit():
        setting = os.environ["OMP_NUM_THREADS"]
    if setting in (None, "auto"):
        return max(1, cores // parallel_jobs(n_jobs, cores))
    try:
        threads = int(setting)
    except (TypeError, ValueError):
        threads = 0
    if threads < 1 or str(threads) != str(setting).strip():
        raise ValueError(f"threads={setting!r}: give a whole number of at least 1, or null for the {cores} "
                         "cores this process may use (split between parallel jobs)")
    return threads


def apply_threads(threads: int) -> int:
    """Let torch's intra-op pool use ``threads`` threads (more threads than free cores spin against each other)."""
    import torch

    torch.set_num_threads(threads)
    return threads


def hydra_parallel_jobs() -> int | None:
    """``n_jobs`` of Hydra's joblib launcher in a multirun; ``None`` for a single run or another launcher."""
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    hydra_cfg = HydraConfig.get()
    launcher = hydra_cfg.get("launcher") or {}
    if hydra_cfg.mode != RunMode.MULTIRUN or "joblib" not in str(launcher.get("_target_", "")).lower():
        return None
    return int(launcher.get("n_jobs") or -1)


# -------------------------------------------------------------------------------------------------- quiet
def quiet_libraries() -> None:
    """Lightning's info lines (devices, tips, "fit stopped"), W&B's banners and run summary and two known
    deprecation warnings off; every other warning and error still shows. Call before training starts."""
    os.environ.setdefault("WANDB_SILENT", "true")
    os.environ.setdefault("WANDB_CONSOLE", "off")  # W&B would otherwise capture and re-print the console
    for name in ("pytorch_lightning.utilities.rank_zero", "lightning.pytorch.utilities.rank_zero",
                 "pytorch_lightning.trainer.connectors.signal_connector",  # "Received SIGTERM": we say it ourselves
                 "pytorch_lightning.accelerators.cuda", "lightning.pytorch.accelerators.cuda"):
        logging.getLogger(name).setLevel(logging.WARNING)
    ignore_known_warnings()


def ignore_known_warnings() -> None:
    """Filter out the libraries' messages in :data:`_KNOWN_WARNINGS` (in a ``warnings.catch_warnings()`` block
    where the caller is a library: the estimator)."""
    for message in _KNOWN_WARNINGS:
        warnings.filterwarnings("ignore", message=message)


def route_lightning_logs() -> None:
    """Lightning's loggers print through their own handler and bypass the root one; send them to the root
    logger instead, so what is left of them reaches Hydra's console and ``train.log`` alike."""
    for name in ("pytorch_lightning", "lightning.pytorch", "lightning_fabric"):
        logger = logging.getLogger(name)
        for handler in list(logger.handlers):
            logger.removeHandler(handler)
        logger.propagate = True


def show_progress(setting: object) -> bool:
    """``auto``: a progress bar on an interactive terminal, none in CI or when output goes to a file."""
    if setting == "auto":
        return sys.stderr.isatty() and not os.environ.get("CI")
    return bool(setting)


def duration(seconds: float) -> str:
    """``1m05s``, or ``2h03m`` from an hour on."""
    seconds = int(round(seconds))
    return f"{seconds // 3600}h{seconds // 60 % 60:02d}m" if seconds >= 3600 else f"{seconds // 60}m{seconds % 60:02d}s"


# ------------------------------------------------------------------------------------------------ summary
def summary_lines(metrics: Mapping[str, Any], out_dir: Path) -> list[str]:
    """What a run found and where its files are: ACC/NMI/ARI (with labels), cluster sizes, open gates and the
    paths of ``explanations.csv`` and ``plots/`` when they were written."""
    lines = []
    scores = [f"{k.upper()} {metrics[k]:.3f}" for k in ("acc", "nmi", "ari") if isinstance(metrics.get(k), float)]
    if scores:
        lines.append("against the labels: " + ", ".join(scores))
    if metrics.get("cluster_sizes") is not None:
        lines.append(f"cluster sizes: {list(metrics['cluster_sizes'])}")
    gates = [f"{metrics[k]:g} {what}" for k, what in (("open_local_gates", "per sample (median)"),
                                                      ("open_global_gates", "per cluster (mean)")) if k in metrics]
    if gates:
        lines.append("open gates: " + ", ".join(gates))
    for name in ("explanations.csv", "plots"):
        path = Path(out_dir) / name
        if path.exists():
            lines.append(f"{name if path.is_file() else name + '/'}: {path}")
    return lines


def log_summary(title: str, metrics: Mapping[str, Any], out_dir: Path, logger: logging.Logger = log) -> None:
    logger.info(title)
    for line in summary_lines(metrics, out_dir):
        logger.info("  %s", line)



@contextmanager
def also_to_file(path: Path) -> Iterator[None]:
    """Messages of the ``idc`` logger also go to ``path`` (appended, with their time) inside the block."""
    handler = logging.FileHandler(path)
    handler.setFormatter(logging.Formatter("[%(asctime)s][%(name)s][%(levelname)s] %(message)s"))
    log.addHandler(handler)
    try:
        yield
    finally:
        log.removeHandler(handler)
        handler.close()
