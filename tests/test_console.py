"""What a run shows and leaves: threads, summary, progress, quiet console, SIGTERM, history kept over resumes."""
from __future__ import annotations

import csv
import json
import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from idc import console
from idc.loggers import HistoryKeepingCSVLogger
from idc.signals import INTERRUPTED

from .conftest import run_cli

# ------------------------------------------------------------------------------------------------- units


def test_threads_default_to_the_cores_split_between_parallel_jobs(monkeypatch):
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    monkeypatch.setattr(console, "available_cores", lambda: 8)
    assert console.threads_for(None) == 8
    assert console.threads_for(None, n_jobs=3) == 2
    assert console.threads_for(None, n_jobs=-1) == 1  # joblib: as many jobs as cores
    assert console.threads_for(None, n_jobs=16) == 1
    assert console.threads_for("3") == 3
    monkeypatch.setenv("OMP_NUM_THREADS", "2")
    assert console.threads_for(None) == 2
    for bad in (0, "x", 1.5):
        with pytest.raises(ValueError, match="threads="):
            console.threads_for(bad)


def _rows(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def test_csv_metrics_keep_earlier_epochs_and_replace_the_redone_ones(tmp_path):
    first = HistoryKeepingCSVLogger(tmp_path, name="csv", version="")
    for epoch in range(4):
        first.log_metrics({"loss": 10.0 - epoch, "epoch": epoch}, step=epoch)
    first.log_metrics({"final/acc": 0.5}, step=4)
    first.save()
    resumed = HistoryKeepingCSVLogger(tmp_path, name="csv", version="")  # resumes after epoch 1
    for epoch in (2, 3, 4):
        resumed.log_metrics({"loss": 1.0 - epoch, "val/acc": 0.9, "epoch": epoch}, step=epoch)
    resumed.log_metrics({"final/acc": 0.8}, step=5)
    resumed.save()
    rows = _rows(tmp_path / "csv" / "metrics.csv")
    epochs = [int(float(r["epoch"])) for r in rows if r["epoch"]]
    assert epochs == [0, 1, 2, 3, 4]
    assert [float(r["loss"]) for r in rows if r["epoch"]][:3] == [10.0, 9.0, -1.0]
    assert [r["final/acc"] for r in rows if r["final/acc"]] == ["0.8"]


def test_summary_names_scores_sizes_gates_and_files(tmp_path):
    (tmp_path / "explanations.csv").write_text("kind\n")
    (tmp_path / "plots").mkdir()
    metrics = {"acc": 0.91234, "nmi": 0.8, "ari": 0.7, "cluster_sizes": [3, 0], "open_local_gates": 4.0,
               "open_global_gates": 5.5}
    text = "\n".join(console.summary_lines(metrics, tmp_path))
    for part in ("ACC 0.912", "NMI 0.800", "ARI 0.700", "cluster sizes: [3, 0]", "4 per sample", "5.5 per cluster",
                 f"explanations.csv: {tmp_path / 'explanations.csv'}", f"plots/: {tmp_path / 'plots'}"):
        assert part in text, part
    assert "ACC" not in "\n".join(console.summary_lines({"cluster_sizes": [5]}, tmp_path / "none"))


# ----------------------------------------------------------------------------------- idc-train end to end


@pytest.fixture(scope="module")
def tiny_csv(tmp_path_factory) -> Path:
    rng = np.random.default_rng(0)
    y = np.repeat([0, 1], 60)
    X = rng.normal(size=(120, 5)) + 3 * y[:, None] * (np.arange(5) < 2)
    path = tmp_path_factory.mktemp("data") / "tiny.csv"
    with open(path, "w") as f:
        f.write("f0,f1,f2,f3,f4,label\n")
        for row, label in zip(X, y):
            f.write(",".join(f"{v:.4f}" for v in row) + f",{label}\n")
    return path


def _command(data: Path, run_dir: Path, *extra: str) -> list[str]:
    exe = Path(sys.executable).with_name("idc-train")
    return [str(exe), "schedule=smoke", "logger=csv", "dataset=table", f"dataset.path={data}",
            "dataset.label_column=label", "dataset.batch_size=16", "eval.plots=false", "threads=1",
            f"hydra.run.dir={run_dir}", *extra]


def _env() -> dict[str, str]:
    return {**os.environ, "CI": "1", "PYTHONPATH": os.pathsep.join([str(Path(__file__).parents[1]),
                                                                     os.environ.get("PYTHONPATH", "")])}


@pytest.mark.slow
def test_a_run_says_where_it_went_and_what_it_found_and_nothing_else(tiny_csv, tmp_path, caplog, capsys):
    run_dir = tmp_path / "run"
    proc = subprocess.run(_command(tiny_csv, run_dir, "logger=wandb"), env=_env(), capture_output=True, text=True,
                          timeout=300, cwd=tmp_path)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-3000:]
    lines = out.splitlines()
    assert lines[0] == f"run directory: {run_dir}", lines[:3]
    for part in ("epoch 8/8", "left", "against the labels: ACC", "cluster sizes:", "open gates:",
                 f"explanations.csv: {run_dir / 'explanations.csv'}"):
        assert part in out, part
    for noise in ("GPU available", "Tip:", "FLOPs", "LeafSpec", "wandb:", "anonymous", "Trainer.fit"):
        assert noise not in out, (noise, out)
    assert len(lines) <= 18, out  # the size rule says what it chose for the table, one line per choice; a warning each
    logged = (run_dir / "train.log").read_text()
    assert "run directory:" in logged and "against the labels: ACC" in logged
    offline = list((run_dir / "wandb").glob("offline-run-*"))  # logger=wandb: an offline run, nothing sent
    assert len(offline) == 1, list((run_dir / "wandb").iterdir())
    blob = b"".join(p.read_bytes() for p in offline[0].glob("*.wandb"))
    for key in [b"val/acc", b"val/nmi", b"val/ari", b"val/open_local_gates", b"val/open_global_gates",
                b"stage1/loss", b"final/acc", b"eval/faithfulness"]:
        assert key in blob, key

    # idc-eval on it, in this process (its messages are the "idc" logger's, as idc-train's above); the table's own
    # path and label column given again: evaluate.dataset_with starts from dataset=table
    from idc.cli.eval import main as idc_eval

    capsys.readouterr()
    with caplog.at_level(logging.INFO, logger="idc"):
        assert idc_eval([str(run_dir), f"dataset.path={tiny_csv}", "dataset.label_column=label"]) == 0
    said = caplog.text
    out_dir = run_dir / "eval_tiny"
    assert f"run directory: {run_dir}" in said and f"wrote eval.json, explanations.csv and plots/ in {out_dir}" in said
    assert "cluster sizes:" in said and "wrote eval.json" in (out_dir / "eval.log").read_text()
    assert json.loads(capsys.readouterr().out.splitlines()[-1])["n_samples"] == 120


@pytest.mark.slow
def test_sigterm_stops_the_n_jobs_workers_and_the_same_command_resumes_each_run(tiny_csv, tmp_path, monkeypatch):
    run_dir = tmp_path / "run"
    # 4 + 56 epochs: long enough that one worker cannot finish its run while the other is still starting
    command = _command(tiny_csv, run_dir, "schedule.stage2_epochs=56", "checkpoint_every=3", "model.n_init=3",
                       "model.n_jobs=2")
    proc = subprocess.Popen(command, env=_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            cwd=tmp_path)
    checkpoints = [run_dir / "runs" / f"seed_{s}" / "checkpoints" / "last.ckpt" for s in (0, 1)]
    deadline = time.monotonic() + 240
    # both workers inside training (a worker still importing when the signal comes dies before its run begins:
    # the pool breaks, the batch stops and nothing of that run exists to mark; on a loaded machine the first
    # checkpoint of one can come before the other has started)
    while not all(c.exists() for c in checkpoints) and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    proc.send_signal(signal.SIGTERM)
    done = sorted(p.parent.name for p in (run_dir / "runs").glob("seed_*/DONE"))
    out, _ = proc.communicate(timeout=120)
    assert not done, f"{done} finished before the other worker's first checkpoint: the test needs longer runs"
    assert proc.returncode == 128 + signal.SIGTERM, out[-3000:]
    assert f"each run's own last checkpoint in {run_dir / 'runs'}" in (run_dir / INTERRUPTED).read_text()
    assert not (run_dir / "DONE").exists()
    # the signal was passed on: each worker stopped at its own safe point (the end of an epoch, never inside a
    # checkpoint's write) and says so in its own INTERRUPTED, rather than being killed
    for c in checkpoints:
        assert "received SIGTERM" in (c.parents[1] / INTERRUPTED).read_text()
    assert not (run_dir / "runs" / "seed_2" / "train.log").exists()  # the third run, queued, never started
    monkeypatch.setenv("CI", "1")
    again = run_cli(*command[1:], cwd=tmp_path, check=False)
    assert again.returncode == 0, again.stdout[-3000:] + again.stderr[-3000:]
    assert (run_dir / "DONE").exists() and not (run_dir / INTERRUPTED).exists()
    assert not any((c.parents[1] / INTERRUPTED).exists() for c in checkpoints)
    resumed = [json.loads((c.parents[1] / "run_info.json").read_text())["resumed_at_epoch"] for c in checkpoints]
    assert any(epoch and epoch > 0 for epoch in resumed), resumed  # a stopped run went on from its checkpoint


@pytest.mark.slow
def test_sigterm_exits_143_leaves_interrupted_and_the_same_command_resumes(tiny_csv, tmp_path, monkeypatch):
    run_dir = tmp_path / "run"
    command = _command(tiny_csv, run_dir, "schedule.stage2_epochs=26", "checkpoint_every=3")  # 4 + 26 = 30 epochs
    proc = subprocess.Popen(command, env=_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            cwd=tmp_path)
    checkpoint = run_dir / "checkpoints" / "last.ckpt"
    deadline = time.monotonic() + 240
    while not checkpoint.exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    proc.send_signal(signal.SIGTERM)
    out, _ = proc.communicate(timeout=120)
    assert proc.returncode == 128 + signal.SIGTERM, out[-3000:]
    marker = (run_dir / INTERRUPTED).read_text()
    assert "SIGTERM" in marker and "last.ckpt" in marker and "at: " in marker
    assert not (run_dir / "DONE").exists() and not (run_dir / "FAILED").exists()
    assert checkpoint.exists()
    interrupted_epochs = {int(float(r["epoch"])) for r in _rows(run_dir / "csv" / "metrics.csv") if r["epoch"]}

    monkeypatch.setenv("CI", "1")  # the same command again, in this process (its start-up paid once is enough)
    again = run_cli(*command[1:], cwd=tmp_path, check=False)
    assert again.returncode == 0, again.stdout[-3000:] + again.stderr[-3000:]
    assert (run_dir / "DONE").exists() and not (run_dir / INTERRUPTED).exists()
    info = json.loads((run_dir / "run_info.json").read_text())
    assert info["resumed_from"] == str(checkpoint) and info["resumed_at_epoch"] > 0
    assert f"resumed from {checkpoint} at epoch {info['resumed_at_epoch']}" in again.stdout
    assert "exists and is not empty" not in again.stdout + again.stderr  # Lightning's warning: resuming is the point
    rows = [r for r in _rows(run_dir / "csv" / "metrics.csv") if r["epoch"] and r.get("stage1/loss")]
    epochs = [int(float(r["epoch"])) for r in rows]
    assert epochs == sorted(set(epochs)) and set(range(info["resumed_at_epoch"])) <= set(epochs) <= set(range(30))
    assert min(interrupted_epochs) == 0 and 0 in epochs


def _fit_until_sigterm(tmp_path: Path, tiny_csv: Path, checkpoint_every: int = 3, **fit_kwargs):
    """``idc.fit.fit`` on the tiny table with the CLI's signal handlers; returns the config and what it raised."""
    from idc.config import compose_run
    from idc.data import load_table
    from idc.signals import as_interrupted, interrupt_on_signals
    from idc.fit import fit

    cfg = compose_run(["schedule=smoke", "logger=none", "dataset=table", f"dataset.path={tiny_csv}",
                       "dataset.label_column=label", "dataset.batch_size=16", f"checkpoint_every={checkpoint_every}"],
                      tmp_path)
    before = {s: signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGUSR1)}
    try:
        interrupt_on_signals()
        with pytest.raises(BaseException) as caught:
            fit(cfg, load_table(cfg.dataset), tmp_path, **fit_kwargs)
    finally:
        for s, handler in before.items():
            signal.signal(s, handler)
    assert as_interrupted(caught.value) is not None, caught.value
    return cfg, caught.value


def test_a_sigterm_just_after_a_checkpoint_keeps_that_epochs_metrics(tmp_path, tiny_csv):
    from pytorch_lightning.loggers import Logger

    from idc.signals import checkpoint_epoch

    class Killer(Logger):  # sends SIGTERM to this process right after the first checkpoint is on disk
        name, version = "killer", ""
        sent = False

        def log_hyperparams(self, *args, **kwargs):
            pass

        def log_metrics(self, metrics, step=None):
            pass

        def after_save_checkpoint(self, checkpoint_callback):
            if not Killer.sent:
                Killer.sent = True
                os.kill(os.getpid(), signal.SIGTERM)

    _fit_until_sigterm(tmp_path, tiny_csv, logger=Killer())
    saved_at = checkpoint_epoch(tmp_path / "checkpoints" / "last.ckpt")  # the end of epoch 2: resumes at 3
    with open(tmp_path / "history.csv", newline="") as f:
        logged = {int(float(r["epoch"])) for r in csv.DictReader(f) if r.get("stage1/loss")}
    assert saved_at == 2 and logged == {0, 1, 2}, (saved_at, logged)


def test_a_sigterm_after_the_last_epoch_still_stops_the_run_resumable_at_its_end(tmp_path, tiny_csv):
    import pytorch_lightning as pl

    from idc.signals import Interrupted, checkpoint_epoch

    class KillAtTheEnd(pl.Callback):  # after the loops' last look at the signal
        def on_train_end(self, trainer, module):
            os.kill(os.getpid(), signal.SIGTERM)

    cfg, raised = _fit_until_sigterm(tmp_path, tiny_csv, callbacks=[KillAtTheEnd()])
    assert isinstance(raised, Interrupted) and raised.exit_code == 128 + signal.SIGTERM
    assert checkpoint_epoch(tmp_path / "checkpoints" / "last.ckpt") == cfg.schedule.epochs


@pytest.mark.parametrize("when", ["setup", "teardown"])
def test_a_sigterm_while_fit_sets_up_or_tears_down_is_not_lost(tmp_path, tiny_csv, when):
    """Lightning's own handler is in place from the start of training to its teardown; a SIGTERM before (the
    checkpoint's restore, the module's setup) stops the run before its first step, one after stops it at its end
    (each was only noted once, and the run trained on to DONE: a consensus worker starting late missed its stop)."""
    import pytorch_lightning as pl

    from idc.signals import Interrupted, checkpoint_epoch

    trained = []

    class Kill(pl.Callback):
        def setup(self, trainer, module, stage):
            if when == "setup":
                os.kill(os.getpid(), signal.SIGTERM)

        def on_train_epoch_end(self, trainer, module):
            trained.append(trainer.current_epoch)

        def teardown(self, trainer, module, stage):
            if when == "teardown":
                os.kill(os.getpid(), signal.SIGTERM)

    cfg, raised = _fit_until_sigterm(tmp_path, tiny_csv, callbacks=[Kill()])
    assert isinstance(raised, Interrupted) and raised.exit_code == 128 + signal.SIGTERM
    if when == "setup":
        assert trained == [] and not (tmp_path / "checkpoints" / "last.ckpt").exists()
    else:
        assert len(trained) == cfg.schedule.epochs
        assert checkpoint_epoch(tmp_path / "checkpoints" / "last.ckpt") == cfg.schedule.epochs


def test_the_interrupted_marker_names_the_checkpoint_and_its_epoch_or_that_the_run_starts_over(tmp_path):
    import torch

    from idc.signals import Interrupted, mark_interrupted

    checkpoint = tmp_path / "checkpoints" / "last.ckpt"
    stop = Interrupted(signal.SIGTERM)
    assert "resumes from: none yet" in mark_interrupted(tmp_path, stop, checkpoint).read_text()
    checkpoint.parent.mkdir()
    torch.save({"epoch": 7}, checkpoint)
    assert f"resumes from: {checkpoint} (epoch 7)" in mark_interrupted(tmp_path, stop, checkpoint).read_text()


def test_a_signal_is_told_apart_from_a_failure_also_inside_a_worker(monkeypatch):
    """What a ``model.n_jobs`` worker sends back after a signal: :class:`Interrupted` survives pickling with its
    signal, Lightning's SIGTERMException is one, and so is any error raised after a signal arrived (a signal inside
    Lightning's first import leaves it half-imported, and the run then fails with an AttributeError)."""
    import pickle

    from pytorch_lightning.utilities.exceptions import SIGTERMException

    from idc import signals

    sent = pickle.loads(pickle.dumps(signals.Interrupted(signal.SIGUSR1)))
    assert isinstance(sent, signals.Interrupted) and sent.signum == signal.SIGUSR1 and sent.exit_code == 138
    assert signals.as_interrupted(SIGTERMException()).signum == signal.SIGTERM
    assert signals.as_interrupted(SystemExit(0)) is None and signals.as_interrupted(ValueError()) is None
    monkeypatch.setattr(signals, "RECEIVED", [])
    broken = AttributeError("partially initialized module 'lightning_fabric' has no attribute 'strategies'")
    assert signals.stopped_by_signal(broken, since=0) is None  # no signal: a failure
    signals.RECEIVED.append(int(signal.SIGTERM))
    assert signals.stopped_by_signal(broken, since=0).signum == signal.SIGTERM  # after one: a stop
    assert signals.stopped_by_signal(broken, since=1) is None  # one that came before the call began: a failure


def test_a_call_in_this_process_leaves_its_signal_handlers_and_a_stopped_batch_starts_nothing(tmp_path, monkeypatch):
    """joblib may run a call in the calling process (a library user's): :func:`idc.parallel._call` then leaves the
    signal handlers as they were; once the batch is stopped (its stop file), a queued call returns without starting."""
    from idc import parallel, signals

    before = signal.getsignal(signal.SIGTERM)
    stop_file = tmp_path / "stop"
    assert parallel._call(0, lambda: 7, (), 1, stop_file, os.getpid()) == (0, True, 7)
    assert signal.getsignal(signal.SIGTERM) is before
    stop_file.touch()
    started = []
    i, ok, value = parallel._call(1, lambda: started.append(1), (), 1, stop_file, os.getpid())
    assert (i, ok, started) == (1, False, []) and isinstance(value, signals.Interrupted)


def test_the_handler_raises_once_and_notes_every_copy(monkeypatch):
    """A signal sent to the process group and passed on by the parent arrives twice: the second copy is noted and
    does not raise again while the first one unwinds (it would skip the run's INTERRUPTED)."""
    from idc import signals

    monkeypatch.setattr(signals, "RECEIVED", [])
    kept = {s: signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGUSR1)}
    try:
        signals.interrupt_on_signals()
        with pytest.raises(signals.Interrupted):
            signals._raise(signal.SIGTERM, None)
        signals._raise(signal.SIGTERM, None)  # the second copy: noted only
        assert signals.RECEIVED == [signal.SIGTERM, signal.SIGTERM]
        signals.interrupt_on_signals()  # the next call (a worker's next run) raises again
        with pytest.raises(signals.Interrupted):
            signals._raise(signal.SIGUSR1, None)
    finally:
        for s, handler in kept.items():
            signal.signal(s, handler)


def test_a_sigterm_during_the_global_gates_extra_steps_stops_them_without_saving_the_last_epoch(tmp_path, tiny_csv):
    import pytorch_lightning as pl

    from idc import stage2
    from idc.signals import as_interrupted, checkpoint_epoch

    steps = []
    count = stage2.global_gate_losses

    class KillBeforeTheExtraSteps(pl.Callback):  # runs before the module's on_train_epoch_end, which takes them
        def on_train_epoch_end(self, trainer, module):
            if trainer.current_epoch == trainer.max_epochs - 1:
                steps.clear()
                os.kill(os.getpid(), signal.SIGTERM)

    def counted(*args, **kwargs):
        steps.append(1)
        return count(*args, **kwargs)

    stage2.global_gate_losses = counted
    try:
        cfg, raised = _fit_until_sigterm(tmp_path, tiny_csv, checkpoint_every=1,  # a checkpoint every epoch...
                                         callbacks=[KillBeforeTheExtraSteps()])
    finally:
        stage2.global_gate_losses = count
    assert float(cfg.head.global_gates.train_factor) > 1  # the default trains them on after the last epoch
    assert as_interrupted(raised).exit_code == 128 + signal.SIGTERM
    assert len(steps) == 1  # stopped at its first step, not after all of them
    saved = checkpoint_epoch(tmp_path / "checkpoints" / "last.ckpt")  # ...but the last one's: replayed
    assert saved == cfg.schedule.epochs - 2, (saved, cfg.schedule.epochs)


def test_the_time_left_is_timed_on_the_current_part_of_the_run(monkeypatch, caplog):
    """Stage 1 at 10 s an epoch; stage 2's head phase sets up in its first epoch (30 s), then 3 s an epoch; the
    global gates at 1 s: each line times the current part on its own epochs after its first (not 136 s over 15
    epochs, which would say 45 s left at epoch 15) and names the parts still to come."""
    import logging
    from types import SimpleNamespace

    from idc import callbacks
    from idc.schedule import Schedule

    clock = [0.0]
    monkeypatch.setattr(callbacks.time, "monotonic", lambda: clock[0])
    module = SimpleNamespace(schedule=Schedule(ungated_epochs=1, stage1_epochs=10, head_epochs=2, stage2_epochs=10))
    trainer = SimpleNamespace(max_epochs=20, current_epoch=0, ckpt_path=None, is_global_zero=True)
    lines = callbacks.ProgressLines(every=1)
    lines.on_train_start(trainer, module)
    with caplog.at_level(logging.INFO, logger=callbacks.log.name):
        for epoch in range(20):
            trainer.current_epoch = epoch
            clock[0] += 10.0 if epoch < 10 else 30.0 if epoch == 10 else 3.0 if epoch == 11 else 1.0
            lines.on_train_epoch_end(trainer, module)
    said = {int(r.getMessage().split("/")[0].split()[1]): r.getMessage() for r in caplog.records}
    assert said[5] == ("epoch 5/20, 0m50s elapsed, about 0m50s left in stage 1 (then 2 epochs of stage 2's head "
                       "phase, 8 epochs of stage 2's global-gate phase)")
    assert said[12] == ("epoch 12/20, 2m13s elapsed, about 0m00s left in stage 2's head phase (then 8 epochs of "
                        "stage 2's global-gate phase)")
    assert said[15] == "epoch 15/20, 2m16s elapsed, about 0m05s left"
    assert said[20] == "epoch 20/20, 2m21s elapsed, about 0m00s left"
    assert callbacks.phases(SimpleNamespace()) == [(0, "training")]  # a module without a schedule: one part
    assert Schedule(ungated_epochs=1, stage1_epochs=10, head_epochs=10, stage2_epochs=10).phases() == [
        (0, "stage 1"), (10, "stage 2's head phase")]  # no epochs of global gates: no such part
    off = SimpleNamespace(schedule=module.schedule, global_gates_enabled=False)  # head.global_gates.enabled=false
    assert callbacks.phases(off) == [(0, "stage 1"), (10, "stage 2")]
    # resumed at epoch 14: its first epoch computes stage 2's frozen inputs again (30 s), then 1 s an epoch
    caplog.clear()
    trainer.current_epoch, trainer.ckpt_path = 14, "last.ckpt"
    lines.on_train_start(trainer, module)
    with caplog.at_level(logging.INFO, logger=callbacks.log.name):
        for epoch in range(14, 20):
            trainer.current_epoch = epoch
            clock[0] += 30.0 if epoch == 14 else 1.0
            lines.on_train_epoch_end(trainer, module)
    said = {int(m.split("/")[0].split()[1]): m for r in caplog.records if (m := r.getMessage()).startswith("epoch")}
    assert said[17] == "epoch 17/20, 0m32s elapsed, about 0m03s left"


def test_a_sigterm_mid_epoch_ends_the_run_at_that_epochs_end_with_its_checkpoint(tmp_path, tiny_csv):
    """Without a periodic checkpoint due (checkpoint_every 50), a SIGTERM after a step of epoch 1 still leaves a
    checkpoint: that epoch finishes, is logged and saved, and the run stops there (Lightning alone stops after the
    step, and the run would start over)."""
    import pytorch_lightning as pl

    from idc.signals import checkpoint_epoch

    class KillInEpochOne(pl.Callback):
        def on_train_batch_end(self, trainer, module, outputs, batch, batch_idx):
            if trainer.current_epoch == 1 and batch_idx == 0:
                os.kill(os.getpid(), signal.SIGTERM)

    _fit_until_sigterm(tmp_path, tiny_csv, checkpoint_every=50, callbacks=[KillInEpochOne()])  # stopped by it
    assert checkpoint_epoch(tmp_path / "checkpoints" / "last.ckpt") == 1
    with open(tmp_path / "history.csv", newline="") as f:
        logged = {int(float(r["epoch"])) for r in csv.DictReader(f) if r.get("stage1/loss")}
    assert logged == {0, 1}, logged


@pytest.mark.parametrize("when", ["validation", "last epoch"])
def test_a_sigterm_in_validation_is_saved_at_its_epoch_and_one_in_the_last_epoch_replays_it(tmp_path, tiny_csv, when):
    """In validation (after the epoch's training steps) the epoch is saved as for a training step; in the last
    epoch, whose end holds the global gates' extra steps and the head's late pick, nothing is taken over: the run
    stops at once and that epoch is replayed (no checkpoint of it)."""
    import pytorch_lightning as pl

    from idc.signals import checkpoint_epoch

    killed = []

    class Kill(pl.Callback):
        def on_validation_start(self, trainer, module):
            if when == "validation" and not killed and trainer.current_epoch < trainer.max_epochs - 1:
                killed.append(trainer.current_epoch)
                os.kill(os.getpid(), signal.SIGTERM)

        def on_train_batch_end(self, trainer, module, outputs, batch, batch_idx):
            if when == "last epoch" and trainer.current_epoch == trainer.max_epochs - 1 and batch_idx == 0:
                killed.append(trainer.current_epoch)
                os.kill(os.getpid(), signal.SIGTERM)

    _fit_until_sigterm(tmp_path, tiny_csv, checkpoint_every=50, callbacks=[Kill()])
    saved = checkpoint_epoch(tmp_path / "checkpoints" / "last.ckpt")
    assert killed and saved == (killed[0] if when == "validation" else None), (killed, saved)
