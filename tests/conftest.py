"""Shared fixtures: configs through Hydra's compose API, tiny run directories, the CLI as a subprocess."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from omegaconf import DictConfig

from idc.config import compose_run

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = ROOT.parent / "shared" / "data"
if SHARED_DATA.is_dir():  # the paper's datasets, when this checkout sits beside them (CI does)
    os.environ.setdefault("IDC_DATA_DIR", str(SHARED_DATA))
if os.environ.get("PYTEST_XDIST_WORKER"):  # `make test` runs one worker per core: one thread each, in this
    os.environ.setdefault("OMP_NUM_THREADS", "1")  # process and in the CLIs it starts (idc-train's threads=null
    import torch  # reads OMP_NUM_THREADS), so that workers do not spin against each other

    torch.set_num_threads(int(os.environ["OMP_NUM_THREADS"]))


def acc_of(labels, clusters) -> float:
    """ACC computed directly: the best one-to-one matching of clusters to classes (Hungarian), to check a
    reported number against."""
    from scipy.optimize import linear_sum_assignment
    from sklearn.metrics.cluster import contingency_matrix

    counts = contingency_matrix(labels, clusters)
    rows, cols = linear_sum_assignment(counts, maximize=True)
    return counts[rows, cols].sum() / len(labels)


def acc_of_run(run_dir: Path) -> float:
    """ACC of a run recomputed from its ``predictions.h5`` alone."""
    from idc.run_dir import read_predictions

    pred = read_predictions(run_dir / "predictions.h5")
    return acc_of(pred["labels"], pred["clusters"])


def make_cfg(tmp_path: Path, *overrides: str) -> DictConfig:
    """A composed config whose run directory is ``tmp_path`` (as Hydra would set it). No plots unless a test
    asks (``eval.plots=true``): drawing them takes longer than a smoke run's training, and tests/test_plots.py and
    the CLI's smoke run check them."""
    return compose_run(["schedule=smoke", "logger=none", "eval.plots=false", *overrides], tmp_path)


def run_cli(*args: str, cwd: Path, timeout: int = 300) -> subprocess.CompletedProcess:
    """Run ``idc-train`` in a subprocess from ``cwd`` (so ``outputs/`` lands there) and fail loudly."""
    env = {**os.environ, "CI": "1", "WANDB_SILENT": "true"}
    exe = Path(sys.executable).with_name("idc-train")
    proc = subprocess.run(
        [str(exe), *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout
    )
    assert proc.returncode == 0, f"idc-train {' '.join(args)} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-5000:]}"
    return proc


def shared_once(tmp_path_factory: pytest.TempPathFactory, name: str, make) -> Path:
    """A folder made once per test session by ``make(folder)`` and shared by every xdist worker (their temporary
    folders have a common parent; a file lock lets one worker make it while the others wait). For expensive
    end-to-end runs that several tests read; a test that changes one copies it first."""
    from filelock import FileLock

    base = tmp_path_factory.getbasetemp()
    root = base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base
    folder, done = root / name, root / f"{name}.done"
    with FileLock(str(root / f"{name}.lock")):
        if not done.exists():
            folder.mkdir(exist_ok=True)
            make(folder)
            done.touch()
    return folder


@pytest.fixture
def cfg_factory(tmp_path):
    return lambda *overrides: make_cfg(tmp_path, *overrides)


def needs_files(dataset: str) -> None:
    """Skip (saying why) when a dataset's files are not in the data directory."""
    from idc.data.registry import dataset_config, dataset_files

    missing = [str(p) for p in dataset_files(dataset_config(dataset)) if not p.is_file()]
    if missing:
        pytest.skip(f"{dataset}: files not present ({', '.join(missing)}); set IDC_DATA_DIR to ../shared/data")
