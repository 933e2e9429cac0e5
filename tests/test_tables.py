"""Tables from fabricated run directories: every number and marker checked."""
import csv
import json

import pytest
import yaml

from idc.tables import build_tables


def make_run(root, name, method, dataset, seed, acc=None, status="done", gates=True, picked=None, by_silhouette=None,
             **settings):
    d = root / name
    d.mkdir(parents=True)
    (d / "config.yaml").write_text(yaml.safe_dump({
        "model": {"name": method, "stage1_checkpoint": f"/runs/seed{seed}/stage1.ckpt"}, "gates": {"enabled": gates},
        "dataset": {"name": dataset}, "seed": seed, "paths": {"output_dir": str(d)}, **settings}))
    (d / ".hydra").mkdir()
    (d / ".hydra" / "config.yaml").write_text("ignored: true\n")
    if status == "done":
        (d / "metrics.json").write_text(json.dumps(
            {"acc": acc, "nmi": acc / 2, "ari": acc / 4, "open_local_gates": 10.0 + seed, "open_global_gates": 20.0,
             "selection": "final_epoch",
             **({"label_selected_best_epoch": {"epoch": 99, "acc": picked, "nmi": 0.0}} if picked else {}),
             **({"silhouette_selected_epoch": {"epoch": 49, "silhouette": 0.3, "acc": by_silhouette}}
                if by_silhouette else {})}))
        (d / "run_info.json").write_text(json.dumps({"wall_seconds": 10.0 * (seed + 1)}))
        (d / "DONE").write_text("done\n")
    elif status == "failed":
        (d / "FAILED").write_text("ValueError: boom\n")
    return d


def test_tables_from_run_directories(tmp_path):
    for seed, (acc, picked, by_sil) in enumerate([(0.70, 0.75, 0.71), (0.72, 0.80, 0.75), (0.74, None, None)]):
        make_run(tmp_path, f"idc_allaml_{seed}", "idc", "allaml", seed, acc, picked=picked, by_silhouette=by_sil)
        # seed 2: an older run, from before the epochs picked during training were recorded
    failed = make_run(tmp_path, "idc_allaml_3", "idc", "allaml", 3, status="failed")
    unfinished = make_run(tmp_path, "idc_allaml_4", "idc", "allaml", 4, status="unfinished")
    make_run(tmp_path, "km_allaml_0", "kmeans", "allaml", 0, 0.60)
    make_run(tmp_path, "km_allaml_1", "kmeans", "allaml", 1, 0.64)
    make_run(tmp_path, "nogates_syn", "idc", "synthetic", 0, 0.999, gates=False)
    never_started = tmp_path / "kmeans" / "srbct" / "seed3"  # e.g. its sweep was stopped by a killed worker
    written = build_tables(tmp_path, expected=[failed, never_started])

    acc = (tmp_path / "tables" / "acc.md").read_text()
    assert "| method | allaml | synthetic |" in acc
    assert "| idc | **72.0 ± 2.0 (3) [1 failed] [1 unfinished]** | - |" in acc
    assert "| kmeans | 62.0 ± 2.8 (2) | - |" in acc
    assert "| idc_no_gates | - | **99.9 (1)** |" in acc  # one run: no ± shown (the registry name of idc w/o gates)
    assert "Reported epoch: the final epoch of each run (no label-based selection)." in acc
    gates = (tmp_path / "tables" / "open_local_gates.md").read_text()
    assert "| idc | 11.0 ± 1.0 (3) [1 failed] [1 unfinished] |" in gates and "**" not in gates
    assert "in bold" not in gates and "best mean in bold." in acc
    numeric = list(csv.reader(open(tmp_path / "tables" / "acc.csv")))
    assert numeric[0] == ["method", "dataset", "mean", "std", "n", "failed", "unfinished"]
    idc_allaml = next(r for r in numeric if r[:2] == ["idc", "allaml"])
    assert float(idc_allaml[2]) == pytest.approx(72.0) and float(idc_allaml[3]) == pytest.approx(2.0)
    assert idc_allaml[4:] == ["3", "1", "1"]

    rows = list(csv.reader(open(tmp_path / "tables" / "published.csv")))
    assert rows[0] == ["method", "dataset", "metric", "ours (mean ± std, n)", "published", "difference"]
    assert ["idc", "allaml", "acc", "72.0 ± 2.0 (3)", "72.2 ± 3.0", "-0.2"] in rows
    assert ["kmeans", "allaml", "acc", "62.0 ± 2.8 (2)", "67.3 ± 3.0", "-5.3"] in rows
    assert not [r for r in rows if r[2] in ("nmi", "ari")]  # the paper's real-data table has ACC only
    # the label-picked epoch faces the published number in its own, named row, and has its own table
    assert ["idc", "allaml", "acc_label_picked_epoch", "77.5 ± 3.5 (2)", "72.2 ± 3.0", "+5.3"] in rows
    assert not [r for r in rows if r[0] == "kmeans" and r[2] == "acc_label_picked_epoch"]
    picked = (tmp_path / "tables" / "acc_label_picked_epoch.md").read_text()
    assert "peeks at labels: not a result" in picked and "picked WITH the labels" in picked
    assert "| idc | **77.5 ± 3.5 (2) [1 failed] [1 unfinished]** | - |" in picked
    assert "no label-based selection" not in picked and "not a result" in (tmp_path / "tables" / "published.md").read_text()
    # so does the epoch selected by silhouette, named as label-free
    assert ["idc", "allaml", "acc_silhouette_selected_epoch", "73.0 ± 2.8 (2)", "72.2 ± 3.0", "+0.8"] in rows
    by_silhouette = (tmp_path / "tables" / "acc_silhouette_selected_epoch.md").read_text()
    assert "highest silhouette" in by_silhouette and "label-free" in by_silhouette
    assert "| idc | **73.0 ± 2.8 (2) [1 failed] [1 unfinished]** | - |" in by_silhouette

    tex = (tmp_path / "tables" / "acc.tex").read_text()
    assert r"\textbf{72.0 $\pm$ 2.0 (3) [1 failed] [1 unfinished]}" in tex and r"\begin{tabular}{lcc}" in tex

    runs = written["runs"].read_text()
    assert "6 finished of 9." in runs
    assert f"| kmeans | srbct | 3 | not started | {never_started} |" in runs
    assert f"| idc | allaml | 3 | failed | {failed / 'FAILED'} |" in runs
    assert f"| idc | allaml | 4 | unfinished | {unfinished / 'train.log'} |" in runs


def test_runs_with_other_settings_are_not_averaged_together(tmp_path):
    # a grid over head.restarts under one root: one row per setting, each compared with the published number
    for seed in range(2):
        make_run(tmp_path, f"r1_{seed}", "idc", "allaml", seed, 0.60 + seed / 100, head={"restarts": 1, "tau": 100})
        make_run(tmp_path, f"r8_{seed}", "idc", "allaml", seed, 0.70 + seed / 100, head={"restarts": 8, "tau": 100})
    make_run(tmp_path, "km", "kmeans", "allaml", 0, 0.5, head={"restarts": 3})  # alone in its group: no variant
    build_tables(tmp_path)
    acc = (tmp_path / "tables" / "acc.md").read_text()
    assert "| idc [head.restarts=1] | 60.5 ± 0.7 (2) |" in acc
    assert "| idc [head.restarts=8] | **70.5 ± 0.7 (2)** |" in acc
    assert "| kmeans | 50.0 (1) |" in acc
    rows = list(csv.reader(open(tmp_path / "tables" / "published.csv")))
    assert ["idc [head.restarts=1]", "allaml", "acc", "60.5 ± 0.7 (2)", "72.2 ± 3.0", "-11.7"] in rows
    assert ["idc [head.restarts=8]", "allaml", "acc", "70.5 ± 0.7 (2)", "72.2 ± 3.0", "-1.7"] in rows


def test_ablation_rows_are_tabled_under_their_own_names_though_their_hydra_choice_is_idc(tmp_path):
    # idc-paper --table ablation: every row is `method=idc` plus overrides and `method.name=<row>`
    for row, acc in (("idc", 0.5), ("idc_no_recon", 0.2), ("idc_hard_concrete", 0.6)):
        for seed in range(2):
            d = make_run(tmp_path, f"{row}_{seed}", row, "mnist10k", seed, acc + seed / 100)
            config = yaml.safe_load((d / "config.yaml").read_text())
            (d / "config.yaml").write_text(yaml.safe_dump({**config, "method": {"name": row}}))
            (d / ".hydra" / "hydra.yaml").write_text(yaml.safe_dump(
                {"hydra": {"runtime": {"choices": {"method": "idc", "gates": "stg", "head": "mcr"}}}}))
    build_tables(tmp_path)
    acc = (tmp_path / "tables" / "acc.md").read_text()
    assert "| idc | 50.5 ± 0.7 (2) |" in acc
    assert "| idc_no_recon | 20.5 ± 0.7 (2) |" in acc
    assert "| idc_hard_concrete | **60.5 ± 0.7 (2)** |" in acc


def test_a_users_tables_are_named_by_their_files_and_their_variants_once(tmp_path):
    def table(path, label):
        return {"name": "table", "path": path, "label_column": label, "load": {"path": path, "label_column": label}}

    for name, acc, path, label in [("a", 0.9, "/d/cells.csv", "kind"), ("b", 0.8, "/d/cells.csv", None),
                                   ("c", 0.7, "/d/other.csv", "kind")]:
        d = make_run(tmp_path, name, "idc", "table", 0, acc)
        cfg = yaml.safe_load((d / "config.yaml").read_text())
        (d / "config.yaml").write_text(yaml.safe_dump({**cfg, "dataset": table(path, label)}))
    build_tables(tmp_path)
    acc = (tmp_path / "tables" / "acc.md").read_text()
    assert "cells.csv" in acc and "other.csv" in acc and "dataset.load." not in acc, acc
    assert "| idc [dataset.label_column=kind] |" in acc and "| idc [dataset.label_column=None] |" in acc, acc
