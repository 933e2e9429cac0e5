"""Where tables come from: generators, readers, preprocessing and the in-memory DataModule."""
from idc.data.datamodule import IndexBatches, TableDataModule, load_table
from idc.data.table import Table

__all__ = ["IndexBatches", "Table", "TableDataModule", "load_table"]
