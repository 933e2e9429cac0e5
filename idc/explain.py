"""Explanations from gates, the one place they are built: features ranked by gate value, ``explanations.csv``
and the warnings that say when the gates do not support them (docs/outputs.md)."""
from __future__ import annotations

import csv
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from idc.metrics.interpretability import CLEARLY_OPEN, MIN_CLOSED_SHARE, gates_separated

if TYPE_CHECKING:
    from idc.data.table import Table

log = logging.getLogger(__name__)

#: the share of samples with unseparated local gates from which :func:`explanation_warnings` warns
SAMPLES_WARN_SHARE = 0.1


def top_features(
    gates: np.ndarray, names: Sequence[str], top_k: int = 5, tiebreak: np.ndarray | None = None
) -> list[list[tuple[str, float]]]:
    """For each row of ``gates`` (samples x D or clusters x D), its open features (gate > 0) with the
    largest gates, at most ``top_k``, as ``(name, value)``; ties (e.g. many gates at 1) are broken by
    ``tiebreak`` (default: none), larger first."""
    gates = np.atleast_2d(np.asarray(gates, dtype=float))
    tie = np.zeros_like(gates) if tiebreak is None else np.atleast_2d(np.asarray(tiebreak, dtype=float))
    out = []
    for start in range(0, len(gates), 4096):  # chunks keep the sort keys small for large tables
        g, t = gates[start : start + 4096], tie[start : start + 4096]
        order = np.lexsort((-t, -g), axis=-1)[:, :top_k]
        for row, idx in zip(g, order):
            out.append([(str(names[j]), float(row[j])) for j in idx if row[j] > 0])
    return out


def as_columns(ranked: list[tuple[str, float]], top_k: int) -> list[str | float]:
    """``[feature_1, value_1, ..., feature_k, value_k]`` cells, blank where fewer features are open."""
    cells: list[str | float] = []
    for i in range(top_k):
        cells += [ranked[i][0], round(ranked[i][1], 4)] if i < len(ranked) else ["", ""]
    return cells


def column_names(top_k: int) -> list[str]:
    return [f"{p}_{i}" for i in range(1, top_k + 1) for p in ("feature", "value")]


# ------------------------------------------------------------------------------------ explanations.csv
def majority_classes(labels: np.ndarray, clusters: np.ndarray, n_clusters: int) -> tuple[np.ndarray, np.ndarray]:
    """Per cluster: its most frequent label (code ``0..C-1``, the smallest on a tie) and that label's share of
    the cluster's samples; ``-1`` and NaN for an empty cluster."""
    labels, clusters = np.asarray(labels, dtype=np.int64), np.asarray(clusters, dtype=np.int64)
    n_classes = int(labels.max()) + 1 if labels.size else 1
    counts = np.bincount(clusters * n_classes + labels, minlength=n_clusters * n_classes)
    counts = counts.reshape(n_clusters, n_classes)
    sizes = counts.sum(axis=1)
    top = counts.argmax(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        share = counts[np.arange(n_clusters), top] / sizes
    return np.where(sizes > 0, top, -1), np.where(sizes > 0, share, np.nan)


def class_name(code: int, class_names: Sequence[str] | None) -> str:
    """The original label of class ``code`` (``Table.class_names``), or the code itself when none are kept."""
    return str(class_names[code]) if class_names is not None else str(code)


def _flag(value: bool) -> str:
    return "true" if value else "false"


def explanation_rows(
    X: np.ndarray,
    pred: dict[str, np.ndarray],
    names: Sequence[str],
    top_k: int = 5,
    labels: np.ndarray | None = None,
    class_names: Sequence[str] | None = None,
) -> tuple[list[str], list[list[Any]]]:
    """Header and rows of ``explanations.csv``: one row per cluster (size, top-k features by global gate) and
    per sample (cluster, top-k features by local gate, ties broken by the magnitude of the gated value ``X * z``),
    then ``gates_separated`` (:func:`~idc.metrics.interpretability.gates_separated` of that row's gates) and
    ``empty`` (clusters only). An empty cluster gets no features and a blank ``gates_separated``. With
    ``labels``: ``majority_class`` (by name) and ``majority_share`` per cluster, ``label`` (by name) per sample."""
    clusters, local, global_ = pred["clusters"], pred["local_gates"], pred["global_gates"]
    k = len(global_)
    sizes = np.bincount(clusters, minlength=k)
    per_cluster = top_features(global_, names, top_k)
    per_sample = top_features(local, names, top_k, np.abs(X * local))
    sep_cluster, sep_sample = gates_separated(global_), gates_separated(local)
    header = ["kind", "id", "cluster", "size", *column_names(top_k), "gates_separated", "empty"]
    if labels is not None:
        header += ["majority_class", "majority_share", "label"]
        majority, share = majority_classes(labels, clusters, k)
    rows: list[list[Any]] = []
    for c in range(k):
        empty = sizes[c] == 0
        row = ["cluster", c, c, int(sizes[c]), *as_columns([] if empty else per_cluster[c], top_k),
               "" if empty else _flag(sep_cluster[c]), _flag(empty)]
        if labels is not None:
            row += ["", "", ""] if empty else [class_name(majority[c], class_names), round(float(share[c]), 4), ""]
        rows.append(row)
    for i, (c, ranked) in enumerate(zip(clusters, per_sample)):
        row = ["sample", i, int(c), "", *as_columns(ranked, top_k), _flag(sep_sample[i]), ""]
        if labels is not None:
            row += ["", "", class_name(int(labels[i]), class_names)]
        rows.append(row)
    return header, rows


def explanation_warnings(pred: dict[str, np.ndarray], names: Sequence[str], top_k: int = 5,
                         local_gates: bool = True) -> list[str]:
    """What a reader of the explanations must know, one message each: empty clusters, clusters and samples whose
    gates have not separated (a warning for any non-empty cluster, and for samples when at least
    :data:`SAMPLES_WARN_SHARE` of them; none for samples of a model without local gates, ``gates=none``), and
    non-empty clusters that all share the same top-k features."""
    clusters, global_ = pred["clusters"], pred["global_gates"]
    sizes = np.bincount(clusters, minlength=len(global_))
    used = np.flatnonzero(sizes > 0)
    notes = []
    empty = np.flatnonzero(sizes == 0)
    if len(empty):
        notes.append(f"{len(empty)} of {len(sizes)} clusters have no samples ({empty.tolist()}): marked empty in "
                     "explanations.csv and the plots, with no features")
    shut = int((global_[used] <= 0).all(axis=1).sum())  # every gate closed: nothing to separate, too strong a weight
    if shut:
        notes.append(f"the global gates of {shut} of {len(used)} non-empty clusters closed every feature: those "
                     "clusters are explained by nothing (no features in explanations.csv); lower "
                     "head.global_gates.reg_lambda (idc-eval <run dir> head.global_gates.reg_lambda=... refits them)")
    unseparated_clusters = int((~gates_separated(global_[used])).sum()) - shut
    unseparated_samples = int((~gates_separated(pred["local_gates"])).sum()) if local_gates else 0
    which = []
    if unseparated_clusters:
        which.append(f"the global gates of {unseparated_clusters} of {len(used)} non-empty clusters")
    if unseparated_samples and unseparated_samples >= SAMPLES_WARN_SHARE * len(clusters):
        which.append(f"the local gates of {unseparated_samples} of {len(clusters)} samples")
    if which:
        notes.append(f"{' and '.join(which)} have not separated (fewer than {MIN_CLOSED_SHARE:.0%} of the gates "
                     f"closed, or most open gates below {CLEARLY_OPEN}; docs/outputs.md): their top features rank "
                     "gates the model has not chosen between (gates_separated=false in explanations.csv); train "
                     "longer (more gated epochs, schedule.*) or raise the sparsity weight (gates.reg_lambda, "
                     "head.global_gates.reg_lambda)")
    tops = {frozenset(n for n, _ in ranked) for ranked in top_features(global_[used], names, top_k)}
    if len(used) >= 2 and len(tops) == 1 and next(iter(tops)):
        notes.append(f"all {len(used)} non-empty clusters have the same top {top_k} features by global gate "
                     f"({sorted(next(iter(tops)))}): the explanations do not tell the clusters apart")
    return notes


def write_explanations(path: Path, table: Table, pred: dict[str, np.ndarray], top_k: int = 5,
                       local_gates: bool = True) -> list[str]:
    """Write ``explanations.csv`` of ``table``'s predictions ``pred`` (:func:`explanation_rows`, class names
    from ``table.class_names``) atomically, log each of :func:`explanation_warnings` as a warning and return
    them."""
    from idc.io import replacing

    names = table.feature_names
    header, rows = explanation_rows(table.X, pred, names, top_k, table.y, table.class_names)
    with replacing(path) as tmp, open(tmp, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(header)
        writer.writerows(rows)
    notes = explanation_warnings(pred, names, top_k, local_gates)
    for note in notes:
        log.warning("%s: %s", path, note)
    return notes
