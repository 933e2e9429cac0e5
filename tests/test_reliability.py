"""Reliability: resume after SIGKILL, failure isolation in a multirun, the non-finite-loss guard."""
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from pytorch_lightning import Callback

import idc
from idc.config import compose_run
from idc.data import load_table
from idc.fit import fit
from idc.module import NonFiniteLossError
from idc.run_dir import code_version
from idc.train import train

from .conftest import run_cli

pytestmark = pytest.mark.slow


def test_a_killed_run_resumes_from_its_last_checkpoint(tmp_path):
    """SIGKILL in stage 2, then the same settings again: the run resumes from last.ckpt (weights restored) and
    finishes. (The same command after SIGTERM: tests/test_console.py.)"""
    run = tmp_path / "run"
    args = ["schedule=smoke", "logger=none", "schedule.stage2_epochs=16", "checkpoint_every=1",
            "eval.enabled=false"]  # 20 epochs: a few seconds to catch it alive
    exe = Path(sys.executable).with_name("idc-train")
    env = {**os.environ, "CI": "1"}
    proc = subprocess.Popen([str(exe), *args, f"hydra.run.dir={run}"], cwd=tmp_path, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    ckpt = run / "checkpoints" / "last.ckpt"
    deadline = time.time() + 120
    while time.time() < deadline and proc.poll() is None:
        if ckpt.exists() and torch.load(ckpt, weights_only=True)["epoch"] >= 5:  # stage 2 (smoke: from epoch 4)
            break
        time.sleep(0.05)
    assert proc.poll() is None, "the run ended before it could be killed"
    proc.send_signal(signal.SIGKILL)
    assert proc.wait() == -signal.SIGKILL
    first = torch.load(ckpt, weights_only=True)
    assert 5 <= first["epoch"] < 20 and not (run / "DONE").exists()
    # mark the checkpoint: the gating network is frozen after stage 1, so a resumed run keeps the mark
    key = "gating.net.0.weight"
    first["state_dict"][key] += 1.0
    torch.save(first, ckpt)
    train(compose_run(args, run))  # in this process: the killed one's settings, its run directory
    info = json.loads((run / "run_info.json").read_text())
    metrics = json.loads((run / "metrics.json").read_text())
    assert info["resumed_from"] == str(ckpt) and metrics["epochs"] == 20 and (run / "DONE").exists()
    second = torch.load(ckpt, weights_only=True)
    assert second["epoch"] == 20 and second["global_step"] > first["global_step"]
    assert torch.equal(first["state_dict"][key], second["state_dict"][key])  # restored, not re-initialised


def test_a_run_directory_resumes_only_under_its_own_settings(cfg_factory, tmp_path):
    from idc.run_dir import SettingsChanged

    train(cfg_factory("eval.enabled=false"))
    files = {p.name: p.read_bytes() for p in tmp_path.iterdir() if p.is_file()}
    with pytest.raises(SettingsChanged, match=r"model.lr.pretrain: 0.001 -> 0.5.*resume=false"):
        train(cfg_factory("eval.enabled=false", "model.lr.pretrain=0.5"))
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir() if p.is_file()} == files  # DONE, config, metrics kept
    train(cfg_factory("eval.enabled=false", "logger=csv", "checkpoint_every=7"))  # not settings: it resumes
    assert (tmp_path / "DONE").exists()
    train(cfg_factory("eval.enabled=false", "model.lr.pretrain=0.5", "resume=false"))  # asked to start over
    assert "pretrain: 0.5" in (tmp_path / "config.yaml").read_text() and (tmp_path / "DONE").exists()


def test_a_run_from_before_a_changed_default_resumes_only_under_the_value_it_had(cfg_factory, tmp_path):
    import re

    from idc.run_dir import SettingsChanged

    train(cfg_factory("eval.enabled=false", "head.global_gates.train_factor=1"))
    config = tmp_path / "config.yaml"
    text = config.read_text()
    assert re.search(r"\n *train_factor: 1\n", text)
    config.write_text(re.sub(r"\n *train_factor: 1\n", "\n", text))  # as idc wrote it before the option
    with pytest.raises(SettingsChanged, match=r"head.global_gates.train_factor: 1.0 -> 3.0"):
        train(cfg_factory("eval.enabled=false"))  # today's default would relabel gates trained once as trained on
    train(cfg_factory("eval.enabled=false", "head.global_gates.train_factor=1"))
    assert (tmp_path / "DONE").exists()


def test_a_whole_number_is_one_setting_however_it_is_written():
    from idc.run_dir import differing_keys, settings_of

    runs = [settings_of({"head": {"global_gates": {"reg_lambda": v}}, "seed": 0}) for v in (1, 1.0)]
    assert differing_keys(runs) == [] and runs[0]["head.global_gates.reg_lambda"] == "1.0"
    assert differing_keys([*runs, settings_of({"head": {"global_gates": {"reg_lambda": 1.5}}, "seed": 0})]) == [
        "head.global_gates.reg_lambda"]
    # not a float of idc's schemas: Lightning reads limit_train_batches=1 as one batch, 1.0 as all of them
    batches = [settings_of({"trainer": {"limit_train_batches": v}, "seed": 0}) for v in (1, 1.0)]
    assert differing_keys(batches) == ["trainer.limit_train_batches"]


def test_a_failing_job_does_not_stop_the_multirun(tmp_path):
    # the loader's arguments are free-form (each loader checks its own), so a bad one fails when the table loads;
    # K-means: the sweep's handling is the same for every method, and a baseline starts without Lightning
    proc = run_cli("-m", "method=kmeans", "logger=none", "dataset.load.noise_std=oops,0.01",
                   f"hydra.sweep.dir={tmp_path / 'sweep'}", cwd=tmp_path, check=False)
    assert proc.returncode == 1  # the sweep went on, and says at its end that a job failed
    failed, done = tmp_path / "sweep" / "0", tmp_path / "sweep" / "1"
    assert "could not convert string to float: 'oops'" in (failed / "FAILED").read_text()
    assert not (failed / "DONE").exists()
    assert (done / "DONE").exists() and not (done / "FAILED").exists() and (done / "metrics.json").exists()


def test_a_sweep_job_refused_by_validation_leaves_failed_and_idc_table_lists_it(tmp_path):
    from idc.tables import find_runs

    proc = run_cli("-m", "method=kmeans", "logger=none", "gates.reg_lambda=-1,1",
                   f"hydra.sweep.dir={tmp_path / 'sweep'}", cwd=tmp_path, check=False)
    assert proc.returncode == 1
    refused, done = tmp_path / "sweep" / "0", tmp_path / "sweep" / "1"
    # the sweep's end says it too (idc.sweep_summary), after the jobs' own output
    assert "sweep: 1 of 2 jobs done, 1 failed, 0 unfinished" in proc.stdout + proc.stderr
    assert f"sweep: failed: {refused}" in proc.stdout + proc.stderr
    assert "gates.reg_lambda: -1 is not allowed" in (refused / "FAILED").read_text()
    assert (done / "DONE").exists()
    assert sorted((r.path.name, r.status) for r in find_runs(tmp_path / "sweep")) == [("0", "failed"), ("1", "done")]
    assert {r.label for r in find_runs(tmp_path / "sweep")} == {"kmeans"}  # Hydra's unresolved config: no variant
    # refused again into a directory that holds a finished run: that run keeps its state (no FAILED beside DONE)
    run_cli("-m", "method=kmeans", "logger=none", "gates.reg_lambda=-1", f"hydra.sweep.dir={tmp_path / 'sweep'}",
            "hydra.sweep.subdir=1", cwd=tmp_path, check=False)
    assert (done / "DONE").exists() and not (done / "FAILED").exists()
    # another sweep into the same folder (as idc-paper's rows share theirs): its end counts its own jobs alone
    proc = run_cli("-m", "method=kmeans", "logger=none", "seed=5", f"hydra.sweep.dir={tmp_path / 'sweep'}",
                   "hydra.sweep.subdir=again", cwd=tmp_path)
    assert "sweep: 1 of 1 jobs done, 0 failed, 0 unfinished" in proc.stdout + proc.stderr


def test_a_run_that_fails_outside_the_cli_leaves_failed_too(cfg_factory, tmp_path):
    (tmp_path / "DONE").write_text("done\n")  # an earlier attempt in this directory had finished
    with pytest.raises(ValueError, match="oops"):  # e.g. a trial of idc-search, or a script calling train()
        train(cfg_factory("eval.enabled=false", "dataset.load.noise_std=oops"))
    assert "could not convert string to float: 'oops'" in (tmp_path / "FAILED").read_text()
    assert not (tmp_path / "DONE").exists()  # else skip_done would never retry it


def test_history_is_written_with_every_checkpoint(tmp_path):
    from idc.history import HistoryLogger

    history = HistoryLogger(tmp_path, every_seconds=1e9)  # the timer alone would never write it
    history.log_metrics({"epoch": 0, "stage1/loss": 1.5})
    history.save()
    assert not (tmp_path / "history.csv").exists()
    history.after_save_checkpoint(None)  # Lightning's ModelCheckpoint calls this after each save
    assert (tmp_path / "history.csv").read_text().splitlines() == ["epoch,stage1/loss", "0,1.5"]


class PoisonAt(Callback):
    """Puts a NaN into the training table at the start of one epoch."""

    def __init__(self, epoch):
        self.epoch = epoch

    def on_train_epoch_start(self, trainer, module):
        if trainer.current_epoch == self.epoch:
            trainer.datamodule.table_on(module.device)[0, 0] = float("nan")


def test_a_non_finite_loss_stops_training_and_keeps_the_last_good_checkpoint(cfg_factory, tmp_path):
    cfg = cfg_factory("checkpoint_every=1")
    with pytest.raises(NonFiniteLossError, match=r"stage 1, epoch 2: the loss term\(s\) \['recon_clean'"):
        fit(cfg, load_table(cfg.dataset), tmp_path, callbacks=[PoisonAt(2)])
    ckpt = torch.load(tmp_path / "checkpoints" / "last.ckpt", weights_only=True)
    assert ckpt["epoch"] == 1  # saved after epoch 1, the last good one; epoch 2 was never saved
    assert all(torch.isfinite(v).all() for v in ckpt["state_dict"].values() if v.is_floating_point())


def test_a_non_finite_last_stage_1_epoch_writes_no_stage1_checkpoint(cfg_factory, tmp_path):
    cfg = cfg_factory("checkpoint_every=1")
    with pytest.raises(NonFiniteLossError, match="stage 1, epoch 3"):  # smoke: stage1_epochs = 4
        fit(cfg, load_table(cfg.dataset), tmp_path, callbacks=[PoisonAt(3)])
    assert not (tmp_path / "checkpoints" / "stage1.ckpt").exists()  # stage-2 sweeps must not reuse NaN weights


@pytest.mark.skipif(shutil.which("git") is None, reason="needs git")
def test_run_info_names_the_code_that_ran(tmp_path):
    def git(*args):
        subprocess.run(["git", "-C", str(tmp_path), "-c", "user.name=t", "-c", "user.email=t@t", *args],
                       check=True, capture_output=True)

    (tmp_path / "idc").mkdir()
    (tmp_path / "idc" / "module.py").write_text("x = 1\n")
    git("init", "-q")
    git("add", ".")
    git("commit", "-q", "-m", "one")
    head = subprocess.run(["git", "-C", str(tmp_path), "rev-parse", "--short=12", "HEAD"], capture_output=True,
                          text=True, check=True).stdout.strip()
    assert code_version(tmp_path) == {"idc": idc.__version__, "commit": head}
    (tmp_path / "notes.txt").write_text("not code")  # outside idc/ and configs/: the same code
    assert code_version(tmp_path)["commit"] == head
    (tmp_path / "idc" / "module.py").write_text("x = 2\n")
    assert code_version(tmp_path)["commit"] == head + "+changes"
    (tmp_path / "idc" / "installed").mkdir()  # a copy inside another checkout names no commit
    assert code_version(tmp_path / "idc" / "installed") == {"idc": idc.__version__}
    assert code_version(tmp_path.parent / "not-there") == {"idc": idc.__version__}
