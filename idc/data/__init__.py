"""Where tables come from: generators, readers, preprocessing and the in-memory DataModule.

``load_table`` (scikit-learn's imputers) and the DataModule (Lightning) are imported on first use, so that the
commands that only read or list tables (``idc-data``, ``idc-paper``, ``idc-results``) start without them."""
from typing import Any

from idc.data.table import DataError, Table

__all__ = ["DataError", "IndexBatches", "Table", "TableDataModule", "load_table"]
#: name -> the submodule that defines it, imported when the name is first asked for
_LAZY = {"IndexBatches": "datamodule", "TableDataModule": "datamodule", "load_table": "loading"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(f"idc.data.{_LAZY[name]}"), name)
    raise AttributeError(f"module 'idc.data' has no attribute {name!r}")
