"""Inference: a trained model's clusters, gates and embeddings for a table (the estimator, the end of a
training run and ``idc-eval`` all call :func:`predict`)."""
from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn

from idc.clusterers import fit_centers, nearest_center

CHUNK = 4096  # rows per forward pass


@torch.no_grad()
def predict(
    module: nn.Module, X: np.ndarray, embedding_clusterer: Any = None, seed: int = 0, centers: np.ndarray | None = None
) -> dict[str, np.ndarray]:
    """Clusters, local gates and embeddings of every row of ``X`` (evaluation mode), plus the global gates.
    With ``embedding_clusterer`` (e.g. ``method=ae_kmeans``) the clusters come from it instead of the clustering
    head: fitted on the embeddings, its centres (``cluster_centers``, K x bottleneck) are returned, and given
    ``centers`` (a fitted run's) each row goes to the nearest one, so new samples keep the run's cluster numbers.
    A cluster's "global gates" are then its samples' mean local gates (no global gates were trained)."""
    module.eval()
    rows = torch.as_tensor(X, dtype=torch.float32).to(module.device)
    parts = [module(x) for x in rows.split(CHUNK)]
    out = {k: torch.cat([p[k] for p in parts]).cpu().numpy() for k in ("clusters", "gates", "embeddings")}
    pred = {
        "clusters": out["clusters"].astype(np.int64),
        "local_gates": out["gates"].astype(np.float32),
        "embeddings": out["embeddings"].astype(np.float32),
        "global_gates": module.global_gates.matrix().cpu().numpy().astype(np.float32),
    }
    if embedding_clusterer:
        k = int(module.hparams.n_clusters)
        if centers is None:
            pred["clusters"], centers = fit_centers(embedding_clusterer, pred["embeddings"], k, seed)
        else:
            pred["clusters"] = nearest_center(pred["embeddings"], centers)
        pred["cluster_centers"] = np.asarray(centers, dtype=np.float32)
        members = np.eye(k, dtype=np.float32)[pred["clusters"]]  # N x K one-hot
        pred["global_gates"] = (members.T @ pred["local_gates"]) / np.maximum(members.sum(0), 1.0)[:, None]
    return pred
