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

from omegaconf import DictConfig, open_dict

from idc import run_dir as rd
from idc.console import apply_threads, quiet_libraries, threads_for
from idc.consensus import combine_runs, run_seeds
from idc.data import Table
from idc.metrics import headline_metrics

log = logging.getLogger("idc")
RUNS = "runs"


def seed_run_dir(run_dir: Path, seed: int) -> Path:
    return run_dir / RUNS / f"seed_{seed}"


def seed_config(cfg: DictConfig, run_dir: Path, seed: int) -> DictConfig:
    """The config of the sub-run of ``seed``: one run (``model.n_init=1``) in :func:`seed_run_dir`."""
    sub = copy.deepcopy(cfg)
    with open_dict(sub):
        sub.seed, sub.model.n_init = seed, 1
        sub.paths.output_dir = str(seed_run_dir(run_dir, seed))  # eval.seed follows ${seed}
    return sub


def _train_seed(train: Callable[[DictConfig, bool], Any], sub: DictConfig, threads: int) -> int:
    """One sub-run in a joblib worker process (its own torch threads, libraries quiet, no progress bar); returns
    its seed."""
    quiet_libraries()
    apply_threads(threads)
    train(sub, False)
    return int(sub.seed)


def train_consensus(
    cfg: DictConfig, run_dir: Path, table: Table, train: Callable[[DictConfig, bool], Any], show_progress: bool = False,
) -> dict[str, Any]:
    """Train the ``model.n_init`` seeds of ``cfg`` as sub-runs with ``train`` (:func:`idc.train.train`) and write
    their consensus to ``run_dir``; returns the consensus metrics."""
    started = time.perf_counter()
    rd.start_run(run_dir, cfg)
    seeds = run_seeds(int(cfg.seed), int(cfg.model.n_init))
    subs = [seed_config(cfg, run_dir, seed) for seed in seeds]
    jobs = min(int(cfg.model.get("n_jobs", 1)), len(subs))
    if jobs > 1:
        from joblib import Parallel, delayed

        threads = threads_for(cfg.get("threads"), jobs)
        log.info("consensus: %d runs, %d at once with %d thread(s) each, in %s", len(subs), jobs, threads,
                 run_dir / RUNS)
        done = Parallel(n_jobs=jobs, return_as="generator_unordered")(
            delayed(_train_seed)(train, sub, threads) for sub in subs)
        for k, seed in enumerate(done, 1):
            log.info("consensus: run %d of %d done (seed %d)", k, len(subs), seed)
    else:
        for k, sub in enumerate(subs, 1):
            log.info("consensus: run %d of %d (seed %d) in %s", k, len(subs), sub.seed, sub.paths.output_dir)
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
