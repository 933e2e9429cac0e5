"""Synthetic generator, scaling and the index-batch data path."""
import numpy as np
import pytest
import torch

from idc.data import DataError, IndexBatches, Table, TableDataModule
from idc.data.preprocess import Fitted, check_clusters, scale
from idc.data.sklearn_sets import digits
from idc.data.synthetic import INFORMATIVE, make_synthetic


def test_synthetic_matches_the_paper_description():
    t = make_synthetic()
    assert t.n_features == 13 and t.n_clusters == 4
    counts = np.bincount(t.y)
    assert len(counts) == 4 and counts.min() == counts.max() > 700  # balanced, about 800 per class
    assert t.feature_names[:3] == ["x1", "x2", "x3"]
    np.testing.assert_allclose(t.X[:, :3].mean(0), 0, atol=1e-5)  # informative columns z-scored
    assert t.X[:, 3:].std() < 0.02  # nuisance features: N(0, 0.01^2)
    assert t.informative == INFORMATIVE
    # x2 separates classes 0 and 1, which share x1; x3 separates classes 2 and 3
    x = t.X
    gap = lambda a, b, col: abs(x[t.y == a, col].mean() - x[t.y == b, col].mean())
    assert gap(0, 1, 1) > 1.0 and gap(0, 1, 0) < 0.1
    assert gap(2, 3, 2) > 0.5
    np.testing.assert_array_equal(make_synthetic(seed=0).X, t.X)  # deterministic
    assert not np.array_equal(make_synthetic(seed=1).X, t.X)


def test_digits_and_minmax_scaling():
    t = scale(digits(), "minmax")
    assert t.X.shape == (1797, 64) and t.X.dtype == np.float32
    assert t.X.min() == 0.0 and t.X.max() == 1.0 and t.n_clusters == 10
    with pytest.raises(ValueError, match="unknown scaler"):
        scale(t, "robust")


def test_tfidf_scaling_of_counts_is_sklearns_and_new_samples_get_the_same(tmp_path):
    from sklearn.feature_extraction.text import TfidfTransformer

    counts = np.random.default_rng(0).poisson(0.7, size=(30, 12)).astype(float)
    counts[:, 0] = 1.0  # a word in every document: the smallest idf
    t = scale(Table(counts, n_clusters=2), "tfidf")
    sklearn = TfidfTransformer().fit_transform(counts).toarray()  # rows of unit norm
    np.testing.assert_allclose(t.X, sklearn * np.sqrt(12), atol=1e-6)  # the same rows at a mean square of 1
    np.testing.assert_allclose((t.X ** 2).mean(axis=1), 1.0, rtol=1e-5)  # float32
    fitted = Fitted.of(t)
    fitted.save(tmp_path / "preprocessing.npz")
    again = Fitted.load(tmp_path / "preprocessing.npz").apply(Table(counts[:5], n_clusters=2))
    np.testing.assert_allclose(again.X, t.X[:5], atol=1e-6)  # new samples: the training idf and row scale
    assert Fitted.from_dict(fitted.as_dict()).unit_rows
    with pytest.raises(DataError, match="negative"):
        scale(Table(counts - 1.0, n_clusters=2), "tfidf")


def test_table_validates_its_shape():
    with pytest.raises(ValueError, match="labels"):
        Table(np.zeros((4, 2)), y=np.zeros(3))
    with pytest.raises(DataError, match="n_clusters must be given"):
        check_clusters(Table(np.random.rand(4, 2)))
    assert Table(np.zeros((4, 2)), n_clusters=2).feature_names == ["f0", "f1"]


def test_index_batches_cover_a_permutation_per_epoch():
    epoch = {"e": 0}
    ds = IndexBatches(10, 3, shuffle=True, drop_last=True, seed=5, epoch_fn=lambda: epoch["e"])
    first = list(ds)
    assert len(first) == len(ds) == 3 and all(len(b) == 3 for b in first)
    seen = torch.cat(first)
    assert len(set(seen.tolist())) == 9  # no repeats within an epoch
    assert all(torch.equal(a, b) for a, b in zip(first, list(ds)))  # same (seed, epoch): same batches
    epoch["e"] = 1
    assert not all(torch.equal(a, b) for a, b in zip(first, list(ds)))


def test_index_batches_eval_order_and_ddp_shards():
    chunks = list(IndexBatches(10, 4, shuffle=False, drop_last=False))
    assert torch.equal(torch.cat(chunks), torch.arange(10))
    shards = [list(IndexBatches(40, 5, True, True, seed=1, rank=r, world_size=3)) for r in range(3)]
    assert [len(s) for s in shards] == [2, 2, 2]  # equal counts on every rank
    flat = torch.cat([torch.cat(s) for s in shards]).tolist()
    assert len(flat) == len(set(flat))  # disjoint across ranks


def test_datamodule_batch_size_is_capped_at_n():
    dm = TableDataModule(Table(np.random.rand(50, 3), n_clusters=2), batch_size=800)
    assert dm.batch_size == 50 and len(dm.train_dataloader()) == 1
    assert dm.X.shape == (50, 3) and dm.X.dtype == torch.float32
