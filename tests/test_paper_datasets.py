"""The paper's datasets in the data directory: shapes and class counts as in docs/data.md, and a
short training run on some of them. Skipped, with the reason, when the files are absent."""
import json

import numpy as np
import pytest

from idc.cli.data import describe, list_table
from idc.config import compose
from idc.data import DataError, load_table
from idc.train import train

from .conftest import acc_of_run, needs_files

# (dataset, samples, features after preprocessing, class counts in label order) from SOURCES.md
EXPECTED = {
    "allaml": (72, 7129, [47, 25]),
    "prostate": (102, 5966, [50, 52]),
    "tox171": (171, 5748, [45, 45, 39, 42]),
    "srbct": (83, 2308, [29, 11, 18, 25]),
    "cnae9": (1080, 856, [120] * 9),
    "mfeat_zernike": (2000, 47, [200] * 10),
    "mnist60k": (60000, 784, [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]),
    "mnist10k": (10000, 784, [1001, 1127, 991, 1032, 980, 863, 1014, 1070, 944, 978]),
    "biase": (49, 25057, [20, 20, 9]),  # 25737 genes in the file, 25057 after dropping constant ones
    # the wider benchmark (not in the paper)
    "coil20": (1440, 1024, [72] * 20),
    "isolet": (1560, 617, [60] * 26),
    "warppie10p": (210, 2420, [21] * 10),
    "lung_small": (73, 325, [6, 5, 5, 16, 7, 13, 21]),
    "arcene": (200, 10000, [112, 88]),  # labels -1 / 1
    "basehock": (1993, 4862, [994, 999]),
}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_shapes_and_class_counts(name):
    needs_files(name)
    n, d, counts = EXPECTED[name]
    info = describe([f"dataset={name}"])
    assert (info["n_samples"], info["n_features"], info["n_clusters"]) == (n, d, len(counts))
    assert list(info["label_counts"].values()) == counts
    cfg = compose([f"dataset={name}"]).dataset
    assert (cfg.n_samples, cfg.n_features, cfg.n_clusters) == (n, d, len(counts))  # configs state the facts
    json.dumps(info)


def test_mnist10k_is_scaled_over_all_60k_rows():
    needs_files("mnist10k")
    ten, sixty = (load_table(compose([f"dataset={n}"]).dataset) for n in ("mnist10k", "mnist60k"))
    np.testing.assert_array_equal(ten.X, sixty.X[:10000])
    assert ten.feature_names[28 * 14 + 14] == "px14_14"


def test_column_major_images_are_loaded_upright(tmp_path):
    """MATLAB's image tables (COIL20, warpPIE10P) store each image column by column: the loader reorders the
    pixels so that ``x.reshape(image_shape)`` is the image, and names them by row and column."""
    import scipy.io

    from idc.data.paper import mat

    image = np.arange(6.0).reshape(2, 3)  # 2 rows, 3 columns
    scipy.io.savemat(tmp_path / "im.mat", {"X": image.ravel(order="F")[None, :], "Y": np.array([[1]])})
    table = mat(str(tmp_path / "im.mat"), "im", image_shape=(2, 3), image_order="F")
    np.testing.assert_array_equal(table.X[0].reshape(2, 3), image)
    assert table.feature_names[:4] == ["px0_0", "px0_1", "px0_2", "px1_0"]
    with pytest.raises(DataError, match=r"image_shape \[3, 3\] holds 9 pixels, the table has 6 features"):
        mat(str(tmp_path / "im.mat"), "im", image_shape=(3, 3))


def test_list_names_every_dataset():
    text = list_table()
    for name in list(EXPECTED) + ["synthetic", "digits", "pbmc", "intestine", "table"]:
        assert f"| {name} |" in text


@pytest.mark.slow
@pytest.mark.parametrize("name", ["allaml", "srbct", "cnae9"])  # D > N, D ~ N, N > D (MNIST10K: bench.py's sizes)
def test_smoke_training_on_paper_data(cfg_factory, tmp_path, name):
    needs_files(name)
    metrics = train(cfg_factory(f"dataset={name}", "eval.enabled=false"))  # the evaluation has its own tests
    # eight smoke epochs need not beat chance here: the reported ACC must be the one its own predictions give,
    # over every row
    assert metrics["n_samples"] == EXPECTED[name][0] and metrics["acc"] == pytest.approx(acc_of_run(tmp_path))


def test_pbmc_and_intestine_layouts_supplied_by_the_user(tmp_path, monkeypatch):
    """The two datasets that are not public load from the official code's file layouts."""
    rng = np.random.default_rng(0)
    monkeypatch.setenv("IDC_DATA_DIR", str(tmp_path))
    np.savez(tmp_path / "pbmc_x.npz", arr_0=rng.poisson(2.0, (12, 5)).astype(float))
    np.savez(tmp_path / "pbmc_y.npz", arr_0=np.array([8, 9] * 6))
    pbmc = load_table(compose(["dataset=pbmc"]).dataset)
    assert pbmc.X.shape == (12, 5) and pbmc.y.tolist() == [0, 1] * 6 and pbmc.class_names == ["8", "9"]
    (tmp_path / "intestine").mkdir()
    cells = [f"cell{i}" for i in range(8)]
    genes = rng.random((4, 8))
    (tmp_path / "intestine" / "intestine_data.csv").write_text(
        "gene," + ",".join(cells) + "\n" + "".join(f"g{j}," + ",".join(map(str, genes[j])) + "\n" for j in range(4)))
    (tmp_path / "intestine" / "intestine_celldata.csv").write_text(
        "cell,batch,type\n" + "".join(f"{c},b1,{'enterocyte' if i % 2 else 'goblet'}\n" for i, c in enumerate(reversed(cells))))
    gut = load_table(compose(["dataset=intestine", "dataset.scaler=none", "dataset.n_clusters=null"]).dataset)
    np.testing.assert_allclose(gut.X, genes.T, rtol=1e-6)
    assert gut.feature_names == ["g0", "g1", "g2", "g3"]
    # cell i appears at row 7 - i of the cell table: labels follow the cell ids, not the row order
    assert [gut.class_names[k] for k in gut.y] == ["goblet" if (7 - i) % 2 == 0 else "enterocyte" for i in range(8)]
