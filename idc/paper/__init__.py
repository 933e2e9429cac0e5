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
    entry = published().get(table, {})
    cell = entry.get("rows", {}).get(method, {}).get(dataset)
    if isinstance(cell, dict):  # several metrics per cell
        cell = cell.get(metric)
    elif metric != entry.get("metric"):  # a bare value or [mean, std] is the table's one metric
        return None
    if cell is None:
        return None
    if isinstance(cell, (int, float)):
        return {"mean": float(cell), "std": None}
    return {"mean": float(cell[0]), "std": None if cell[1] is None else float(cell[1])}
