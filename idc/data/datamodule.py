"""The whole table as one tensor; batches are index tensors drawn from a seeded permutation.

No per-row ``__getitem__``, no per-row tensors, no worker processes: the DataModule keeps the table on the
training device and gathers each batch with one indexing operation once its indices got there.
"""
from __future__ import annotations

import warnings
from collections.abc import Callable, Iterator
import numpy as np
import pytorch_lightning as pl
import torch
from torch.utils.data import DataLoader, Dataset, IterableDataset, Sampler

from idc.data.table import DataError, Table, check_count

# IndexBatches defines __len__ on purpose (one process, no workers), which Lightning warns about.
warnings.filterwarnings("ignore", message=".*IterableDataset.*has `__len__` defined.*")


def epoch_order(n: int, shuffle: bool, seed: int, epoch: int) -> torch.Tensor:
    """The sample order of one epoch: a permutation seeded by ``(seed, epoch)``, or ``0..n-1``."""
    if not shuffle:
        return torch.arange(n)
    return torch.randperm(n, generator=torch.Generator().manual_seed(seed * 1_000_003 + epoch))


class IndexBatches(IterableDataset):
    """Yields index tensors: a permutation seeded by ``(seed, epoch)`` cut into batches (or, without
    shuffling, consecutive chunks). Under DDP each rank takes every ``world_size``-th batch."""

    def __init__(
        self,
        n: int,
        batch_size: int,
        shuffle: bool,
        drop_last: bool,
        seed: int = 0,
        epoch_fn: Callable[[], int] = lambda: 0,
        rank: int = 0,
        world_size: int = 1,
    ):
        super().__init__()
        self.n, self.batch_size = n, min(batch_size, n)
        self.shuffle, self.drop_last, self.seed = shuffle, drop_last, seed
        self.epoch_fn, self.rank, self.world_size = epoch_fn, rank, world_size

    def _n_batches(self) -> int:
        return self.n // self.batch_size if self.drop_last else -(-self.n // self.batch_size)

    def __len__(self) -> int:
        # every rank takes the same number of batches, or DDP would wait forever on the longest one
        return self._n_batches() // self.world_size

    def __iter__(self) -> Iterator[torch.Tensor]:
        order = epoch_order(self.n, self.shuffle, self.seed, self.epoch_fn())
        for i in range(len(self)):
            b = self.rank + i * self.world_size
            yield order[b * self.batch_size : (b + 1) * self.batch_size]


class _Rows(Dataset):
    """The official code's data path, kept for the benchmark's reference row: one tensor per row in
    ``__getitem__``, collated by a DataLoader."""

    def __init__(self, X: np.ndarray):
        self.X = X

    def __len__(self) -> int:
        return len(self.X)

    def __getitem__(self, i: int) -> tuple[int, torch.Tensor]:
        return i, torch.tensor(self.X[i]).float()


class _EpochSampler(Sampler[int]):
    """Per-row sampling in the same order as :class:`IndexBatches` (so both paths see the same batches)."""

    def __init__(self, n: int, seed: int, epoch_fn: Callable[[], int]):
        self.n, self.seed, self.epoch_fn = n, seed, epoch_fn

    def __len__(self) -> int:
        return self.n

    def __iter__(self) -> Iterator[int]:
        return iter(epoch_order(self.n, True, self.seed, self.epoch_fn()).tolist())


class TableDataModule(pl.LightningDataModule):
    """Owns the table (``table.X`` as the tensor ``X``, resident on the training device) and serves batches of
    ``(indices, rows)``; stage 2 asks it for the whole table (:meth:`table_on`) to compute its frozen inputs.

    Training batches follow the official code: ``min(N, batch_size)`` rows, shuffled, last partial batch
    dropped. Evaluation walks the whole table in chunks of ``eval_batch_size``.
    """

    def __init__(
        self, table: Table, batch_size: int, seed: int = 0, eval_batch_size: int = 4096, per_row: bool = False
    ):
        super().__init__()
        self.table = table
        self.per_row = per_row
        check_count(table.name, "batch_size", batch_size, optional=False)
        self.batch_size = min(int(batch_size), table.n_samples)
        self.seed = seed
        self.eval_batch_size = eval_batch_size
        self.X = torch.from_numpy(table.X)
        self._resident = self.X

    def table_on(self, device: torch.device | str) -> torch.Tensor:
        """The whole table on ``device`` (copied there once)."""
        device = torch.device(device)
        here = self._resident.device
        if here.type != device.type or (device.index is not None and here.index != device.index):
            self._resident = self.X.to(device)
        return self._resident

    def on_after_batch_transfer(self, batch, dataloader_idx: int):
        """Index batches become ``(indices, rows)``, gathered from the resident table (per-row batches are so
        already)."""
        if isinstance(batch, (tuple, list)):
            return batch
        return batch, self.table_on(batch.device)[batch]

    def _loader(self, dataset: IndexBatches) -> DataLoader:
        return DataLoader(dataset, batch_size=None, num_workers=0)

    def train_dataloader(self) -> DataLoader:
        trainer = self.trainer
        epoch_fn = (lambda: trainer.current_epoch) if trainer is not None else (lambda: 0)
        if self.per_row:  # reference path (benchmarks only): batches of (indices, rows)
            sampler = _EpochSampler(self.table.n_samples, self.seed, epoch_fn)
            return DataLoader(_Rows(self.table.X), self.batch_size, sampler=sampler, drop_last=True, num_workers=0)
        batches = IndexBatches(
            self.table.n_samples,
            self.batch_size,
            shuffle=True,
            drop_last=True,
            seed=self.seed,
            epoch_fn=epoch_fn,
            rank=trainer.global_rank if trainer is not None else 0,
            world_size=trainer.world_size if trainer is not None else 1,
        )
        if len(batches) == 0:
            raise DataError(
                f"{self.table.name}: {self.table.n_samples // self.batch_size} batch(es) of {self.batch_size} rows "
                f"for {batches.world_size} devices; lower dataset.batch_size or use fewer devices"
            )
        return self._loader(batches)

    def val_dataloader(self) -> DataLoader:
        return self._loader(IndexBatches(self.table.n_samples, self.eval_batch_size, False, False))
