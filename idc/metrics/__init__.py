"""Metrics as plain functions of numpy arrays (no torch, no Lightning)."""
from idc.metrics.clustering import (
    cluster_sizes,
    clustering_metrics,
    gate_mass,
    greedy_accuracy,
    hungarian_accuracy,
    open_gates,
    silhouette,
)
from idc.metrics.headline import headline_metrics
from idc.metrics.interpretability import (
    diversity,
    empty_sets,
    faithfulness,
    gate_f1,
    gates_separated,
    generalizability,
    global_gate_sets,
    group_feature_sets,
    interpretability_metrics,
    separated_shares,
    subsample_rows,
    uniqueness_stability,
)

__all__ = [
    "cluster_sizes",
    "clustering_metrics",
    "diversity",
    "empty_sets",
    "faithfulness",
    "gate_f1",
    "gate_mass",
    "gates_separated",
    "generalizability",
    "global_gate_sets",
    "greedy_accuracy",
    "group_feature_sets",
    "headline_metrics",
    "hungarian_accuracy",
    "interpretability_metrics",
    "open_gates",
    "separated_shares",
    "silhouette",
    "subsample_rows",
    "uniqueness_stability",
]
