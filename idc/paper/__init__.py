"""The paper's published numbers (``published.yaml``), for tables that put ours next to them."""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

PUBLISHED = Path(__file__).with_name("published.yaml")


@lru_cache(maxsize=1)
def published() -> dict[str, Any]:
    """The whole file: one entry per table, each with its source, protocol and rows."""
    return yaml.safe_load(PUBLISHED.read_text())


def published_value(table: str, method: str, dataset: str, metric: str = "acc") -> dict[str, float] | None:
    """``{"mean": .., "std": ..}`` (percent) of ``method`` on ``dataset`` in ``table``, or None."""
    rows = published().get(table, {}).get("rows", {})
    cell = rows.get(method, {}).get(dataset)
    if cell is None:
        return None
    if isinstance(cell, dict) and metric in cell:
        cell = cell[metric]
    if isinstance(cell, (int, float)):
        return {"mean": float(cell), "std": None}
    return {"mean": float(cell[0]), "std": None if cell[1] is None else float(cell[1])}
