"""Figures for a finished run: gates, embedding, confusion matrix and training curves.

Every function draws one matplotlib figure (non-interactive ``Agg`` backend), saves it as a PNG to ``path``
and returns that path; :func:`save_run_plots` writes all that apply to a run's arrays (``predictions.h5``)
and ``history.csv``.
"""
from __future__ import annotations

import csv
import math
from pathlib import Path
from typing import Any, Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402

from idc.metrics.clustering import matched_confusion  # noqa: E402
from idc.metrics.interpretability import gates_separated  # noqa: E402

DPI = 120
MAX_POINTS = 20000  # embedding maps subsample to at most this many points
MAX_ANNOTATED = 30  # annotate matrix cells only up to this many columns
EMPTY = "empty"  # how an empty cluster is labelled (no samples: no features, no gates to show)



def _save(fig: plt.Figure, path: str | Path) -> Path:
    """Save ``fig`` to ``path`` (creating its folder) and close it."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=DPI)
    plt.close(fig)
    return path


def _names(feature_names: Sequence[Any] | None, d: int) -> list[str]:
    """Feature names as ``str`` (decoding bytes); ``x0..x{d-1}`` when none are given."""
    if feature_names is None:
        return [f"x{i}" for i in range(d)]
    return [n.decode() if isinstance(n, bytes) else str(n) for n in feature_names]


def _cluster_label(c: int, sizes: Sequence[int] | None, separated: Sequence[bool] | None) -> str:
    """``cluster c (n=...)``, ``cluster c: empty`` without samples, ``, not separated`` where its global gates
    have not separated (:func:`~idc.metrics.interpretability.gates_separated`)."""
    if sizes is None:
        return f"cluster {c}"
    if sizes[c] == 0:
        return f"cluster {c}: {EMPTY}"
    flag = ", not separated" if separated is not None and not separated[c] else ""
    return f"cluster {c} (n={int(sizes[c])}{flag})"


def _annotate(ax: plt.Axes, matrix: np.ndarray, fmt: str, vmax: float, dark_high: bool) -> None:
    """Write each cell's value into a heatmap, white on dark cells (high values when ``dark_high``)."""
    size = max(6, 11 - matrix.shape[1] // 5)
    for (i, j), value in np.ndenumerate(matrix):
        if np.isnan(value):
            continue
        dark = (value > 0.5 * vmax) == dark_high
        ax.text(j, i, format(value, fmt), ha="center", va="center", fontsize=size,
                color="white" if dark else "black")


#: inches per heatmap column that holds a two-decimal value (10 pt) without touching its neighbours
CELL_INCHES = 0.6


def heatmap_size(columns: int, rows: int, row_labels: Sequence[str]) -> tuple[float, float]:
    """(width, height) in inches of a heatmap of ``columns`` x ``rows`` cells: each column :data:`CELL_INCHES`
    wide beside its row labels (about 0.08 in a character at 10 pt) and the colour bar."""
    label = 0.08 * max((len(r) for r in row_labels), default=0)
    return float(np.clip(CELL_INCHES * columns + label + 2.0, 6, 30)), max(4.0, 0.5 * rows + 2.5)


def global_gates_heatmap(
    global_gates: np.ndarray, feature_names: Sequence[Any] | None, path: str | Path, top_k: int = 5,
    sizes: Sequence[int] | None = None, separated: Sequence[bool] | None = None,
) -> Path:
    """Heatmap of clusters x the union of each cluster's ``top_k`` open features by global gate value. With
    ``sizes`` an empty cluster's row is blank and labelled empty (it adds no features); with ``separated``
    clusters whose gates have not separated say so."""
    gates = np.asarray(global_gates, dtype=float)
    names = _names(feature_names, gates.shape[1])
    if sizes is not None:
        gates = np.where(np.asarray(sizes)[:, None] > 0, gates, np.nan)
    top = np.argsort(-np.nan_to_num(gates, nan=-1.0), axis=1, kind="stable")[:, :top_k]
    open_top = [j for c, row in enumerate(top) for j in row if gates[c, j] > 0]
    columns = list(dict.fromkeys(open_top)) or list(range(min(top_k, gates.shape[1])))  # union, first-seen order
    matrix = gates[:, columns]
    k, m = matrix.shape
    rows = [_cluster_label(i, sizes, separated) for i in range(k)]
    fig, ax = plt.subplots(figsize=heatmap_size(m, k, rows), constrained_layout=True)
    im = ax.imshow(matrix, cmap="viridis", vmin=0, vmax=1, aspect="auto")
    fig.colorbar(im, ax=ax, label="gate value")
    ax.set_xticks(range(m), [names[c] for c in columns], rotation=60, ha="right", rotation_mode="anchor",
                  fontsize=10 if m <= MAX_ANNOTATED else 7)
    ax.set_yticks(range(k), rows)
    if m <= MAX_ANNOTATED:
        _annotate(ax, matrix, ".2f", vmax=1.0, dark_high=False)  # viridis is dark at low values
    for i in np.flatnonzero(np.isnan(matrix).all(axis=1)):
        ax.text((m - 1) / 2, i, EMPTY, ha="center", va="center", color="grey")
    ax.set_xlabel("feature")
    ax.set_ylabel("cluster")
    ax.set_title(f"Global gates: top {top_k} features per cluster")
    return _save(fig, path)


def cluster_top_features(
    global_gates: np.ndarray, feature_names: Sequence[Any] | None, path: str | Path, top_k: int = 10,
    sizes: Sequence[int] | None = None, separated: Sequence[bool] | None = None,
) -> Path:
    """One horizontal bar chart per cluster: its ``top_k`` open features by global gate value; with ``sizes``,
    none for an empty cluster (labelled empty), and with ``separated`` a note where the gates have not
    separated."""
    gates = np.asarray(global_gates, dtype=float)
    names = _names(feature_names, gates.shape[1])
    k = gates.shape[0]
    ncols = min(k, 4)
    nrows = math.ceil(k / ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(4.2 * ncols, max(3.0, 0.32 * top_k + 1.6) * nrows),
                             squeeze=False, constrained_layout=True)
    for c, ax in enumerate(axes.ravel()):
        if c >= k:
            ax.set_visible(False)
            continue
        top = [j for j in np.argsort(-gates[c], kind="stable")[:top_k] if gates[c, j] > 0]
        ax.set_title(_cluster_label(c, sizes, separated), fontsize=10)
        ax.set_xlim(0, 1.05)
        ax.set_xlabel("gate value")
        if sizes is not None and sizes[c] == 0:
            ax.text(0.5, 0.5, f"{EMPTY}: no samples", ha="center", va="center", transform=ax.transAxes)
            ax.set_yticks([])
            continue
        if not top:
            ax.text(0.5, 0.5, "all gates closed", ha="center", va="center", transform=ax.transAxes)
            ax.set_yticks([])
            continue
        unseparated = separated is not None and not separated[c]  # grey: a ranking of gates that have not chosen
        ax.barh(range(len(top)), gates[c, top], color="tab:grey" if unseparated else "tab:blue")
        ax.set_yticks(range(len(top)), [names[j] for j in top], fontsize=8)
        ax.invert_yaxis()  # largest gate on top
    fig.suptitle(f"Top {top_k} features per cluster (global gates)")
    return _save(fig, path)


def gate_images(
    local_gates: np.ndarray,
    clusters: np.ndarray,
    global_gates: np.ndarray,
    image_shape: tuple[int, int],
    path: str | Path,
) -> Path:
    """Per cluster: the mean local gates of its samples (top row) and its global gates (bottom row) as images;
    an empty cluster's are left blank and labelled empty, clusters whose global gates have not separated say so."""
    local = np.asarray(local_gates, dtype=float)
    clusters = np.asarray(clusters).ravel()
    gates = np.asarray(global_gates, dtype=float)
    k = gates.shape[0]
    sizes, separated = np.bincount(clusters.astype(np.int64), minlength=k), gates_separated(gates)
    fig, axes = plt.subplots(2, k, figsize=(2.3 * k + 1.8, 5.2), squeeze=False, constrained_layout=True)
    for c in range(k):
        members = clusters == c
        for row, image in enumerate((local[members].mean(axis=0), gates[c]) if members.any() else (None, None)):
            ax = axes[row, c]
            if image is None:
                ax.text(0.5, 0.5, EMPTY, ha="center", va="center", transform=ax.transAxes, color="grey")
            else:
                ax.imshow(image.reshape(image_shape), cmap="viridis", vmin=0, vmax=1)
            ax.set_xticks([])
            ax.set_yticks([])
        axes[0, c].set_title(_cluster_label(c, sizes, separated), fontsize=8)
    axes[0, 0].set_ylabel("mean local gates")
    axes[1, 0].set_ylabel("global gates")
    fig.colorbar(plt.cm.ScalarMappable(plt.Normalize(0, 1), "viridis"), ax=axes, label="gate value", shrink=0.9)
    fig.suptitle("Gates as images")
    return _save(fig, path)


def _scatter(ax: plt.Axes, xy: np.ndarray, values: np.ndarray, title: str, legend_title: str) -> None:
    """Scatter ``xy`` coloured by the discrete ``values`` (a legend when there are few of them)."""
    groups = np.unique(values)
    size = float(np.clip(3000 / len(xy), 2, 20))
    if len(groups) <= 20:
        colours = plt.get_cmap("tab10" if len(groups) <= 10 else "tab20")(np.arange(len(groups)))
    else:
        colours = plt.get_cmap("nipy_spectral")(np.linspace(0, 1, len(groups)))
    for g, colour in zip(groups, colours):
        pts = xy[values == g]
        ax.scatter(pts[:, 0], pts[:, 1], s=size, color=colour, label=str(g), alpha=0.8, linewidths=0)
    if len(groups) <= 20:
        ax.legend(title=legend_title, fontsize=8, markerscale=max(1.0, 30 / size) ** 0.5, loc="best")
    ax.set_title(title)
    ax.set_xlabel("component 1")
    ax.set_ylabel("component 2")


def embedding_map(
    embeddings: np.ndarray,
    clusters: np.ndarray,
    path: str | Path,
    labels: np.ndarray | None = None,
    seed: int = 0,
    tsne_max: int = 3000,
) -> Path:
    """2-D map of the embedding (t-SNE up to ``tsne_max`` points, else PCA; as is when already <= 2-D),
    coloured by cluster and, when ``labels`` are given, by label."""
    emb = np.asarray(embeddings, dtype=float)
    emb = emb.reshape(len(emb), -1)
    clusters = np.asarray(clusters).ravel()
    labels = None if labels is None else np.asarray(labels).ravel()
    if len(emb) > MAX_POINTS:
        keep = np.sort(np.random.default_rng(seed).choice(len(emb), MAX_POINTS, replace=False))
        emb, clusters = emb[keep], clusters[keep]
        labels = None if labels is None else labels[keep]
    if emb.shape[1] <= 2:
        xy, method = np.pad(emb, ((0, 0), (0, 2 - emb.shape[1]))), "raw embedding"
    elif len(emb) <= tsne_max:
        from sklearn.manifold import TSNE

        perplexity = min(30.0, max(1.0, (len(emb) - 1) / 3))
        xy = TSNE(n_components=2, random_state=seed, init="pca", perplexity=perplexity).fit_transform(emb)
        method = "t-SNE"
    else:
        from sklearn.decomposition import PCA

        xy, method = PCA(n_components=2, random_state=seed).fit_transform(emb), "PCA"
    panels = [(clusters, "coloured by cluster", "cluster")]
    if labels is not None:
        panels.append((labels, "coloured by label", "label"))
    fig, axes = plt.subplots(1, len(panels), figsize=(6.0 * len(panels), 5.5), squeeze=False,
                             constrained_layout=True)
    for ax, (values, title, legend_title) in zip(axes[0], panels):
        _scatter(ax, xy, values, title, legend_title)
    fig.suptitle(f"Embedding ({method}, n={len(emb)})")
    return _save(fig, path)


def confusion(
    labels: np.ndarray, clusters: np.ndarray, path: str | Path, class_names: Sequence[Any] | None = None
) -> Path:
    """Confusion matrix (true label x matched cluster) with annotated counts and the accuracy in the title;
    the rows are named by ``class_names[label]`` (the original labels of codes ``0..C-1``) when given."""
    m = matched_confusion(labels, clusters)
    c, k = m.table.shape
    fig, ax = plt.subplots(figsize=(max(5.5, 0.55 * k + 3), max(4.5, 0.5 * c + 2.5)), constrained_layout=True)
    vmax = max(int(m.table.max()), 1)
    im = ax.imshow(m.table, cmap="Blues", vmin=0, vmax=vmax, aspect="auto")
    fig.colorbar(im, ax=ax, label="count")
    if k <= MAX_ANNOTATED:
        _annotate(ax, m.table, "d", vmax=vmax, dark_high=True)  # Blues is dark at high values
    ax.set_xticks(range(k), [str(x) for x in m.clusters], rotation=90 if k > 15 else 0)
    row_names = _names(class_names, 0) if class_names is not None else None
    ax.set_yticks(range(c), [row_names[int(x)] if row_names else str(x) for x in m.classes])
    ax.set_xlabel("cluster (matched)")
    ax.set_ylabel("true class")
    ax.set_title(f"Confusion matrix (Hungarian accuracy {m.accuracy:.3f})")
    return _save(fig, path)


def _read_history(history_csv: str | Path) -> dict[str, np.ndarray]:
    """Columns of ``history.csv`` as float arrays (blank or non-numeric cells become NaN)."""

    def number(cell: str | None) -> float:
        try:
            return float(cell)  # type: ignore[arg-type]
        except (TypeError, ValueError):
            return math.nan

    with open(history_csv, newline="") as f:
        rows = list(csv.DictReader(f))
    names = list(rows[0].keys()) if rows else []
    return {name: np.array([number(r.get(name)) for r in rows]) for name in names}


def curve_groups(columns: Sequence[str]) -> list[tuple[str, str, list[str]]]:
    """``(title, y label, columns)`` of each panel of :func:`training_curves`: the losses of each stage (not the
    schedules' weights, ``*_weight``, which would squash them), clustering metrics, open gates."""
    return [
        ("Stage 1 losses", "loss", [c for c in columns if c.startswith("stage1/") and not c.endswith("_weight")]),
        ("Stage 2 losses", "loss", [c for c in columns if c.startswith("stage2/") and not c.endswith("_weight")]),
        ("Clustering metrics", "score", ["val/acc", "val/nmi", "val/ari", "val/silhouette"]),
        ("Open gates", "open gates", ["val/open_local_gates", "val/open_global_gates"]),
    ]


def training_curves(history_csv: str | Path, path: str | Path) -> Path | None:
    """Training curves from ``history.csv``: stage-1 losses, stage-2 losses, clustering metrics and open
    gates, one subplot each; ``None`` (nothing written) when no column can be plotted."""
    history = _read_history(history_csv)
    n = len(next(iter(history.values()), []))
    epoch = history.get("epoch", np.arange(n, dtype=float))
    epoch = np.where(np.isnan(epoch), np.arange(n), epoch)
    panels = []
    for title, ylabel, columns in curve_groups(history):
        present = [c for c in columns if c in history and not np.isnan(history[c]).all()]
        if present:
            panels.append((title, ylabel, present))
    if not panels:
        return None
    ncols = min(len(panels), 2)
    nrows = math.ceil(len(panels) / ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(6.0 * ncols, 4.2 * nrows), squeeze=False,
                             constrained_layout=True)
    for ax, (title, ylabel, columns) in zip(axes.ravel(), panels):
        for col in columns:
            ok = ~np.isnan(history[col])
            ax.plot(epoch[ok], history[col][ok], marker="." if ok.sum() < 50 else None, label=col)
        ax.set_title(title)
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_ylabel(ylabel)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    for ax in axes.ravel()[len(panels):]:
        ax.set_visible(False)
    fig.suptitle("Training curves")
    return _save(fig, path)


def save_run_plots(
    predictions: dict[str, np.ndarray],
    out_dir: str | Path,
    history_csv: str | Path | None = None,
    image_shape: tuple[int, int] | None = None,
    seed: int = 0,
    tsne_max: int = 3000,
) -> list[Path]:
    """Write every plot that applies to a run's ``predictions`` (the arrays of ``predictions.h5``) into
    ``out_dir``; gate images only for image-like data (``image_shape``, or a square D >= 16 when it is
    None), the confusion matrix only with ``labels`` (named by ``class_names`` when present), training curves
    only when ``history_csv`` exists. Empty clusters and clusters whose global gates have not separated are
    labelled so in the gate plots."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    global_gates = np.asarray(predictions["global_gates"])
    local_gates = np.asarray(predictions["local_gates"])
    clusters = np.asarray(predictions["clusters"])
    labels = predictions.get("labels")
    class_names = predictions.get("class_names")
    names = predictions.get("feature_names")
    sizes = np.bincount(clusters.astype(np.int64), minlength=len(global_gates))
    separated = gates_separated(global_gates)
    d = global_gates.shape[1]
    if image_shape is None and d >= 16 and math.isqrt(d) ** 2 == d:
        image_shape = (math.isqrt(d), math.isqrt(d))
    if image_shape is not None and image_shape[0] * image_shape[1] != d:
        raise ValueError(f"image_shape {tuple(image_shape)} does not hold D={d} features")

    written = [
        global_gates_heatmap(global_gates, names, out_dir / "global_gates_heatmap.png", sizes=sizes,
                             separated=separated),
        cluster_top_features(global_gates, names, out_dir / "cluster_top_features.png", sizes=sizes,
                             separated=separated),
    ]
    if image_shape is not None:
        written.append(gate_images(local_gates, clusters, global_gates, image_shape, out_dir / "gate_images.png"))
    named = labels
    if labels is not None and class_names is not None:
        named = np.asarray(_names(class_names, 0))[np.asarray(labels, dtype=np.int64)]
    written.append(embedding_map(predictions["embeddings"], clusters, out_dir / "embedding_map.png",
                                 labels=named, seed=seed, tsne_max=tsne_max))
    if labels is not None:
        written.append(confusion(labels, clusters, out_dir / "confusion_matrix.png", class_names))
    if history_csv is not None and Path(history_csv).is_file():
        curves = training_curves(history_csv, out_dir / "training_curves.png")
        if curves is not None:
            written.append(curves)
    return written
