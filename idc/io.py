"""Atomic file writes: a crash or a kill never leaves half a file, nor destroys the previous one."""
from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np


@contextmanager
def replacing(path: Path) -> Iterator[Path]:
    """A temporary path beside ``path`` to write to; it becomes ``path`` only when the block ends without an
    error."""
    tmp = path.with_name(path.name + ".tmp")
    try:
        yield tmp
        tmp.replace(path)
    finally:
        tmp.unlink(missing_ok=True)


def write_text(path: Path, text: str) -> None:
    with replacing(path) as tmp:
        tmp.write_text(text)


def strict(value: Any) -> Any:
    """``value`` for strict JSON: NaN and infinities become ``null`` (strict JSON)."""
    if isinstance(value, float) and not np.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: strict(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [strict(v) for v in value]
    return value


def write_json(path: Path, payload: dict[str, Any]) -> None:
    """Write ``payload`` as indented strict JSON (undefined numbers, NaN, are written as ``null``), atomically."""
    write_text(path, json.dumps(strict(payload), indent=2, sort_keys=True, allow_nan=False) + "\n")
