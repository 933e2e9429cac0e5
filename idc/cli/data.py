"""``idc-data``: what a dataset config loads, as one JSON line (``log``: what the loader did to the table, such as
columns dropped as constant or read as row names), or the table of all configured datasets.

    idc-data dataset=allaml                   # {"name": "allaml", "n_samples": 72, ...}
    idc-data dataset=table dataset.path=cells.csv dataset.label_column=cell_type
    idc-data --list                           # every configured dataset and whether its files are present
"""
from __future__ import annotations

import json
import logging
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np

from idc.cli import plain
from idc.cli.overrides import check, compose_errors


def describe(overrides: list[str]) -> dict:
    """Load the dataset the overrides select and summarise it."""
    from idc.data import load_table
    from idc.data.registry import dataset_files
    from idc.data.table import NoClusterCount
    from idc.config import compose

    cfg = compose(overrides).dataset
    started = time.perf_counter()
    note = None
    with loader_log() as said:
        try:
            table = load_table(cfg)
        except NoClusterCount as err:  # still worth describing: say what training will need
            said.clear()
            table, note = load_table(compose([*overrides, "dataset.n_clusters=1"]).dataset), str(err)
            table.n_clusters = None
    seconds = time.perf_counter() - started
    counts = None
    if table.y is not None:
        names = table.class_names or [str(k) for k in range(int(table.n_clusters))]
        counts = {names[k]: int(c) for k, c in enumerate(np.bincount(table.y, minlength=len(names)))}
    return {
        "name": cfg.name,
        "path": [str(p) for p in dataset_files(cfg)] or None,
        "n_samples": table.n_samples,
        "n_features": table.n_features,
        "n_clusters": None if table.n_clusters is None else int(table.n_clusters),
        "label_counts": counts,
        "scaler": cfg.get("scaler", "none"),
        "load_seconds": round(seconds, 3),
        **({"note": note} if note else {}),
        **({"log": said} if said else {}),
    }


@contextmanager
def loader_log() -> Iterator[list[str]]:
    """The INFO and WARNING messages of the data loaders (``idc.data``) while the block runs, as a list (not
    printed: stdout stays one JSON line)."""
    said: list[str] = []
    handler = logging.Handler(logging.INFO)
    handler.emit = lambda record: said.append(record.getMessage())  # type: ignore[method-assign]
    logger = logging.getLogger("idc.data")
    level, propagate = logger.level, logger.propagate
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False
    try:
        yield said
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
        logger.propagate = propagate


def list_table() -> str:
    """A Markdown table of every configured dataset."""
    from idc.data.registry import dataset_facts, dataset_names

    head = "| dataset | N | D | K | scaler | batch | files | present |\n|---|---|---|---|---|---|---|---|"
    rows = []
    for name in dataset_names():
        f = dataset_facts(name)
        present = {True: "yes", False: "no", None: "-"}[f["present"]]
        rows.append(
            f"| {name} | {f['n_samples'] or '-'} | {f['n_features'] or '-'} | {f['n_clusters'] or '-'} | "
            f"{f['scaler']} | {f['batch_size']} | {f['files']} | {present} |"
        )
    return "\n".join([head, *rows])


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if args in (["-h"], ["--help"]):
        print(plain(__doc__))
        return 0
    if "--list" in args:
        print(list_table())
        return 0
    try:
        check("idc-data", args)  # a misspelt key: the schema's "did you mean", not Hydra's "+key" advice
        print(json.dumps(describe(args)))
    except compose_errors() as err:  # a value the schema refuses (as idc-train), a table that cannot be read, a sweep
        print(f"idc-data: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
