"""The whole table as one tensor; batches are index tensors drawn from a seeded permutation.

No per-row ``__getitem__``, no per-row tensors, no worker processes: the LightningModule keeps the table on
its device and gathers each batch with one indexing operation.
"""
from __future__ import annotations

import warnings
from collections.abc import Callable, Iterator
import pytorch_lightning as pl
import torch
from torch.utils.data import DataLoader, IterableDataset

from idc.data.table import Table

# IndexBatches defines __len__ on purpose (one process, no workers), which Lightning warns about.
warnings.filterwarnings("ignore", message=".*IterableDataset.*has `__len__` defined.*")


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
        if self.shuffle:
            gen = torch.Generator().manual_seed(self.seed * 1_000_003 + self.epoch_fn())
            order = torch.randperm(self.n, generator=gen)
        else:
            order = torch.arange(self.n)
        for i in range(len(self)):
            b = self.rank + i * self.world_size
            yield order[b * self.batch_size : (b + 1) * self.batch_size]


class TableDataModule(pl.LightningDataModule):
    """Serves index batches over an in-memory :class:`Table` (``table.X`` is the tensor the module indexes).

    Training batches follow the official code: ``min(N, batch_size)`` rows, shuffled, last partial batch
    dropped. Evaluation walks the whole table in chunks of ``eval_batch_size``.
    """

    def __init__(self, table: Table, batch_size: int, seed: int = 0, eval_batch_size: int = 4096):
        super().__init__()
        self.table = table
        self.batch_size = min(int(batch_size), table.n_samples)
        self.seed = seed
        self.eval_batch_size = eval_batch_size
        self.X = torch.from_numpy(table.X)

    @property
    def steps_per_epoch(self) -> int:
        return self.table.n_samples // self.batch_size

    def _loader(self, dataset: IndexBatches) -> DataLoader:
        return DataLoader(dataset, batch_size=None, num_workers=0)

    def train_dataloader(self) -> DataLoader:
        trainer = self.trainer
        return self._loader(
            IndexBatches(
                self.table.n_samples,
                self.batch_size,
                shuffle=True,
                drop_last=True,
                seed=self.seed,
                epoch_fn=(lambda: trainer.current_epoch) if trainer is not None else (lambda: 0),
                rank=trainer.global_rank if trainer is not None else 0,
                world_size=trainer.world_size if trainer is not None else 1,
            )
        )

    def val_dataloader(self) -> DataLoader:
        return self._loader(IndexBatches(self.table.n_samples, self.eval_batch_size, False, False))
