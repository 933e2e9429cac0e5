"""A misspelt key in an override (``idc-train model.botleneck=3``): the schema's "did you mean" and exit status 2,
not Hydra's advice to append it with ``+model.botleneck=3`` (which validation then refuses); valid overrides and
``+new.key`` work as before (idc/cli/overrides.py)."""
import subprocess
import sys

import pytest

from idc.cli.overrides import unknown_key

from .conftest import run_cli

DID_YOU_MEAN = "model.botleneck: unknown key (did you mean 'bottleneck'?); model has: hidden, bottleneck"


def test_a_misspelt_dotted_key_gets_did_you_mean_and_exit_2(tmp_path):
    proc = run_cli("dataset=synthetic", "model.botleneck=3", cwd=tmp_path, check=False)
    assert proc.returncode == 2
    assert f"idc-train: {DID_YOU_MEAN}" in proc.stderr
    assert "+model.botleneck" not in proc.stderr + proc.stdout and "not in struct" not in proc.stderr
    assert not (tmp_path / "outputs").exists()  # refused before Hydra made a run directory


def test_the_entry_point_in_a_process_of_its_own(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "idc.cli.train", "model.lr.pretrian=1", "--cfg", "job"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.startswith("idc-train: model.lr.pretrian: unknown key (did you mean 'pretrain'?); "
                                  "model.lr has: pretrain, clustering, aux_classifier")
    assert "To append" not in proc.stderr and "HYDRA_FULL_ERROR" not in proc.stderr


def test_valid_overrides_compose_as_before(tmp_path):
    proc = run_cli("dataset=synthetic", "model.bottleneck=5", "seed=3", "--cfg", "job", cwd=tmp_path, check=False)
    assert proc.returncode == 0, proc.stderr
    assert "bottleneck: 5" in proc.stdout and "seed: 3" in proc.stdout


def test_appending_with_plus_is_unchanged(tmp_path):
    proc = run_cli("+new.key=1", "--cfg", "job", cwd=tmp_path, check=False)
    assert proc.returncode == 0, proc.stderr
    assert "new:\n  key: 1" in proc.stdout
    # `+` on a key the schema lacks: Hydra appends it, as before (validation refuses it when the job runs)
    assert run_cli("+model.botleneck=3", "--cfg", "job", cwd=tmp_path, check=False).returncode == 0


@pytest.mark.parametrize("overrides, expected", [
    (["sed=1"], "sed: unknown key (did you mean 'seed'?); the root config has: task_name, seed"),
    (["datset=digits"], "datset: unknown key (did you mean 'dataset'?)"),
    (["-m", "seed=0,1", "model.botleneck=1,2"], DID_YOU_MEAN),  # a sweep's key too
    (["model.lr.pretrian=1"], "model.lr.pretrian: unknown key (did you mean 'pretrain'?)"),
    (["model.lrr.pretrain=1"], "model.lrr: unknown key (did you mean 'lr'?)"),
])
def test_what_is_refused(overrides, expected):
    message = unknown_key([o for o in overrides if not o.startswith("-")])
    assert message is not None and message.startswith(expected)


@pytest.mark.parametrize("override", [
    "dataset=digits", "dataset=digits,synthetic", "schedule=quick.yaml", "experiment=null",  # existing options
    "hydra/launcher=joblib", "hydra=x", "model@x=idc", "dataset=${oc.env:X}", "dataset=glob(*)",  # Hydra's to check
    "+model.botleneck=3", "++model.botleneck=3", "~model.botleneck", "+sed=1",  # append, force, delete: Hydra's
    "trainer.max_epoch=3", "logger.x=1", "hydra.run.dir=x",  # open groups: their libraries check them
    "hparams_search.params.lr=1", "model.tasks.0=clean",  # a free mapping, a list
    "model.bottleneck=3", "model.lr.pretrain=1e-3", "seed=1,2",  # valid
    "model.bottleneck=[", "=1",  # a syntax error: Hydra's to report
])
def test_what_is_left_to_hydra_or_passes(override):
    assert unknown_key([override]) is None


def test_a_root_typo_is_left_to_hydra_with_other_config_dirs():
    assert unknown_key(["sed=1"], root_check=False) is None
    assert unknown_key(["schedule=quik"], root_check=False) is None  # another config dir may hold the option
    assert unknown_key(["model.botleneck=3"], root_check=False) is not None


def test_idc_search_and_idc_paper_refuse_it_before_composing(capsys):
    from idc.cli import paper, search

    for main, args in ((search.main, ["hparams_search=idc_silhouette", "model.botleneck=3"]),
                       (paper.main, ["--quick", "--seeds", "1", "--datasets", "synthetic", "--dry-run",
                                     "model.botleneck=3"])):
        with pytest.raises(SystemExit) as stop:
            main(args)
        assert stop.value.code == 2
        err = capsys.readouterr().err
        assert DID_YOU_MEAN in err and "+model.botleneck" not in err


def test_idc_data_and_idc_eval_refuse_it_too(tmp_path, capsys):
    from idc.cli import data, eval as eval_

    for main, args in ((data.main, ["dataset=digits", "dataset.pth=x.csv"]),
                       (eval_.main, [str(tmp_path), "dataset.pth=x.csv"])):
        with pytest.raises(SystemExit) as stop:
            main(args)
        assert stop.value.code == 2
        assert "dataset.pth: unknown key (did you mean 'path'?)" in capsys.readouterr().err


@pytest.mark.parametrize("overrides, expected", [
    (["schedule=quik"], "schedule=quik: no such option (did you mean 'quick'?); schedule has: default, paper, quick,"),
    (["dataset=tabel"], "dataset=tabel: no such option (did you mean 'table'?); dataset has: allaml, "),
    (["-m", "dataset=digits,digts"], "dataset=digts: no such option (did you mean 'digits'?)"),  # a sweep's option
    (["dataset=[digits,tabel]"], "dataset=tabel: no such option"),
    (["tuning=hdlss_quik"], "tuning=hdlss_quik: no such option (did you mean 'hdlss_quick'?)"),  # Hydra: none taken
    (["experiment=foo"], "experiment=foo: no such option; experiment has: digits"),
    (["schedule="], "schedule=: no such option; schedule has: "),
])
def test_a_misspelt_option_of_a_group_is_refused(overrides, expected):
    message = unknown_key([o for o in overrides if not o.startswith("-")])
    assert message is not None and message.startswith(expected), message


def test_every_option_of_every_group_is_accepted():
    """Each YAML file of each group of configs/ (nested ones as ``sub/name``), and ``null``, passes the check."""
    from idc.config import config_dir

    groups = [d for d in config_dir().iterdir() if d.is_dir()]
    assert {"dataset", "schedule", "experiment", "tuning", "method"} <= {d.name for d in groups}
    checked = 0
    for folder in groups:
        for path in folder.rglob("*.yaml"):
            option = path.relative_to(folder).with_suffix("").as_posix()
            for override in (f"{folder.name}={option}", f"{folder.name}={option}.yaml"):
                assert unknown_key([override]) is None, override
                checked += 1
        assert unknown_key([f"{folder.name}=null"]) is None
    assert checked > 2 * 50


def test_nested_options_are_found(tmp_path, monkeypatch):
    import idc.config

    (tmp_path / "experiment" / "paper").mkdir(parents=True)
    (tmp_path / "experiment" / "paper" / "tox171.yaml").write_text("# @package _global_\n")
    (tmp_path / "experiment" / "digits.yaml").write_text("# @package _global_\n")
    monkeypatch.setattr(idc.config, "config_dir", lambda: tmp_path)
    assert unknown_key(["experiment=paper/tox171"]) is None and unknown_key(["experiment=digits"]) is None
    assert unknown_key(["experiment=paper/tox17"]) == (
        "experiment=paper/tox17: no such option (did you mean 'paper/tox171'?); experiment has: digits, paper/tox171")


@pytest.mark.parametrize("args", [["schedule=quik"], ["-m", "dataset=digits,tabel"]])
def test_idc_train_refuses_a_misspelt_option_with_exit_2(tmp_path, args):
    proc = run_cli(*args, "--cfg", "job", cwd=tmp_path, check=False)
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.startswith("idc-train: ") and "no such option (did you mean" in proc.stderr
    assert "Could not find" not in proc.stderr and "Config search path" not in proc.stderr
    assert not (tmp_path / "outputs").exists()


def test_every_command_that_checks_refuses_a_misspelt_option(tmp_path, capsys):
    from idc.cli import data, eval as eval_, paper, search

    for main, args in ((data.main, ["dataset=tabel"]), (eval_.main, [str(tmp_path), "dataset=tabel"]),
                       (search.main, ["hparams_search=idc_silhouete"]),
                       (paper.main, ["--quick", "--seeds", "1", "--datasets", "synthetic", "--dry-run",
                                     "schedule=quik"])):
        with pytest.raises(SystemExit) as stop:
            main(args)
        assert stop.value.code == 2
        assert ": no such option (did you mean " in capsys.readouterr().err
