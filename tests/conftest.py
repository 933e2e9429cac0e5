"""Shared fixtures: configs through Hydra's compose API, tiny run directories, idc-train's app in this process."""
from __future__ import annotations

import contextlib
import io
import logging
import os
import signal
import subprocess
import sys
import traceback
import warnings
from unittest import mock
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


def load_script(name: str):
    """``scripts/<name>.py`` as a module (the scripts are not a package)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location(name, ROOT / "scripts" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def make_cfg(tmp_path: Path, *overrides: str) -> DictConfig:
    """A composed config whose run directory is ``tmp_path`` (as Hydra would set it). No plots unless a test
    asks (``eval.plots=true``): drawing them takes longer than a smoke run's training, and tests/test_plots.py and
    the CLI's smoke run check them."""
    return compose_run(["schedule=smoke", "logger=none", "eval.plots=false", *overrides], tmp_path)


@contextlib.contextmanager
def process_state_kept():
    """Undo what an application does to this process: Hydra's logging (root handlers, a log file), the CLI's
    signal handlers, library log levels and environment variables (W&B's, Lightning's seed), torch's thread
    count, ``sys.argv`` and the working directory."""
    import torch

    environ, threads = dict(os.environ), torch.get_num_threads()
    loggers = [logging.getLogger(), *(lg for lg in logging.root.manager.loggerDict.values()
                                      if isinstance(lg, logging.Logger))]
    kept = [(lg, lg.level, list(lg.handlers), lg.propagate, lg.disabled) for lg in loggers]
    handlers = {s: signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGUSR1, signal.SIGINT)}
    argv, cwd = sys.argv[:], os.getcwd()
    try:
        yield
    finally:
        known = {id(lg) for lg in loggers}
        for lg in logging.root.manager.loggerDict.values():
            if isinstance(lg, logging.Logger) and id(lg) not in known:
                for handler in lg.handlers:
                    handler.close()
                lg.handlers.clear()
        for lg, level, old, propagate, disabled in kept:
            for handler in lg.handlers:
                if handler not in old:
                    handler.close()
            lg.setLevel(level)
            lg.handlers[:] = old
            lg.propagate, lg.disabled = propagate, disabled
        for s, handler in handlers.items():
            signal.signal(s, handler)
        sys.argv[:] = argv
        os.chdir(cwd)
        os.environ.clear()
        os.environ.update(environ)
        torch.set_num_threads(threads)


def run_cli(*args: str, cwd: Path, check: bool = True) -> subprocess.CompletedProcess:
    """``idc-train ARGS`` from ``cwd`` (so ``outputs/`` lands there), its Hydra app run in this process: what
    a subprocess would do, without paying its start-up (importing Lightning: 6-10 s). ``stdout`` is what it
    printed and logged, ``stderr`` its errors and the warnings it raised. The entry point itself runs in subprocesses in
    tests/test_console.py, tests/test_reliability.py and tests/test_schema.py."""
    from idc.cli.train import main

    out, err = io.StringIO(), io.StringIO()
    code = 0
    with process_state_kept(), warnings.catch_warnings(record=True) as raised, \
            contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        warnings.simplefilter("default")
        os.chdir(cwd)
        sys.argv[:] = ["idc-train", *args]
        try:
            main()
        except SystemExit as stop:  # a message (idc-train: ...) goes to stderr with status 1, as Python does
            if isinstance(stop.code, str):
                err.write(f"{stop.code}\n")
            code = 1 if isinstance(stop.code, str) else stop.code or 0
        except Exception:  # what Hydra re-raises instead of exiting 1 (HYDRA_FULL_ERROR, under a debugger)
            traceback.print_exc(file=err)
            code = 1
    err.writelines(f"{w.filename}:{w.lineno}: {w.category.__name__}: {w.message}\n" for w in raised)
    proc = subprocess.CompletedProcess(["idc-train", *args], code, out.getvalue(), err.getvalue())
    assert not check or code == 0, f"idc-train {' '.join(args)} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-5000:]}"
    return proc


def idc_train_commands_in_process(monkeypatch: pytest.MonkeyPatch, module) -> list[list[str]]:
    """Make ``module.subprocess.run`` run the ``idc-train`` commands that ``module`` (a script, ``idc-paper``)
    starts in this process (:func:`run_cli`); returns the list of commands it was asked to run."""
    import types

    seen: list[list[str]] = []

    def run(cmd, check=False, env=None, cwd=None, **kwargs):
        cmd = [str(c) for c in cmd]
        first = 3 if cmd[1:3] == ["-m", "idc.cli.train"] else 1
        assert first == 3 or Path(cmd[0]).name == "idc-train", cmd
        seen.append(cmd)
        with mock.patch.dict(os.environ, env or {}, clear=env is not None):
            proc = run_cli(*cmd[first:], cwd=Path(cwd or Path.cwd()), check=False)
        if check and proc.returncode:
            raise subprocess.CalledProcessError(proc.returncode, cmd, proc.stdout, proc.stderr)
        return proc

    monkeypatch.setattr(module, "subprocess", types.SimpleNamespace(run=run))
    return seen


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
    from idc.data.registry import dataset_files, dataset_node

    missing = [str(p) for p in dataset_files(dataset_node(dataset)) if not p.is_file()]
    if missing:
        pytest.skip(f"{dataset}: files not present ({', '.join(missing)}); set IDC_DATA_DIR to ../shared/data")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """End-to-end tests (``slow``: seconds to half a minute each) first, the many short ones after: xdist's
    workers then finish together instead of one waiting while the other runs a long test picked up last."""
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)
