"""What every reader shares: failures turned into advice, numeric checks, column selection, unique names, label
codes and checks."""
from __future__ import annotations

import functools
import inspect
import zipfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from idc.data.table import DataError
from idc.schema import did_you_mean

#: what numpy raises on a truncated, empty or foreign .npy/.npz
UNREADABLE = (ValueError, EOFError, OSError, zipfile.BadZipFile)
R = TypeVar("R", bound=Callable[..., Any])


def reader(read: R) -> R:
    """``read(path, ...)`` with any exception other than a :class:`DataError` (and ``MemoryError``) turned
    into one that names the file and what to do; a call with wrong arguments stays a ``TypeError``."""
    signature = inspect.signature(read)

    @functools.wraps(read)
    def wrapped(path: Path, *args: Any, **kwargs: Any) -> Any:
        signature.bind(path, *args, **kwargs)
        try:
            return read(path, *args, **kwargs)
        except (DataError, MemoryError):
            raise
        except Exception as err:  # noqa: BLE001 - the one place that turns a reader's failure into advice
            raise DataError(
                f"{path}: cannot read this {Path(path).suffix or 'suffix-less'} file ({type(err).__name__}: "
                f"{one_line(err)}). It may be truncated, or a variant of the format idc does not know: check that "
                "it opens in the program that wrote it, and if it does, save it again as .csv, .npz or .h5ad"
            ) from err

    return wrapped  # type: ignore[return-value]


def one_line(err: BaseException) -> str:
    """An exception's message on one line, at most 300 characters."""
    return " ".join(str(err).split())[:300]


def numeric(values: np.ndarray, path: Path, what: str = "X") -> np.ndarray:
    """``values`` as numbers (integers and floats kept as they are), or an error naming the file and the dtype."""
    if values.dtype.kind in "biuf":
        return values
    if values.dtype.kind == "c":
        raise DataError(f"{path}: {what} holds complex numbers; store real features (e.g. magnitudes)")
    try:
        return values.astype(np.float64)
    except (TypeError, ValueError) as err:
        raise DataError(f"{path}: {what} is not numeric (dtype {values.dtype}): {err}") from None


def select(names: list[str], wanted: Sequence[str | int], path: Path, what: str) -> list[int]:
    """The indices of ``wanted`` columns, given by name or by (negative) index, or an error naming the one not found."""
    index = []
    for w in wanted:
        if isinstance(w, int):
            if not -len(names) <= w < len(names):
                raise DataError(f"{path}: {what} {w} is out of range for {len(names)} columns")
            index.append(w % len(names))
        elif w in names:
            index.append(names.index(w))
        else:
            raise DataError(f"{path}: {what} {w!r} not found{did_you_mean(str(w), names)}; columns are "
                            f"{listing(names)}")
    return index


def listing(names: Sequence[str], shown: int = 20) -> str:
    """The first ``shown`` of ``names``, and how many there are in all when there are more."""
    return f"{list(names[:shown])}{f' ... ({len(names)} in all)' if len(names) > shown else ''}"


def check_labels(y: np.ndarray | None, where: object, what: str, fix: str) -> None:
    """Labels are classes: numbers with a fraction (a feature taken for the labels) are an error that says ``fix``
    (the option to set); integer-valued floats (``1.0``) and text are labels."""
    if y is None or y.dtype.kind != "f":
        return
    fractional = y[np.isfinite(y) & (y % 1 != 0)]
    if len(fractional):
        raise DataError(
            f"{where}: {what} holds {len(np.unique(fractional))} distinct non-integer values (e.g. {fractional[0]:g}), "
            f"so it looks like a feature, not labels; {fix}")


def unique_names(names: Sequence[str], path: Path, what: str, fix: str = "give every column its own name") -> None:
    """Feature names must be unique: explanations name features. An error lists the repeated ones."""
    import collections

    repeated = [n for n, c in collections.Counter(str(n) for n in names).items() if c > 1 and n]
    if repeated:
        raise DataError(f"{path}: duplicate {what}: {repeated[:5]}{' ...' if len(repeated) > 5 else ''}; {fix} "
                        "(explanations name features, so two must not share a name)")


def categories(categories: Any, codes: Any, where: object) -> np.ndarray:
    """Labels from category codes; a negative code (-1: missing) is an error, not the last category."""
    codes = np.asarray(codes, dtype=np.int64)
    if (codes < 0).any() or (codes >= len(categories)).any():
        bad = int(((codes < 0) | (codes >= len(categories))).sum())
        raise DataError(f"{where}: {bad} label code(s) are missing (-1) or out of range; fill or drop those rows")
    return np.asarray(categories)[codes]
