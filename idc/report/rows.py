"""The rows of a paper table from the records: per method, dataset and schedule the final epoch, the consensus of
the seeds and the picked epochs; post-hoc explanations; the official code as measured; cells not run."""
from __future__ import annotations

import itertools
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from idc import results as store
from idc.methods import BASELINES, paper_row
from idc.paper import published_value
from idc.report.definitions import (ACC, EVAL_KEYS, PICKS, ROW_CONSENSUS, ROW_FINAL, RUNS_ROOT, Explained, Metric,
                                   PaperTable, official, schedule_rank)
from idc.report.fill import fewer_seeds_note, fill_command, fill_note, run_schedule
from idc.run_dir import ABSENT_MEANS, differing_keys
from idc.tables import stat


def value_of(record: store.Record, metric: Metric, row: str) -> float | None:
    """One record's value of ``metric`` in ``row`` (final epoch or an epoch picked during training), scaled."""
    if row in PICKS:
        source = record.metrics.get(PICKS[row]) or {}
    else:
        source = record.evaluation if metric.source == "eval" else record.metrics
    value = source.get(EVAL_KEYS.get(metric.key, metric.key) if metric.source == "eval" else metric.key)
    return None if value is None else float(value) * metric.scale


def explained_value(record: store.Record, metric: Metric, attribution: str) -> float | None:
    """One record's value of ``metric`` in its ``eval_<attribution>.json`` (ACC there is the explained model's)."""
    source = record.attributions.get(attribution) or {}
    value = source.get(EVAL_KEYS.get(metric.key, metric.key))
    return None if value is None else float(value) * (100.0 if metric.source == "metrics" else metric.scale)


def shared_partitions(records: list[store.Record]) -> tuple[list[np.ndarray], np.ndarray, int] | None:
    """The records' final clusters, their shared labels and K; None when fewer than two records share the same
    samples and labels (or a record has no clusters file)."""
    if len(records) < 2 or not all((r.path / store.CLUSTERS).is_file() for r in records):
        return None
    loaded = [r.clusters() for r in records]
    labels = loaded[0][1]
    if labels is None or any(y is None or not np.array_equal(y, labels) for _, y in loaded):
        return None
    k = int(records[0].metrics.get("n_clusters") or len(np.unique(labels)))
    return [c for c, _ in loaded], labels, k


def consensus_scores(records: list[store.Record]) -> dict[str, float] | None:
    """ACC/NMI/ARI (fractions) of the consensus of the records' final clusters, or None when fewer than two
    records share the same samples and labels (or a record has no clusters file)."""
    from idc.consensus import consensus_partition
    from idc.metrics import clustering_metrics

    if (shared := shared_partitions(records)) is None:
        return None
    partitions, labels, k = shared
    return clustering_metrics(labels, consensus_partition(partitions, k))


def subset_consensus_accs(records: list[store.Record], size: int, limit: int = 120) -> list[float]:
    """ACC (%) of the consensus of every ``size`` of the records' final clusters: what ``model.n_init=size`` gives,
    one value per subset of seeds (all of them up to ``limit``, else ``limit`` drawn at random with a fixed seed);
    empty with fewer than ``size`` records, or without clusters files and shared labels. The subsets share seeds,
    so their spread understates that of ``size`` fresh runs."""
    from idc.consensus import consensus_partition
    from idc.metrics.clustering import hungarian_accuracy

    if len(records) < size or (shared := shared_partitions(records)) is None:
        return []
    partitions, labels, k = shared
    subsets = list(itertools.combinations(range(len(partitions)), size))
    if len(subsets) > limit:
        drawn = np.random.default_rng(0).choice(len(subsets), limit, replace=False)
        subsets = [subsets[i] for i in sorted(drawn)]
    return [100.0 * hungarian_accuracy(labels, consensus_partition([partitions[i] for i in s], k)) for s in subsets]


#: keys left out when the seeds of a row are compared: the size rule's own settings (what it chose is in the keys it set)
RULE_INPUTS = "size_rule."


def row_settings_note(row: Path) -> str:
    """:func:`mixed_settings_note` of the records in ``row`` (``<root>/<schedule>/<method>/<dataset>``), what
    ``idc-results add`` says after adding a seed to it."""
    row = Path(row)
    return mixed_settings_note(store.load_records(row.parents[2], "/".join(row.parts[-3:])))


def mixed_settings_note(records: list[store.Record]) -> str:
    """Which settings differ between the seeds of one row, and where (runs recorded before a default changed), so
    that no cell averages over settings unsaid; empty when they agree."""
    settings = [{**({} if r.method in BASELINES else ABSENT_MEANS),
                 **{k: v for k, v in r.settings.items() if not k.startswith(RULE_INPUTS)}} for r in records]
    parts = []
    for key in differing_keys(settings):
        seeds: dict[str, list[int]] = {}
        for r, s in zip(records, settings):
            seeds.setdefault(s[key], []).append(r.seed)
        values = ", ".join(f"{v} (seed{'s' if len(ss) > 1 else ''} {' '.join(map(str, sorted(ss)))})"
                           for v, ss in sorted(seeds.items(), key=lambda item: min(item[1])))
        parts.append(f"{key} {values}")
    return f"settings differ between seeds: {'; '.join(parts)}" if parts else ""


@dataclass
class Row:
    dataset: str
    method: str
    kind: str  # ROW_* or "official code ..." or "not run"
    schedule: str
    n: int
    cells: dict[str, dict[str, Any] | None]  # metric key -> stat
    note: str = ""


def rows_of(records: list[store.Record], table: PaperTable, dataset: str, method: str) -> list[Row]:
    """The rows of one method on one dataset: per schedule recorded, the final epoch, the consensus, then the
    two picked epochs (when the runs recorded them)."""
    out = []
    by_schedule: dict[str, list[store.Record]] = {}
    for r in records:
        by_schedule.setdefault(r.schedule, []).append(r)
    for schedule in sorted(by_schedule, key=schedule_rank):
        group = by_schedule[schedule]
        final = {m.key: stat([v for r in group if (v := value_of(r, m, ROW_FINAL)) is not None]) for m in table.metrics}
        note = "; ".join(n for n in (fewer_seeds_note(group), mixed_settings_note(group)) if n)
        out.append(Row(dataset, method, ROW_FINAL, schedule, len(group), final, note))
        scores = consensus_scores(group)
        if scores:
            cells = {m.key: stat([scores[m.key] * m.scale]) if m.key in scores else None for m in table.metrics}
            out.append(Row(dataset, method, ROW_CONSENSUS, schedule, len(group), cells,
                           f"ensemble of {len(group)} runs"))
        for kind in PICKS:
            cells = {m.key: stat([v for r in group if (v := value_of(r, m, kind)) is not None]) for m in table.metrics}
            if any(cells.values()):
                out.append(Row(dataset, method, kind, schedule, len(group), cells))
    return out



def official_rows(table: PaperTable, dataset: str) -> list[Row]:
    """The official code's measured ACC on ``dataset`` (when the table shows ACC)."""
    entry = official()["rows"].get(dataset)
    if not entry or ACC not in table.metrics:
        return []
    out = []
    for kind, name in (("final", "final epoch"), ("label_picked", "label-picked epoch")):
        values = entry.get(kind)
        if not values:
            continue
        per_seed = values.get("per_seed")
        cell = stat(list(per_seed.values())) if per_seed else {"mean": values["mean"], "std": values.get("std"),
                                                                "n": values["seeds"]}
        out.append(Row(dataset, "official code", f"{name}, as measured", entry["config"], cell["n"],
                       {m.key: cell if m is ACC else None for m in table.metrics}))
    return out



def not_run_row(table: PaperTable, dataset: str, method: str, recorded: list[store.Record] = ()) -> Row:
    schedule = run_schedule(table, dataset, method)
    return Row(dataset, method, "not run", schedule, 0, {m.key: None for m in table.metrics},
               fill_note(method, schedule, dataset, recorded))


def explained_rows(records: list[store.Record], table: PaperTable, dataset: str, explained: Explained) -> list[Row]:
    """Per schedule, the mean over the runs of ``explained.method`` that were explained post hoc; "not run" with
    the commands that explain the runs (and make them first, when the method has no records)."""
    out = []
    for schedule in sorted({r.schedule for r in records}, key=schedule_rank):
        group = [r for r in records if r.schedule == schedule and explained.attribution in r.attributions]
        if group:
            cells = {m.key: stat([v for r in group if (v := explained_value(r, m, explained.attribution)) is not None])
                     for m in table.metrics}
            top_k = sorted({str(r.attributions[explained.attribution].get("explainer", {}).get("top_k")) for r in group})
            out.append(Row(dataset, explained.row, ROW_FINAL, schedule, len(group), cells,
                           f"post hoc: top {' / '.join(top_k)} features per sample and cluster"))
    if out:
        return out
    schedule = run_schedule(table, dataset, explained.method)
    runs = f"{RUNS_ROOT}/{schedule}/{explained.method}/{dataset}/seed*"
    make = "" if records else f"{fill_command(explained.method, schedule, dataset)} && "
    return [Row(dataset, explained.row, "not run", schedule, 0, {m.key: None for m in table.metrics},
                f"`{make}idc-results attribute {runs} --method {explained.attribution} && idc-results add {runs}` "
                f"(the run directories, which keep the checkpoints)")]


def published_cell(table: PaperTable, method: str, dataset: str, metric: Metric) -> dict[str, Any] | None:
    """The paper's number for a row: the table's own row names (its explained rows among them), else the
    registry's; the official code's rows face the paper's IDC."""
    names = {**{e.row: e.paper for e in table.explained}, **table.paper_names, "official code": "IDC"}
    name = names[method] if method in names else paper_row(method)
    if name is None:
        return None
    return published_value(table.key, name, table.published_datasets.get(dataset, dataset), metric.key)


def table_rows(records: list[store.Record], table: PaperTable) -> list[Row]:
    """Every row of ``table``: per dataset, each method's rows (or its "not run" row), then the official code's."""
    out = []
    for dataset in table.datasets:
        here = [r for r in records if r.dataset == dataset]
        recorded = sorted({r.method for r in here})
        methods = list(table.methods) + [m for m in recorded if m not in table.methods and table.admits(m)]
        for method in methods:
            mine = [r for r in here if r.method == method]
            out += rows_of(mine, table, dataset, method) if mine else [not_run_row(table, dataset, method, here)]
        for explained in table.explained:
            out += explained_rows([r for r in here if r.method == explained.method], table, dataset, explained)
        out += official_rows(table, dataset)
    return out


