"""``metrics.json``'s numbers of a finished run, the same for IDC runs and baselines."""
from __future__ import annotations

from typing import Any

import numpy as np

from idc.metrics.clustering import cluster_sizes, clustering_metrics, gate_mass, open_gates


def headline_metrics(
    pred: dict[str, np.ndarray], labels: np.ndarray | None, n_clusters: int,
    epoch_selections: dict[str, dict] | None = None,
) -> dict[str, Any]:
    """The final model's numbers (no label-based selection); the evaluations picked during training
    (``idc.callbacks.EpochPicks``: by silhouette, and by ACC with the labels) are kept apart under names that
    say so."""
    k = int(n_clusters)
    metrics: dict[str, Any] = {
        "selection": "final_epoch",
        "open_local_gates": open_gates(pred["local_gates"], "median"),
        "open_global_gates": open_gates(pred["global_gates"], "mean"),
        "gate_mass_local": gate_mass(pred["local_gates"], "median"),  # the official code's |S|
        "gate_mass_global": gate_mass(pred["global_gates"], "mean"),
        "cluster_sizes": cluster_sizes(pred["clusters"], k),
        "n_samples": int(len(pred["clusters"])),
        "n_clusters": k,
    }
    if labels is not None:
        metrics.update(clustering_metrics(labels, pred["clusters"]))
    metrics.update(epoch_selections or {})
    return metrics
