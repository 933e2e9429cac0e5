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
    "dataset=digits", "dataset=digts",  # a group's choice: Hydra lists the options
    "experiment=foo", "tuning=x", "hydra/launcher=joblib", "model@x=idc",  # config groups, packages
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
