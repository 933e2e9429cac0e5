"""A trained model and a table -> ``eval.json`` (all metrics), ``explanations.csv`` and ``plots/``.

Used at the end of every training run (``eval.enabled``) and by ``idc-eval RUN_DIR`` on a finished run, also on
another table with the same features or after refitting the global gates under other settings
(:mod:`idc.refit_global_gates`).
"""
from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import numpy as np
import torch
from omegaconf import DictConfig, OmegaConf

from idc import refit_global_gates as refit
from idc import run_dir as rd
from idc import stage2
from idc.callbacks import picks_in, selections_of
from idc.data import DataError, Table, load_table
from idc.data.preprocess import Fitted
from idc.explain import write_explanations
from idc.history import HISTORY
from idc.inference import predict
from idc.io import write_json
from idc.metrics import (
    greedy_accuracy,
    headline_metrics,
    interpretability_metrics,
    silhouette,
    subsample_rows,
)
from idc.module import IDCModule

log = logging.getLogger(__name__)

EVAL = "eval.json"
EXPLANATIONS = "explanations.csv"
PLOTS = "plots"


def load_module(run_dir: Path) -> tuple[IDCModule, dict[str, dict]]:
    """The model of a finished run from ``checkpoints/last.ckpt`` (read with ``weights_only=True``: no code from
    the file can run), in evaluation mode, and the epochs picked during training under their ``metrics.json``
    names."""
    ckpt = torch.load(run_dir / rd.CHECKPOINT, map_location="cpu", weights_only=True)
    module = IDCModule(**ckpt["hyper_parameters"])
    module.load_state_dict(ckpt["state_dict"])
    module.head_selection = dict(ckpt.get("idc_head_selection", {}))
    return module.eval(), selections_of(picks_in(ckpt))


def compute_metrics(
    module: IDCModule, table: Table, pred: dict[str, np.ndarray], cfg: DictConfig | dict,
    epoch_selections: dict[str, dict] | None = None,
) -> dict[str, Any]:
    """Every clustering and interpretability metric; interpretability ones on a seeded subsample of at most
    ``cfg.max_samples`` rows (stated in the result); ``epoch_selections``: the epochs picked in training."""
    k = int(module.hparams.n_clusters)
    clusters = pred["clusters"]
    seed = int(cfg.get("seed", 0))
    m = headline_metrics(pred, table.y, k, epoch_selections)
    m["silhouette"] = silhouette(pred["embeddings"], clusters, seed=seed)
    if table.y is not None:
        m["greedy_acc_official"] = greedy_accuracy(table.y, clusters)
    clusterer = module.hparams.model.get("embedding_clusterer")

    def recluster(X: np.ndarray) -> np.ndarray:  # the fitted model on masked inputs (K-means centres kept)
        return predict(module, X, clusterer, seed, pred.get("cluster_centers"))["clusters"]

    m.update(interpretability_metrics(
        table.X, clusters, pred["local_gates"], pred["global_gates"], recluster, k, table.y, table.n_clusters,
        table.informative, seed, int(cfg.get("max_samples", 2000)), cfg.get("faithfulness_max_features"),
    ))
    if not clusterer and module.global_gates_enabled:  # trained global gates to judge
        idx = subsample_rows(len(table.X), int(cfg.get("max_samples", 2000)), seed)
        gated = torch.as_tensor(table.X[idx] * pred["local_gates"][idx], dtype=torch.float32, device=module.device)
        m.update(stage2.global_gate_fidelity(module, gated, torch.as_tensor(clusters[idx], device=module.device), seed))
    return m


def evaluate(
    module: IDCModule,
    table: Table,
    run_dir: Path,
    cfg: DictConfig | dict,
    pred: dict[str, np.ndarray],
    image_shape: tuple[int, int] | None = None,
    epoch_selections: dict[str, dict] | None = None,
    extra: dict[str, Any] | None = None,
) -> tuple[dict[str, Any], list[Path]]:
    """Measure, explain and draw the predictions ``pred`` (:func:`idc.inference.predict`) of ``table``; writes
    ``eval.json`` (with ``extra`` added), ``explanations.csv`` and ``plots/*.png`` into ``run_dir`` and returns the
    metrics and the plot paths."""
    from idc.plots import save_run_plots

    metrics = {**compute_metrics(module, table, pred, cfg, epoch_selections), **(extra or {})}
    write_json(run_dir / EVAL, metrics)
    write_explanations(run_dir / EXPLANATIONS, table, pred, int(cfg.get("top_k", 5)), module.gating is not None)
    plots: list[Path] = []
    if cfg.get("plots", True):
        arrays = {**pred, "feature_names": np.asarray(table.feature_names)}
        if table.y is not None:
            arrays["labels"] = table.y
        if table.class_names is not None:
            arrays["class_names"] = np.asarray(table.class_names)
        history = run_dir / HISTORY
        plots = save_run_plots(
            arrays, run_dir / PLOTS, history if history.exists() else None, image_shape,
            seed=int(cfg.get("seed", 0)), tsne_max=int(cfg.get("tsne_max", 3000)),
        )
    return metrics, plots


def processes_of(run_dir: Path) -> int:
    """How many processes trained the run (``world_size`` in ``run_info.json``; 1 for a run from before it was
    kept): a DDP run's step took one batch in each, so a refit on one device takes that many times the batch and
    the run's own number of steps."""
    info = run_dir / rd.RUN_INFO
    if not info.is_file():
        return 1
    try:
        processes = int(json.loads(info.read_text()).get("world_size", 1))
    except (ValueError, TypeError, AttributeError) as err:
        raise DataError(f"{info}: unreadable ({err}); it says how many processes trained the run") from None
    if processes < 1:
        raise DataError(f"{info}: world_size {processes}; it says how many processes trained the run (1 or more)")
    return processes


def evaluate_run(run_dir: Path, overrides: list[str] | tuple = ()) -> dict[str, Any]:
    """``idc-eval``: re-evaluate a finished run on its own dataset (files written into the run directory), or
    cluster and explain another table with the same features (``dataset.*`` overrides, applied on top of the
    run's dataset config; written into ``<run>/eval_<table>/``; without the run's label column, scored without
    labels: :func:`scored_table`). A new table takes the training table's columns
    and scaling (``preprocessing.npz``); nothing is refitted on it. ``head.global_gates.KEY=VALUE`` overrides
    instead refit the run's global gates on its own table under those settings (clusters and local gates
    unchanged; :mod:`idc.refit_global_gates`), written into ``<run>/eval_global_gates_<KEY><VALUE>.../``; the
    run's own files and checkpoint are left as they are."""
    run_dir = Path(run_dir)
    gate_overrides = [o for o in overrides if o.startswith(refit.PREFIX)]
    overrides = [o for o in overrides if o not in gate_overrides]
    if gate_overrides and overrides:
        raise DataError(f"idc-eval refits the global gates on the run's own table: give {refit.PREFIX}* overrides "
                        f"alone, or dataset overrides alone (got {overrides} with them)")
    if not rd.is_done(run_dir):
        raise DataError(f"{run_dir}: not a finished idc-train run directory (no DONE marker)")
    if not (run_dir / rd.CHECKPOINT).is_file():
        raise DataError(f"{run_dir}: no model checkpoint (a baseline run?); only IDC runs can be re-evaluated")
    saved = OmegaConf.load(run_dir / rd.CONFIG)
    dataset_cfg = dataset_with(saved.dataset, list(overrides))
    fitted_file = run_dir / rd.PREPROCESSING
    fitted = Fitted.load(fitted_file) if overrides and fitted_file.is_file() else None
    if overrides and fitted is None:
        log.warning("%s has no %s (a run from before it existed): the new table is scaled on its own statistics",
                    run_dir, rd.PREPROCESSING)
    module, selections = load_module(run_dir)
    if overrides:
        selections = {}  # picked on the training table: nothing to say about this one
    table = scored_table(saved.dataset, dataset_cfg, list(overrides), fitted)
    trained = rd.read_predictions(run_dir / rd.PREDICTIONS)
    trained_on = [str(n) for n in trained["feature_names"]]
    if trained_on != table.feature_names:  # runs from before preprocessing.npz: scaled on their own statistics
        unknown = [n for n in table.feature_names if n not in set(trained_on)][:5]
        raise DataError(
            f"{dataset_cfg.get('name')}: its {table.n_features} features do not match the {len(trained_on)} "
            f"features the model of {run_dir} was trained on"
            + (f" (unknown: {unknown})" if unknown else "; the same names in the same order are required")
        )
    out = run_dir
    if overrides:
        out = run_dir / f"eval_{Path(str(dataset_cfg.get('path') or dataset_cfg.get('name'))).stem}"
    eval_cfg = saved.get("eval") or {}
    clusterer = module.hparams.model.get("embedding_clusterer")
    centers = trained.get("cluster_centers")
    if clusterer and centers is None:
        log.warning("%s has no saved K-means centres (a run from before they were kept): K-means is fitted anew, "
                    "so cluster numbers need not be the training run's", run_dir)
    pred = predict(module, table.X, clusterer, int(eval_cfg.get("seed", 0)), centers)
    refitted: dict[str, Any] = {}
    if gate_overrides:
        if clusterer or not module.global_gates_enabled:
            raise DataError(f"{run_dir}: the run trained no global gates (head.global_gates.enabled=false or an "
                            "embedding clusterer): nothing to refit")
        try:
            refitted = refit.refit(module, table.X, pred["local_gates"], pred["clusters"],
                                   int(saved.dataset.batch_size) * processes_of(run_dir), int(saved.get("seed", 0)),
                                   gate_overrides)
        except ValueError as err:
            raise DataError(f"idc-eval: {err}") from None
        out = run_dir / ("eval_global_gates_" + "_".join(  # one folder per setting, however it was spelled
            f"{k}{v:g}" if isinstance(v, float) else f"{k}{v}" for k, v in sorted(refitted["overrides"].items())))
        pred = predict(module, table.X, None, int(eval_cfg.get("seed", 0)))
        selections = {}  # the epochs picked in training explained other global gates
    out.mkdir(exist_ok=True)
    metrics, _ = evaluate(module, table, out, eval_cfg, pred, image_shape_of(dataset_cfg), selections,
                          {"refitted_global_gates": refitted} if refitted else None)
    return metrics


def dataset_with(saved: DictConfig, overrides: list[str]) -> DictConfig:
    """The run's dataset config with ``dataset.key=value`` overrides on top (parsed as Hydra overrides);
    ``dataset=NAME`` naming another dataset starts from that dataset's config instead."""
    from hydra.errors import HydraException
    from omegaconf.errors import OmegaConfBaseException

    from idc.config import compose

    others = [o for o in overrides if not o.lstrip("+~").startswith("dataset")]
    if others:
        raise DataError(f"idc-eval takes dataset overrides only (dataset=..., dataset.key=...); got {others}")
    groups = [o.split("=", 1)[1] for o in overrides if o.startswith("dataset=")]
    group = groups[-1] if groups else str(saved.get("name"))
    try:
        cfg = compose([f"dataset={group}", *[o for o in overrides if not o.startswith("dataset=")]])
    except (HydraException, OmegaConfBaseException) as err:
        raise DataError(
            f"dataset {group!r}: {err}. New samples of a built-in dataset, or of a table trained under another "
            "name, go through dataset=table dataset.path=FILE (with x_key / y_key / label_column as needed)"
        ) from None
    if group == saved.get("name"):
        # config.yaml is resolved, so its `load` holds copies of the old values: keep the group's `load` (its
        # interpolations intact) and take the run's own values for every key not overridden now
        overridden = dataset_keys(overrides)
        own = {
            k: v for k, v in saved.items()
            if k in cfg.dataset and k != "load" and k not in overridden and not OmegaConf.is_interpolation(cfg.dataset, k)
        }
        cfg.dataset = OmegaConf.merge(cfg.dataset, own)
    return cfg.dataset


def dataset_keys(overrides: list[str]) -> set[str]:
    """The keys of ``dataset.KEY=VALUE`` overrides (``["dataset.path=x.csv", "+dataset.rows=9"]`` ->
    ``{"path", "rows"}``)."""
    return {o.split("=", 1)[0].lstrip("+~").removeprefix("dataset.") for o in overrides}


#: where a table's labels come from: a column (CSV, .h5ad obs) or a key (.npz, .mat, .h5)
LABEL_KEYS = ("label_column", "y_key")


def scored_table(saved: DictConfig, dataset_cfg: DictConfig, overrides: list[str], fitted: Fitted | None) -> Table:
    """``dataset_cfg``'s table. New data (a ``dataset.path`` override) that cannot be read with the labels carried
    over from the run (``label_column`` / ``y_key``, not given now) is scored without them, as one INFO line says;
    labels named in ``overrides`` stay required."""
    try:
        return load_table(dataset_cfg, fitted)
    except DataError as err:
        given = dataset_keys(overrides)
        carried = [k for k in LABEL_KEYS if dataset_cfg.get(k) is not None]
        if "path" not in given or not carried or given & set(LABEL_KEYS):
            raise
        label = dataset_cfg.get("label_column")  # a named one made training read a header: so is this file read
        header = ["dataset.header=true"] if isinstance(label, str) and dataset_cfg.get("header") == "auto" else []
        try:
            table = load_table(dataset_with(saved, [*overrides, *(f"dataset.{k}=null" for k in carried), *header]),
                               fitted)
        except DataError:
            raise err from None
        log.info("%s; scoring it without labels (no label metrics); to score against labels, name them: "
                 "dataset.%s=<name>", str(err).split(";")[0], carried[0])
        return table


def image_shape_of(dataset_cfg: Any) -> tuple[int, int] | None:
    """The (rows, cols) of image-like datasets, from their config."""
    shape = (dataset_cfg.get("load") or {}).get("image_shape")
    return tuple(int(s) for s in shape) if shape else None
