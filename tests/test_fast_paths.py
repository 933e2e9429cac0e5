"""The fast paths compute what the reference paths compute: same losses and gradients on small cases."""
import numpy as np
import torch

from idc import losses
from idc.data import Table, TableDataModule
from idc.fit import build_module


def test_small_side_coding_rate_has_the_same_value_and_gradient_as_the_full_one():
    gen = torch.Generator().manual_seed(0)
    base = torch.rand(6, 30, generator=gen, dtype=torch.float64)
    grads, values = [], []
    for small in (True, False):
        z = base.clone().requires_grad_(True)
        value = losses.gates_coding_rate_loss(z, eps=1.0, small_side=small)
        value.backward()
        values.append(value.item())
        grads.append(z.grad)
    assert abs(values[0] - values[1]) < 1e-10
    torch.testing.assert_close(grads[0], grads[1], rtol=1e-8, atol=1e-10)


def test_index_batches_and_per_row_loading_give_the_same_batches():
    X = np.random.default_rng(0).random((50, 4)).astype(np.float32)
    fast = TableDataModule(Table(X, n_clusters=2), batch_size=16, seed=3)
    slow = TableDataModule(Table(X, n_clusters=2), batch_size=16, seed=3, per_row=True)
    fast_batches, slow_batches = list(fast.train_dataloader()), list(slow.train_dataloader())
    assert len(fast_batches) == len(slow_batches) == 3
    for idx, (ridx, rows) in zip(fast_batches, slow_batches):
        torch.testing.assert_close(idx, ridx)
        torch.testing.assert_close(fast.X[idx], rows)


def test_stage1_step_loss_and_gradients_match_between_the_paths(cfg_factory):
    """One gated stage-1 step: rows gathered from the resident table + small-side log-det vs per-row rows
    collated by a DataLoader + D x D log-det."""
    X = np.random.default_rng(1).random((8, 12)).astype(np.float32)
    fast = TableDataModule(Table(X, n_clusters=3), batch_size=8, seed=0)
    slow = TableDataModule(Table(X, n_clusters=3), batch_size=8, seed=0, per_row=True)
    results = []
    for small, datamodule in ((True, fast), (False, slow)):
        cfg = cfg_factory(f"gates.gtcr_small_side={str(small).lower()}")
        torch.manual_seed(0)
        module = build_module(cfg, n_features=12, n_clusters=3).double()
        idx, rows = datamodule.on_after_batch_transfer(next(iter(datamodule.train_dataloader())), 0)
        torch.manual_seed(7)  # same gate noise, mask and latent noise on both paths
        terms = module.stage1_losses(rows.double(), epoch=2)  # gates on at epoch 2 (smoke: epochs 0-1 ungated)
        assert "gtcr" in terms
        loss = terms["loss"]
        loss.backward()
        results.append((idx, loss.item(), {n: p.grad.clone() for n, p in module.named_parameters() if p.grad is not None}))
    (idx_a, loss_a, grads_a), (idx_b, loss_b, grads_b) = results
    torch.testing.assert_close(idx_a, idx_b)
    assert abs(loss_a - loss_b) < 1e-10
    assert grads_a.keys() == grads_b.keys() and len(grads_a) > 4
    for name in grads_a:
        torch.testing.assert_close(grads_a[name], grads_b[name], rtol=1e-7, atol=1e-10)


def test_fused_optimizers_make_the_same_updates_as_torchs_default_ones(cfg_factory):
    """Every optimizer of a module, fused (the default) or not: the same parameters after a few steps on the same
    gradients, up to float rounding."""
    from types import SimpleNamespace

    after = []
    for fused, aux in ((True, "adam"), (False, "adam"), (True, "sgd"), (False, "sgd")):
        torch.manual_seed(0)
        cfg = cfg_factory(f"model.fused_optimizers={str(fused).lower()}", f"head.global_gates.optimizer={aux}")
        module = build_module(cfg, n_features=12, n_clusters=3)
        module._trainer = SimpleNamespace(estimated_stepping_batches=8, max_epochs=8)
        optimizers = module.configure_optimizers()[0]
        assert len(optimizers) == 3 and all(o.defaults["fused"] is (fused or None) for o in optimizers)
        gen = torch.Generator().manual_seed(1)
        for _ in range(5):
            for p in module.parameters():
                p.grad = torch.randn(p.shape, generator=gen)
            for o in optimizers:
                o.step()
        after.append({n: p.detach().clone() for n, p in module.named_parameters()})
    for fused, unfused in (after[:2], after[2:]):
        assert fused.keys() == unfused.keys()
        for name in fused:
            torch.testing.assert_close(fused[name], unfused[name], rtol=1e-5, atol=1e-6)
