"""Where tables come from: generators, readers, preprocessing and the in-memory DataModule.

The DataModule (Lightning) is imported on first use, so that the commands that only read or list tables
(``idc-data``, ``idc-paper``, ``idc-results``) start without importing Lightning."""
from typing import Any

from idc.data.loading import load_table
from idc.data.table import DataError, Table

__all__ = ["DataError", "IndexBatches", "Table", "TableDataModule", "load_table"]
_LAZY = {"IndexBatches", "TableDataModule"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        from idc.data import datamodule

        return getattr(datamodule, name)
    raise AttributeError(f"module 'idc.data' has no attribute {name!r}")
