"""The run directory, the unit of truth: resolved config, metrics.json, predictions.h5, checkpoints, DONE.

Tables and evaluations are rebuilt from these files alone.
"""
from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import h5py
import numpy as np

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


def _strict(value: Any) -> Any:
    """NaN and infinities become ``null`` (strict JSON)."""
    if isinstance(value, float) and not np.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _strict(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_strict(v) for v in value]
    return value


@contextmanager
def replacing(path: Path) -> Iterator[Path]:
    """A temporary path beside ``path`` to write to; it becomes ``path`` only when the block ends without an
    error, so a crash or a kill never leaves half a file (nor destroys the previous one)."""
    tmp = path.with_name(path.name + ".tmp")
    try:
        yield tmp
        tmp.replace(path)
    finally:
        tmp.unlink(missing_ok=True)


def write_text(path: Path, text: str) -> None:
    with replacing(path) as tmp:
        tmp.write_text(text)


def write_json(path: Path, payload: dict[str, Any]) -> None:
    """Write ``payload`` as indented strict JSON (undefined numbers, NaN, are written as ``null``), atomically."""
    write_text(path, json.dumps(_strict(payload), indent=2, sort_keys=True, allow_nan=False) + "\n")


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


def write_run_info(run_dir: Path, wall_seconds: float, device: str, **extra: Any) -> None:
    """``run_info.json``: wall time, device, library versions and threads (``extra`` on top), for IDC runs and
    baselines alike."""
    import platform

    import sklearn
    import torch

    write_json(run_dir / RUN_INFO, {
        "wall_seconds": round(wall_seconds, 3), "device": device, **extra, "torch": torch.__version__,
        "sklearn": sklearn.__version__, "threads": torch.get_num_threads(), "python": platform.python_version(),
    })


class SettingsChanged(ValueError):
    """The run directory holds a checkpoint trained under other settings than the ones given now."""


def check_resumable(run_dir: Path, cfg: dict[str, Any]) -> None:
    """Before a run resumes from ``run_dir``'s last checkpoint: the settings it was started with (its
    ``config.yaml``; paths, loggers and devices aside, see :data:`idc.tables.NOT_SETTINGS`) must be the ones
    given now, or :class:`SettingsChanged` names what differs and the directory is left as it is. Keys only one
    side has (another version of idc) are not compared."""
    from omegaconf import OmegaConf

    from idc.tables import settings_of

    if not (run_dir / CHECKPOINT).exists() or not (run_dir / CONFIG).exists():
        return
    old = OmegaConf.to_container(OmegaConf.load(run_dir / CONFIG))
    before, now = settings_of({**old, "_seed": old.get("seed")}), settings_of({**cfg, "_seed": cfg.get("seed")})
    changed = [f"{k.lstrip('_')}: {before[k]} -> {now[k]}" for k in sorted(before.keys() & now.keys())
               if before[k] != now[k]]
    if changed:
        raise SettingsChanged(
            f"{run_dir} holds a checkpoint trained with other settings ({'; '.join(changed[:6])}"
            f"{' ...' if len(changed) > 6 else ''}). Give it another run directory (hydra.run.dir=...), set "
            "resume=false to start it over (its checkpoints are then overwritten), or keep the old settings.")


def mark_started(run_dir: Path) -> None:
    """A run (re)starting in ``run_dir`` is unfinished: drop ``DONE`` and ``FAILED`` of an earlier attempt, so
    that tables never pair its new config with old metrics and a failure is never hidden behind ``DONE``."""
    (run_dir / DONE).unlink(missing_ok=True)
    (run_dir / FAILED).unlink(missing_ok=True)


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
