"""The run directory, the unit of truth: resolved config, metrics.json, predictions.h5, checkpoints, DONE.

Tables and evaluations are rebuilt from these files alone.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from idc.io import replacing, write_json, write_text
from idc.schema import is_float_key

CONFIG = "config.yaml"
METRICS = "metrics.json"
#: keys in metrics.json of the stage-2 evaluations picked during training: by silhouette (label-free), by ACC (labels)
SILHOUETTE_SELECTED, LABEL_SELECTED = "silhouette_selected_epoch", "label_selected_best_epoch"
RUN_INFO = "run_info.json"
PREDICTIONS = "predictions.h5"
PREPROCESSING = "preprocessing.npz"  # the training table's columns and scaling, for new samples (idc-eval)
CHECKPOINT = "checkpoints/last.ckpt"
STAGE1_CHECKPOINT = "checkpoints/stage1.ckpt"
DONE = "DONE"
FAILED = "FAILED"


#: the string datasets of predictions.h5 (UTF-8), read back as ``str``
STRING_KEYS = ("feature_names", "class_names")


def write_predictions(
    path: Path, arrays: dict[str, np.ndarray], feature_names: list[str], class_names: list[str] | None = None
) -> None:
    """Save per-sample and per-cluster outputs (h5py, gzip): ``clusters`` (N), ``local_gates`` (N x D),
    ``global_gates`` (K x D), ``embeddings`` (N x bottleneck), optional ``labels`` (codes ``0..C-1``),
    ``feature_names`` and, with labels, ``class_names`` (``class_names[c]`` is the original label of code c)."""
    strings = {"feature_names": feature_names, "class_names": class_names}
    with replacing(path) as tmp, h5py.File(tmp, "w") as f:
        for key, value in arrays.items():
            value = np.asarray(value)
            f.create_dataset(key, data=value, compression="gzip" if value.ndim > 1 else None)
        for key, names in strings.items():
            if names is not None:
                f.create_dataset(key, data=[str(n) for n in names], dtype=h5py.string_dtype("utf-8"))


def read_predictions(path: Path) -> dict[str, np.ndarray]:
    """Read back what :func:`write_predictions` wrote (feature and class names as ``str``)."""
    with h5py.File(path, "r") as f:
        out = {k: f[k].asstr()[()] if k in STRING_KEYS else f[k][()] for k in f.keys()}
    return {k: v.astype(str) if k in STRING_KEYS else v for k, v in out.items()}


def code_version(root: Path | None = None) -> dict[str, str]:
    """``idc``'s version and, where it runs from a git checkout (``root``: the one holding this package), the
    commit (``+changes`` when ``idc/`` or ``configs/`` differ from it): which code made a run's numbers."""
    import subprocess

    from idc.version import __version__

    root = (root or Path(__file__).parent.parent).resolve()
    out = {"idc": __version__}
    try:
        def git(*args: str) -> str:
            return subprocess.run(["git", "--no-optional-locks", "-C", str(root), *args], capture_output=True,
                                  text=True, timeout=10, check=True).stdout.strip()  # takes no index lock

        if Path(git("rev-parse", "--show-toplevel")).resolve() != root:
            return out  # a copy installed somewhere inside another checkout: not that checkout's code
        commit = git("rev-parse", "--short=12", "HEAD")
        out["commit"] = commit + ("+changes" if git("status", "--porcelain", "--", "idc", "configs") else "")
    except (OSError, subprocess.SubprocessError):
        pass  # no git, or an installed package outside a checkout: the version alone
    return out


def write_run_info(run_dir: Path, wall_seconds: float, device: str, **extra: Any) -> None:
    """``run_info.json``: wall time, device, library versions, threads, torch's CPU kernels (``AVX2``, ``AVX512``:
    a seed's numbers can differ between machines whose kernels differ) and the code (:func:`code_version`;
    ``extra`` on top), for IDC runs and baselines alike."""
    import platform

    import sklearn
    import torch

    write_json(run_dir / RUN_INFO, {
        "wall_seconds": round(wall_seconds, 3), "device": device, **extra, **code_version(),
        "torch": torch.__version__, "sklearn": sklearn.__version__, "threads": torch.get_num_threads(),
        "cpu_kernels": torch.backends.cpu.get_cpu_capability(), "python": platform.python_version(),
    })


#: config keys (and key prefixes) that do not change what a run computes, or differ per seed or machine by
#: construction; every other key that differs between runs of one method and dataset makes them variants
NOT_SETTINGS = (
    "task_name", "seed", "threads", "progress_bar", "progress_every", "resume", "skip_done", "checkpoint_every",
    "data_loading", "eval", "paths", "logger", "dataset.files", "dataset.load.path", "model.compile", "model.n_jobs",
    "model.eval_every", "schedule.eval_every", "trainer.accelerator", "trainer.devices", "trainer.num_nodes",
    "trainer.strategy", "trainer.check_val_every_n_epoch", "trainer.log_every_n_steps", "trainer.enable_progress_bar",
    "trainer.enable_model_summary", "trainer.default_root_dir",
)


def settings_of(cfg: dict[str, Any], prefix: str = "") -> dict[str, str]:
    """A run's identity: its settings as flat ``dotted.key -> value`` strings, without :data:`NOT_SETTINGS`; a
    stage-1 checkpoint counts only as set or not (its path names the seed); a number given for a float of the
    schemas is written as a float (``gates.reg_lambda=1`` and ``=1.0`` are one setting: :func:`idc.schema.is_float_key`)."""
    out: dict[str, str] = {}
    for key, value in cfg.items():
        name = f"{prefix}{key}"
        if any(name == n or name.startswith(n + ".") for n in NOT_SETTINGS):
            continue
        if isinstance(value, dict):
            out.update(settings_of(value, name + "."))
        elif name == "model.stage1_checkpoint":
            out[name] = "given" if value else "none"
        elif isinstance(value, int) and not isinstance(value, bool) and is_float_key(name):
            out[name] = str(float(value))
        else:
            out[name] = json.dumps(value) if isinstance(value, list) else str(value)
    return out


def differing_keys(settings: list[dict[str, str]]) -> list[str]:
    """The keys whose values differ between runs' :func:`settings_of`, sorted; keys absent from some runs (written by
    other versions of idc) are not compared."""
    if not settings:
        return []
    common = set.intersection(*(set(s) for s in settings))
    return sorted(k for k in common if len({s[k] for s in settings}) > 1)


#: keys that came with a default other than what IDC's runs did before them: a config of IDC without the key ran so
#: (the report compares rows, and a resume compares settings, with these values in place of the missing keys)
ABSENT_MEANS = {"model.fused_optimizers": "False", "head.global_gates.train_factor": "1.0",
                "head.global_gates.overlap_weight": "0.0", "head.global_gates.min_cluster_fidelity": "0.0"}


class SettingsChanged(ValueError):
    """The run directory holds a checkpoint trained under other settings than the ones given now."""


def check_resumable(run_dir: Path, cfg: dict[str, Any]) -> None:
    """Before a run resumes from ``run_dir``'s last checkpoint: the settings it was started with (its
    ``config.yaml``; paths, loggers and devices aside, see :data:`NOT_SETTINGS`) must be the ones
    given now, or :class:`SettingsChanged` names what differs and the directory is left as it is. Keys only one
    side has (another version of idc) are not compared, except those of :data:`ABSENT_MEANS`, whose absence meant
    another behaviour."""
    from omegaconf import OmegaConf

    if not (run_dir / CHECKPOINT).exists() or not (run_dir / CONFIG).exists():
        return
    old = OmegaConf.to_container(OmegaConf.load(run_dir / CONFIG))
    before, now = settings_of({**old, "_seed": old.get("seed")}), settings_of({**cfg, "_seed": cfg.get("seed")})
    before = {**{k: v for k, v in ABSENT_MEANS.items() if k in now}, **before}  # an older idc's config
    changed = [f"{k.lstrip('_')}: {before[k]} -> {now[k]}" for k in sorted(before.keys() & now.keys())
               if before[k] != now[k]]
    if changed:
        raise SettingsChanged(
            f"{run_dir} holds a checkpoint trained with other settings ({'; '.join(changed[:6])}"
            f"{' ...' if len(changed) > 6 else ''}). Give it another run directory (hydra.run.dir=...), set "
            "resume=false to start it over (its checkpoints are then overwritten), or keep the old settings.")


def finish_run(
    run_dir: Path, metrics: dict[str, Any], arrays: dict[str, np.ndarray], feature_names: list[str],
    labels: np.ndarray | None, wall_seconds: float, device: str, class_names: list[str] | None = None, **info: Any,
) -> None:
    """The last writes of every run, IDC or baseline: ``predictions.h5`` (``arrays`` and the ``labels``),
    ``metrics.json``, ``run_info.json`` (``info`` on top) and, last, ``DONE``."""
    if labels is not None:
        arrays = {**arrays, "labels": np.asarray(labels)}
    write_predictions(run_dir / PREDICTIONS, arrays, feature_names, class_names if labels is not None else None)
    write_json(run_dir / METRICS, metrics)
    write_run_info(run_dir, wall_seconds, device, **info)
    mark_done(run_dir)


def mark_started(run_dir: Path) -> None:
    """A run (re)starting in ``run_dir`` is unfinished: drop ``DONE`` and ``FAILED`` of an earlier attempt, so
    that tables never pair its new config with old metrics and a failure is never hidden behind ``DONE``."""
    (run_dir / DONE).unlink(missing_ok=True)
    (run_dir / FAILED).unlink(missing_ok=True)


def start_run(run_dir: Path, cfg: Any) -> None:
    """A run starts in ``run_dir``: :func:`mark_started`, then its resolved config (``cfg``, a ``DictConfig``)
    to ``config.yaml``."""
    from omegaconf import OmegaConf

    mark_started(run_dir)
    write_text(run_dir / CONFIG, OmegaConf.to_yaml(cfg, resolve=True))


def mark_done(run_dir: Path) -> None:
    """Write the ``DONE`` marker (and drop a ``FAILED`` left by an earlier attempt); call it last."""
    (run_dir / FAILED).unlink(missing_ok=True)
    (run_dir / DONE).write_text("done\n")


def mark_failed(run_dir: Path, error: BaseException) -> Path:
    """Record why a run failed (message and traceback) in ``FAILED``; a later successful run removes it."""
    import traceback

    path = run_dir / FAILED
    text = "".join(traceback.format_exception(type(error), error, error.__traceback__))
    path.write_text(f"{type(error).__name__}: {error}\n\n{text}")
    return path


def is_done(run_dir: Path) -> bool:
    return (run_dir / DONE).exists()
