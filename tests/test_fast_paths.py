"""The fast paths compute what the reference paths compute: same losses and gradients on small cases."""
import numpy as np
import torch
from omegaconf import open_dict

from idc import losses
from idc.data import Table, TableDataModule
from idc.train import build_module


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
    """One gated stage-1 step: resident table + small-side log-det vs per-row rows + D x D log-det."""
    X = torch.rand(8, 12, generator=torch.Generator().manual_seed(1))
    results = []
    for small, per_row in ((True, False), (False, True)):
        cfg = cfg_factory(f"gates.gtcr_small_side={str(small).lower()}")
        torch.manual_seed(0)
        module = build_module(cfg, n_features=12, n_clusters=3).double()
        module.attach_table(X.double())
        captured = {}
        module.manual_backward = lambda loss: (captured.setdefault("loss", loss.item()), loss.backward())
        module.optimizers = lambda: [_NoStep(), _NoStep(), _NoStep()]
        module.lr_schedulers = lambda: [_NoStep(), _NoStep()]
        module._log_epoch = lambda *a, **k: None
        # gates on at epoch 2 (T0 = 1 in the smoke schedule); a subclass, so IDCModule itself is untouched
        module.__class__ = type("AtEpoch2", (type(module),), {"current_epoch": property(lambda self: 2)})
        idx = torch.arange(8)
        torch.manual_seed(7)  # same gate noise, mask and latent noise on both paths
        module.training_step((idx, X.double()) if per_row else idx, 0)
        results.append((captured["loss"], {n: p.grad.clone() for n, p in module.named_parameters() if p.grad is not None}))
    (loss_a, grads_a), (loss_b, grads_b) = results
    assert abs(loss_a - loss_b) < 1e-10
    assert grads_a.keys() == grads_b.keys() and len(grads_a) > 4
    for name in grads_a:
        torch.testing.assert_close(grads_a[name], grads_b[name], rtol=1e-7, atol=1e-10)


class _NoStep:
    def step(self):
        pass

    def zero_grad(self, set_to_none=True):
        pass
