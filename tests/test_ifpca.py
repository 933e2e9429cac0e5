"""IF-PCA (Jin & Wang 2016): KS screening with a higher-criticism threshold keeps the informative features."""
import numpy as np

from idc.baselines.ifpca import IFPCA, higher_criticism_count, ks_pvalues


def signal_table(seed: int = 0, n: int = 300, signal: int = 5, noise: int = 200):
    """Two classes of ``n/2`` rows: the first ``signal`` columns shifted by +-3 between them, the rest N(0, 1)."""
    rng = np.random.default_rng(seed)
    y = np.repeat([0, 1], n // 2)
    X = rng.standard_normal((n, signal + noise))
    X[:, :signal] += np.where(y == 0, -3.0, 3.0)[:, None]
    return X, y


def test_keeps_the_signal_columns_and_clusters_on_them():
    X, y = signal_table()
    model = IFPCA(n_clusters=2, random_state=0).fit(X)
    assert set(range(5)) <= set(model.selected_.tolist())  # every informative column is kept
    assert len(model.selected_) <= 10  # and few noise columns pass the threshold
    agree = (model.labels_ == y).mean()
    assert max(agree, 1 - agree) > 0.95


def test_ks_scores_rank_bimodal_columns_first_and_constant_columns_last():
    X, _ = signal_table(seed=1)
    X = np.column_stack([X, np.full(len(X), 3.0)])
    statistic, pvalue = ks_pvalues(X)
    assert set(np.argsort(pvalue)[:5].tolist()) == set(range(5))
    assert statistic[-1] == 0.0 and pvalue[-1] == 1.0


def test_higher_criticism_keeps_the_small_pvalues_of_a_sparse_signal():
    rng = np.random.default_rng(2)
    pvalues = np.concatenate([np.full(8, 1e-9), rng.uniform(size=992)])  # 8 signals among 1000 nulls
    assert 8 <= higher_criticism_count(pvalues, n_samples=100) <= 12


def test_ifpca_runs_as_a_model_choice(cfg_factory, tmp_path):
    from idc.run_dir import read_predictions
    from idc.train import train

    metrics = train(cfg_factory("method=ifpca"))
    gates = read_predictions(tmp_path / "predictions.h5")["global_gates"][0]
    assert metrics["acc"] > 0.5 and 1 <= gates.sum() <= 13  # the kept features are the gates that are open
