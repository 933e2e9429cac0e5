"""`idc-train` end to end (its Hydra app in the test process: conftest.run_cli): run-directory files, multirun,
determinism; `idc-eval` on the run. The installed entry point in a process of its own, with W&B's offline run:
tests/test_console.py."""
import json
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from idc.cli.eval import main as idc_eval
from idc.run_dir import read_predictions

from .conftest import run_cli, shared_once

pytestmark = pytest.mark.slow
METRIC_KEYS = {"acc", "nmi", "ari", "open_local_gates", "open_global_gates", "selection", "cluster_sizes"}


@pytest.fixture(scope="session")
def smoke_jobs(tmp_path_factory) -> list[Path]:
    """``idc-train -m schedule=smoke logger=csv seed=0,1``, run once for every test (and worker) that reads it."""
    cwd = shared_once(tmp_path_factory, "cli_smoke",
                      lambda cwd: run_cli("-m", "schedule=smoke", "logger=csv", "seed=0,1", cwd=cwd))
    sweep = next((cwd / "outputs" / "train" / "multiruns").iterdir())
    return sorted(p for p in sweep.iterdir() if p.is_dir() and p.name.isdigit())


@pytest.fixture(scope="session")
def smoke_run(smoke_jobs) -> Path:
    return smoke_jobs[0]


def test_smoke_run_writes_every_output(smoke_run):
    d = smoke_run
    for name in ["config.yaml", "metrics.json", "run_info.json", "predictions.h5", "checkpoints/last.ckpt", "DONE"]:
        assert (d / name).is_file(), name
    assert d.parents[1].name == "multiruns" and d.parents[3].name == "outputs"
    cfg = yaml.safe_load((d / "config.yaml").read_text())
    assert cfg["dataset"]["name"] == "synthetic" and cfg["paths"]["output_dir"] == str(d.resolve())
    metrics = json.loads((d / "metrics.json").read_text())
    assert METRIC_KEYS <= set(metrics) and metrics["selection"] == "final_epoch"
    assert metrics["epochs"] == 8 and sum(metrics["cluster_sizes"]) == metrics["n_samples"]
    pred = read_predictions(d / "predictions.h5")
    n, k = metrics["n_samples"], metrics["n_clusters"]
    assert pred["clusters"].shape == (n,) and pred["local_gates"].shape == (n, 13)
    assert pred["global_gates"].shape == (k, 13) and pred["embeddings"].shape == (n, k)
    assert list(pred["feature_names"][:3]) == ["x1", "x2", "x3"]
    assert np.all((pred["local_gates"] >= 0) & (pred["local_gates"] <= 1))
    logged = (d / "csv" / "metrics.csv").read_text().splitlines()[0].split(",")
    for key in ["val/acc", "val/nmi", "val/ari", "val/open_local_gates", "val/open_global_gates",
                "stage1/loss", "stage1/recon_gated", "stage1/gate_reg", "stage2/compression", "stage2/aux_ce"]:
        assert key in logged, key
    ckpt = torch.load(d / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=True)
    assert ckpt["epoch"] == 8 and "cluster_heads.0.net.0.weight" in ckpt["state_dict"]


def test_multirun_two_seeds_and_same_seed_determinism(smoke_jobs, cfg_factory, tmp_path):
    assert [j.name for j in smoke_jobs] == ["0", "1"] and all((j / "DONE").exists() for j in smoke_jobs)
    m0, m1 = (json.loads((j / "metrics.json").read_text()) for j in smoke_jobs)
    assert (m0["seed"], m1["seed"]) == (0, 1)
    # seed 0 in another process (this one; no logger, no evaluation: both come after metrics and predictions)
    # gives the same metrics and the same predictions
    from idc.train import train

    assert train(cfg_factory("seed=0", "eval.enabled=false")) == m0
    p0, again, p1 = (read_predictions(d / "predictions.h5") for d in (smoke_jobs[0], tmp_path, smoke_jobs[1]))
    np.testing.assert_array_equal(p0["embeddings"], again["embeddings"])
    np.testing.assert_array_equal(p0["local_gates"], again["local_gates"])
    assert not np.array_equal(p0["embeddings"], p1["embeddings"])


def test_training_ends_with_an_evaluation(smoke_run):
    ev = json.loads((smoke_run / "eval.json").read_text())
    for key in ["acc", "nmi", "ari", "greedy_acc_official", "silhouette", "diversity_clusters",
                "diversity_clusters_official", "faithfulness", "uniqueness", "stability", "generalizability",
                "gate_f1", "gate_f1_local_x_global", "subsample", "cluster_sizes"]:
        assert key in ev, key
    assert ev["subsample"] == {"n": 300, "of": ev["n_samples"], "seed": 0}  # smoke: at most 300 rows
    rows = (smoke_run / "explanations.csv").read_text().splitlines()
    assert rows[0].startswith("kind,id,cluster,size,feature_1,value_1")
    assert sum(r.startswith("cluster,") for r in rows) == 4 and sum(r.startswith("sample,") for r in rows) == ev["n_samples"]
    names = {"x1", "x2", "x3"} | {f"noise{i}" for i in range(1, 11)}
    assert rows[1].split(",")[4] in names  # explanations name real features
    plots = {p.name for p in (smoke_run / "plots").glob("*.png")}
    assert {"global_gates_heatmap.png", "cluster_top_features.png", "embedding_map.png",
            "confusion_matrix.png", "training_curves.png"} <= plots
    history = (smoke_run / "history.csv").read_text().splitlines()
    assert history[0].startswith("epoch,") and len(history) == 1 + 8
    columns = history[0].split(",")  # the schedules' weights, logged once per epoch where they apply
    weights = [row.split(",")[columns.index("stage1/gate_reg_weight")] for row in history[1:]]
    assert [w != "" for w in weights] == [False, False, True, True, False, False, False, False]  # gates on: 2-3
    assert "stage2/global_reg_weight" in columns


def test_idc_eval_rebuilds_the_evaluation_from_the_run_directory(smoke_run, tmp_path):
    import shutil

    run = tmp_path / "run"
    shutil.copytree(smoke_run, run)
    for name in ("eval.json", "explanations.csv"):
        (run / name).unlink()
    shutil.rmtree(run / "plots")
    assert idc_eval([str(run)]) == 0  # in this process (tests/test_console.py runs the command itself)
    assert json.loads((run / "eval.json").read_text()) == json.loads((smoke_run / "eval.json").read_text())
    assert (run / "explanations.csv").read_text() == (smoke_run / "explanations.csv").read_text()
    assert len(list((run / "plots").glob("*.png"))) >= 5


def test_idc_eval_refuses_a_table_with_other_features(smoke_run, capsys):
    assert idc_eval([str(smoke_run), "dataset=digits"]) == 2
    assert "13 of the 13 features the model was trained on are missing" in capsys.readouterr().err


@pytest.mark.parametrize("model", ["idc", "ae_kmeans"])  # ae_kmeans: the run's K-means centres, not a refit
def test_new_samples_take_the_training_scaling_and_go_to_their_own_folder(cfg_factory, tmp_path, model):
    import numpy as np

    from idc.evaluate import evaluate_run
    from idc.run_dir import read_predictions
    from idc.train import train

    rng = np.random.default_rng(0)
    y = np.repeat(["t", "b", "nk"], 40)
    X = np.eye(3)[np.repeat([0, 1, 2], 40)] * 5 + rng.normal(0, 1, (120, 3)) + [10, 0, 3]
    names = ["CD3E", "MS4A1", "NKG7"]
    (tmp_path / "data").mkdir()
    train_csv, new_csv = tmp_path / "data" / "cells.csv", tmp_path / "data" / "new_cells.csv"
    train_csv.write_text("cell,label," + ",".join(names) + "\n" + "".join(
        f"c{i},{y[i]}," + ",".join(f"{v:.6f}" for v in X[i]) + "\n" for i in range(120)))
    pick = np.r_[0:40:3, 40:80:3]  # two of the three types, columns reordered: a refitted scaler would move them
    new_csv.write_text("NKG7,label,cell,MS4A1,CD3E\n" + "".join(
        f"{X[i, 2]:.6f},{y[i]},c{i},{X[i, 1]:.6f},{X[i, 0]:.6f}\n" for i in pick))
    run = tmp_path  # the run directory of cfg_factory
    train(cfg_factory(f"method={model}", "dataset=table", f"dataset.path={train_csv}", "dataset.label_column=label",
                      "dataset.drop_columns=[cell]", "eval.enabled=false"))
    metrics = evaluate_run(run, [f"dataset.path={new_csv}"])
    out = run / "eval_new_cells"
    assert (out / "eval.json").is_file() and not (run / "eval.json").exists()  # the run's own files untouched
    assert metrics["n_samples"] == len(pick)
    rows = [r.split(",") for r in (out / "explanations.csv").read_text().splitlines() if r.startswith("sample,")]
    clusters = read_predictions(run / "predictions.h5")["clusters"]
    assert [int(r[2]) for r in rows] == clusters[pick].tolist()  # the same samples get the same clusters


def test_new_samples_of_a_built_in_dataset_are_pointed_to_dataset_table():
    from idc.config import compose
    from idc.data import DataError
    from idc.evaluate import dataset_with

    saved = compose(["dataset=synthetic", "dataset.batch_size=99"]).dataset
    rebuilt = dataset_with(saved, ["dataset.scaler=minmax"])
    assert rebuilt.batch_size == 99 and rebuilt.scaler == "minmax"  # the run's own values, the override on top
    with pytest.raises(DataError, match="dataset=table dataset.path=FILE"):
        dataset_with(saved, ["dataset.path=new.csv"])  # a built-in dataset has no path to override
    with pytest.raises(DataError, match="dataset overrides only"):
        dataset_with(saved, ["eval.top_k=3"])


def test_help_says_what_each_command_does_without_markup(capsys):
    """`idc-train --help`: the command, examples and the groups, not Hydra's stock text and a config dump; the
    other commands' help without reStructuredText's backticks and roles."""
    import subprocess
    import sys

    from idc.cli.data import main as idc_data

    exe = Path(sys.executable).with_name("idc-train")
    out = subprocess.run([str(exe), "--help"], capture_output=True, text=True, timeout=60).stdout
    assert out.startswith("idc-train: cluster the rows of a table") and "dataset: allaml" in out
    assert "powered by Hydra" not in out and "== Config ==" not in out
    for main in (idc_eval, idc_data):
        assert main(["--help"]) == 0
        text = capsys.readouterr().out
        assert text.startswith("idc-") and "``" not in text and ":func:`" not in text


@pytest.mark.parametrize("args, expected", [
    (["dataset=table", "dataset.path=x.csv", "dataset.scaler=robust"],
     "idc-data: dataset.scaler: 'robust' is not allowed; allowed: minmax, standard, tfidf, none\n"),
    (["dataset.n_clusters=0"], "idc-data: dataset.n_clusters: 0 is not allowed; a whole number >= 1 (a count)\n"),
])
def test_idc_data_refuses_a_bad_config_value_in_one_line(args, expected, capsys):
    """As idc-train: the schema's message on one line and exit status 2, not ConfigError's traceback."""
    from idc.cli.data import main as idc_data

    assert idc_data(args) == 2
    assert capsys.readouterr().err == expected


def test_idc_eval_and_idc_search_refuse_a_bad_config_value_in_one_line(tmp_path, monkeypatch, capsys):
    """Before the model is loaded (idc-eval: a finished run's files, only dataset_with reads them) or any trial."""
    from idc.cli.search import main as idc_search

    run = tmp_path / "run"
    (run / "checkpoints").mkdir(parents=True)
    (run / "checkpoints" / "last.ckpt").write_bytes(b"")
    (run / "DONE").write_text("done\n")
    (run / "config.yaml").write_text(yaml.safe_dump({"dataset": {"name": "synthetic"}}))
    assert idc_eval([str(run), "dataset.n_clusters=0"]) == 2
    expected = "dataset.n_clusters: 0 is not allowed; a whole number >= 1 (a count)\n"
    assert capsys.readouterr().err.endswith(f"idc-eval: {expected}")
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as stop:
        idc_search(["hparams_search=idc_silhouette", "dataset.n_clusters=0"])
    assert stop.value.code == 2 and capsys.readouterr().err == f"idc-search: {expected}"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"]  # no study, no trial


def test_idc_table_without_a_finished_run_writes_nothing_and_exits_2(tmp_path, capsys):
    from idc.cli.table import main as idc_table

    from .test_tables import make_run

    assert idc_table([str(tmp_path)]) == 2  # an empty folder
    err = capsys.readouterr().err
    assert err.startswith(f"idc-table: {tmp_path}: no finished run directory below it (a folder with config.yaml, "
                          "DONE and metrics.json") and err.count("\n") == 1
    make_run(tmp_path, "a", "idc", "digits", 0, status="failed")
    make_run(tmp_path, "b", "idc", "digits", 1, status="unfinished")
    assert idc_table([str(tmp_path)]) == 2
    assert capsys.readouterr().err.rstrip().endswith("; found 1 failed, 1 unfinished")
    assert not (tmp_path / "tables").exists()
    make_run(tmp_path, "c", "idc", "digits", 2, acc=0.8)  # one finished run: the tables as before
    assert idc_table([str(tmp_path)]) == 0
    assert (tmp_path / "tables" / "acc.md").is_file() and "| idc | **80.0 (1) [1 failed] [1 unfinished]** |" in capsys.readouterr().out


def test_idc_data_says_what_the_loader_did_to_the_table(tmp_path, capsys):
    """A column dropped as constant, or read as row names, is in the JSON line's ``log`` (stdout stays one line)."""
    import json

    from idc.cli.data import main as idc_data

    path = tmp_path / "cells.csv"
    path.write_text(",g0,g1,flat,y\n" + "".join(f"r{i},{i % 3}.5,{i * 0.7 % 2},1.0,{i % 2}\n" for i in range(12)))
    assert idc_data(["dataset=table", f"dataset.path={path}", "dataset.label_column=y"]) == 0
    out = capsys.readouterr().out
    assert out.count("\n") == 1
    said = json.loads(out)
    assert said["n_features"] == 2 and len(said["log"]) == 2
    assert "first column read as row names" in said["log"][0] and "dropped 1 constant column(s)" in said["log"][1]


def test_composing_errors_and_other_config_dirs_reach_the_user_as_such(tmp_path, capsys):
    """A sweep given to a command that composes one config is one line and status 2 (Hydra's own message, no
    traceback); with hydra.searchpath the options of other config dirs are Hydra's to find, not refused."""
    from idc.cli.data import main as idc_data

    assert idc_data(["dataset=digits,synthetic"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("idc-data: Ambiguous value for argument 'dataset=digits,synthetic'") and "Traceback" not in err
    (tmp_path / "dataset").mkdir()
    from idc.config import config_dir

    (tmp_path / "dataset" / "mine.yaml").write_text((config_dir() / "dataset" / "synthetic.yaml").read_text())
    assert idc_data([f"hydra.searchpath=[file://{tmp_path}]", "dataset=mine"]) == 0
    assert '"n_features": 13' in capsys.readouterr().out
