"""The reproduction report: ``docs/results.md`` (and ``results.tex`` / ``results.csv`` beside it), rebuilt from the
records of :mod:`idc.results` alone, deterministically (sorted, fixed float formats, no dates or machine paths).

For each paper table we can run: every method x dataset as mean ± std over seeds with its schedule, the published
number and the difference; the label-free headline (final epoch) with the best value in bold, then the consensus of
the seeds (:mod:`idc.consensus`), the silhouette-picked and the label-picked epochs in rows of their own; the
official code as we measured it (``idc/paper/official_measured.yaml``); cells not run with the command that fills
them and an estimated wall time (``idc/paper/run_estimates.yaml``); the GPU check's records (``results/gpu/``).
Methods, their kinds and their paper row names come from the registry (:mod:`idc.methods`); post-hoc explanations
of a run (``idc-results attribute``, :mod:`idc.attribution_run`) are rows of their own.
"""
from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from idc import results as store
from idc.paper import published, published_value
from idc.run_dir import LABEL_SELECTED, SILHOUETTE_SELECTED
from idc.data.registry import BIOLOGICAL_DATASETS, PAPER_DATASETS, WIDER_DATASETS
from idc.methods import BASELINES, METHODS, ablation_rows, paper_row
from idc.report_studies import levers_section, probe_section
from idc.tables import fmt, stat, to_latex, to_markdown

PAPER_DIR = Path(__file__).with_name("paper")
OFFICIAL = PAPER_DIR / "official_measured.yaml"
ESTIMATES = PAPER_DIR / "run_estimates.yaml"
#: a method x dataset with records under several schedules shows them in this order
SCHEDULE_ORDER = ("paper", "short", store.SIZE_RULE_SCHEDULE, store.DEFAULT_SCHEDULE, "quick")
SEEDS = 10  # seeds a "not run" command asks for


@dataclass(frozen=True)
class Metric:
    key: str
    title: str
    source: str = "metrics"  # metrics.json, or eval.json (IDC runs only)
    scale: float = 100.0  # to the published unit
    digits: int = 1


ACC, NMI, ARI = Metric("acc", "ACC (%)"), Metric("nmi", "NMI (%)"), Metric("ari", "ARI (%)")
GATE_F1 = Metric("gate_f1", "gate F1 (%)", "eval")
UNIQUENESS = Metric("uniqueness", "uniqueness", "eval", 1.0, 2)
DIVERSITY = Metric("diversity", "diversity (%)", "eval", 1.0)  # eval.json: diversity_clusters (paper's formula)
#: the paper's faithfulness is the official code's formula: r of importance with the ACC *left* after each removal
FAITHFULNESS = Metric("faithfulness", "faithfulness (official formula)", "eval", 1.0, 2)
#: ours beside it: r of importance with each removal's ACC *drop* (idc.metrics.interpretability.faithfulness)
FAITHFULNESS_DROP = Metric("faithfulness_drop", "faithfulness (r with the ACC drop)", "eval", 1.0, 2)
EVAL_KEYS = {"diversity": "diversity_clusters", "faithfulness": "faithfulness_official",
             "faithfulness_drop": "faithfulness"}
#: the baselines that train no network: seconds per run
CHEAP_BASELINES = tuple(m for m in BASELINES if not METHODS[m].trains)
#: where ``idc-paper`` puts its run directories (its --root default), for the commands of "not run" cells
RUNS_ROOT = "outputs/paper"


@dataclass(frozen=True)
class Explained:
    """A post-hoc explanation of a method's runs (``idc-results attribute RUN --method <attribution>``), shown
    as its own row and compared with the paper's row ``paper``."""

    method: str
    attribution: str  # idc.attributions.METHODS
    paper: str | None

    @property
    def row(self) -> str:
        return f"{self.method} + {self.attribution}"


@dataclass(frozen=True)
class PaperTable:
    key: str  # the table's key in published.yaml
    title: str
    datasets: tuple[str, ...]
    metrics: tuple[Metric, ...]
    methods: tuple[str, ...]  # rows shown even when not run
    schedule: dict[str, str]  # dataset -> the schedule a "not run" command uses
    admits: Callable[[str], bool] = lambda method: True  # recorded methods shown beyond ``methods``
    paper_names: dict[str, str | None] = field(default_factory=dict)  # beyond the registry's
    published_datasets: dict[str, str] = field(default_factory=dict)  # our dataset -> published.yaml's
    explained: tuple[Explained, ...] = ()  # rows of post-hoc explanations, after the methods' own rows
    note: str = ""


TABLES = (
    PaperTable("real_data_acc", "Real data: the high-dimensional biological tables (ACC)",
               ("allaml", "prostate", "tox171", "srbct", "biase"), (ACC,), ("idc", "idc_faithful", *BASELINES),
               {"allaml": "short", "prostate": "short", "tox171": "short", "srbct": "paper", "biase": "paper"}),
    PaperTable("mnist_fashion", "MNIST10K (the MNIST / FashionMNIST table)", ("mnist10k",), (ACC, ARI, NMI),
               ("idc", "idc_faithful", "idc_no_gates", "kmeans"), {"mnist10k": "paper"},
               admits=lambda m: False, published_datasets={"mnist10k": "mnist_test10k"}),
    PaperTable("interpretability_mnist10k", "Interpretability on MNIST10K", ("mnist10k",),
               (ACC, UNIQUENESS, DIVERSITY, FAITHFULNESS, FAITHFULNESS_DROP), ("idc", "idc_no_gates", "kmeans"),
               {"mnist10k": "paper"},
               admits=lambda m: False, paper_names={"kmeans": None, "idc_no_gates": None},
               explained=(Explained("kmeans", "kernel_shap", "K-means + SHAP"),
                          Explained("idc_no_gates", "ig", "IDC w/o gates + IntegGrads"),
                          Explained("idc_no_gates", "gradient_shap", "IDC w/o gates + GradSHAP"))),
    PaperTable("synthetic", "Synthetic data (ACC and gate F1)", ("synthetic",), (ACC, GATE_F1),
               ("idc", "idc_faithful", "kmeans"), {"synthetic": "paper"}, paper_names={"kmeans": "K-means+SHAP"}),
    PaperTable("ablation_mnist60k", "Ablations (the paper's MNIST60K table; ours on MNIST10K where named)",
               ("mnist10k", "mnist60k"), (ACC, ARI, NMI), tuple(ablation_rows()),
               {"mnist10k": "paper", "mnist60k": "paper"}, admits=lambda m: m.startswith("idc"),
               paper_names={name: row.paper for name, row in ablation_rows().items()}),
    PaperTable("cnae9_mfeat", "CNAE-9 and MFEAT-Zernike (no published numbers)", ("cnae9", "mfeat_zernike"), (ACC,),
               ("idc", "idc_faithful", *BASELINES), {"cnae9": "paper", "mfeat_zernike": "paper"}),
    PaperTable("wider_benchmark", "Wider benchmark (not in the paper)", (*WIDER_DATASETS, *BIOLOGICAL_DATASETS),
               (ACC, NMI), ("idc", *CHEAP_BASELINES),
               {d: store.SIZE_RULE_SCHEDULE for d in (*WIDER_DATASETS, *BIOLOGICAL_DATASETS)},
               note="Tables of the unsupervised feature-selection literature (scikit-feature; "
                    "`../shared/data/SOURCES.md`) beside the paper's biological tables, every method as a user's "
                    "first run gets it: IDC with the settings the size rule chooses from the table's shape "
                    "(idc-paper's `--schedule size_rule`), the baselines with their defaults. Nothing here is tuned "
                    "to a dataset. No published numbers."),
)

# ------------------------------------------------------------------------------------------------ numbers
ROW_FINAL, ROW_CONSENSUS = "final epoch", "consensus"
ROW_SILHOUETTE, ROW_LABEL = "silhouette-picked epoch (label-free)", "label-picked epoch (peeks at labels; not a result)"
LABEL_FREE = (ROW_FINAL, ROW_CONSENSUS, ROW_SILHOUETTE)
PICKS = {ROW_SILHOUETTE: SILHOUETTE_SELECTED, ROW_LABEL: LABEL_SELECTED}


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


def consensus_scores(records: list[store.Record]) -> dict[str, float] | None:
    """ACC/NMI/ARI (fractions) of the consensus of the records' final clusters, or None when fewer than two
    records share the same samples and labels."""
    from idc.consensus import consensus_partition
    from idc.metrics import clustering_metrics

    if len(records) < 2:
        return None
    loaded = [r.clusters() for r in records]
    labels = loaded[0][1]
    if labels is None or any(y is None or not np.array_equal(y, labels) for _, y in loaded):
        return None
    k = int(records[0].metrics.get("n_clusters") or len(np.unique(labels)))
    return clustering_metrics(labels, consensus_partition([c for c, _ in loaded], k))


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
        out.append(Row(dataset, method, ROW_FINAL, schedule, len(group), final, fewer_seeds_note(group)))
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


def fewer_seeds_note(group: list[store.Record]) -> str:
    """For the runs of one method, dataset and schedule with fewer than :data:`SEEDS` seeds (an ``idc-paper``
    schedule: not the smoke runs of ``quick``, not a kept "before" such as ``size_rule_deep``):
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


def schedule_rank(schedule: str) -> tuple[int, str]:
    return (SCHEDULE_ORDER.index(schedule) if schedule in SCHEDULE_ORDER else len(SCHEDULE_ORDER), schedule)


@lru_cache(maxsize=1)
def official() -> dict[str, Any]:
    return yaml.safe_load(OFFICIAL.read_text())


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


@lru_cache(maxsize=1)
def estimates() -> dict[str, Any]:
    return yaml.safe_load(ESTIMATES.read_text())


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


# ------------------------------------------------------------------------------------------------ summary
def acc_by_method(records: list[store.Record], dataset: str) -> dict[tuple[str, str], list[float]]:
    """``(method, schedule) -> final-epoch ACCs (%)`` of ``dataset``'s records, smoke schedules (``quick``) left out."""
    out: dict[tuple[str, str], list[float]] = {}
    for r in records:
        if r.dataset == dataset and r.schedule != "quick" and (v := value_of(r, ACC, ROW_FINAL)) is not None:
            out.setdefault((r.method, r.schedule), []).append(v)
    return out


def best_recorded(accs: dict[tuple[str, str], list[float]], method: str) -> tuple[str, list[float]] | None:
    """The schedule of ``method`` with the most records (ties: :data:`SCHEDULE_ORDER`) and their ACCs."""
    mine = [(schedule, values) for (m, schedule), values in accs.items() if m == method]
    if not mine:
        return None
    return min(mine, key=lambda item: (-len(item[1]), schedule_rank(item[0])))


def wall_seconds(records: list[store.Record], method: str, schedule: str, dataset: str) -> str:
    """The median wall time of the records' runs (``run_info.json``; a resumed run counts its last leg only)."""
    seconds = [r.run_info["wall_seconds"] for r in records if (r.method, r.schedule, r.dataset) == (method, schedule,
               dataset) and r.run_info.get("wall_seconds") is not None]
    return duration(float(np.median(seconds))) if seconds else "-"


def summary_section(records: list[store.Record]) -> list[str]:
    """IDC against K-means and the best other baseline on every dataset with records: one row per schedule of IDC
    (final epoch, label-free; "not run" with the command that fills it), the baselines at their most-recorded
    schedule, IDC's rank among them, and each method's mean rank over the datasets where IDC and K-means ran."""
    header = ["dataset", "IDC schedule", "IDC ACC (%)", "IDC time per run (or the command)", "K-means ACC (%)",
              "IDC minus K-means",
              "best other baseline", "IDC's rank (of methods)"]
    rows, wins, total, ranks = [], 0, 0, {}
    for dataset in sorted({r.dataset for r in records if r.schedule != "quick"}):
        accs = acc_by_method(records, dataset)
        baselines = {m: b for m in BASELINES if (b := best_recorded(accs, m)) is not None}
        kmeans = baselines.get("kmeans")
        means = {m: float(np.mean(v)) for m, (_, v) in baselines.items()}
        others = {m: mean for m, mean in means.items() if m != "kmeans"}
        best = max(others, key=others.get) if others else None
        kmeans_cell = fmt(stat(kmeans[1]), 1) + f" ({len(kmeans[1])}, {kmeans[0]})" if kmeans else "not run"
        best_cell = f"{best}: {others[best]:.1f}" if best else "-"
        idc = best_recorded(accs, "idc")
        if idc is None:
            rows.append([dataset, store.SIZE_RULE_SCHEDULE, "not run",
                         fill_note("idc", store.SIZE_RULE_SCHEDULE, dataset), kmeans_cell, "-", best_cell, "-"])
            continue
        if kmeans:  # the mean rank: IDC at its most-recorded schedule among the baselines recorded here
            scores = {"idc": float(np.mean(idc[1])), **means}
            for m, score in scores.items():
                ranks.setdefault(m, []).append(1 + sum(other > score for other in scores.values()))
        for (method, schedule), values in sorted(accs.items(), key=lambda item: schedule_rank(item[0][1])):
            if method != "idc":
                continue
            mean = float(np.mean(values))
            diff = "-"
            if kmeans:
                diff = f"{round(mean - float(np.mean(kmeans[1])), 1) + 0.0:+.1f}"  # no "-0.0" for a tie
                total += 1
                wins += mean >= np.mean(kmeans[1])
            rank = f"{1 + sum(m > mean for m in means.values())} of {len(means) + 1}" if means else "-"
            rows.append([dataset, schedule, fmt(stat(values), 1) + f" ({len(values)})",
                         wall_seconds(records, "idc", schedule, dataset), kmeans_cell, diff, best_cell, rank])
    if not rows:
        return ["No records yet."]
    mean_rank = ", ".join(f"{m} {np.mean(r):.1f} ({len(r)})"
                          for m, r in sorted(ranks.items(), key=lambda item: (np.mean(item[1]), item[0])))
    n_ranked = len(ranks.get("idc", []))
    return [f"Final epoch, label-free; mean ± std (seeds) over the records of each schedule (smoke runs left out); "
            f"each baseline at its most-recorded schedule; wall time: the median run's `wall_seconds` "
            f"(`run_info.json` says on which device and threads). IDC at or above K-means in {wins} of {total} rows.",
            "", to_markdown(header, rows), "",
            f"Mean rank (1: best ACC) on the {n_ranked} datasets where IDC and K-means have records, IDC at its "
            f"most-recorded schedule, each method ranked among those recorded on the dataset (in parentheses: on how "
            f"many of them it has records): {mean_rank or '-'}."]


# ------------------------------------------------------------------------------------------------ writing
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


def records_section(records: list[store.Record]) -> list[str]:
    """Counts of records per schedule, method and dataset, their seeds and mean wall time per run."""
    groups: dict[tuple[str, str, str], list[store.Record]] = {}
    for r in records:
        groups.setdefault((r.schedule, r.method, r.dataset), []).append(r)
    header = ["schedule", "method", "dataset", "records", "seeds", "wall time per run (mean)"]
    rows = []
    for (schedule, method, dataset), group in sorted(groups.items()):
        walls = [r.run_info["wall_seconds"] for r in group if r.run_info.get("wall_seconds") is not None]
        wall = f"{np.mean(walls):.1f} s" if walls else "-"
        rows.append([schedule, method, dataset, str(len(group)), " ".join(str(r.seed) for r in group), wall])
    if not rows:
        return ["No records yet."]
    return [to_markdown(header, rows)]


def official_section() -> list[str]:
    data = official()
    header = ["dataset", "configuration", "row", "ACC (%)", "seeds", "note"]
    rows = []
    for dataset, entry in sorted(data["rows"].items()):
        for kind in ("final", "label_picked"):
            values = entry.get(kind)
            if not values:
                continue
            per_seed = values.get("per_seed")
            if per_seed:
                shown = " / ".join(f"{v:g}" for v in per_seed.values()) + f" (seeds {', '.join(map(str, per_seed))})"
                cell = stat(list(per_seed.values()))
                shown = f"{fmt(cell, 1)}: {shown}"
            else:
                shown = fmt(values, 1)
            rows.append([dataset, entry["config"], kind.replace("_", "-") + " epoch", shown,
                         str(len(per_seed) if per_seed else values["seeds"]), entry.get("note", "")])
    return [f"Source: {data['source']}.", "", to_markdown(header, rows)]


def estimates_section() -> list[str]:
    header = ["schedule", "dataset", "idc (any trained variant)", "baseline"]
    rows = []
    for schedule, datasets in sorted(estimates().items(), key=lambda kv: schedule_rank(kv[0])):
        for dataset, entry in sorted(datasets.items()):
            rows.append([schedule, "any other" if dataset == "*" else dataset,
                         duration(entry["idc"]), duration(entry["baseline"])])
    return ["Estimates, not measurements (sources in `idc/paper/run_estimates.yaml`): one run on this project's "
            "2-core CPU, one thread, two runs side by side.", "", to_markdown(header, rows)]


def gpu_section(root: Path) -> list[str]:
    files = sorted((Path(root) / store.GPU).glob("*.json"))
    if not files:
        return ["Not measured: no records under `results/gpu/` yet. On a machine with a GPU run "
                "`make gpu-wheels` beforehand (with network), then `scripts/gpu_check.sh` there, and commit the JSON "
                "records it writes to `results/gpu/`."]
    header = ["record", "case", "value"]
    rows = []
    for f in files:
        payload = json.loads(f.read_text())
        for key, value in sorted(flatten(payload).items()):
            rows.append([f.stem, key, f"{value:.3f}" if isinstance(value, float) else str(value)])
    return [to_markdown(header, rows)]


def flatten(payload: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(payload, dict):
        out = {}
        for k, v in payload.items():
            out.update(flatten(v, f"{prefix}{k}."))
        return out
    return {prefix.rstrip("."): payload}


USAGE = """# Reproduction report

Generated by `make report` from the records in `results/` alone; do not edit by hand (a test fails when this page
and the records disagree). A record is `results/<schedule>/<method>/<dataset>/seed<k>/` with the small files of one
finished run: `idc-paper` adds its runs when they are DONE, `idc-results add RUN_DIR...` adds runs made by hand;
then `make report` and commit `results/` with `docs/results.{md,tex,csv}`.

How to read the tables: each cell is the mean ± sample std over the seeds of one schedule (`paper`: the paper's
Table 7; `short`: about a quarter of its epochs; `quick`: smoke runs, not results; `default`: the model config's own
schedule; `size_rule`: the settings and schedule that the size rule chose from the table's shape, what a user's
table gets, `idc/size_rule.py`; `size_rule_deep`: the size rule before tables with more columns than rows got the
linear autoencoder and the k-means head, i.e. the deep autoencoder and the coding-rate head of `hdlss_short`, kept as
the "before"). The headline is the final epoch, label-free; the best label-free value of our runs (final epoch,
consensus or silhouette-picked) per dataset and metric is in bold. The consensus row is one partition, the one that
agrees best with the seeds' final partitions (co-association, average linkage with K clusters: `idc/consensus.py`),
an ensemble of n runs without extra training; with few runs the co-association has many ties, broken by sample order
(another valid order can move a consensus row by a few ACC points). The label-picked epoch is the official code's protocol (it peeks at
the labels) and is never a result. The published number (`idc/paper/published.yaml`) is beside ours with ours minus
it in parentheses. Cells not run give the command that fills them."""


def build(root: Path = store.DEFAULT_ROOT, out: Path = Path("docs")) -> dict[str, Path]:
    """Write ``out/results.md``, ``results.tex`` and ``results.csv`` from the records below ``root``."""
    records = store.load_records(root)
    md, tex = [USAGE, ""], ["% Generated by `make report` from results/; do not edit."]
    data: list[list[Any]] = [["table", "dataset", "method", "row", "schedule", "seeds", "metric", "mean", "std",
                              "published_mean", "published_std"]]
    for table in TABLES:
        rows = table_rows(records, table)
        header, texts, bold = rendered(table, rows)
        source = published().get(table.key, {}).get("source")
        md += [f"## {table.title}", "", *([f"Published: {source}.", ""] if source else []),
               *([table.note, ""] if table.note else []),
               to_markdown(header, texts, bold), ""]
        tex += [f"% {table.title}", to_latex(header[:-1], [t[:-1] for t in texts], bold), ""]
        data += csv_rows(table, rows)
    md[1:1] = ["", "## IDC against the baselines (summary)", "", *summary_section(records)]
    md += ["## The official code as measured", "", *official_section(), "",
           "## Records", "", *records_section(records), "",
           "## Expected wall time per run", "", *estimates_section(), "",
           "## GPU", "", *gpu_section(root), "",
           "## Lever studies", "", *levers_section(root), "",
           "## Stage 1 as a clustering space (proxy)", "", *probe_section(root), ""]
    out.mkdir(parents=True, exist_ok=True)
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerows(data)
    files = {"md": out / "results.md", "tex": out / "results.tex", "csv": out / "results.csv"}
    files["md"].write_text("\n".join(md))
    files["tex"].write_text("\n".join(tex))
    files["csv"].write_text(buffer.getvalue())
    return files
