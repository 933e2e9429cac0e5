"""Readers for every supported file format; each returns a raw :class:`Table` with feature names.

CSV/TSV/text (header optional, separator sniffed, ``encoding`` option), ``.npy``/``.npz``
(``allow_pickle=False``), MATLAB ``.mat`` (v5 via scipy, v7.3 via h5py), HDF5 ``.h5`` and AnnData ``.h5ad``
(read with ``anndata``, current and pre-0.7 layouts). Sparse matrices stay sparse (see :class:`Table`).
Problems raise :class:`DataError` naming the file and what to do; any other exception inside a reader becomes
one too (:func:`reader`).
"""
from __future__ import annotations

import functools
import inspect
import logging
import warnings
import zipfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

import h5py
import numpy as np

from idc.data.table import DataError, Table, generated_names

DOWNLOAD_HINT = "python scripts/download_data.py"
#: what numpy raises on a truncated, empty or foreign .npy/.npz
UNREADABLE = (ValueError, EOFError, OSError, zipfile.BadZipFile)
log = logging.getLogger(__name__)
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
                f"{_one_line(err)}). It may be truncated, or a variant of the format idc does not know: check that "
                "it opens in the program that wrote it, and if it does, save it again as .csv, .npz or .h5ad"
            ) from err

    return wrapped  # type: ignore[return-value]


def _one_line(err: BaseException) -> str:
    return " ".join(str(err).split())[:300]


def require_file(path: str | Path, dataset: str = "table") -> Path:
    """``path`` as a Path, or a :class:`DataError` that says where it was looked for and what to do: the
    download command only for a paper dataset's file."""
    path = Path(path).expanduser()
    if path.is_file():
        return path
    if path.is_dir():
        inside = sorted(p.name for p in path.iterdir() if p.suffix.lower() in READERS)
        example = f" (it holds {inside[:5]}{' ...' if len(inside) > 5 else ''})" if inside else ""
        raise DataError(f"{dataset}: {path.resolve()} is a folder, not a file; give the path of one file in it"
                        f"{example}, e.g. dataset.path={path / (inside[0] if inside else 'cells.csv')}")
    paper = dataset if dataset != "table" else _paper_dataset(path)
    if paper is None:
        raise DataError(f"{dataset}: file not found: {path.resolve()}. Check dataset.path (a relative path starts "
                        f"in the folder you run from: {Path.cwd()})")
    raise DataError(
        f"{dataset}: file not found: {path.resolve()}. Put it there, point IDC_DATA_DIR (or paths.data_dir=...) at the "
        f"folder that holds it, or fetch the paper's datasets with `{DOWNLOAD_HINT} {paper}`."
    )


def _paper_dataset(path: Path) -> str | None:
    """The paper dataset whose configured file ``path`` names (``.../ALLAML.mat``), if any."""
    from idc.data.download import SOURCES

    posix = path.as_posix()
    return next((s.datasets[0] for s in SOURCES if posix == s.file or posix.endswith("/" + s.file)), None)


def _numeric(values: np.ndarray, path: Path, what: str = "X") -> np.ndarray:
    if values.dtype.kind in "biuf":
        return values
    if values.dtype.kind == "c":
        raise DataError(f"{path}: {what} holds complex numbers; store real features (e.g. magnitudes)")
    try:
        return values.astype(np.float64)
    except (TypeError, ValueError) as err:
        raise DataError(f"{path}: {what} is not numeric (dtype {values.dtype}): {err}") from None


def _select(names: list[str], wanted: Sequence[str | int], path: Path, what: str) -> list[int]:
    index = []
    for w in wanted:
        if isinstance(w, int):
            if not -len(names) <= w < len(names):
                raise DataError(f"{path}: {what} {w} is out of range for {len(names)} columns")
            index.append(w % len(names))
        elif w in names:
            index.append(names.index(w))
        else:
            raise DataError(f"{path}: {what} {w!r} not found; columns are {names[:20]}{' ...' if len(names) > 20 else ''}")
    return index


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
    ``feature_columns`` indices count the file's columns; the label and dropped columns cannot be chosen.
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
        frame = pd.read_csv(path, sep=sep, header=0 if header else None, low_memory=False, encoding=encoding)
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
    labels = None
    drop = set(_select(names, list(drop_columns), path, "column to drop"))
    if label_column is not None:
        (li,) = _select(names, [label_column], path, "label column")
        labels = frame.iloc[:, li].to_numpy()
        drop.add(li)
    keep = [i for i in range(len(names)) if i not in drop]
    if feature_columns:
        keep = _select(names, list(feature_columns), path, "feature column")
        taken = [names[i] for i in keep if i in drop]
        if taken:
            raise DataError(f"{path}: feature_columns names the label or a dropped column: {taken}")
    features = frame.iloc[:, keep]
    bad = [j for j, dt in enumerate(features.dtypes) if not pd.api.types.is_numeric_dtype(dt)]
    if bad:
        raise _non_numeric(path, features, bad, first_line=2 if header else 1)
    return Table(features.to_numpy(dtype=np.float64), labels, [names[i] for i in keep], name=path.stem)


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
    return DataError(f"{path}: not a readable {'TSV' if sep == chr(9) else 'CSV'} file ({_one_line(err)})")


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
        "columns (drop_columns=[...]), name the label column (label_column=...), or fix the values")


def unique_names(names: Sequence[str], path: Path, what: str, fix: str = "give every column its own name") -> None:
    """Feature names must be unique: explanations name features. An error lists the repeated ones."""
    import collections

    repeated = [n for n, c in collections.Counter(str(n) for n in names).items() if c > 1 and n]
    if repeated:
        raise DataError(f"{path}: duplicate {what}: {repeated[:5]}{' ...' if len(repeated) > 5 else ''}; {fix} "
                        "(explanations name features, so two must not share a name)")


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


def _npz_key(keys: list[str], wanted: str | None, path: Path, what: str, candidates: Sequence[str]) -> str | None:
    if wanted is not None:
        if wanted not in keys:
            raise DataError(f"{path}: no array {wanted!r} for {what}; the file holds {keys}")
        return wanted
    found = [k for k in candidates if k in keys]
    return found[0] if found else None


@reader
def read_npy(path: Path, **_: Any) -> Table:
    """A 2-D ``.npy`` array (no labels)."""
    try:
        X = np.load(path, allow_pickle=False)
    except UNREADABLE as err:
        raise DataError(f"{path}: not a plain numeric .npy array ({type(err).__name__}: {err}); object arrays are "
                        "refused, and an empty or truncated file cannot be read") from None
    return Table(_numeric(X, path), name=path.stem)


@reader
def npz_array(path: Path, key: str) -> np.ndarray:
    """One array of an ``.npz`` (no pickles), with a clear error for a missing key."""
    try:
        with np.load(path, allow_pickle=False) as z:
            if key not in z.files:
                raise DataError(f"{path}: no array {key!r}; the file holds {list(z.files)}")
            return z[key]
    except DataError:
        raise
    except UNREADABLE as err:
        raise DataError(f"{path}: unreadable .npz ({type(err).__name__}: {err}); object arrays are refused") from None


@reader
def read_npz(
    path: Path, x_key: str | None = None, y_key: str | None = None, names_key: str | None = None,
    class_names_key: str | None = None, **_: Any,
) -> Table:
    """``.npz`` with the matrix under ``x_key`` (default ``X``, ``x``, ``data`` or ``arr_0``) and optional labels
    (``y_key``, default ``y``/``Y``/``labels``) and feature names (``names_key``)."""
    try:
        with np.load(path, allow_pickle=False) as z:
            keys = list(z.files)
            xk = _npz_key(keys, x_key, path, "X", ("X", "x", "data", "arr_0"))
            if xk is None:
                raise DataError(f"{path}: no matrix found; set x_key to one of {keys}")
            yk = _npz_key(keys, y_key, path, "labels", ("y", "Y", "labels", "label"))
            nk = _npz_key(keys, names_key, path, "feature names", ()) if names_key else None
            ck = _npz_key(keys, class_names_key, path, "class names", ()) if class_names_key else None
            X, y = z[xk], (z[yk] if yk else None)
            names = [str(n) for n in z[nk]] if nk else []
            class_names = [str(n) for n in z[ck]] if ck else None
    except DataError:  # a missing key, said as such (DataError is a ValueError)
        raise
    except UNREADABLE as err:
        raise DataError(f"{path}: unreadable .npz ({type(err).__name__}: {err}); object arrays are refused") from None
    unique_names(names, path, f"feature names ({nk})")
    if class_names is not None and y is not None:  # labels stored as indices into class_names
        y = _categories(class_names, y, path)
    return Table(_numeric(X, path), y, names, name=path.stem)


@reader
def read_mat(path: Path, x_key: str = "X", y_key: str | None = "Y", **_: Any) -> Table:
    """MATLAB ``.mat``: v5 files through ``scipy.io.loadmat``, v7.3 (HDF5) files through h5py."""
    import scipy.io
    import scipy.sparse as sp

    try:
        mat = scipy.io.loadmat(path)
    except NotImplementedError:  # MATLAB v7.3 is HDF5; arrays are stored transposed
        return read_h5(path, x_key=x_key, y_key=y_key, transpose=True)
    except (ValueError, TypeError, OSError) as err:
        raise DataError(f"{path}: not a readable MATLAB file ({err})") from None
    keys = sorted(k for k in mat if not k.startswith("__"))
    for key in [x_key] + ([y_key] if y_key else []):
        if key not in mat:
            raise DataError(f"{path}: no variable {key!r}; the file holds {keys} (set x_key / y_key)")
    y = _mat_labels(mat[y_key], path) if y_key else None
    X = mat[x_key] if sp.issparse(mat[x_key]) else np.asarray(mat[x_key])
    return Table(_numeric(X, path), y, name=path.stem)


def _mat_labels(values: Any, path: Path) -> np.ndarray:
    """A label vector, or a cell array of strings (each cell a 1-element array)."""
    values = np.asarray(values).reshape(-1)
    if values.dtype != object:
        return values
    cells = [np.asarray(v).reshape(-1) for v in values]
    if any(c.size != 1 for c in cells):
        raise DataError(f"{path}: the labels are a cell array whose cells are not single values; store one "
                        "number or string per sample")
    return np.array([str(c[0]) for c in cells])


@reader
def read_h5(
    path: Path, x_key: str = "X", y_key: str | None = None, names_key: str | None = None,
    transpose: bool = False, **_: Any,
) -> Table:
    """HDF5: the matrix at ``x_key``, optional labels at ``y_key`` and feature names at ``names_key``."""
    with _open_h5(path) as f:
        keys = _h5_keys(f)
        for key in [k for k in (x_key, y_key, names_key) if k]:
            if key not in f:
                raise DataError(f"{path}: no dataset {key!r}; the file holds {keys} (set x_key / y_key / names_key)")
        X = _matrix(f[x_key], path)
        y = _decode(f[y_key][()]).reshape(-1) if y_key else None
        names = [str(n) for n in _decode(f[names_key][()])] if names_key else []
    unique_names(names, path, f"feature names ({names_key})")
    return Table(_numeric(X.T if transpose else X, path), y, names, name=path.stem)


@reader
def read_h5ad(path: Path, label_column: str | None = None, **_: Any) -> Table:
    """AnnData ``.h5ad`` read with ``anndata``: ``X`` as stored (a sparse matrix stays sparse), labels from
    the ``obs`` column ``label_column`` (plain, categorical or nullable; a missing one is an error naming the
    rows), feature names from ``var``'s index. Files of AnnData >= 0.7 are read element by element (``X``,
    ``var``, ``obs``: nothing else is loaded); older ones, whose ``obs`` and ``var`` are compound datasets with
    categories in ``uns``, through ``anndata.read_h5ad``."""
    import anndata
    from anndata.io import read_elem

    with warnings.catch_warnings(action="ignore", category=anndata.OldFormatWarning):
        with _open_h5(path) as f:
            if "X" not in f:
                raise DataError(f"{path}: no X in this .h5ad (it holds {_h5_keys(f)}); save the matrix as adata.X")
            legacy = isinstance(f.get("obs"), h5py.Dataset)
            if not legacy:
                X, var = read_elem(f["X"]), read_elem(f["var"])
                obs = read_elem(f["obs"]) if label_column is not None else None
        if legacy:
            log.info("%s: written by AnnData < 0.7 (obs and var as compound datasets); read with anndata's "
                     "backwards-compatible reader", path.name)
            adata = anndata.read_h5ad(path)
            X, var, obs = adata.X, adata.var, adata.obs
    names = [str(n) for n in var.index]
    unique_names(names, path, "feature names in var",
                 "make them unique (adata.var_names_make_unique()) and save the file again")
    y = None
    if label_column is not None:
        if label_column not in obs.columns:
            raise DataError(f"{path}: obs has no column {label_column!r}; it has {list(obs.columns)[:20]}")
        y = _obs_labels(obs[label_column])
    return Table(_numeric(X, path), y, names, name=path.stem)


def _obs_labels(column: Any) -> np.ndarray:
    """Labels of an ``obs`` column: a categorical's categories, a nullable column's values, a plain column as
    is; missing entries (NaN, NA, code -1) stay missing, so that :class:`Table` reports their rows."""
    import pandas as pd

    if column.isna().any():
        return column.to_numpy(dtype=object, na_value=None)
    if isinstance(column.dtype, pd.CategoricalDtype):
        return np.asarray(column.cat.categories)[column.cat.codes.to_numpy()]
    if hasattr(column.dtype, "numpy_dtype"):  # nullable Int64, boolean, ...
        return column.to_numpy(dtype=column.dtype.numpy_dtype)
    return column.to_numpy()


def _matrix(node: h5py.Dataset | h5py.Group, path: Path) -> Any:
    """A dense dataset, or a sparse matrix in anndata's encoding (a group with ``data``, ``indices``,
    ``indptr`` and its attributes), read by ``anndata`` and kept sparse."""
    if not isinstance(node, h5py.Group):
        return np.asarray(node[()])
    parts = [k for k in ("data", "indices", "indptr") if k not in node]
    encoded = any(k in node.attrs for k in ("encoding-type", "h5sparse_format"))
    if parts or not encoded:
        missing = ", ".join(parts) or "the encoding-type attribute"
        raise DataError(f"{path}: {node.name} is a group, not a matrix ({missing} missing for a sparse one); save "
                        "the matrix as a dense dataset or as an AnnData .h5ad")
    import anndata
    from anndata.io import read_elem

    with warnings.catch_warnings(action="ignore", category=anndata.OldFormatWarning):
        return read_elem(node)


def _open_h5(path: Path) -> h5py.File:
    try:
        return h5py.File(path, "r")
    except OSError as err:
        raise DataError(f"{path}: not a readable HDF5 file ({err})") from None


def _h5_keys(f: h5py.File) -> list[str]:
    keys: list[str] = []
    f.visit(keys.append)
    return keys[:30]


def _decode(values: Any) -> Any:
    if isinstance(values, bytes):
        return values.decode()
    if isinstance(values, np.ndarray) and values.dtype.kind in "OS":
        return np.array([v.decode() if isinstance(v, bytes) else str(v) for v in values.reshape(-1)]).reshape(values.shape)
    return values


def _categories(categories: Any, codes: Any, where: object) -> np.ndarray:
    """Labels from category codes; a negative code (-1: missing) is an error, not the last category."""
    codes = np.asarray(codes, dtype=np.int64)
    if (codes < 0).any() or (codes >= len(categories)).any():
        bad = int(((codes < 0) | (codes >= len(categories))).sum())
        raise DataError(f"{where}: {bad} label code(s) are missing (-1) or out of range; fill or drop those rows")
    return np.asarray(categories)[codes]


READERS = {
    ".csv": read_csv, ".tsv": read_csv, ".tab": read_csv, ".txt": read_csv,
    ".npy": read_npy, ".npz": read_npz, ".mat": read_mat,
    ".h5": read_h5, ".hdf5": read_h5, ".h5ad": read_h5ad,
}


def read_any(path: Path) -> Table:
    """Dispatch on the file suffix with every reader's defaults."""
    read = READERS.get(path.suffix.lower())
    if read is None:
        raise DataError(f"{path}: unsupported file type {path.suffix!r}; use one of {sorted(READERS)}")
    return read(path)


def load_file(
    path: str | Path | None,
    label_column: str | int | None = None,
    x_key: str | None = None,
    y_key: str | None = None,
    names_key: str | None = None,
    drop_columns: Sequence[str | int] = (),
    feature_columns: Sequence[str | int] | None = None,
    header: str | bool = "auto",
    sep: str | None = None,
    encoding: str = "utf-8",
) -> Table:
    """A user's table in any supported format (the ``dataset=table`` loader): labels from ``label_column``
    (CSV column, ``.h5ad`` obs column) or ``y_key`` (``.npz``/``.mat``/``.h5``); ``feature_columns`` (names, or
    indices of the file's columns) keeps only those features, in that order; ``sep`` and ``encoding`` for
    text files."""
    if path is None or str(path) == "???":
        raise DataError(f"dataset=table needs dataset.path=FILE (one of {', '.join(READERS)}), e.g. "
                        "idc-train dataset=table dataset.path=cells.csv dataset.label_column=cell_type")
    path = require_file(path, "table")
    suffix = path.suffix.lower()
    if suffix in (".csv", ".tsv", ".tab", ".txt"):  # selected before the numeric check: other columns may be text
        return read_csv(path, label_column=label_column, feature_columns=feature_columns,
                        drop_columns=drop_columns, header=header, sep=sep, encoding=encoding or "utf-8")
    if suffix == ".h5ad":
        table = read_h5ad(path, label_column=label_column)
    elif label_column is not None:
        raise DataError(f"{path}: label_column is for CSV/TSV and .h5ad files; use y_key for {suffix} files")
    elif suffix == ".mat":
        table = read_mat(path, x_key=x_key or "X", y_key=y_key)
    elif suffix in (".h5", ".hdf5"):
        table = read_h5(path, x_key=x_key or "X", y_key=y_key, names_key=names_key)
    elif suffix == ".npz":
        table = read_npz(path, x_key=x_key, y_key=y_key, names_key=names_key)
    else:
        table = read_any(path)
    if feature_columns:
        table = table.take_columns(_select(table.feature_names, list(feature_columns), path, "feature column"))
    return table
