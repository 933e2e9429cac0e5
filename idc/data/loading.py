"""A dataset config (``configs/dataset/*.yaml``) to a ready table: its ``load`` target, then preprocessing."""
from __future__ import annotations

from typing import Any

from idc.config import instantiate
from idc.data.preprocess import Fitted, preprocess
from idc.data.table import Table


def load_table(dataset_cfg: Any, fitted: Fitted | None = None) -> Table:
    """Call ``dataset_cfg.load`` (a Hydra ``_target_`` returning a :class:`Table`) and apply the config's
    preprocessing keys: ``n_clusters``, ``impute``, ``log1p``, ``drop_constant``,
    ``top_k_variance``, ``scaler``, ``rows``; with ``fitted``, a trained model's columns and scaling instead."""
    table = instantiate(dataset_cfg.load, _convert_="all")
    get = dataset_cfg.get
    return preprocess(
        table,
        scaler=get("scaler", "none"),
        log1p_=bool(get("log1p", False)),
        drop_constant_=bool(get("drop_constant", False)),
        top_k=get("top_k_variance"),
        impute=get("impute"),
        rows=get("rows"),
        n_clusters=get("n_clusters"),
        fitted=fitted,
    )
