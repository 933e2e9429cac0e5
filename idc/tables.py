"""Result tables rebuilt from run directories alone (``config.yaml``, ``metrics.json``, ``run_info.json``,
``DONE`` / ``FAILED``): mean +- std per method and dataset, the published value beside ours, Markdown, LaTeX
and CSV."""
from __future__ import annotations

import csv
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from idc import run_dir as rd
from idc.methods import paper_row, run_name
from idc.run_dir import LABEL_SELECTED, SILHOUETTE_SELECTED, differing_keys, settings_of
from idc.paper import published_value
from idc.results import dataset_name, hydra_choices

LABEL_PICKED = "acc_label_picked_epoch"
SILHOUETTE_PICKED = "acc_silhouette_selected_epoch"
#: table metric -> the evaluation picked during training that it reads from metrics.json
EPOCH_PICKS = {SILHOUETTE_PICKED: SILHOUETTE_SELECTED, LABEL_PICKED: LABEL_SELECTED}
METRICS = {  # key in metrics.json -> (title, scale to percent?)
    "acc": ("ACC (%)", True),
    "nmi": ("NMI (%)", True),
    "ari": ("ARI (%)", True),
    "open_local_gates": ("open local gates (median per sample)", False),
    "open_global_gates": ("open global gates (mean per cluster)", False),
    # ACC at the evaluated epoch with the highest ACC: picked WITH labels (how the official code reports a seed),
    # shown in its own table only to compare with the published numbers, never as a result
    LABEL_PICKED: ("ACC (%) at the best epoch picked with labels (peeks at labels: not a result)", True),
    # ACC at the evaluated epoch whose partition has the highest silhouette: a label-free selection
    SILHOUETTE_PICKED: ("ACC (%) at the epoch selected by silhouette (label-free)", True),
}
PAPER_TABLES = ("real_data_acc", "mnist_fashion", "synthetic", "interpretability_mnist10k", "ablation_mnist60k")


@dataclass
class Run:
    path: Path
    method: str
    dataset: str
    seed: int
    status: str  # done | failed | unfinished
    metrics: dict[str, Any] = field(default_factory=dict)
    seconds: float | None = None
    selection: str | None = None
    settings: dict[str, str] = field(default_factory=dict)
    variant: str = ""  # the settings that set this run apart from other runs of its method and dataset

    @property
    def label(self) -> str:
        """The table row: the method, and its variant when runs of it differ in settings."""
        return f"{self.method} [{self.variant}]" if self.variant else self.method


def label_variants(runs: list[Run], max_keys: int = 4) -> None:
    """Runs of one method and dataset whose settings differ (a grid over ``head.restarts``, the quick and the
    paper schedule under one root) are told apart by the differing keys, so no cell averages over settings;
    keys absent from some runs (written by other versions) are not compared."""
    groups: dict[tuple[str, str], list[Run]] = {}
    for r in runs:
        groups.setdefault((r.method, r.dataset), []).append(r)
    for members in groups.values():
        differing = differing_keys([r.settings for r in members])
        # dataset.load.KEY interpolates dataset.KEY (dataset=table): one difference, shown once
        differing = [k for k in differing if not (k.startswith("dataset.load.")
                                                  and f"dataset.{k.removeprefix('dataset.load.')}" in differing)]
        for r in members:
            shown = [f"{k}={r.settings[k]}" for k in differing[:max_keys]]
            r.variant = ", ".join(shown + (["..."] if len(differing) > max_keys else []))


def find_runs(root: Path) -> list[Run]:
    """Every run directory below ``root``: a folder holding ``config.yaml`` outside ``.hydra``, or a sweep's job
    refused before it started (``FAILED`` beside Hydra's own ``.hydra/config.yaml``)."""
    runs = []
    configs = [c for c in root.rglob(rd.CONFIG) if ".hydra" not in c.parent.parts]
    refused = [f.parent / ".hydra" / rd.CONFIG for f in root.rglob(rd.FAILED) if not (f.parent / rd.CONFIG).exists()]
    for config in sorted([*configs, *(c for c in refused if c.is_file())]):
        d = config.parent.parent if config.parent.name == ".hydra" else config.parent
        cfg = yaml.safe_load(config.read_text()) or {}
        run = Run(d, run_name(cfg, hydra_choices(d)), dataset_name(cfg.get("dataset") or {}), int(cfg.get("seed", 0)),
                  "unfinished")
        run.settings = settings_of(cfg) if config.parent == d else {}  # Hydra's unresolved config: not compared
        if (d / rd.FAILED).exists():
            run.status = "failed"
        elif rd.is_done(d) and (d / rd.METRICS).exists():
            run.status = "done"
            run.metrics = json.loads((d / rd.METRICS).read_text())
            for metric, key in EPOCH_PICKS.items():
                picked = run.metrics.get(key) or {}
                if picked.get("acc") is not None:
                    run.metrics[metric] = picked["acc"]
            run.selection = run.metrics.get("selection")
            if (d / rd.RUN_INFO).exists():
                run.seconds = json.loads((d / rd.RUN_INFO).read_text()).get("wall_seconds")
        runs.append(run)
    label_variants(runs)
    return runs


def aggregate(runs: list[Run]) -> dict[tuple[str, str], dict[str, Any]]:
    """Per (method and variant, dataset): counts by status and mean/std (sample std, ddof=1) of each metric over
    done runs."""
    groups: dict[tuple[str, str], list[Run]] = {}
    for r in runs:
        groups.setdefault((r.label, r.dataset), []).append(r)
    out = {}
    for key, members in sorted(groups.items()):
        done = [r for r in members if r.status == "done"]
        cell: dict[str, Any] = {
            "method": members[0].method,
            "done": len(done),
            "failed": [str(r.path) for r in members if r.status == "failed"],
            "unfinished": [str(r.path) for r in members if r.status == "unfinished"],
        }
        for metric, (_, percent) in METRICS.items():
            scale = 100.0 if percent else 1.0
            values = [r.metrics[metric] * scale for r in done if r.metrics.get(metric) is not None]
            if values:
                cell[metric] = stat(values)
        seconds = [r.seconds for r in done if r.seconds is not None]
        cell["seconds"] = float(np.mean(seconds)) if seconds else None
        out[key] = cell
    return out


def _published(method: str, dataset: str, metric: str) -> dict[str, Any] | None:
    paper = paper_row(method)
    if paper is None:
        return None
    for table in PAPER_TABLES:
        value = published_value(table, paper, dataset, metric)
        if value is not None:
            return value
    return None


def stat(values: list[float]) -> dict[str, Any] | None:
    """Mean, sample std (ddof=1; None for one value) and n of ``values``, or None when there are none."""
    if not values:
        return None
    arr = np.asarray(values, dtype=float)
    return {"mean": float(arr.mean()), "std": float(arr.std(ddof=1)) if arr.size > 1 else None, "n": int(arr.size)}


def fmt(cell: dict[str, Any] | None, digits: int = 1) -> str:
    """``mean ± std`` of a :func:`stat` cell (the mean alone without a std; ``-`` without a cell)."""
    if not cell:
        return "-"
    if cell.get("std") is None:
        return f"{cell['mean']:.{digits}f}"
    return f"{cell['mean']:.{digits}f} ± {cell['std']:.{digits}f}"


def metric_table(agg: dict, metric: str) -> tuple[list[str], list[list[str]], list[tuple[int, int]]]:
    """Header, rows (method x dataset cells ``mean ± std (n)``) and the (row, column) cells to bold: the best
    mean per dataset (highest; for gate counts none is bolded)."""
    methods = sorted({m for m, _ in agg})
    datasets = sorted({d for _, d in agg})
    header = ["method", *datasets]
    rows, means = [], np.full((len(methods), len(datasets)), np.nan)
    for i, m in enumerate(methods):
        row = [m]
        for j, d in enumerate(datasets):
            cell = agg.get((m, d), {})
            ours = cell.get(metric)
            text = f"{fmt(ours)} ({ours['n']})" if ours else "-"
            if cell.get("failed"):
                text += f" [{len(cell['failed'])} failed]"
            if cell.get("unfinished"):
                text += f" [{len(cell['unfinished'])} unfinished]"
            row.append(text)
            if ours:
                means[i, j] = ours["mean"]
        rows.append(row)
    bold = []
    if METRICS[metric][1]:
        for j in range(len(datasets)):
            if not np.isnan(means[:, j]).all():
                bold.append((int(np.nanargmax(means[:, j])), j + 1))
    return header, rows, bold


def published_table(agg: dict) -> tuple[list[str], list[list[str]]]:
    """Ours next to the published value, with the difference, for every (method, dataset, metric) the paper has;
    the published ACC also faces our ACC at the epochs picked during training (:data:`EPOCH_PICKS`): by silhouette,
    the label-free selection the paper's text names, and with the labels, the official code's protocol."""
    header = ["method", "dataset", "metric", "ours (mean ± std, n)", "published", "difference"]
    rows = []
    for (m, d), cell in sorted(agg.items()):
        for metric in ("acc", *EPOCH_PICKS, "nmi", "ari"):
            paper = _published(cell.get("method", m), d, "acc" if metric in EPOCH_PICKS else metric)
            ours = cell.get(metric)
            if metric in EPOCH_PICKS and not ours:
                continue  # baselines without epochs have no picked epoch
            if paper is None:
                continue
            diff = f"{ours['mean'] - paper['mean']:+.1f}" if ours else "-"
            rows.append([m, d, metric, f"{fmt(ours)} ({ours['n']})" if ours else "-", fmt(paper), diff])
    return header, rows


def numeric_rows(agg: dict, metric: str) -> list[list[Any]]:
    """One row per method and dataset with plain numbers (for pandas / spreadsheets): mean, std, n, and the
    failed and unfinished counts."""
    rows: list[list[Any]] = [["method", "dataset", "mean", "std", "n", "failed", "unfinished"]]
    for (m, d), cell in sorted(agg.items()):
        ours = cell.get(metric) or {}
        rows.append([m, d, ours.get("mean", ""), ours.get("std", ""), ours.get("n", 0),
                     len(cell.get("failed", [])), len(cell.get("unfinished", []))])
    return rows


def to_markdown(header: list[str], rows: list[list[str]], bold: list[tuple[int, int]] = ()) -> str:
    bolded = set(bold)
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for i, row in enumerate(rows):
        lines.append("| " + " | ".join(f"**{c}**" if (i, j) in bolded else c for j, c in enumerate(row)) + " |")
    return "\n".join(lines)


def to_latex(header: list[str], rows: list[list[str]], bold: list[tuple[int, int]] = ()) -> str:
    def esc(text: str) -> str:
        return text.replace("±", r"$\pm$").replace("_", r"\_").replace("%", r"\%").replace("#", r"\#")

    bolded = set(bold)
    lines = [r"\begin{tabular}{l" + "c" * (len(header) - 1) + "}", r"\toprule", " & ".join(map(esc, header)) + r" \\", r"\midrule"]
    for i, row in enumerate(rows):
        cells = [rf"\textbf{{{esc(c)}}}" if (i, j) in bolded else esc(c) for j, c in enumerate(row)]
        lines.append(" & ".join(cells) + r" \\")
    lines += [r"\bottomrule", r"\end{tabular}"]
    return "\n".join(lines)


def selection_line(runs: list[Run], metric: str = "acc") -> str:
    if metric == LABEL_PICKED:
        return ("Reported epoch: of the epochs evaluated (every schedule.eval_every epochs of stage 2), the one with the "
                "highest ACC, picked WITH the labels, as the official code reports each seed; compare it with the published "
                "numbers, never report it as a clustering result.")
    if metric == SILHOUETTE_PICKED:
        return ("Reported epoch: of the epochs evaluated (every schedule.eval_every epochs of stage 2), the one whose "
                "partition has the highest silhouette on the frozen stage-2 embeddings (label-free: the checkpoint selection "
                "the paper's text names); the runs' saved clusters and gates are those of the final epoch.")
    chosen = sorted({r.selection for r in runs if r.selection})
    how = {"final_epoch": "the final epoch of each run (no label-based selection)"}
    return "Reported epoch: " + ("; ".join(how.get(c, c) for c in chosen) if chosen else "no finished run") + "."


def build_tables(root: Path, out: Path | None = None, expected: list[Path] | None = None,
                 runs: list[Run] | None = None) -> dict[str, Path]:
    """Write ``<out>/<metric>.{md,tex,csv}``, ``published.{md,tex,csv}`` and ``runs.md`` (every failed or
    unfinished run with its path, and the ``expected`` run directories that were never started); ``out``
    defaults to ``root/tables``; ``runs``: :func:`find_runs` of ``root`` when the caller has it already."""
    runs = find_runs(root) if runs is None else runs
    agg = aggregate(runs)
    out = out or root / "tables"
    out.mkdir(parents=True, exist_ok=True)
    written = {}
    tables = {metric: metric_table(agg, metric) for metric in METRICS}
    tables["published"] = (*published_table(agg), [])
    for name, (header, rows, bold) in tables.items():
        title = METRICS[name][0] if name in METRICS else "ours vs published (percent)"
        note = selection_line(runs, name) + " Cells: mean ± sample std over finished runs (n)"
        note += "; best mean in bold." if bold else "."
        if name == "published":
            note += (f" Rows {SILHOUETTE_PICKED}: ours at the epoch with the highest silhouette (label-free). Rows "
                     f"{LABEL_PICKED}: ours at the epoch picked with labels (the official code's protocol), not a result.")
        (out / f"{name}.md").write_text(f"# {title}\n\n{to_markdown(header, rows, bold)}\n\n{note}\n")
        (out / f"{name}.tex").write_text(f"% {title}. {note}\n{to_latex(header, rows, bold)}\n")
        with open(out / f"{name}.csv", "w", newline="") as f:
            csv.writer(f).writerows([header, *rows] if name == "published" else numeric_rows(agg, name))
        written[name] = out / f"{name}.md"
    status = ["| method | dataset | seed | status | where |", "|---|---|---|---|---|"]
    for r in runs:
        if r.status != "done":
            where = r.path / (rd.FAILED if r.status == "failed" else "train.log")
            status.append(f"| {r.label} | {r.dataset} | {r.seed} | {r.status} | {where} |")
    seen = {r.path.resolve() for r in runs}
    missing = [p for p in expected or [] if p.resolve() not in seen]
    for p in missing:
        status.append(f"| {p.parent.parent.name} | {p.parent.name} | {p.name.removeprefix('seed')} | not started | {p} |")
    done = sum(r.status == "done" for r in runs)
    total = len(runs) + len(missing)
    (out / "runs.md").write_text(f"# Runs\n\n{done} finished of {total}.\n\n" + "\n".join(status) + "\n")
    written["runs"] = out / "runs.md"
    return written
