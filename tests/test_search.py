"""The Optuna search: trials are ordinary run directories, the study resumes, failures do not stop it."""
import pytest

optuna = pytest.importorskip("optuna")

from idc.search import run_search, score  # noqa: E402


def test_search_runs_resumes_and_scores_without_labels(tmp_path):
    storage = tmp_path / "study.db"
    args = ["hparams_search=idc_silhouette", "trainer=smoke", "logger=none", "eval.enabled=false",
            f"hparams_search.storage={storage}", "hparams_search.n_trials=2"]
    study = run_search(args)
    assert len(study.trials) == 2 and all(t.state.name == "COMPLETE" for t in study.trials)
    for t in study.trials:
        run = tmp_path / f"trial{t.number}"
        assert (run / "DONE").is_file() and t.user_attrs["run_dir"] == str(run)
        assert t.value == pytest.approx(score(run, "silhouette"))
    # same command with more trials: the two finished ones are kept, only the third runs
    study = run_search([*args[:-1], "hparams_search.n_trials=3"])
    assert [t.number for t in study.trials] == [0, 1, 2]


def test_a_failing_trial_is_recorded_and_the_search_goes_on(tmp_path):
    args = ["hparams_search=idc_acc", "trainer=smoke", "logger=none", "eval.enabled=false",
            f"hparams_search.storage={tmp_path / 'study.db'}", "hparams_search.n_trials=2",
            "model.lr.pretrain=oops"]  # every trial fails inside training
    study = run_search(args)
    assert [t.state.name for t in study.trials] == ["FAIL", "FAIL"]
