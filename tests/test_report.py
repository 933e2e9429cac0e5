"""The results store (idc/results.py) and the report built from it (the idc/report package, `make report`)."""
import json
import math
from pathlib import Path

import numpy as np
import pytest
import yaml

from idc import methods, report, results
from idc.report.rows import row_settings_note
from idc.train import train

ROOT = Path(__file__).resolve().parents[1]


def test_committed_page_matches_the_committed_records(tmp_path):
    written = report.build(ROOT / "results", tmp_path)
    for kind, path in written.items():
        committed = ROOT / "docs" / path.name
        assert committed.read_text() == path.read_text(), f"docs/{path.name} is stale: run `make report` and commit it"


def test_a_finished_run_becomes_a_small_record(cfg_factory, tmp_path):
    train(cfg_factory("method=kmeans"))
    store = tmp_path / "store"
    dest = results.add(tmp_path, store)
    assert dest == store / "default" / "kmeans" / "synthetic" / "seed0"
    assert sorted(p.name for p in dest.iterdir()) == ["clusters.txt", "config.yaml", "metrics.json", "run_info.json"]
    clusters, labels = results.read_clusters(dest / "clusters.txt")
    metrics = json.loads((dest / "metrics.json").read_text())
    assert len(clusters) == metrics["n_samples"] == 3256 and labels is not None
    (record,) = results.load_records(store)
    assert (record.schedule, record.method, record.dataset, record.seed) == ("default", "kmeans", "synthetic", 0)
    assert results.add(tmp_path, store, schedule="paper").parts[-4] == "paper"  # a given name wins


def test_idc_results_add_says_when_a_seed_ran_under_other_settings(cfg_factory, tmp_path, capsys):
    from idc.cli.results import main

    train(cfg_factory("method=kmeans"))
    store = tmp_path / "store"
    assert main(["add", str(tmp_path), "--root", str(store)]) == 0
    config = (store / "default" / "kmeans" / "synthetic" / "seed0" / "config.yaml")
    seed1 = config.parent.with_name("seed1")
    seed1.mkdir()
    for path in config.parent.iterdir():  # the same run as seed 1, under another balance weight
        text = path.read_text()
        (seed1 / path.name).write_text(text.replace("\nseed: 0", "\nseed: 1").replace("balance_weight: 0.5",
                                                                                  "balance_weight: 0.25"))
    assert "balance_weight: 0.25" in (seed1 / "config.yaml").read_text()
    assert main(["add", str(tmp_path), "--root", str(store)]) == 0
    err = capsys.readouterr().err
    assert "settings differ between seeds: head.balance_weight 0.5 (seed 0), 0.25 (seed 1)" in err


def test_an_unfinished_run_is_refused(tmp_path):
    (tmp_path / "config.yaml").write_text("dataset: {name: synthetic}\n")
    with pytest.raises(results.RecordError, match="not a finished run"):
        results.add(tmp_path, tmp_path / "store")


@pytest.mark.parametrize("choices, method", [
    ({"model": "idc"}, "idc"), ({"model": "idc_faithful"}, "idc_faithful"),
    ({"method": "idc", "head": "official"}, "idc_faithful"), ({"model": "idc", "gates": "none"}, "idc_no_gates"),
    ({"method": "kmeans", "model": "idc"}, "kmeans"), ({"model": "ae_kmeans", "gates": "stg"}, "idc_features_kmeans"),
    ({"method": "ae_kmeans", "gates": "none"}, "ae_kmeans"), ({"method": "ifpca"}, "ifpca"),
    ({"method": "idc_faithful", "gates": "none"}, "idc_faithful_no_gates"),  # not in the registry: named plainly
])
def test_runs_are_named_by_their_choices(choices, method):
    assert methods.method_of({}, choices) == method


@pytest.mark.parametrize("cfg, method", [
    ({"model": {"name": "kmeans"}, "gates": {"enabled": True}}, "kmeans"),  # run directories before method=
    ({"model": {"name": "ae_kmeans"}, "gates": {"enabled": False}}, "ae_kmeans"),
    ({"method": {"name": "ae_kmeans"}, "gates": {"enabled": True}}, "idc_features_kmeans"),
    ({"method": {"name": "idc"}, "gates": {"enabled": False}}, "idc_no_gates"), ({}, "idc"),
])
def test_runs_without_hydra_choices_are_named_by_their_config(cfg, method):
    assert methods.method_of(cfg) == method


def test_every_registry_method_is_recognised_from_its_own_overrides():
    """A run made with a method's overrides files under that method's name (the store's and idc-paper's names
    agree), and the paper rows the registry names exist in published.yaml."""
    from idc.paper import published

    rows = {row for table in published().values() if isinstance(table, dict) for row in table.get("rows", {})}
    for name, method in methods.METHODS.items():
        choices = {"method": "idc", "gates": "stg", "head": "mcr"}
        choices.update(o.split("=", 1) for o in method.overrides)
        assert methods.method_of({}, choices) == name
        assert method.paper is None or method.paper in rows


def test_schedules_are_named_by_their_choices():
    assert results.schedule_of({"experiment": "paper/tox171"}) == "paper"
    assert results.schedule_of({"schedule": "short", "experiment": "digits"}) == "short"
    assert results.schedule_of({}) == results.DEFAULT_SCHEDULE
    # Hydra names the default schedule beside every experiment: the experiment names the runs
    assert results.schedule_of({"schedule": "default", "experiment": "digits"}) == "digits"
    assert results.schedule_of({"schedule": "default", "experiment": "paper/tox171"}) == "paper"
    assert results.schedule_of({"schedule": "default"}) == results.DEFAULT_SCHEDULE


def test_a_run_whose_schedule_the_size_rule_chose_is_named_size_rule(tmp_path):
    def identified(chosen: dict, choices: str = "") -> str:
        run = tmp_path / str(len(list(tmp_path.iterdir())))
        (run / ".hydra").mkdir(parents=True)
        (run / "config.yaml").write_text(yaml.safe_dump({"dataset": {"name": "lung_small"}, "seed": 1,
                                                         "method": {"name": "idc"}, "size_rule": {"chosen": chosen}}))
        (run / ".hydra" / "hydra.yaml").write_text(f"hydra:\n  runtime:\n    choices: {{{choices}}}\n")
        return results.identify(run)[0]

    assert identified({"schedule": "2000 gated steps"}) == results.SIZE_RULE_SCHEDULE
    assert identified({"dataset.batch_size": "73: full batch"}) == results.DEFAULT_SCHEDULE  # its own schedule
    assert identified({"schedule": "given"}, "schedule: short") == "short"  # a chosen schedule names itself
    # an experiment run under the size rule: the rule's schedule; without it (or given): the experiment's
    rule = {"schedule": "2000 gated steps"}
    assert identified(rule, "schedule: default, experiment: digits") == results.SIZE_RULE_SCHEDULE
    assert identified({}, "schedule: default, experiment: digits") == "digits"
    assert identified({"schedule": "given; the rule would choose"}, "schedule: default") == results.DEFAULT_SCHEDULE


def test_a_users_tables_are_recorded_under_their_file_names(tmp_path):
    for name, path in (("a", "/d/cells.csv"), ("b", "/d/other.csv")):
        (tmp_path / name).mkdir()
        (tmp_path / name / "config.yaml").write_text(yaml.safe_dump(
            {"dataset": {"name": "table", "path": path}, "seed": 0, "method": {"name": "idc"}}))
    assert [results.identify(tmp_path / n)[2] for n in "ab"] == ["cells.csv", "other.csv"]  # not both "table"


def fake_record(store: Path, method: str, seed: int, clusters: np.ndarray, labels: np.ndarray, acc: float) -> None:
    d = results.record_dir(store, "paper", method, "synthetic", seed)
    d.mkdir(parents=True)
    (d / "metrics.json").write_text(json.dumps({"acc": acc, "n_clusters": 2}))
    results.write_clusters(d / "clusters.txt", clusters, labels)


def test_page_rows_consensus_bold_and_not_run(tmp_path):
    labels = np.repeat([0, 1], 10)
    fake_record(tmp_path, "kmeans", 0, labels, labels, 0.9)  # consensus: both runs agree on the true split
    fake_record(tmp_path, "kmeans", 1, 1 - labels, labels, 0.7)
    page = report.build(tmp_path, tmp_path / "docs")["md"].read_text()
    row = next(line for line in page.splitlines() if "| synthetic | kmeans | final epoch | paper | 2 |" in line)
    assert "80.0 ± 14.1" in row and "25.7 (+54.3)" in row  # mean ± sample std; published K-means+SHAP beside it
    consensus = next(line for line in page.splitlines() if "| synthetic | kmeans | consensus |" in line)
    assert "**100.0**" in consensus and "ensemble of 2 runs" in consensus  # the best label-free value is bold
    assert "| synthetic | idc | not run | paper |" in page and "idc-paper --schedule paper --datasets synthetic" in page
    assert "## GPU" in page and "Not measured" in page


def test_a_row_of_fewer_than_ten_seeds_says_so_and_how_to_make_the_rest(tmp_path):
    labels = np.repeat([0, 1], 10)
    for seed in (0, 1):
        fake_record(tmp_path, "kmeans", seed, labels, labels, 0.9)
    before = results.record_dir(tmp_path, "size_rule_deep", "idc", "synthetic", 0)  # a kept "before": no command
    before.mkdir(parents=True)
    (before / "metrics.json").write_text(json.dumps({"acc": 0.5, "n_clusters": 2}))
    page = report.build(tmp_path, tmp_path / "docs")["md"].read_text()
    row = next(line for line in page.splitlines() if "| synthetic | kmeans | final epoch | paper | 2 |" in line)
    assert row.endswith("| 2 of 10 seeds; all 10: `idc-paper --schedule paper --datasets synthetic --methods kmeans "
                        "--seeds 10` |")  # no run_info.json here: no wall time
    deep = next(line for line in page.splitlines() if "| synthetic | idc | final epoch | size_rule_deep | 1 |" in line)
    assert deep.endswith("|  |")
    for seed in range(2, 10):
        fake_record(tmp_path, "kmeans", seed, labels, labels, 0.9)
    page = report.build(tmp_path, tmp_path / "docs")["md"].read_text()
    assert "of 10 seeds" not in next(line for line in page.splitlines() if "| synthetic | kmeans | final epoch |" in line)


def test_a_row_whose_seeds_ran_under_different_settings_says_which_and_where(tmp_path):
    labels = np.repeat([0, 1], 10)
    weights = {0: 1.0, 1: 10.0, 2: 10.0}
    for seed, weight in weights.items():
        fake_record(tmp_path, "kmeans", seed, labels, labels, 0.9)
        config = {"seed": seed, "paths": {"output_dir": f"/runs/{seed}"}, "size_rule": {"enabled": seed == 0},
                  "head": {"global_gates": {"reg_lambda": weight}}, "model": {"new_key": 1} if seed else {}}
        (results.record_dir(tmp_path, "paper", "kmeans", "synthetic", seed) / "config.yaml").write_text(yaml.safe_dump(config))
    page = report.build(tmp_path, tmp_path / "docs")["md"].read_text()
    row = next(line for line in page.splitlines() if "| synthetic | kmeans | final epoch | paper | 3 |" in line)
    # seeds, paths, the size rule's own settings and keys only some runs have are not settings that differ
    assert row.endswith("settings differ between seeds: head.global_gates.reg_lambda 1.0 (seed 0), 10.0 (seeds 1 2) |")
    row_dir = results.record_dir(tmp_path, "paper", "kmeans", "synthetic", 0).parent
    # what idc-results add says of the row
    assert row_settings_note(row_dir) == "settings differ between seeds: head.global_gates.reg_lambda 1.0 (seed 0), 10.0 (seeds 1 2)"
    for seed in weights:  # the same settings: no note
        path = results.record_dir(tmp_path, "paper", "kmeans", "synthetic", seed) / "config.yaml"
        path.write_text(path.read_text().replace("reg_lambda: 1.0", "reg_lambda: 10.0"))
    page = report.build(tmp_path, tmp_path / "docs")["md"].read_text()
    assert "settings differ" not in page and row_settings_note(row_dir) == ""
    # IDC's records without model.fused_optimizers ran unfused (a baseline's have no optimizer of IDC's)
    for method in ("kmeans", "idc"):
        for seed, fused in enumerate(("", "", "fused_optimizers: true")):
            fake_record(tmp_path / method, method, seed, labels, labels, 0.9)
            config = {"seed": seed, "model": {"weight_decay": 0.0, **yaml.safe_load(fused or "{}")}}
            path = results.record_dir(tmp_path / method, "paper", method, "synthetic", seed) / "config.yaml"
            path.write_text(yaml.safe_dump(config))
    page = report.build(tmp_path / "idc", tmp_path / "idc" / "docs")["md"].read_text()
    row = next(line for line in page.splitlines() if "| synthetic | idc | final epoch | paper | 3 |" in line)
    assert row.endswith("settings differ between seeds: model.fused_optimizers False (seeds 0 1), True (seed 2) |")
    page = report.build(tmp_path / "kmeans", tmp_path / "kmeans" / "docs")["md"].read_text()
    assert "settings differ" not in page


def test_a_not_run_cell_of_a_trained_method_gives_idc_recorded_wall_time_over_the_estimate(tmp_path):
    labels = np.repeat([0, 1], 10)
    page = report.build(tmp_path, tmp_path / "docs")["md"].read_text()
    assert "| synthetic | idc_faithful | not run | paper |" in page and "per run here (estimate)" in page
    for seed, seconds in ((0, 600.0), (1, 900.0), (2, 3000.0)):
        fake_record(tmp_path, "idc", seed, labels, labels, 0.9)
        d = results.record_dir(tmp_path, "paper", "idc", "synthetic", seed)
        (d / "run_info.json").write_text(json.dumps({"wall_seconds": seconds}))
    page = report.build(tmp_path, tmp_path / "docs")["md"].read_text()
    row = next(line for line in page.splitlines() if "| synthetic | idc_faithful | not run | paper |" in line)
    assert row.endswith("--seeds 10`; about 15 min per run here (IDC's recorded runs) |")  # the median, not the mean
    kmeans = next(line for line in page.splitlines() if "| synthetic | kmeans | not run | paper |" in line)
    assert "(estimate)" in kmeans  # a baseline without a network keeps its own estimate


def test_the_store_copies_eval_json_under_the_name_evaluate_writes():
    from idc.evaluate import EVAL

    assert EVAL in results.COPIED


def explained_record(store: Path, seed: int, labels: np.ndarray, acc: float) -> None:
    d = results.record_dir(store, "paper", "idc_no_gates", "mnist10k", seed)
    d.mkdir(parents=True)
    (d / "metrics.json").write_text(json.dumps({"acc": 0.9, "n_clusters": 2}))
    results.write_clusters(d / "clusters.txt", labels, labels)
    (d / "eval_ig.json").write_text(json.dumps({"acc": acc, "uniqueness": 0.1, "diversity_clusters": 90.0,
                                                "faithfulness": 0.5, "faithfulness_official": 0.7,
                                                "explainer": {"top_k": 15}}))


def test_interpretability_rows_of_post_hoc_explanations(tmp_path):
    labels = np.repeat([0, 1], 10)
    explained_record(tmp_path, 0, labels, 0.80)
    explained_record(tmp_path, 1, labels, 0.81)
    page = report.build(tmp_path, tmp_path / "docs")["md"].read_text()
    table = page.split("## Interpretability on MNIST10K")[1].split("\n## ")[0]
    ig = next(line for line in table.splitlines() if "| idc_no_gates + ig | final epoch | paper | 2 |" in line)
    assert "80.5 ± 0.7 | 82.3 (-1.8)" in ig  # the explained model's ACC beside "IDC w/o gates + IntegGrads"
    assert "0.10 ± 0.00** | 0.02 (+0.08)" in ig and "90.0 ± 0.0** | 95.8 (-5.8)" in ig and "top 15 features" in ig
    # the paper's faithfulness is the official code's formula (r with the ACC left), ours (r with the drop) beside
    assert "| **0.70 ± 0.00** | 0.78 (-0.08) | **0.50 ± 0.00** | - |" in ig
    runs = "outputs/paper/paper/idc_no_gates/mnist10k/seed*"
    assert ("| idc_no_gates + gradient_shap | not run | paper |" in table and  # runs there, not explained yet
            f"`idc-results attribute {runs} --method gradient_shap && idc-results add {runs}`" in table)
    assert ("`idc-paper --schedule paper --datasets mnist10k --methods kmeans --seeds 10 && idc-results attribute "
            "outputs/paper/paper/kmeans/mnist10k/seed* --method kernel_shap" in table)  # no runs: make them first
    assert "| idc_no_gates | final epoch | paper | 2 | 90.0 ± 0.0 | - |" in table  # the plain row: no published row


def test_wider_benchmark_rows(tmp_path):
    page = report.build(tmp_path, tmp_path / "docs")["md"].read_text()
    table = page.split("## Wider benchmark (not in the paper)")[1].split("\n## ")[0]
    for dataset in ("coil20", "isolet", "warppie10p", "lung_small", "arcene", "basehock", "allaml", "biase"):
        assert (f"| {dataset} | idc | not run | size_rule |" in table and  # what a user's own table gets
                f"idc-paper --schedule size_rule --datasets {dataset} --methods idc --seeds 10" in table)
    assert "| coil20 | ifpca | not run | default |" in table and "| allaml | kmeans | not run | paper |" in table
    assert "| coil20 | cae_kmeans |" not in table  # trained baselines only when recorded


def test_every_command_on_the_page_is_one_idc_paper_accepts(monkeypatch):
    """The committed page's "not run" commands parse, name registry methods and schedules that run their datasets."""
    import re
    import shlex

    from idc.cli import paper

    monkeypatch.setattr(paper, "present", lambda names: list(names))
    page = (ROOT / "docs" / "results.md").read_text()
    commands = re.findall(r"`idc-paper ([^`&]*?)(?: &&[^`]*)?`", page)
    assert commands and len(commands) == page.count("`idc-paper ")  # every command on the page is checked below
    for command in commands:
        args = paper.build_parser().parse_args(shlex.split(command))
        assert paper.chosen_datasets(args) == args.datasets
    # each "not run" row of a registry method runs it (--methods NAME); of an ablation row, the ablation table
    # (which runs all its rows). The registry methods fully recorded on every table have no such row.
    cells = [[c.strip() for c in line.split("|")[1:-1]] for line in page.splitlines() if line.startswith("| ")]
    not_run = [(c[0], c[1], c[-1]) for c in cells if len(c) > 3 and c[2] == "not run"]
    ablation = set(methods.ablation_rows()) - set(methods.METHODS)
    named = {m for _, m, _ in not_run if m in methods.METHODS or m in ablation}
    assert len(named) > 10 and ablation <= named
    for dataset, method, note in not_run:
        if method in methods.METHODS:
            assert f"--datasets {dataset} --methods {method} --seeds" in note, (dataset, method, note)
        elif method in ablation:
            assert "`idc-paper --table ablation --schedule " in note and f"--datasets {dataset} --seeds" in note, note


def test_the_summary_sets_idc_against_kmeans_and_the_best_other_baseline_per_schedule(tmp_path):
    def rec(schedule, method, dataset, seed, acc):
        return results.Record(schedule, method, dataset, seed, tmp_path, metrics={"acc": acc})

    records = [rec("size_rule", "idc", "d", s, a) for s, a in ((0, 0.8), (1, 0.6))]
    records += [rec("quick", "idc", "d", 0, 0.1)]  # smoke runs are not results
    records += [rec("paper", "kmeans", "d", s, 0.75) for s in range(3)] + [rec("default", "kmeans", "d", 0, 0.1)]
    records += [rec("paper", "gmm", "d", 0, 0.72), rec("paper", "spectral", "d", 0, 0.5)]
    records += [rec("default", "idc", "e", 0, 0.9)]  # no baseline recorded
    records += [rec("default", "kmeans", "f", 0, 0.6), rec("default", "gmm", "f", 0, 0.7)]  # no IDC recorded
    records += [rec("size_rule", "idc", "g", 0, 0.9), rec("default", "kmeans", "g", 0, 0.6)]
    records += [rec("no_size_rule", "idc", "g", s, 0.1) for s in range(3)]  # a kept "before": shown, not the headline
    records[0].run_info["wall_seconds"] = 300.0
    records[7].run_info["wall_seconds"] = 2.0  # gmm on d: the baselines' cells give their time too
    summary = report.summary_section(records)
    rows = [[c.strip() for c in line.strip("|").split("|")] for line in "\n".join(summary).splitlines()
            if line[:4] in ("| d ", "| e ", "| f ", "| g ")]
    assert rows == [
        ["d", "size_rule", "70.0 ± 14.1 (2)", "5 min", "75.0 ± 0.0 (3, paper)", "-5.0 (0.70)", "-",
         "gmm: 72.0 (1, paper; 2 s)", "3 of 4"],
        ["e", "default", "90.0 (1)", "-", "not run", "-", "-", "-", "-"],
        ["f", "size_rule", "not run", "`idc-paper --schedule size_rule --datasets f --methods idc --seeds 10`; about 27 min per run here (estimate)",
         "60.0 (1, default)", "-", "-", "gmm: 70.0 (1, default)", "-"],
        ["g", "size_rule", "90.0 (1)", "-", "60.0 (1, default)", "+30.0", "-", "-", "1 of 2"],
        ["g", "no_size_rule", "10.0 ± 0.0 (3)", "-", "60.0 (1, default)", "-50.0", "-", "-", "2 of 2"]]
    assert "IDC at or above K-means in 1 of 2 rows" in summary[0]
    assert "of the 1 below it, 0 by more than the seeds' noise (Welch's p < 0.05)" in summary[0]
    # issue 22's spread target: d's 14.1 points against K-means' 0.0 is beyond 5 more; g has one seed a side
    assert ("IDC's std across seeds within K-means' + 5 points in 0 of 1 of those rows with two or more seeds a side "
            "(beyond it: d (size_rule): 14.1 against 0.0 (9.14 over))") in summary[0]
    # d: kmeans 1, gmm 2, idc 3, spectral 4; g: idc 1, kmeans 2 (e has no K-means, f no IDC)
    assert summary[-1].endswith("on the 2 datasets where IDC and K-means have records, IDC at its most-recorded "
                                "schedule that is not a kept \"before\", each method ranked among those recorded "
                                "on the dataset (in parentheses: on how many of them it has records): kmeans 1.5 (2), gmm 2.0 (1), idc 2.0 (2), "
                                "spectral 4.0 (1).")


def test_the_summary_sets_idc_against_the_best_feature_selecting_baseline(tmp_path):
    def rec(schedule, method, dataset, seed, acc):
        return results.Record(schedule, method, dataset, seed, tmp_path, metrics={"acc": acc})

    records = [rec("size_rule", "idc", "d", s, 0.8) for s in range(2)] + [rec("paper", "kmeans", "d", 0, 0.75)]
    records += [rec("paper", "ls_kmeans", "d", 0, 0.7), rec("paper", "ifpca", "d", 0, 0.85)]  # ifpca: d's best of them
    records += [rec("paper", "spectral", "d", 0, 0.95)]  # no feature selection: not of IDC's kind
    records += [rec("size_rule", "idc", "g", 0, 0.9), rec("default", "ls_kmeans", "g", 0, 0.6)]
    records += [rec("no_size_rule", "idc", "g", 0, 0.1)]  # a kept "before": shown, not counted
    records += [rec("size_rule", "idc", "h", 0, 0.5), rec("default", "kmeans", "h", 0, 0.9)]  # no selector: not counted
    summary = report.summary_section(records)[0]
    assert ("Against the baselines that cluster on features they select (ls_kmeans, ifpca, cae_kmeans: explanations "
            "of IDC's kind), IDC at or above the best of them in 1 of 2 of those rows (below: d: 80.0 against "
            "ifpca's 85.0).") in summary


def test_the_summary_estimates_n_init_from_the_consensus_of_every_three_seeds(tmp_path):
    from idc.report.rows import subset_consensus_accs

    labels = np.repeat([0, 1, 2], 4)
    one_off = lambda i, to: np.where(np.arange(12) == i, to, labels)  # noqa: E731  (one sample in another cluster)
    partitions = [one_off(0, 1), (one_off(11, 0) + 1) % 3, one_off(4, 2), one_off(7, 0)]  # each wrong elsewhere

    def records_of(schedule):
        out = []
        for seed, clusters in enumerate(partitions):
            d = results.record_dir(tmp_path, schedule, "idc", "d", seed)
            d.mkdir(parents=True)
            results.write_clusters(d / "clusters.txt", clusters, labels)
            out.append(results.Record(schedule, "idc", "d", seed, d, metrics={"acc": 11 / 12, "n_clusters": 3}))
        return out

    records = records_of("size_rule")
    # any 3 of the 4 runs: each wrong sample is wrong in one of them only, so their consensus is the true split
    assert subset_consensus_accs(records, 3) == [100.0] * 4
    assert len(subset_consensus_accs(records, 2)) == 6 and len(subset_consensus_accs(records, 2, limit=2)) == 2
    assert subset_consensus_accs(records, 5) == [] and subset_consensus_accs(records[:1], 1) == []
    records += records_of("no_size_rule")  # a kept "before": shown, not counted
    records.append(results.Record("paper", "kmeans", "d", 0, tmp_path, metrics={"acc": 0.97}))
    summary = report.summary_section(records)
    row = next(line for line in summary[2].splitlines() if line.startswith("| d | size_rule "))
    assert [c.strip() for c in row.strip("|").split("|")][2:7] == [
        "91.7 ± 0.0 (4)", "-", "97.0 (1, paper)", "-5.3", "100.0 ± 0.0 (4)"]  # single runs below, 3 of them above
    assert "at or above K-means in 0 of 1 rows" in summary[0] and "in 1 of 1 rows with 3 or more seeds" in summary[0]


def test_welchs_p_is_scipys_and_says_nothing_without_spread_or_seeds():
    from idc.report.summary import welch_p

    # by hand: t = (70 - 75) / sqrt(200 / 2) = -0.5 with 1 degree of freedom (the constant side adds no variance)
    assert welch_p([80.0, 60.0], [75.0, 75.0, 75.0]) == pytest.approx(1 - 2 * math.atan(0.5) / math.pi)
    assert welch_p([61.0, 62.0, 63.0], [70.0, 71.0, 72.0]) < 0.01
    assert welch_p([98.0, 98.0], [97.0 + 1e-12, 97.0]) is None  # neither varies: deterministic methods
    assert welch_p([80.0], [75.0, 76.0]) is None  # one seed


def test_the_probe_section_averages_each_view_over_the_seeds_of_a_lever(tmp_path):
    from idc.report.studies import probe_section

    (tmp_path / "probe").mkdir()
    view = lambda acc: {"acc": acc, "nmi": 0.0, "ari": 0.0}  # noqa: E731
    lines = [{"dataset": "d", "tag": "lever", "seed": s, "gated_epochs": 500, "open_gates_median": gates,
              "raw": view(0.5), "embedding": view(acc), "gated": view(0.7), "top50": view(0.8), "top200": view(0.9)}
             for s, acc, gates in ((0, 0.6, 10.0), (1, 0.7, 20.0), (2, 1.0, 60.0))]
    (tmp_path / "probe" / "d.jsonl").write_text("\n".join(json.dumps(line) for line in lines) + "\n")
    row = next(line for line in "\n".join(probe_section(tmp_path)).splitlines() if line.startswith("| d "))
    assert [c.strip() for c in row.strip("|").split("|")] == ["d", "lever", "500", "0 1 2", "30", "50.0", "76.7",
                                                               "70.0", "-", "80.0", "90.0", "-", "-"]  # no `weighted`
    for line in lines:
        line["weighted"] = view(0.4 + 0.1 * line["seed"])
    (tmp_path / "probe" / "d.jsonl").write_text("\n".join(json.dumps(line) for line in lines) + "\n")
    row = next(line for line in "\n".join(probe_section(tmp_path)).splitlines() if line.startswith("| d "))
    assert row.split("|")[9].strip() == "50.0"  # the weighted view's column, mean of 40, 50, 60


def test_the_probe_section_shows_the_label_free_scores_of_the_embedding_where_recorded(tmp_path):
    from idc.report.studies import probe_section

    (tmp_path / "probe").mkdir()
    view = {"acc": 0.5, "nmi": 0.0, "ari": 0.0}
    same, permuted, other = [0, 0, 1, 1, 2, 2], [2, 2, 0, 0, 1, 1], [0, 1, 2, 0, 1, 2]
    lines = [{"dataset": "d", "tag": tag, "seed": s, "gated_epochs": 500, "open_gates_median": 1.0, "raw": view,
              "gated": view, "top50": view, "top200": view,
              "embedding": {**view, "silhouette": sil, "labels": labels}}
             for tag, runs in (("agree", ((0, 0.2, same), (1, 0.4, permuted))), ("differ", ((0, 0.1, same), (1, 0.1, other))))
             for s, sil, labels in runs]
    (tmp_path / "probe" / "d.jsonl").write_text("\n".join(json.dumps(line) for line in lines) + "\n")
    rows = {line.split("|")[2].strip(): [c.strip() for c in line.strip("|").split("|")]
            for line in "\n".join(probe_section(tmp_path)).splitlines() if line.startswith("| d ")}
    assert rows["agree"][-2:] == ["0.300", "1.00"]  # a permutation of the same partition agrees fully
    assert rows["differ"][-2] == "0.100" and float(rows["differ"][-1]) < 0.5


def test_the_levers_section_gives_each_variant_its_mean_and_std_over_seeds(tmp_path):
    from idc.report.studies import levers_section

    (tmp_path / "levers").mkdir()
    runs = [("kmeans", ["method=kmeans"], s, acc) for s, acc in ((0, 0.5), (1, 0.7))]
    runs += [("prior", ["head.balance=min_share"], s, acc) for s, acc in ((0, 0.6), (1, 0.8), (2, 1.0))]
    runs.append(("prior", ["head.balance=min_share"], 2, 0.9))  # seed 2 again: the last record counts
    lines = [{"study": "s", "variant": v, "seed": s, "settings": ["dataset=x"], "overrides": o, "seconds": 2.0,
              "acc": acc, "nmi": acc / 2, "open_local_gates": 4.0, "open_global_gates": None} for v, o, s, acc in runs]
    for line, uniqueness in zip(lines[2:], (0.1, 0.2, 0.3, 0.5)):  # the prior's runs have gates and explanations
        line.update(uniqueness=uniqueness, diversity_clusters=100 * uniqueness, diversity_global_gates=50.0,
                    global_gate_fidelity=uniqueness)
    lines[2]["empty_sets_global_gates"] = 1  # seed 0's first record, replaced by nothing: its empty set is named
    (tmp_path / "levers" / "s.jsonl").write_text("\n".join(json.dumps(line) for line in lines) + "\n")
    text = "\n".join(levers_section(tmp_path))
    cells = {row.split("|")[1].strip(): [c.strip() for c in row.strip("|").split("|")]
             for row in text.splitlines() if row.startswith("| ") and not row.startswith("| variant")}
    assert "Settings of every run: `dataset=x`." in text
    assert cells["kmeans"] == ["kmeans", "`method=kmeans`", "2", "60.0 ± 14.1", "30.0 ± 7.1", "4.0", "-", "-", "-",
                               "-", "-", "2"]
    assert cells["prior"][2:4] == ["3", "76.7 ± 15.3"]
    assert cells["prior"][7:11] == ["0.27", "26.7", "50.0 (1 empty set)", "26.7"]  # seeds 0, 1 and the last of seed 2


def test_the_global_gates_section_orders_variants_by_weight_and_averages_over_runs(tmp_path):
    from idc.report.studies import global_gates_section

    (tmp_path / "global_gates").mkdir()
    def line(variant, weight, run, seed, open_gates, fidelity):  # noqa: E306
        return {"study": "w", "variant": variant, "run": run, "dataset": "d", "schedule": "size_rule", "seed": seed,
                "n_features": 200, "overrides": {"reg_lambda": weight}, "open_global_gates": open_gates,
                "diversity_global_gates": 100.0 - open_gates, "empty_sets_global_gates": 0,
                "global_gate_fidelity": fidelity}
    lines = [line("strong", 30.0, "r0", 0, 4.0, 0.9), line("weak", 10.0, "r0", 0, 20.0, 1.0),
             line("weak", 10.0, "r1", 1, 40.0, 0.5), line("weak", 10.0, "r1", 1, 30.0, 0.8),  # r1 again: the last
             {**line("zero", 10.0, "r0", 0, 8.0, 0.7), "overrides": {"baseline": "zero"}, "recorded_reg_lambda": 20.0},
             line("strong", 40.0, "r1", 1, 2.0, 0.6)]  # the name again under another weight: a row of its own
    lines[0]["empty_sets_global_gates"] = 2
    lines[1]["global_gate_fidelity_min"], lines[3]["global_gate_fidelity_min"] = 0.95, 0.55  # the weakest clusters
    lines[1]["overlap_guard"] = [{"overlap_weight": 1.0, "fidelity_min": 0.95, "kept": True}]
    lines[3]["overlap_guard"] = [{"overlap_weight": 1.0, "fidelity_min": 0.4, "kept": False},  # refitted once
                                 {"overlap_weight": 0.5, "fidelity_min": 0.55, "kept": True},
                                 {"overlap_weight": 0.25, "fidelity_min": 0.5, "kept": False}]  # no help: stopped
    (tmp_path / "global_gates" / "w.jsonl").write_text("\n".join(json.dumps(x) for x in lines) + "\n")
    rows = [[c.strip() for c in row.strip("|").split("|")]
            for row in "\n".join(global_gates_section(tmp_path)).splitlines() if row.startswith("| d ")]
    assert rows == [["d", "size_rule", "weak", "`reg_lambda=10`", "2 (0 1)", "25.0 (12.5 %)", "75.0", "90.0", "75.0",
                     "1 (at 0.5)"],
                    ["d", "size_rule", "zero", "`baseline=zero`", "1 (0)", "8.0 (4.0 %)", "92.0", "70.0", "-", "-"],
                    ["d", "size_rule", "strong", "`reg_lambda=30`", "1 (0)", "4.0 (2.0 %)", "96.0 (2 empty sets)",
                     "90.0", "-", "-"],
                    ["d", "size_rule", "strong", "`reg_lambda=40`", "1 (1)", "2.0 (1.0 %)", "98.0", "60.0", "-", "-"]]
    assert "No records yet" in global_gates_section(tmp_path / "none")[0]


def test_a_bench_record_becomes_the_speed_section_with_its_side_by_side_ratios(tmp_path):
    from idc.report.sections import bench_section

    assert "Not measured" in bench_section(tmp_path)[0]
    case = dict(n=1797, d=64, batch=256, stage1_s_per_epoch=0.6, stage2_s_per_epoch=0.1, stage2_ms_per_step=10.0,
                stage1_steps_per_s=10.0, peak_rss_gb=0.7, cuda_max_allocated_gb=None, device="cpu")
    rows = [{**case, "name": "digits", "kind": "ours", "stage1_ms_per_step": 100.0},
            {**case, "name": "digits", "kind": "reference-style", "stage1_ms_per_step": 400.0},
            {**case, "name": "digits", "kind": "ours, bf16-mixed", "stage1_ms_per_step": 1000.0},
            {**case, "name": "digits", "kind": "ours, unfused optimizers", "stage1_ms_per_step": 150.0}]
    (tmp_path / "bench").mkdir()
    payload = {"machine": {"cpus": 2}, "matmul_gflops": 180.0, "cases": rows}
    (tmp_path / "bench" / "cpu-quick.json").write_text(json.dumps(payload))
    text = "\n".join(bench_section(tmp_path))
    assert "### cpu-quick" in text and "cpus 2" in text and "180 GFLOP/s" in text
    assert "| digits | reference-style | 1797 | 64 | 256 |" in text
    assert "stage-1 step 4.0x faster than the reference-style row (400.0 -> 100.0 ms)" in text
    assert "bf16-mixed: stage-1 step 2.5x slower than the reference-style row (400.0 -> 1000.0 ms)" in text
    assert "digits, ours: stage-1 step 1.5x faster than with torch's unfused optimizers (150.0 -> 100.0 ms)" in text


def test_the_explanations_section_gives_each_dataset_its_headline_rows_gates_and_measures(tmp_path):
    def rec(schedule, dataset, seed, **evaluation):
        return results.Record(schedule, "idc", dataset, seed, tmp_path, metrics={"acc": 0.5},
                              evaluation={"open_local_gates": 10.0 + seed, "open_global_gates": 2.0, **evaluation})

    records = [rec("size_rule", "allaml", s, uniqueness=0.5 + s, diversity_clusters=80.0, empty_sets_clusters=s,
                   n_clusters=2, global_gate_fidelity=0.9) for s in (0, 1)]
    records += [rec("size_rule", "allaml", 2, uniqueness=0.5)]  # an older record without diversity: left out of it
    records += [rec("size_rule_deep", "allaml", s, uniqueness=9.0) for s in range(5)]  # a kept "before"
    records += [results.Record("paper", "kmeans", "allaml", 0, tmp_path, metrics={"acc": 0.7})]
    (tmp_path / "config.yaml").write_text("head:\n  global_gates:\n    reg_lambda: 10.0\n")
    section = report.explanations_section(records)
    rows = [[c.strip() for c in line.strip("|").split("|")] for line in section[-1].splitlines()[2:]]
    # 7129 genes: 11 open per sample (the mean over seeds of 10, 11, 12) is 0.2 %, 2 per cluster 0.03 %
    # the clusters' sets: one empty in seed 1, none in seed 0 (0.5 on average); the global gates' none counted
    assert rows == [["allaml", "size_rule", "3", "7129", "11 (0.2 %)", "2.0 (< 0.1 %)", "10 (×1)", "0.83",
                     "80 (0.5 of 2 empty)", "-", "90"]]
    other = tmp_path / "other"
    other.mkdir()
    (other / "config.yaml").write_text("head:\n  global_gates:\n    reg_lambda: 30\n    train_factor: 3\n")
    mixed = [*records[:2], results.Record("size_rule", "idc", "allaml", 3, other)]
    assert report.explanations.weights_of(mixed) == "10 (×1), 30 (×3)"  # a default changed between seeds
    overlap = tmp_path / "overlap"
    overlap.mkdir()
    (overlap / "config.yaml").write_text("head:\n  global_gates:\n    reg_lambda: 10\n    train_factor: 3\n"
                                         "    overlap_weight: 1\n")
    mixed[-1] = results.Record("size_rule", "idc", "allaml", 3, overlap)
    assert report.explanations.weights_of(mixed) == "10 (×1), 10 (×3, overlap 1)"
    guard = [[{"overlap_weight": 2.0, "fidelity_min": 0.95, "kept": True}],  # held at once
             [{"overlap_weight": 2.0, "fidelity_min": 0.6, "kept": False},  # refitted at 1
              {"overlap_weight": 1.0, "fidelity_min": 0.97, "kept": True}]]
    for record, fits in zip(mixed[1:], guard):
        record.metrics = {"head_selection": {"overlap_guard": fits}}
    assert report.explanations.weights_of(mixed) == ("10 (×1), 10 (×3, overlap 1); 1 of 2 runs refitted at "
                                                     "overlap 1 (the guard)")
    mixed[1].metrics = {"head_selection": {"overlap_guard": [guard[1][0], {**guard[1][1], "overlap_weight": 0.5}]}}
    assert report.explanations.weights_of(mixed).endswith("2 of 2 runs refitted at overlap 1 (1), 0.5 (1) (the guard)")
    assert "uniqueness 0.69, diversity 94.8 %" in section[0]  # the paper's MNIST10K numbers as the reference


def test_gpu_section_tables_the_check_and_the_profile(tmp_path):
    from idc.report.sections import gpu_section

    gpu = tmp_path / results.GPU
    (gpu / "profile").mkdir(parents=True)
    (gpu / "bench.json").write_text(json.dumps({"case": "shape", "device": "GPU X", "torch": "2", "variants": {
        "fp32": {"stage1_ms_per_step": 63.25, "stage2_ms_per_step": 16.5, "cuda_max_allocated_gb": 5.4},
        "compile": {"error": "boom"}}}))
    (gpu / "mnist.json").write_text(json.dumps({"case": "mnist", "epochs": 200, "complete": False,
                                                "stage1_s_per_epoch": 1.766, "stage2_s_per_epoch": None}))
    table = "\n".join(["cudaLaunchKernel  1%  1ms  1%  1ms  1us  0us  0%  0us  0us  300",
                       "cuLaunchKernel  1%  1ms  1%  1ms  1us  0us  0%  0us  0us  60"])
    (gpu / "profile" / "profile_stage1.txt").write_text(
        f"30 steps of stage 1, epoch 2\n{table}\nSelf CPU time total: 778.275ms\nSelf CUDA time total: 66.313ms\n\n"
        f"{table}\nSelf CPU time total: 778.275ms\nSelf CUDA time total: 66.313ms\n")
    page = "\n".join(gpu_section(tmp_path))
    assert "| fp32 | 63.2 | 16.5 | 5.40 |  |" in page and "| compile | - | - | - | boom |" in page
    assert "| 200 | cut by the check's time limit | 1.77 | - | - | - |" in page
    assert "| profile_stage1 | 30 | 25.9 | 2.2 | 12 |" in page  # 778/30 ms on the host, 66/30 on the device
