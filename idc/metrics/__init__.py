"""Metrics as plain functions of numpy arrays (no torch, no Lightning)."""
from idc.metrics.clustering import cluster_sizes, clustering_metrics, hungarian_accuracy, open_gates

__all__ = ["cluster_sizes", "clustering_metrics", "hungarian_accuracy", "open_gates"]
