"""Rows with fewer seeds than asked and cells not run: the ``idc-paper`` command that fills them and the wall time
of one run here (the median of recorded runs, else the estimate of ``idc/paper/run_estimates.yaml``)."""
from __future__ import annotations

import numpy as np

from idc import results as store
from idc.data.registry import PAPER_DATASETS
from idc.methods import METHODS, ablation_rows
from idc.report.definitions import CHEAP_BASELINES, SCHEDULE_ORDER, SEEDS, PaperTable, estimates


def fewer_seeds_note(group: list[store.Record]) -> str:
    """For the runs of one method, dataset and schedule with fewer than :data:`SEEDS` seeds (an ``idc-paper``
    schedule: not the smoke runs of ``quick``, not a kept "before" of :data:`KEPT_BEFORE`):
    how many, the command that makes all of them (``idc-paper`` skips the runs it finds DONE in its run root) and
    the median wall time of a recorded run."""
    first = group[0]
    seeds = {r.seed for r in group}
    fillable = first.schedule in SCHEDULE_ORDER and first.schedule != "quick" and first.method in METHODS
    if len(seeds) >= SEEDS or not fillable:
        return ""
    spent = wall_seconds(group, first.method, first.schedule, first.dataset)
    cost = f", about {spent} per run here" if spent != "-" else ""
    command = fill_command(first.method, first.schedule, first.dataset)
    return f"{len(seeds)} of {SEEDS} seeds; all {SEEDS}: `{command}`{cost}"



def estimate_seconds(method: str, schedule: str, dataset: str) -> float | None:
    """The estimated wall time of one run (``run_estimates.yaml``), or None."""
    table = estimates().get(schedule) or {}
    entry = table.get(dataset) or table.get("*") or {}
    kind = "baseline" if method in CHEAP_BASELINES else "idc"
    return entry.get(kind)


def duration(seconds: float) -> str:
    if seconds < 1:
        return "under 1 s"
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def fill_command(method: str, schedule: str, dataset: str) -> str:
    """The command that runs ``method`` (a registry method: ``idc-paper`` runs every one) on ``dataset`` for
    :data:`SEEDS` seeds and adds the DONE runs to ``results/``."""
    if method in METHODS:
        return f"idc-paper --schedule {schedule} --datasets {dataset} --methods {method} --seeds {SEEDS}"
    if method in ablation_rows():
        return f"idc-paper --table ablation --schedule {schedule} --datasets {dataset} --seeds {SEEDS}"
    raise ValueError(f"method {method!r} is neither in idc.methods.METHODS nor an ablation row; a table's methods "
                     f"must be registry methods ({', '.join(METHODS)}) or rows of idc/paper/ablation.yaml")


def run_schedule(table: PaperTable, dataset: str, method: str) -> str:
    """The schedule a "not run" command uses: the table's for ``dataset``; a baseline without a network runs
    under ``paper`` where the dataset has the paper's schedule (its result does not depend on the epochs), else
    under ``default`` where the table's schedule is the size rule's (which sets nothing a baseline uses)."""
    schedule = table.schedule[dataset]
    if method in CHEAP_BASELINES and dataset in PAPER_DATASETS:
        return "paper"
    if method in CHEAP_BASELINES and schedule == store.SIZE_RULE_SCHEDULE:
        return store.DEFAULT_SCHEDULE
    return schedule


def fill_note(method: str, schedule: str, dataset: str, recorded: list[store.Record] = ()) -> str:
    """A "not run" cell's note: the command that fills it and its wall time per run: for a trained method, the
    median of ``recorded`` IDC runs of the same schedule and dataset where there are some (measured), else the
    estimate of ``run_estimates.yaml``."""
    measured = "-" if method in CHEAP_BASELINES else wall_seconds(list(recorded), "idc", schedule, dataset)
    if measured != "-":
        cost = f"; about {measured} per run here (IDC's recorded runs)"
    else:
        seconds = estimate_seconds(method, schedule, dataset)
        cost = f"; about {duration(seconds)} per run here (estimate)" if seconds else ""
    return f"`{fill_command(method, schedule, dataset)}`{cost}"



def wall_seconds(records: list[store.Record], method: str, schedule: str, dataset: str) -> str:
    """The median wall time of the records' runs (``run_info.json``; a resumed run counts its last leg only)."""
    seconds = [r.run_info["wall_seconds"] for r in records if (r.method, r.schedule, r.dataset) == (method, schedule,
               dataset) and r.run_info.get("wall_seconds") is not None]
    return duration(float(np.median(seconds))) if seconds else "-"


