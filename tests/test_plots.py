"""Run plots: files written, readable PNGs, Hungarian-matched confusion, skipped plots."""
from __future__ import annotations

import matplotlib.image as mpimg
import numpy as np
import pytest

from idc import plots
from idc.metrics.clustering import hungarian_accuracy


def fake_predictions(n: int = 60, d: int = 16, k: int = 3, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    labels = np.arange(n) % k
    clusters = (labels + 1) % k
    clusters[:5] = 0  # a few mistakes
    global_gates = rng.uniform(0, 1, (k, d)) * (rng.uniform(size=(k, d)) > 0.4)
    return {
        "clusters": clusters,
        "labels": labels,
        "local_gates": rng.uniform(0, 1, (n, d)),
        "global_gates": global_gates,
        "embeddings": rng.normal(size=(n, 8)) + labels[:, None],
        "feature_names": np.array([f"feature_{i}" for i in range(d)]),
    }


def write_history(path, with_values: bool = True) -> None:
    rows = ["epoch,stage1/loss,stage1/recon_clean,stage1/gate_reg_weight,stage2/compression,val/acc,val/nmi,"
            "val/open_local_gates,val/open_global_gates"]
    for e in range(6):
        if with_values:
            s1 = f"{1 / (e + 1):.3f},{0.5 / (e + 1):.3f}" if e < 3 else ","
            s2 = f"{0.1 * e:.3f}" if e >= 3 else ""
            rows.append(f"{e},{s1},0.1,{s2},{0.3 + 0.1 * e:.2f},{0.2 + 0.1 * e:.2f},{16 - e},{12 - e}")
        else:
            rows.append(f"{e},,,0.1,,,,,")  # only the excluded gate_reg_weight column has values
    path.write_text("\n".join(rows) + "\n")


def assert_png(path) -> None:
    image = mpimg.imread(path)
    assert image.ndim == 3 and image.shape[0] >= 300 and image.shape[1] >= 300, image.shape


def test_save_run_plots_writes_all(tmp_path):
    history = tmp_path / "history.csv"
    write_history(history)
    written = plots.save_run_plots(fake_predictions(), tmp_path / "plots", history_csv=history)
    names = {p.name for p in written}
    assert names == {"global_gates_heatmap.png", "cluster_top_features.png", "gate_images.png",
                     "embedding_map.png", "confusion_matrix.png", "training_curves.png"}
    for path in written:
        assert path.parent == tmp_path / "plots"
        assert_png(path)


def test_optional_plots_skipped(tmp_path):
    preds = fake_predictions(d=10)  # not a square: no gate images without image_shape
    del preds["labels"]
    written = plots.save_run_plots(preds, tmp_path, history_csv=tmp_path / "missing.csv")
    assert {p.name for p in written} == {"global_gates_heatmap.png", "cluster_top_features.png",
                                         "embedding_map.png"}
    assert not (tmp_path / "gate_images.png").exists()


def test_explicit_image_shape(tmp_path):
    preds = fake_predictions(d=10)
    written = plots.save_run_plots(preds, tmp_path, image_shape=(2, 5))
    assert tmp_path / "gate_images.png" in written
    with pytest.raises(ValueError, match="image_shape"):
        plots.save_run_plots(preds, tmp_path, image_shape=(3, 3))


def test_matched_confusion_is_diagonal_for_a_permutation():
    labels = np.repeat([0, 1, 2, 3], [5, 7, 3, 9])
    clusters = np.array([2, 0, 3, 1])[labels]
    m = plots.matched_confusion(labels, clusters)
    assert np.array_equal(m.table, np.diag([5, 7, 3, 9]))
    assert m.clusters.tolist() == [2, 0, 3, 1]
    assert m.accuracy == 1.0


def test_matched_confusion_with_more_clusters_than_classes():
    rng = np.random.default_rng(1)
    labels = rng.integers(0, 3, 200)
    clusters = np.where(rng.uniform(size=200) < 0.8, (labels + 2) % 3, rng.integers(0, 5, 200))
    m = plots.matched_confusion(labels, clusters)
    assert m.table.shape == (3, 5) and m.table.sum() == 200
    assert np.diag(m.table).sum() / 200 == pytest.approx(m.accuracy)
    assert m.accuracy == pytest.approx(hungarian_accuracy(labels, clusters))
    assert (np.diag(m.table) == m.table[:, :3].max(axis=1)).all()


def test_cluster_with_all_gates_closed(tmp_path):
    gates = np.zeros((2, 5))
    gates[0, [1, 3]] = [0.9, 0.4]
    assert_png(plots.cluster_top_features(gates, None, tmp_path / "top.png"))


def test_heatmap_columns_keep_their_width_beside_long_row_labels(tmp_path, monkeypatch):
    """digits: 9 columns beside "cluster c (n=1322, not separated)" labels; the two-decimal values ran into each
    other in cells of 0.33 in. Measured on the drawn axes, after the layout."""
    drawn = []
    save = plots._save

    def keep(fig, path):
        fig.canvas.draw()  # the constrained layout places the axes
        ax = fig.axes[0]
        drawn.append(ax.get_position().width * fig.get_figwidth() / len(ax.get_xticks()))
        return save(fig, path)

    monkeypatch.setattr(plots, "_save", keep)
    gates = np.zeros((10, 64))
    gates[np.arange(10), np.arange(10) % 9] = 0.9  # 9 features in the union of the top ones
    plots.global_gates_heatmap(gates, None, tmp_path / "h.png", top_k=1, sizes=[1322] * 10, separated=[False] * 10)
    assert drawn and drawn[0] >= 0.5, drawn


def test_training_curves_plot_losses_not_the_schedules_weights():
    groups = plots.curve_groups(["stage1/loss", "stage1/gate_reg_weight", "stage2/loss", "stage2/global_reg_weight",
                                 "stage2/ce"])
    assert groups[0][2] == ["stage1/loss"] and groups[1][2] == ["stage2/loss", "stage2/ce"]


def test_training_curves_without_plottable_columns(tmp_path):
    history = tmp_path / "history.csv"
    write_history(history, with_values=False)
    assert plots.training_curves(history, tmp_path / "curves.png") is None
    assert not (tmp_path / "curves.png").exists()
