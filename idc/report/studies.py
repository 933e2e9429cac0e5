"""The report's sections on the quality studies (issue 22), read from ``results/levers/*.jsonl``
(``scripts/lever_study.py``: stage-2 variants on one stage 1 per seed, beside K-means) and ``results/probe/*.jsonl``
(``scripts/stage1_probe.py``: K-means on views of the table along stage 1) and ``results/global_gates/*.jsonl``
(``scripts/global_gate_study.py``: the global gates alone refitted on finished runs under other settings)."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from idc import results as store
from idc.tables import fmt, stat, to_markdown

#: the views of the table that the probe clusters, in the order of the report's columns
PROBE_VIEWS = ("raw", "embedding", "gated", "weighted", "top50", "top200")


def probe_section(root: Path) -> list[str]:
    """``results/probe/*.jsonl`` of ``scripts/stage1_probe.py``: K-means ACC on each view of the table after a
    number of gated stage-1 epochs, mean over seeds, per dataset and lever; beside them two label-free scores of the
    embedding's partition where the records hold them: its silhouette and the seeds' agreement (mean ARI to their
    consensus, :func:`idc.consensus.combine_runs`)."""
    from idc.consensus import combine_runs

    groups: dict[tuple[str, str, int], list[dict[str, Any]]] = {}
    for f in sorted((Path(root) / store.PROBE).glob("*.jsonl")):
        for line in f.read_text().splitlines():
            r = json.loads(line)
            groups.setdefault((r["dataset"], r["tag"], int(r["gated_epochs"])), []).append(r)
    if not groups:
        return ["No records yet (`python scripts/stage1_probe.py --help`)."]
    header = ["dataset", "lever", "gated epochs", "seeds", "open local gates (median)",
              *(f"ACC {v} (%)" for v in PROBE_VIEWS), "embedding silhouette", "embedding seed agreement (ARI)"]
    rows = []
    for (dataset, tag, epochs), group in sorted(groups.items()):
        group = sorted({r["seed"]: r for r in group}.values(), key=lambda r: r["seed"])  # a seed probed twice: last
        cells = [f"{100 * np.mean([r[v]['acc'] for r in group]):.1f}" if all(v in r for r in group) else "-"
                 for v in PROBE_VIEWS]  # a view added after a record was written: "-"
        embedding = [r["embedding"] for r in group]
        silhouette = f"{np.mean([e['silhouette'] for e in embedding]):.3f}" if all(
            "silhouette" in e for e in embedding) else "-"
        agreement = "-"
        if len(group) > 1 and all("labels" in e for e in embedding):
            k = max(max(e["labels"]) for e in embedding) + 1
            agreement = f"{combine_runs([np.asarray(e['labels']) for e in embedding], k).agreement:.2f}"
        rows.append([dataset, tag, str(epochs), " ".join(str(r["seed"]) for r in group),
                     f"{np.mean([r['open_gates_median'] for r in group]):.0f}", *cells, silhouette, agreement])
    return ["K-means (10 starts) on views of the table along one stage-1 run (`scripts/stage1_probe.py`): `raw` the "
            "scaled table, `embedding` the stage-1 embeddings of gated inputs (where stage 2 starts), `gated` the "
            "gated inputs, `weighted` the table with each feature weighted by its mean local gate, `top<m>` the m features of largest mean local gate. A proxy for stage-1 levers, no "
            "stage 2; the labels only score. Levers are the overrides in the records. Label-free, where recorded: "
            "the silhouette of K-means' partition of the embedding (in the embedding) and the seeds' agreement "
            "(mean ARI of their partitions to the consensus of them).", "", to_markdown(header, rows)]


def levers_section(root: Path) -> list[str]:
    """``results/levers/*.jsonl`` of ``scripts/lever_study.py``: per study and variant, mean ± std of ACC and NMI
    over the seeds, the mean open gates and seconds per run; the study's settings once."""
    lines: list[str] = []
    for f in sorted((Path(root) / store.LEVERS).glob("*.jsonl")):
        records = [json.loads(line) for line in f.read_text().splitlines()]
        by_variant: dict[str, dict[int, dict[str, Any]]] = {}
        for r in records:
            by_variant.setdefault(r["variant"], {})[int(r["seed"])] = r  # a seed run twice: the last
        header = ["variant", "its overrides", "seeds", "ACC (%)", "NMI (%)", "open local gates",
                  "open global gates", "uniqueness", "diversity (%)", "global-gate diversity (%)",
                  "global-gate fidelity (%)", "seconds per run"]
        rows = []
        for variant, runs in by_variant.items():
            group = [runs[s] for s in sorted(runs)]
            rows.append([variant, " ".join(f"`{o}`" for o in group[0]["overrides"]) or "-", str(len(group)),
                         fmt(stat([100 * r["acc"] for r in group]), 1), fmt(stat([100 * r["nmi"] for r in group]), 1),
                         _mean_of(group, "open_local_gates"), _mean_of(group, "open_global_gates"),
                         _mean_of(group, "uniqueness", 2), _mean_of(group, "diversity_clusters"),
                         _global_gate_diversity(group), _mean_of(group, "global_gate_fidelity", scale=100),
                         f"{np.mean([r['seconds'] for r in group]):.0f}"])
        settings = " ".join(f"`{o}`" for o in records[0]["settings"]) or "-"
        lines += [f"### {f.stem}", "", f"Settings of every run: {settings}.", "",
                  to_markdown(header, rows), ""]
    if not lines:
        return ["No records yet (`python scripts/lever_study.py --help`)."]
    return ["Stage-2 variants trained from the stage 1 of the study's `base` run of the same seed, and K-means on "
            "the same table through the same harness (`scripts/lever_study.py`); final epoch, label-free. Beside ACC "
            "the explanations (our interpretability code, `idc/metrics/interpretability.py`; the paper's MNIST10K: "
            "uniqueness 0.69, diversity 94.8 %): `uniqueness` of the local gates, `diversity` of the clusters' "
            "feature sets (features whose local gate is open for most of a cluster's samples) and of their global "
            "gates (100: no two clusters share a feature), and the global gates' `fidelity`: the share of samples the "
            "auxiliary classifier puts in their own cluster from the features their cluster's global gates keep "
            "(few, distinct global gates that no longer recognise the cluster explain nothing); means over the "
            "seeds, `-` where a run has no gates or was recorded before the measure existed.", "",
            *lines[:-1]]


def _global_gate_diversity(group: list[dict[str, Any]]) -> str:
    """The mean global-gate diversity, and how many clusters' global-gate sets were empty where any was (an empty
    set shares nothing, so it raises the diversity without explaining anything)."""
    empty = sum(r.get("empty_sets_global_gates") or 0 for r in group)
    cell = _mean_of(group, "diversity_global_gates")
    return f"{cell} ({empty} empty set{'s' * (empty > 1)})" if empty and cell != "-" else cell


def _mean_of(group: list[dict[str, Any]], key: str, digits: int = 1, scale: float = 1.0) -> str:
    values = [scale * r[key] for r in group if r.get(key) is not None]
    return f"{np.mean(values):.{digits}f}" if values else "-"


def global_gates_section(root: Path) -> list[str]:
    """``results/global_gates/*.jsonl`` of ``scripts/global_gate_study.py``: per study, dataset and variant, the
    means over runs of the open global gates per cluster (and their share of D), their diversity and fidelity.
    Records of one variant name under other overrides are rows of their own."""
    lines: list[str] = []
    for f in sorted((Path(root) / store.GLOBAL_GATES).glob("*.jsonl")):
        groups: dict[tuple[str, str, str, str], dict[str, dict[str, Any]]] = {}
        for r in map(json.loads, f.read_text().splitlines()):
            key = (r["dataset"], r["schedule"], r["variant"], json.dumps(r["overrides"], sort_keys=True))
            groups.setdefault(key, {})[r["run"]] = r  # retrained twice: the last
        header = ["dataset", "schedule", "variant", "its overrides", "runs (seeds)",
                  "open global gates per cluster with samples",
                  "global-gate diversity (%)", "global-gate fidelity (%)", "weakest cluster's fidelity (%)",
                  "refitted at less overlap (runs)"]
        rows = []
        for (dataset, schedule, variant, _), by_run in sorted(groups.items(),
                                                           key=lambda item: (*item[0][:2], _weight_order(item))):
            group = sorted(by_run.values(), key=lambda r: r["seed"])
            share = 100 * np.mean([r["open_global_gates"] / r["n_features"] for r in group])
            overrides = " ".join(f"`{k}={_plain(v)}`" for k, v in group[0]["overrides"].items()) or "-"
            seeds = " ".join(str(r["seed"]) for r in group)
            rows.append([dataset, schedule, variant, overrides, f"{len(group)} ({seeds})",
                         f"{_mean_of(group, 'open_global_gates')} ({share:.1f} %)", _global_gate_diversity(group),
                         _mean_of(group, "global_gate_fidelity", scale=100),
                         _mean_of(group, "global_gate_fidelity_min", scale=100), _guarded(group)])
        lines += [f"### {f.stem}", "", to_markdown(header, rows), ""]
    if not lines:
        return ["No records yet (`python scripts/global_gate_study.py --help`)."]
    return ["With the default head, frozen when the global gates start, they learn from a partition already fixed, "
            "so other global-gate settings change no cluster. `scripts/global_gate_study.py` refits them alone (as "
            "`idc-eval RUN head.global_gates.reg_lambda=V` does), from scratch, on a finished run's own gated inputs "
            "and clusters, once per variant, for as many steps as the run gave them (its global-gate phase times "
            "`train_factor`, 1 in runs from before that option), times a variant's `steps`. Open global gates per "
            "cluster (in parentheses: as a share of D), their diversity (100: no two clusters share a feature; empty "
            "sets counted beside it) and fidelity (the share of samples the auxiliary classifier still puts in their "
            "own cluster from what their cluster's global gates keep; measured on the rows it trained on, so on "
            "tables of few rows it holds easily; also for the weakest cluster, in records from the guard on), means "
            "over the runs, and how many runs the guard on shared features "
            "(`head.global_gates.min_cluster_fidelity`) refitted at less overlap (- where no record says). A setting "
            "is better where the gates are fewer and more distinct and the fidelity holds.", "", *lines[:-1]]


def guard_refits(runs: list[list[dict[str, Any]] | None]) -> tuple[int, list[str]]:
    """Of the runs' overlap-guard fits (``head_selection.overlap_guard``; ``None`` or empty where a run has none:
    the guard off, or a run from before it), how many say what the guard did, and the overlap weights of the
    refits kept (``head.global_gates.min_cluster_fidelity``), one per run that was refitted at less overlap."""
    said = [run for run in runs if run]
    return len(said), [_plain(next(f for f in run if f["kept"])["overlap_weight"]) for run in said if not run[0]["kept"]]


def _guarded(group: list[dict[str, Any]]) -> str:
    """How many runs the overlap guard refitted at less overlap, at which weights; ``-`` where no record says."""
    said, kept = guard_refits([r.get("overlap_guard") for r in group])
    if not said:
        return "-"
    return f"{len(kept)}" + (f" (at {', '.join(kept)})" if kept else "")


def _weight_order(item: tuple[tuple[str, ...], dict[str, dict[str, Any]]]) -> tuple[float, float, str, str]:
    """Variants in the order of their weight (``reg_lambda``, else the run's own), then length, then name."""
    first = next(iter(item[1].values()))
    overrides = first["overrides"]
    weight = float(overrides.get("reg_lambda", first.get("recorded_reg_lambda", 0.0)))
    return weight, float(overrides.get("steps", 1.0)), item[0][2], item[0][3]


def _plain(value: Any) -> str:
    """A recorded override as given: numbers in their shortest form (30, 0.01), anything else as is."""
    return f"{value:g}" if isinstance(value, (int, float)) and not isinstance(value, bool) else str(value)
