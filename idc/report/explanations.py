"""The page's explanations section (issue 22, section 5): on every dataset, at IDC's headline schedule (the summary's),
how many features its explanations keep and how much they differ between samples and clusters, from the records'
``eval.json`` (our interpretability code, :mod:`idc.metrics.interpretability`)."""
from __future__ import annotations

import numpy as np

from idc import results as store
from idc.data.registry import dataset_facts
from idc.paper import published
from idc.report.studies import guard_refits
from idc.report.summary import acc_by_method, best_recorded
from idc.run_dir import ABSENT_MEANS
from idc.tables import to_markdown

#: (eval.json key, column, scale): the measures of one run's explanations
MEASURES = (
    ("uniqueness", "local gates' uniqueness", 1.0),
    ("diversity_clusters", "clusters' feature-set diversity (%)", 1.0),
    ("diversity_global_gates", "global-gate diversity (%)", 1.0),
    ("global_gate_fidelity", "global-gate fidelity (%)", 100.0),
)


#: a diversity's count of clusters whose set holds no feature: they share nothing, so they raise it
EMPTY_SETS = {"diversity_clusters": "empty_sets_clusters", "diversity_global_gates": "empty_sets_global_gates"}


def mean_of(records: list[store.Record], key: str, scale: float = 1.0) -> float | None:
    """The mean of ``key`` over the records' ``eval.json`` (else ``metrics.json``) that hold it."""
    values = [float(v) * scale for r in records
              if (v := r.evaluation.get(key, r.metrics.get(key))) is not None]
    return float(np.mean(values)) if values else None


def share(value: float | None, features: int | None) -> str:
    """``count (p % of D)`` of a mean count of open gates; ``-`` where none is recorded."""
    if value is None:
        return "-"
    count = f"{value:.1f}" if value < 10 else f"{value:.0f}"
    if not features:
        return count
    pct = 100 * value / features
    return f"{count} ({'< 0.1' if pct < 0.05 else f'{pct:.1f}'} %)"


def features_of(dataset: str) -> int | None:
    """D of a dataset from its config alone (None for a table whose width is only known once read)."""
    try:
        d = dataset_facts(dataset).get("n_features")
    except OSError:  # no config of that name
        return None
    return int(d) if d else None


#: the settings that decide how many global gates stay open (several values in a row: a default changed between seeds)
GLOBAL_WEIGHT = "head.global_gates.reg_lambda"
GLOBAL_TRAINING, GLOBAL_OVERLAP = "head.global_gates.train_factor", "head.global_gates.overlap_weight"


def weights_of(records: list[store.Record]) -> str:
    """The global gates' weights, training lengths (times their phase) and overlap weights the records trained
    with (records from before an option: its old behaviour, ×1 and no overlap term), each once (``-`` where no
    record says): ``10 (×3)``, or ``10 (×3, overlap 2)``, and the runs whose overlap guard refitted their global
    gates at less overlap: ``10 (×3, overlap 2); 10 of 10 runs refitted at overlap 1 (9), 0.5 (1) (the guard)``."""
    def setting(r: store.Record, key: str) -> float:
        return float(r.settings.get(key, ABSENT_MEANS[key]))

    sets = sorted({(float(w), setting(r, GLOBAL_TRAINING), setting(r, GLOBAL_OVERLAP)) for r in records
                   if (w := r.settings.get(GLOBAL_WEIGHT)) is not None})
    said, kept = guard_refits([r.metrics.get("head_selection", {}).get("overlap_guard") for r in records])
    counts = {w: kept.count(w) for w in sorted(set(kept), key=float, reverse=True)}
    at = next(iter(counts)) if len(counts) == 1 else ", ".join(f"{w} ({n})" for w, n in counts.items())
    refitted = f"; {len(kept)} of {said} runs refitted at overlap {at} (the guard)" if kept else ""
    return (", ".join(f"{w:g} (×{t:g}{f', overlap {o:g}' if o else ''})" for w, t, o in sets) or "-") + refitted


def explanations_section(records: list[store.Record]) -> list[str]:
    """One row per dataset with IDC records: its headline schedule (:func:`best_recorded`), D, the open local gates
    per sample (median over samples) and global gates per cluster (mean over clusters) as counts and shares of D,
    and :data:`MEASURES`, each the mean over the seeds whose ``eval.json`` holds it."""
    header = ["dataset", "IDC schedule", "seeds", "D", "open local gates per sample", "open global gates per cluster",
              "global gates' weight (training, overlap)", *(column for _, column, _ in MEASURES)]
    rows = []
    for dataset in sorted({r.dataset for r in records if r.method == "idc" and r.schedule != "quick"}):
        schedule, _ = best_recorded(acc_by_method(records, dataset), "idc") or (None, [])
        mine = [r for r in records if (r.method, r.schedule, r.dataset) == ("idc", schedule, dataset)]
        if not mine:
            continue
        features = features_of(dataset)
        cells = []
        for key, _, scale in MEASURES:
            value = mean_of(mine, key, scale)
            cells.append("-" if value is None else f"{value:.2f}" if key == "uniqueness" else f"{value:.0f}"
                         + empty_note(mine, key))
        rows.append([dataset, schedule, str(len(mine)), str(features or "-"),
                     share(mean_of(mine, "open_local_gates"), features),
                     share(mean_of(mine, "open_global_gates"), features), weights_of(mine), *cells])
    if not rows:
        return ["No records yet."]
    return ["IDC at the summary's schedule per dataset (its most-recorded one that is not a kept \"before\"), "
            "final epoch; means over the seeds whose `eval.json` holds the measure (records made before a measure "
            "existed lack it). Open local gates: the median over samples of the gates open for a sample; open global "
            "gates: the mean over clusters of the gates open for a cluster; in parentheses as a share of the table's "
            f"D. The global gates' weight (`{GLOBAL_WEIGHT}`), how long they trained (`{GLOBAL_TRAINING}`: times "
            f"their phase) and the weight on features two clusters share (`{GLOBAL_OVERLAP}`, none where 0) decide "
            "how many stay open and how distinct they are (the section \"Global gates' weight\" refits them under "
            "others). Uniqueness: the official code's measure, the mean over samples of the distance between the "
            "local gates of a sample and of its nearest neighbour over the distance between their inputs (it depends "
            "on the table's scale: compare it between runs of one table, not between tables); diversity: how few features the clusters' sets (features open "
            "for most of a cluster's samples) or global gates share (100: none; \"(e of K empty)\": that many clusters, "
            "on average, have an empty set, which shares nothing and so raises the diversity without explaining "
            "anything); fidelity: the share of samples the "
            "auxiliary classifier puts in their own cluster from the features their cluster's global gates keep "
            "(`docs/outputs.md`)."
            + published_note(), "", to_markdown(header, rows)]


def empty_note(records: list[store.Record], key: str) -> str:
    """`` (e of K empty)``: the mean number of empty sets behind the diversity ``key`` over the records that count
    them, where any is; else nothing."""
    empty = mean_of(records, EMPTY_SETS[key]) if key in EMPTY_SETS else None
    if not empty:
        return ""
    clusters = mean_of(records, "n_clusters")
    return f" ({empty:.1f} of {clusters:.0f} empty)" if clusters else f" ({empty:.1f} empty)"


def published_note() -> str:
    """The paper's IDC on MNIST10K (Table 1, ``published.yaml``) as the reference for uniqueness and diversity."""
    idc = published().get("interpretability_mnist10k", {}).get("rows", {}).get("IDC", {}).get("mnist10k", {})
    if not idc:
        return ""
    return (f" The paper's IDC on MNIST10K (Table 1): uniqueness {idc['uniqueness']:g}, diversity {idc['diversity']:g} "
            f"%, {idc['open_gates']:g} open gates per sample.")
