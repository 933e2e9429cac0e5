"""The Optuna search: trials are ordinary run directories, the study resumes, failures do not stop it."""
import pytest

optuna = pytest.importorskip("optuna")

from idc.search import run_search, score  # noqa: E402


def test_search_runs_resumes_and_scores_without_labels(tmp_path, caplog):
    caplog.set_level("INFO", logger="idc")  # as idc-search sets it: the trials' progress lines
    storage = tmp_path / "study.db"
    args = ["hparams_search=idc_silhouette", "schedule=smoke", "logger=none", "eval.enabled=false",
            f"hparams_search.storage={storage}", "hparams_search.n_trials=2"]
    study = run_search(args)
    assert len(study.trials) == 2 and all(t.state.name == "COMPLETE" for t in study.trials)
    for t in study.trials:
        run = tmp_path / f"trial{t.number}"
        assert (run / "DONE").is_file() and t.user_attrs["run_dir"] == str(run)
        assert t.value == pytest.approx(score(run, "silhouette"))
        assert "epoch 8/8" in (run / "train.log").read_text()  # an ordinary run directory: its log too
    # same command with more trials: the two finished ones are kept, only the third runs
    study = run_search([*args[:-1], "hparams_search.n_trials=3"])
    assert [t.number for t in study.trials] == [0, 1, 2]


def test_a_failing_trial_is_recorded_and_the_search_goes_on(tmp_path):
    args = ["hparams_search=idc_acc", "schedule=smoke", "logger=none", "eval.enabled=false",
            f"hparams_search.storage={tmp_path / 'study.db'}", "hparams_search.n_trials=2",
            "model.lr.pretrain=-1"]  # valid to the schema, refused by the optimizer: every trial fails in training
    study = run_search(args)
    assert [t.state.name for t in study.trials] == ["FAIL", "FAIL"]


def test_a_resumed_search_tries_new_settings_and_keeps_its_configuration(tmp_path):
    storage = tmp_path / "study.db"  # K-means trials (scored by ACC; no embedding to score without labels): how a
    # study resumes does not depend on the method
    args = ["hparams_search=idc_acc", "method=kmeans", "logger=none", f"hparams_search.storage={storage}"]
    run_search([*args, "hparams_search.n_trials=2"])
    study = run_search([*args, "hparams_search.n_trials=4"])
    params = [t.params for t in study.trials]
    assert len(params) == 4 and params[2] not in params[:2] and params[3] not in params[:2]  # no replay
    with pytest.raises(SystemExit, match="hparams_search.study_name"):  # another configuration, same study name
        run_search([*args, "hparams_search.n_trials=5", "model.bottleneck=4"])


def test_a_killed_trial_runs_again_with_its_settings_in_its_directory(tmp_path):
    import time

    storage = tmp_path / "study.db"
    args = ["hparams_search=idc_acc", "method=kmeans", "logger=none", f"hparams_search.storage={storage}",
            "hparams_search.heartbeat_seconds=1", "hparams_search.n_trials=1"]  # K-means trials, as above
    run_search(args)  # records the study and its overrides
    rdb = optuna.storages.RDBStorage(f"sqlite:///{storage}", heartbeat_interval=1, grace_period=2)
    study = optuna.load_study(study_name="synthetic_acc", storage=rdb)
    killed = study.ask({"gates.reg_lambda": optuna.distributions.FloatDistribution(0.1, 10.0, log=True)})
    killed.set_user_attr("run_dir", str(tmp_path / "trial1"))  # as the objective does before training
    rdb.record_heartbeat(killed._trial_id)  # then silence, as when the process is killed mid-trial
    time.sleep(3.5)  # past the 2 s grace period (the database keeps whole seconds)
    study = run_search([*args[:-1], "hparams_search.n_trials=2"])
    states = [t.state.name for t in study.trials]
    assert states == ["COMPLETE", "FAIL", "COMPLETE"]
    retry = study.trials[2]
    assert retry.params["gates.reg_lambda"] == killed.params["gates.reg_lambda"]
    assert retry.user_attrs["run_dir"] == str(tmp_path / "trial1")
