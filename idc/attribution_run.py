"""A finished run -> ``eval_<method>.json``: its model explained post hoc (:mod:`idc.attributions`), top-k
features kept, scored by the interpretability metrics IDC's gates get (:func:`idc.metrics.interpretability_metrics`).

The comparison rows of the paper's interpretability table (ICLR-sub Table 1): ``kernel_shap`` on a ``method=kmeans``
run is "K-means + SHAP"; ``ig`` / ``gradient_shap`` on a ``gates=none`` IDC run are "IDC w/o gates + IntegGrads /
GradSHAP" (on an IDC run with gates, "IDC + ..."). Any method works on either kind of run.
"""
from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np
from omegaconf import OmegaConf

from idc import run_dir as rd
from idc.io import write_json
from idc.attributions import METHODS, TOP_K, Forward, attribution_gates, kmeans_forward, margin_temperature, own_clusters
from idc.data import DataError, Table, load_table
from idc.metrics import interpretability_metrics, subsample_rows


def attribution_file(method: str) -> str:
    """The file a run directory keeps ``method``'s scores in."""
    return f"eval_{method}.json"


def run_model(run_dir: Path, table: Table, clusters: np.ndarray, n_clusters: int) -> tuple[Forward, dict[str, Any]]:
    """The model of a finished run as a callable from inputs to cluster scores, and a description of it: an IDC
    run's cluster-head logits (checkpoint), or a K-means run's soft assignment to the means of its clusters (the
    centres K-means converged to) at :func:`margin_temperature`."""
    if (run_dir / rd.CHECKPOINT).is_file():
        import torch

        from idc.evaluate import load_module

        module, _ = load_module(run_dir)
        if module.hparams.model.get("embedding_clusterer"):
            raise DataError(f"{run_dir}: its clusters come from K-means on the embeddings, not from a head with "
                            "logits; attribute an IDC run or a method=kmeans run")

        def forward(x: torch.Tensor) -> torch.Tensor:  # differentiable (idc.inference.predict runs without gradients)
            return module(x)["logits"]

        return forward, {"model": "cluster-head logits of the trained network"}
    cfg = OmegaConf.load(run_dir / rd.CONFIG)
    target = str(OmegaConf.select(cfg, "method.baseline._target_", default="")  # model.: runs before the method group
                 or OmegaConf.select(cfg, "model.baseline._target_", default=""))
    if not target.endswith("KMeans"):
        raise DataError(f"{run_dir}: a baseline run of {target or 'an unknown model'!r}; attributions need an IDC "
                        "run (checkpoints/last.ckpt) or a method=kmeans run")
    centers = np.stack([table.X[clusters == c].mean(0) for c in range(n_clusters)])
    temperature = margin_temperature(table.X, centers)
    return kmeans_forward(centers, temperature), {
        "model": "K-means soft assignment softmax(-||x - c_k||^2 / T) to the means of its clusters",
        "temperature": temperature,
    }


def attribution_record(
    run_dir: Path | str,
    method: str,
    top_k: int = TOP_K,
    n_samples: int | None = None,
    max_samples: int | None = None,
) -> dict[str, Any]:
    """Explain every row of a seeded subsample of the run's table (its ``eval.max_samples``, or ``max_samples``;
    the run's ``eval.seed``) with ``method``, keep each row's ``top_k`` features and each cluster's, score them like
    IDC's gates (diversity then over the explained rows) and write ``eval_<method>.json`` into ``run_dir``.
    ACC/NMI/ARI are the explained model's on the whole table. Returns what was written."""
    run_dir = Path(run_dir)
    if method not in METHODS:
        raise ValueError(f"attribution method {method!r} is unknown; choose one of {', '.join(METHODS)}")
    if not rd.is_done(run_dir) or not (run_dir / rd.PREDICTIONS).is_file():
        raise DataError(f"{run_dir}: not a finished idc-train run directory (no {rd.DONE} marker or no "
                        f"{rd.PREDICTIONS})")
    started = time.perf_counter()
    saved = OmegaConf.load(run_dir / rd.CONFIG)
    table = load_table(saved.dataset)
    trained = rd.read_predictions(run_dir / rd.PREDICTIONS)
    if [str(n) for n in trained["feature_names"]] != table.feature_names or len(trained["clusters"]) != table.n_samples:
        raise DataError(f"{run_dir}: its dataset config no longer gives the table it was trained on "
                        f"({len(trained['clusters'])} rows and {len(trained['feature_names'])} features recorded, "
                        f"{table.n_samples} x {table.n_features} loaded now)")
    n_clusters = int(trained["global_gates"].shape[0])
    forward, model = run_model(run_dir, table, trained["clusters"], n_clusters)
    eval_cfg = saved.get("eval") or {}
    seed = int(eval_cfg.get("seed", 0))
    idx = subsample_rows(table.n_samples, max_samples or int(eval_cfg.get("max_samples", 2000)), seed)
    gates = attribution_gates(forward, table.X[idx], method, n_clusters, top_k, background=table.X,
                              n_samples=n_samples, seed=seed)

    from idc.metrics import headline_metrics

    clusters = own_clusters(forward, table.X)
    metrics = headline_metrics({**gates, "clusters": clusters}, table.y, n_clusters)
    y = None if table.y is None else table.y[idx]
    metrics.update(interpretability_metrics(
        table.X[idx], gates["clusters"], gates["local_gates"], gates["global_gates"],
        lambda X: own_clusters(forward, X), n_clusters, y, table.n_clusters, table.informative, seed,
        max_samples=None, faithfulness_max_features=eval_cfg.get("faithfulness_max_features"),
    ))
    metrics["subsample"] = {"n": int(len(idx)), "of": table.n_samples, "seed": seed}
    metrics["explainer"] = {
        "method": method, "top_k": int(top_k), "n_samples": n_samples, "explained": "each row's own cluster",
        "agreement_with_run_clusters": float((clusters == trained["clusters"]).mean()), **model,
        "wall_seconds": round(time.perf_counter() - started, 3),
    }
    write_json(run_dir / attribution_file(method), metrics)
    return metrics
