"""`idc-paper`: runs what is not DONE through Hydra multiruns, then builds the tables; re-running skips."""
import pytest

from idc.cli import paper

from .conftest import idc_train_commands_in_process

pytestmark = pytest.mark.slow


def idc_paper(*args, capfd) -> str:
    """``idc-paper ARGS`` in this process; returns what it printed."""
    assert paper.main(list(args)) == 0
    return capfd.readouterr().out


def test_quick_paper_run_builds_tables_and_resumes(tmp_path, monkeypatch, capfd):
    monkeypatch.chdir(tmp_path)
    sweeps = idc_train_commands_in_process(monkeypatch, paper)  # its multiruns in this process too
    args = ["--quick", "--seeds", "2", "--datasets", "synthetic", "--methods", "kmeans", "agglomerative",
            "--launcher", "basic", "--root", str(tmp_path / "paper")]
    first = idc_paper(*args, capfd=capfd)
    root = tmp_path / "paper" / "quick"
    runs = sorted(p.parent.relative_to(root).as_posix() for p in root.rglob("DONE"))
    assert runs == ["agglomerative/synthetic/seed0", "agglomerative/synthetic/seed1",
                    "kmeans/synthetic/seed0", "kmeans/synthetic/seed1"]
    acc = (root / "tables" / "acc.md").read_text()
    rows = [line for line in acc.splitlines() if line.startswith(("| kmeans |", "| agglomerative |"))]
    assert len(rows) == 2 and all(r.endswith("(2) |") or r.endswith("(2)** |") for r in rows)
    assert sum("**" in r for r in rows) == 1 and "Reported epoch: the final epoch" in acc
    assert {p.name for p in (root / "tables").iterdir()} >= {"acc.md", "acc.tex", "acc.csv", "published.md", "runs.md"}
    stamp = (root / "kmeans/synthetic/seed0/metrics.json").stat().st_mtime_ns
    second = idc_paper(*args, capfd=capfd)
    assert "already done, skipped: kmeans on synthetic (2 seeds)" in second
    assert "idc.cli.train" not in second  # a finished row starts no multirun (no start-up to pay)
    assert (root / "kmeans/synthetic/seed0/metrics.json").stat().st_mtime_ns == stamp
    assert "dataset=synthetic schedule=quick" in first and "method=kmeans" in first
    assert len(sweeps) == 2  # one multirun per method, none on the second call


def test_named_datasets_without_files_are_reported(capsys, monkeypatch):
    import argparse

    monkeypatch.setattr(paper, "present", lambda names: [n for n in names if n != "srbct"])
    args = argparse.Namespace(datasets=["allaml", "srbct"], schedule="paper")
    assert paper.chosen_datasets(args) == ["allaml"]
    assert "skipped, files not in the data directory: srbct" in capsys.readouterr().err


def test_short_schedule_runs_its_four_tables_and_refuses_others(monkeypatch, capsys):
    monkeypatch.setattr(paper, "present", lambda names: list(names))
    assert paper.main(["--schedule", "short", "--methods", "idc", "--seeds", "3", "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "dataset=tox171,allaml,prostate,srbct schedule=short" in out and "seed=range(3)" in out
    assert "hydra.sweep.dir=outputs/paper/short" in out
    with pytest.raises(SystemExit, match="no short schedule for digits"):
        paper.main(["--schedule", "short", "--datasets", "allaml", "digits", "--dry-run"])
    assert paper.main(["--quick", "--datasets", "mnist10k", "--dry-run"]) == 0  # quick runs every paper dataset
    assert "dataset=mnist10k schedule=quick" in capsys.readouterr().out
    # an override after --datasets is an override, not a dataset named "trainer=smoke"
    assert paper.main(["--quick", "--methods", "idc", "--seeds", "1", "--dry-run", "--datasets", "mnist10k",
                       "trainer=smoke"]) == 0
    assert "trainer=smoke dataset=mnist10k schedule=quick" in capsys.readouterr().out
    # so is one after --methods (not an "invalid choice"), and a deletion or an addition after either list
    assert paper.main(["--quick", "--seeds", "1", "--dry-run", "--datasets", "mnist10k", "~logger", "--methods",
                       "idc", "trainer=smoke"]) == 0
    assert "~logger trainer=smoke dataset=mnist10k schedule=quick" in capsys.readouterr().out
    assert paper.split_overrides(["--root", "a=b", "+x=1", "++y.z=2"]) == (["--root", "a=b"], ["+x=1", "++y.z=2"])
    options = ["--schedule=quick", "--jobs=2"]  # options written with "=" stay options
    assert paper.split_overrides([*options, "x=1"]) == (options, ["x=1"])


def test_size_rule_schedule_is_the_default_schedule_with_the_rule_on(monkeypatch, capsys):
    """``--schedule size_rule``: what a user's own table gets (the default schedule, the size rule on), in a sweep
    directory of its own so that its runs never mix with the rule-less default ones."""
    from idc.cli import paper

    monkeypatch.setattr(paper, "present", lambda names: list(names))
    assert paper.main(["--schedule", "size_rule", "--datasets", "coil20", "--methods", "idc", "--seeds", "2",
                       "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "dataset=coil20 schedule=default size_rule.enabled=true" in out
    assert "hydra.sweep.dir=outputs/paper/size_rule" in out and "schedule=size_rule" not in out


def test_a_row_runs_only_the_datasets_with_seeds_not_done(tmp_path, capsys):
    """A dataset whose every seed is DONE leaves that row's multirun; a row with nothing left starts none."""
    from idc.cli import paper

    args = paper.build_parser().parse_args(["--schedule", "default", "--seeds", "2", "--root", str(tmp_path),
                                            "--methods", "kmeans", "gmm"])
    for method, dataset, seed in [("kmeans", "coil20", 0), ("kmeans", "coil20", 1), ("kmeans", "isolet", 0),
                                  ("gmm", "coil20", 0), ("gmm", "coil20", 1), ("gmm", "isolet", 0), ("gmm", "isolet", 1)]:
        run = tmp_path / "default" / method / dataset / f"seed{seed}"
        run.mkdir(parents=True)
        (run / "DONE").write_text("done\n")
    (cmd,) = paper.commands(args, ["coil20", "isolet"])  # gmm: nothing left
    assert "method=kmeans" in cmd and "dataset=isolet" in cmd  # coil20 done; isolet's seed 1 is not
    out = capsys.readouterr().out
    assert "already done, skipped: kmeans on coil20 (2 seeds)" in out and "gmm on coil20, isolet" in out
