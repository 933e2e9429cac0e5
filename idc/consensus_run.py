"""``idc-train ... model.n_init=S``: S independent runs combined into one consensus (issue 22, section 3).

Each seed ``seed .. seed + S - 1`` is an ordinary run in ``<run dir>/runs/seed_<s>`` (its own config, checkpoints,
evaluation and ``DONE``, so each resumes and is skipped when done on its own); ``model.n_jobs`` of them train at
once in joblib's worker processes (the cores split between them unless ``threads`` is given), else one after
another; a launcher could also run them (one ``idc-train seed=s hydra.run.dir=<run dir>/runs/seed_<s>`` each)
before this combination. The parent run directory gets the consensus (:func:`idc.consensus.combine_runs`) in
``predictions.h5`` and ``metrics.json`` with ``consensus_agreement`` (the runs' mean ARI to the consensus: a
label-free confidence) and ``run_agreement``.
"""
from __future__ import annotations

import copy
import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf, open_dict

from idc import run_dir as rd
from idc import signals
from idc.console import also_to_file, quiet_libraries
from idc.consensus import combine_runs, run_seeds
from idc.data import Table
from idc.metrics import headline_metrics
from idc.parallel import run_in_processes, worker_threads
from idc.size_rule import command_line_keys

log = logging.getLogger("idc")
RUNS = "runs"


def seed_run_dir(run_dir: Path, seed: int) -> Path:
    return run_dir / RUNS / f"seed_{seed}"


def seed_config(cfg: DictConfig, run_dir: Path, seed: int) -> DictConfig:
    """The config of the sub-run of ``seed``: one run (``model.n_init=1``) in :func:`seed_run_dir`."""
    sub = copy.deepcopy(cfg)
    with open_dict(sub):
        sub.seed, sub.model.n_init, sub.model.n_jobs = seed, 1, 1
        sub.paths.output_dir = str(seed_run_dir(run_dir, seed))  # eval.seed follows ${seed}
    return sub


def finished(sub: DictConfig) -> bool:
    """Whether the sub-run ``sub`` is done under the same settings (then it is not trained again); done under other
    settings it is refused, as :func:`idc.train.train` would (:class:`idc.run_dir.SettingsChanged`)."""
    out = Path(sub.paths.output_dir)
    if not (sub.get("resume", True) and rd.is_done(out)):
        return False
    rd.check_resumable(out, OmegaConf.to_container(sub, resolve=True))
    return True


def _train_seed(train: Callable[..., Any], sub: DictConfig, explicit: set[str]) -> int:
    """One sub-run in a worker process: libraries quiet, the ``idc`` log in its own ``train.log``, the size rule
    told which keys the command line gave (a worker has no Hydra to ask); returns its seed. A signal that stops it
    (passed on by :func:`idc.parallel.run_in_processes`) leaves its checkpoint and its own ``INTERRUPTED``."""
    quiet_libraries()
    log.setLevel(logging.INFO)
    out = Path(sub.paths.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    signals.clear_interrupted(out)
    since = len(signals.RECEIVED)
    with also_to_file(out / "train.log"):
        try:
            train(sub, False, explicit=explicit)
        except BaseException as err:  # stopped by a signal: its own INTERRUPTED, as idc-train writes for a run
            if (stop := signals.stopped_by_signal(err, since)) is not None:
                signals.mark_interrupted(out, stop, out / rd.CHECKPOINT, replaces=(rd.FAILED,))
            raise
    return int(sub.seed)


def train_consensus(
    cfg: DictConfig, run_dir: Path, table: Table, train: Callable[..., Any], show_progress: bool = False,
) -> dict[str, Any]:
    """Train the ``model.n_init`` seeds of ``cfg`` as sub-runs with ``train`` (:func:`idc.train.train`) and write
    their consensus to ``run_dir``; returns the consensus metrics."""
    started = time.perf_counter()
    rd.start_run(run_dir, cfg)
    seeds = run_seeds(int(cfg.seed), int(cfg.model.n_init))
    subs = [seed_config(cfg, run_dir, seed) for seed in seeds]
    todo = [sub for sub in subs if not finished(sub)]
    if len(todo) < len(subs):
        log.info("consensus: %d of %d runs already done", len(subs) - len(todo), len(subs))
    jobs = min(int(cfg.model.get("n_jobs", 1)), len(todo))
    if jobs > 1:
        threads = worker_threads(cfg.get("threads"), jobs)
        log.info("consensus: %d runs, %d at once with %d thread(s) each, in %s", len(todo), jobs, threads,
                 run_dir / RUNS)
        explicit = command_line_keys()  # a worker has no Hydra app to ask
        run_in_processes(_train_seed, [(train, sub, explicit) for sub in todo], jobs, threads,
                         lambda i, seed: log.info("consensus: seed %d done", seed))
    else:
        for k, sub in enumerate(todo, 1):
            log.info("consensus: run %d of %d (seed %d) in %s", k, len(todo), sub.seed, sub.paths.output_dir)
            train(sub, show_progress)
    outs = [rd.read_predictions(Path(sub.paths.output_dir) / rd.PREDICTIONS) for sub in subs]
    both = combine_runs([o["clusters"] for o in outs], int(table.n_clusters), [o["local_gates"] for o in outs],
                        [o["global_gates"] for o in outs])
    pred = {"embeddings": outs[both.representative]["embeddings"]}  # the representative run's; the rest: consensus
    pred.update(clusters=both.labels, local_gates=both.local_gates.astype("float32"),
                global_gates=both.global_gates.astype("float32"))
    metrics = headline_metrics(pred, table.y, int(table.n_clusters))
    metrics.update(selection="consensus", dataset=cfg.dataset.name, seed=int(cfg.seed), seeds=seeds,
                   consensus_agreement=both.agreement, run_agreement=both.run_agreement,
                   representative_seed=seeds[both.representative])
    log.info("consensus of %d runs: agreement (mean ARI to the consensus) %.3f", len(seeds), both.agreement)
    rd.finish_run(run_dir, metrics, pred, table.feature_names, table.y, time.perf_counter() - started, "consensus",
                  class_names=table.class_names, runs=[str(seed_run_dir(run_dir, s)) for s in seeds])
    return metrics
