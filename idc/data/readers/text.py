"""CSV/TSV/text tables: the separator sniffed, the header decided from the cells, errors that name the line."""
from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from idc.data.readers.common import one_line, reader, select, unique_names
from idc.data.table import DataError, Table, generated_names

log = logging.getLogger(__name__)


@reader
def read_csv(
    path: Path,
    label_column: str | int | None = None,
    feature_columns: Sequence[str | int] | None = None,
    drop_columns: Sequence[str | int] = (),
    header: str | bool = "auto",
    sep: str | None = None,
    encoding: str = "utf-8",
) -> Table:
    """CSV/TSV text in ``encoding``; without ``sep`` the separator is sniffed (see :func:`_separator`).
    ``header="auto"`` (see :func:`_has_header`) is a header whenever ``label_column`` is a name.
    ``feature_columns`` indices count the file's columns; the label and dropped columns cannot be chosen. A first
    column without a name in the header holds row names, not a feature (logged; see :func:`_unnamed_first_column`).
    A file of fewer than two lines, duplicate column names, a line with extra fields and non-numeric feature
    cells are errors that name the line, column or value."""
    import pandas as pd

    lines = _first_lines(path, encoding)
    sep = sep or _separator(path, lines)
    if len(lines) < 2:  # decided here, before any parsing: a header of 200,000 names takes pandas a minute
        _too_short(path, lines, sep, header is True or isinstance(label_column, str))
    try:
        if header == "auto":
            header = isinstance(label_column, str) or _has_header(path, sep, encoding)
        if header:
            unique_names(_fields(lines[0], sep), path, "column names in the header")
        trailing = bool(header) and _trailing_separator(lines, sep)
        if trailing:
            log.info("%s: every line ends with a separator (one empty field more than the header has names); the "
                     "empty last field is not read", path.name)
        frame = pd.read_csv(path, sep=sep, header=0 if header else None, low_memory=False, encoding=encoding,
                            index_col=False if trailing else None)
    except DataError:
        raise
    except UnicodeDecodeError:
        raise _decode_error(path, encoding) from None
    except (pd.errors.ParserError, ValueError) as err:
        raise _parse_error(path, sep, err) from None
    if frame.empty:
        raise DataError(f"{path}: the file holds no rows")
    names = [str(c) for c in frame.columns] if header else generated_names(frame.shape[1])
    frame.columns = names
    unnamed = bool(header) and _unnamed_first_column(path, lines[0], sep, frame)
    labels = None
    drop = set(select(names, list(drop_columns), path, "column to drop"))
    if label_column is not None:
        (li,) = select(names, [label_column], path, "label column")
        labels = frame.iloc[:, li].to_numpy()
        drop.add(li)
    if unnamed and 0 not in drop and not feature_columns:
        _row_names_read(path, "its header cell is empty, as pandas' to_csv() and R's write.csv() write them")
        drop.add(0)
    keep = [i for i in range(len(names)) if i not in drop]
    if feature_columns:
        keep = select(names, list(feature_columns), path, "feature column")
        taken = [names[i] for i in keep if i in drop]
        if taken:
            raise DataError(f"{path}: feature_columns names the label or a dropped column: {taken}")
    features = frame.iloc[:, keep]
    bad = [j for j, dt in enumerate(features.dtypes) if not pd.api.types.is_numeric_dtype(dt)]
    if bad:
        raise _non_numeric(path, features, bad, first_line=2 if header else 1)
    return Table(features.to_numpy(dtype=np.float64), labels, [names[i] for i in keep], name=path.name)


def _unnamed_first_column(path: Path, first_line: str, sep: str, frame: Any) -> bool:
    """Whether the first column's header cell is empty (row names, as pandas' ``to_csv()`` and R's ``write.csv()``
    write them: the caller drops it). Row names under a header one name shorter than the rows (R's
    ``write.table()``) pandas has already read as the index: that is logged here."""
    import pandas as pd

    if not isinstance(frame.index, pd.RangeIndex):
        _row_names_read(path, "the header holds one name fewer than the rows, as R's write.table() writes them")
        return False
    return _fields(first_line, sep)[0] == ""


def _trailing_separator(lines: list[str], sep: str) -> bool:
    """Whether every data line ends with an empty field the header has no name for (``a,b,y`` above ``1,2,0,``):
    pandas would take the first column for row names and shift every name one column along."""
    header, data = _fields(lines[0], sep), [_fields(line, sep) for line in lines[1:]]
    return sep != r"\s+" and bool(data) and all(len(f) == len(header) + 1 and f[-1] == "" for f in data)


def _row_names_read(path: Path, why: str) -> None:
    """One INFO line: the first column is read as row names, ``why``, and how to keep it."""
    log.info("%s: first column read as row names, not a feature (%s); give it a name in the header to keep it "
             "as a feature", path.name, why)


#: cells that stand for a missing value: evidence for neither a header nor a data row
MISSING = {"", "na", "nan", "n/a", "null", "none", "-", "?"}
#: separators tried in this order when a file does not say (``dataset.sep``)
SEPARATORS = ("\t", ";", ",", "|")
#: lines read ahead to sniff the separator and tell a header-only file
SNIFF_LINES = 20


def _first_lines(path: Path, encoding: str) -> list[str]:
    """The first non-empty lines of a text file (a UTF-8 byte-order mark dropped)."""
    import codecs

    try:
        utf8 = codecs.lookup(encoding).name == "utf-8"
    except LookupError:
        raise DataError(f"{path}: unknown encoding {encoding!r}; set dataset.encoding to a Python codec name "
                        "such as utf-8, latin-1 or cp1252") from None
    lines: list[str] = []
    try:
        with open(path, encoding="utf-8-sig" if utf8 else encoding, newline="") as f:
            for line in f:
                if line.strip():
                    lines.append(line.rstrip("\r\n"))
                if len(lines) == SNIFF_LINES:
                    break
    except UnicodeDecodeError:
        raise _decode_error(path, encoding) from None
    return lines


def _decode_error(path: Path, encoding: str) -> DataError:
    """A decode error that names the first undecodable line and byte and the ``encoding`` option."""
    import codecs

    decoder = codecs.getincrementaldecoder(encoding)()
    where = ""
    with open(path, "rb") as f:
        for number, line in enumerate(f, 1):
            try:
                decoder.decode(line)
            except UnicodeDecodeError as err:
                where = f" (line {number}: byte 0x{line[err.start:err.start + 1].hex()})"
                break
    return DataError(f"{path}: not {encoding} text{where}; set dataset.encoding to the file's encoding, e.g. "
                     "dataset.encoding=latin-1 (or cp1252 for files saved by Excel on Windows)")


def _fields(line: str, sep: str) -> list[str]:
    """The cells of one line split as pandas would (quotes respected; ``\\s+``: runs of white space)."""
    import csv

    if sep == r"\s+":
        cells = line.split()
    else:  # a line without the separator is one cell (and may be longer than csv's field limit)
        cells = next(csv.reader([line], delimiter=sep)) if sep in line else [line]
    return [c.strip() for c in cells]


def _separator(path: Path, lines: list[str]) -> str:
    """Tab for ``.tsv``/``.tab``; otherwise the first of tab, ``;``, ``,``, ``|`` that splits every sampled
    line into the same number of cells (the header may hold one fewer: R's row names), of those the one that
    leaves the most cells reading as numbers (``1,5;2,5`` splits evenly at both ``,`` and ``;``), then the
    first that splits every line at all (a ragged file), else ``,`` (``.txt``: runs of spaces, as
    ``numpy.savetxt`` writes). ``csv.Sniffer`` is not used: it prefers ``,`` in ``1,5;2,5`` (decimal commas)."""
    suffix = path.suffix.lower()
    if suffix in (".tsv", ".tab"):
        return "\t"
    cells = {sep: [_fields(line, sep) for line in lines] for sep in SEPARATORS}
    counts = {sep: [len(c) for c in rows] for sep, rows in cells.items()}
    even = [s for s, n in counts.items() if n and min(n[1:] or n) > 1 and len(set(n[1:] or n)) == 1
            and n[0] in (n[-1], n[-1] - 1)]
    split = [s for s, n in counts.items() if n and min(n) > 1]

    def numbers(sep: str) -> int:  # cells below the first line that read as numbers (decimal commas too)
        return sum(sum(_numeric_cells([c.replace(",", ".") for c in row])) for row in cells[sep][1:])

    found = max(even, key=numbers) if even else (split or [None])[0]
    if found is None:
        return r"\s+" if suffix == ".txt" else ","
    if found != ",":
        log.info("%s: cells separated by %r; set dataset.sep if that is wrong", path.name, found)
    return found


def _too_short(path: Path, lines: list[str], sep: str, header: bool) -> None:
    """The error for a file of no line or one line: a header without data, or a single sample."""
    if not lines:
        raise DataError(f"{path}: the file is empty; it needs one sample per row")
    cells = _fields(lines[0], sep)
    numbers = _numeric_cells(cells)
    if header or not all(numbers):
        raise DataError(f"{path}: the file holds a header of {len(cells)} column names and no data rows; add the "
                        "samples below it, one per row")
    raise DataError(f"{path}: the file holds one row (one sample) of {len(cells)} values; clustering needs many "
                    "samples, one per row (a table with samples as columns must be transposed)")


def _numeric_cells(cells: list[str]) -> list[bool]:
    """Whether each cell reads as a number or a missing value."""
    def number(cell: str) -> bool:
        try:
            float(cell)
        except ValueError:
            return cell.lower() in MISSING
        return True

    return [number(c) for c in cells]


def _parse_error(path: Path, sep: str, err: Exception) -> DataError:
    """pandas' tokenizer error said as the line to fix."""
    import re

    ragged = re.search(r"Expected (\d+) fields in line (\d+), saw (\d+)", str(err))
    if ragged:
        expected, line, saw = ragged.groups()
        return DataError(
            f"{path}: line {line} has {saw} cells where the lines before it have {expected} (separator {sep!r}); "
            f"fix line {line} (a stray separator, text with a {sep!r} in it without quotes, or a decimal comma?), "
            "or set dataset.sep if the separator is another")
    return DataError(f"{path}: not a readable {'TSV' if sep == chr(9) else 'CSV'} file ({one_line(err)})")


def _non_numeric(path: Path, features: Any, bad: list[int], first_line: int) -> DataError:
    """The error for text in feature columns: the columns, and the first such cell by row, line and value."""
    import pandas as pd
    import re

    column = features.iloc[:, bad[0]]
    text = (pd.to_numeric(column, errors="coerce").isna() & column.notna()).to_numpy()
    row = int(np.flatnonzero(text)[0])
    value = str(column.iloc[row])
    names = [str(features.columns[j]) for j in bad]
    comma = "; numbers need a decimal point, not a comma" if re.fullmatch(r"[+-]?\d*,\d+", value.strip()) else ""
    return DataError(
        f"{path}: non-numeric values in column(s) {names[:10]}{' ...' if len(names) > 10 else ''}, the first "
        f"{value!r} in row {row} (line {row + first_line} of the file), column {names[0]!r}{comma}; drop such "
        "columns (dataset.drop_columns=[...]), name the label column (dataset.label_column=...), or fix the values")


def _has_header(path: Path, sep: str, encoding: str = "utf-8") -> bool:
    """Whether the first row names the columns, judged on the first 50 rows (missing-value cells say nothing):

    - names: a text cell above a column of numbers, or integer names (``0,1,2,...`` as pandas writes them, or
      distinct integers such as gene IDs, each above a column that holds fractions);
    - data: a number above a column of numbers (without the integer names above);
    - only where neither speaks: a text cell that never recurs below it in a column whose values do recur (a
      label column's name).

    Names and data at once are an error that asks for ``header=true|false``. A one-row file, or rows of uneven
    length (R's ``write.table``), fall back to: any text cell in the first row. The decision is logged."""
    import pandas as pd

    try:
        head = pd.read_csv(path, sep=sep, header=None, nrows=50, dtype=str, keep_default_na=False, encoding=encoding)
    except pd.errors.ParserError:
        head = pd.read_csv(path, sep=sep, header=None, nrows=1, dtype=str, keep_default_na=False, encoding=encoding)
    head = head.apply(lambda col: col.str.strip())
    first, rest = head.iloc[0], head.iloc[1:]
    missing = first.str.lower().isin(MISSING)
    number = pd.to_numeric(first, errors="coerce").notna() & ~missing
    text = ~number & ~missing
    if rest.empty:
        return _decided(path, bool(text.any()), "text in the only row" if text.any() else "no text in the only row")
    values = rest.where(~rest.apply(lambda col: col.str.lower().isin(MISSING)))
    numeric = values.apply(lambda col: pd.to_numeric(col, errors="coerce"))
    numbers_below = (numeric.notna() | values.isna()).all() & values.notna().any()
    integer = first.str.fullmatch(r"[+-]?\d+") & number
    ints = pd.to_numeric(first[integer]).astype(np.int64).tolist()
    fractions_below = [bool(((numeric[c] % 1).abs() > 0).any()) for c in head.columns[integer & numbers_below]]
    integer_names = bool(integer[number].all() and len(ints) >= 2 and len(set(ints)) == len(ints) and (
        sorted(ints) in (list(range(len(ints))), list(range(1, len(ints) + 1)))
        or (len(fractions_below) == len(ints) and all(fractions_below))))
    names = list(head.columns[text & numbers_below])
    data = [] if integer_names else list(head.columns[number & numbers_below])
    if names and data:
        raise DataError(
            f"{path}: cannot tell whether the first row is a header: column(s) {names[:5]} hold text above numbers, "
            f"column(s) {data[:5]} numbers above numbers; set dataset.header=true or dataset.header=false")
    if names or integer_names:
        return _decided(path, True, "integer column names" if integer_names else f"text above numbers in column {names[0]}")
    if data:
        return _decided(path, False, f"numbers above numbers in column {data[0]}")
    recurring = [c for c in head.columns if text[c] and rest[c].nunique() < len(rest) and first[c] not in set(rest[c])]
    return _decided(path, bool(recurring), f"a unique name above repeated values in column {recurring[0]}"
                    if recurring else "no column says otherwise")


def _decided(path: Path, header: bool, why: str) -> bool:
    log.info("%s: first row read as %s (%s); set dataset.header=%s if that is wrong",
             path.name, "column names" if header else "data", why, str(not header).lower())
    return header
