"""scripts/diagnose.py: stage 1 once per seed, the stage-2 variants from its checkpoint, a per-seed report."""
import json

import pandas as pd
import pytest
import torch
from sklearn.cluster import KMeans

from idc import stage2
from idc.config import compose
from idc.data import load_table
from idc.run_dir import read_predictions

from .conftest import acc_of, acc_of_run, idc_train_commands_in_process, load_script

pytestmark = pytest.mark.slow


def test_diagnose_reuses_stage1_and_reports_every_seed_and_variant(tmp_path, monkeypatch, capsys):
    diagnose = load_script("diagnose")
    monkeypatch.setenv("CI", "1")
    sweeps = idc_train_commands_in_process(monkeypatch, diagnose)  # its two multiruns, without their start-up
    out = tmp_path / "diag"
    assert diagnose.main(["--dataset", "synthetic", "--seeds", "2", "--variants", "faithful", "kmeans_restarts8",
                          "--out", str(out), "--overrides", "schedule=smoke", "head.init_steps=20"]) == 0
    assert "| kmeans_restarts8 |" in capsys.readouterr().out
    assert [cmd[cmd.index("-m") + 1:cmd.index("-m") + 2] for cmd in sweeps] == [["method=idc_faithful"]] * 2
    rows = json.loads((out / "diagnose.json").read_text())
    y = load_table(compose(["dataset=synthetic"]).dataset).y

    assert [(r["variant"], r["seed"]) for r in rows] == [
        ("faithful", 0), ("faithful", 1), ("kmeans_restarts8", 0), ("kmeans_restarts8", 1)]
    for r in rows:  # each number is the one its own run directory gives
        run = out / r["variant"] / f"seed{r['seed']}"
        assert r["acc_final"] == pytest.approx(acc_of_run(run)) and "gate_f1_local" in r
        assert r["criterion"] == ("compression" if r["variant"] != "faithful" else None)
        history = pd.read_csv(run / "history.csv")
        evals = history[(history["epoch"] >= 4) & history["val/acc"].notna()]["val/acc"]  # smoke: stage 1 is 0-3
        assert r["acc_first_stage2_eval"] == pytest.approx(evals.iloc[0])
        assert r["acc_best_epoch_by_label"] == pytest.approx(evals.max())
        emb = read_predictions(run / "predictions.h5")["embeddings"]
        kmeans = KMeans(4, n_init=10, random_state=r["seed"]).fit_predict(emb)
        assert r["kmeans_on_stage1_embeddings"] == pytest.approx(acc_of(y, kmeans))
    # the objective of the true classes and of the final clusters, from that run's own predictions
    pred = read_predictions(out / "kmeans_restarts8" / "seed1" / "predictions.h5")
    expected = stage2.criterion_values(
        "compression", torch.as_tensor(pred["embeddings"]),
        [torch.as_tensor(y, dtype=torch.long), torch.as_tensor(pred["clusters"], dtype=torch.long)], 4, 0.1)
    got = rows[3]
    assert [got["compression_true_classes"], got["compression_final"]] == pytest.approx(expected, rel=1e-5)
    # the variant started from the faithful run's stage 1, which it did not retrain
    cfg = (out / "kmeans_restarts8" / "seed1" / "config.yaml").read_text()
    assert str(out.resolve() / "faithful" / "seed1" / "checkpoints" / "stage1.ckpt") in cfg
    assert not (out / "kmeans_restarts8" / "seed1" / "checkpoints" / "stage1.ckpt").exists()
    assert "| kmeans_restarts8 |" in (out / "diagnose.md").read_text()
