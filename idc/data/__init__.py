"""Where tables come from: generators, readers, preprocessing and the in-memory DataModule."""
from idc.data.datamodule import IndexBatches, TableDataModule
from idc.data.loading import load_table
from idc.data.table import DataError, Table

__all__ = ["DataError", "IndexBatches", "Table", "TableDataModule", "load_table"]
