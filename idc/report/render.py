"""A table's rows as Markdown cells (the best label-free value of each dataset and metric in bold) and as CSV rows."""
from __future__ import annotations

from typing import Any

from idc.report.definitions import LABEL_FREE, PaperTable
from idc.report.rows import Row, published_cell
from idc.tables import fmt


def rendered(table: PaperTable, rows: list[Row]) -> tuple[list[str], list[list[str]], list[tuple[int, int]]]:
    """Header, text rows and the (row, column) cells to bold: per dataset and metric, the best mean among the
    label-free rows of our records."""
    header = ["dataset", "method", "row", "schedule", "seeds"]
    for m in table.metrics:
        header += [m.title, "published (difference)"]
    header.append("note")
    texts, best = [], {}
    for i, row in enumerate(rows):
        text = [row.dataset, row.method, row.kind, row.schedule, str(row.n) if row.n else "-"]
        for j, m in enumerate(table.metrics):
            cell = row.cells.get(m.key)
            paper = published_cell(table, row.method, row.dataset, m)
            text.append(fmt(cell, m.digits) if row.kind != "not run" else "not run")
            diff = f" ({cell['mean'] - paper['mean']:+.{m.digits}f})" if cell and paper else ""
            text.append(fmt(paper, m.digits) + diff if paper else "-")
            if cell and row.kind in LABEL_FREE:
                key = (row.dataset, m.key)
                if key not in best or cell["mean"] > best[key][0]:
                    best[key] = (cell["mean"], (i, 5 + 2 * j))
        text.append(row.note)
        texts.append(text)
    return header, texts, sorted(pos for _, pos in best.values())


def csv_rows(table: PaperTable, rows: list[Row]) -> list[list[Any]]:
    out = []
    for row in rows:
        for m in table.metrics:
            cell, paper = row.cells.get(m.key), published_cell(table, row.method, row.dataset, m)
            out.append([table.key, row.dataset, row.method, row.kind, row.schedule, row.n, m.key,
                        *(num(cell, k, m.digits + 2) for k in ("mean", "std")),
                        *(num(paper, k, m.digits + 2) for k in ("mean", "std"))])
    return out


def num(cell: dict[str, Any] | None, key: str, digits: int) -> str:
    value = (cell or {}).get(key)
    return "" if value is None else f"{value:.{digits}f}"
