"""The page's first section: IDC against K-means and the best other baseline on every dataset, and mean ranks."""
from __future__ import annotations

import warnings

import numpy as np
from scipy import stats

from idc import results as store
from idc.methods import BASELINES, SELECTORS
from idc.report.definitions import ACC, KEPT_BEFORE, ROW_FINAL, schedule_rank
from idc.report.fill import fill_note, wall_seconds
from idc.report.rows import subset_consensus_accs, value_of
from idc.tables import fmt, stat, to_markdown


#: the runs of the summary's consensus column (``model.n_init``), estimated from subsets of a row's seeds
ENSEMBLE = 3
#: at most this many subsets of a row's seeds per estimate
SUBSETS = 120
#: issue 22's target: IDC's std of ACC across seeds at most K-means' + this many points
SPREAD_MARGIN = 5.0


def acc_by_method(records: list[store.Record], dataset: str) -> dict[tuple[str, str], list[float]]:
    """``(method, schedule) -> final-epoch ACCs (%)`` of ``dataset``'s records, smoke schedules (``quick``) left out."""
    out: dict[tuple[str, str], list[float]] = {}
    for r in records:
        if r.dataset == dataset and r.schedule != "quick" and (v := value_of(r, ACC, ROW_FINAL)) is not None:
            out.setdefault((r.method, r.schedule), []).append(v)
    return out


def best_recorded(accs: dict[tuple[str, str], list[float]], method: str) -> tuple[str, list[float]] | None:
    """The schedule of ``method`` with the most records (ties: :data:`SCHEDULE_ORDER`) and their ACCs; a kept
    "before" (:data:`KEPT_BEFORE`) only when there is nothing else."""
    mine = [(schedule, values) for (m, schedule), values in accs.items() if m == method]
    if not mine:
        return None
    return min(mine, key=lambda item: (item[0] in KEPT_BEFORE, -len(item[1]), schedule_rank(item[0])))


def welch_p(a: list[float], b: list[float]) -> float | None:
    """Two-sided p-value of Welch's t-test that the seeds of ``a`` and ``b`` have the same mean ACC; None where it
    says nothing: fewer than two seeds on a side, or no spread on either (a deterministic method against another)."""
    a, b = np.round(a, 6), np.round(b, 6)  # equal ACCs of different runs are equal (no float noise in the spread)
    if min(len(a), len(b)) < 2 or (np.ptp(a) == 0 and np.ptp(b) == 0):
        return None
    with warnings.catch_warnings():  # one side constant: scipy warns of cancellation in a variance that is exactly 0
        warnings.simplefilter("ignore", RuntimeWarning)
        return float(stats.ttest_ind(a, b, equal_var=False).pvalue)


def baseline_cell(records: list[store.Record], dataset: str, method: str, schedule: str, values: list[float]) -> str:
    """``mean ± std (seeds, schedule; median time per run)`` of a baseline's ACCs (no time where none is recorded)."""
    time = wall_seconds(records, method, schedule, dataset)
    return cell(values, schedule if time == "-" else f"{schedule}; {time}")


def cell(values: list[float], *notes: str) -> str:
    """``mean ± std (n, notes...)`` of ACCs (%); ``-`` when there are none."""
    return fmt(stat(values), 1) + f" ({', '.join([str(len(values)), *notes])})" if values else "-"


def summary_section(records: list[store.Record]) -> list[str]:
    """IDC against K-means and the best other baseline on every dataset with records: one row per schedule of IDC
    (final epoch, label-free; "not run" with the command that fills it), the baselines at their most-recorded
    schedule, IDC's rank among them, the consensus of :data:`ENSEMBLE` runs estimated from the seeds of each IDC row
    (:func:`idc.report.rows.subset_consensus_accs`), and each method's mean rank over the datasets where IDC and
    K-means ran."""
    header = ["dataset", "IDC schedule", "IDC ACC (%)", "IDC time per run (or the command)",
              "K-means ACC (%) (seeds, schedule; time per run)",
              "IDC minus K-means (Welch's p)", f"IDC, consensus of {ENSEMBLE} runs (`model.n_init={ENSEMBLE}`)",
              "best other baseline: ACC (%) (seeds, schedule; time per run)", "IDC's rank (of methods)"]
    rows, wins, total, ranks, below, spread, selecting = [], 0, 0, {}, [], [], []
    ensemble_wins, ensemble_total = 0, 0
    for dataset in sorted({r.dataset for r in records if r.schedule != "quick"}):
        accs = acc_by_method(records, dataset)
        baselines = {m: b for m in BASELINES if (b := best_recorded(accs, m)) is not None}
        kmeans = baselines.get("kmeans")
        means = {m: float(np.mean(v)) for m, (_, v) in baselines.items()}
        others = {m: mean for m, mean in means.items() if m != "kmeans"}
        best = max(others, key=others.get) if others else None
        kmeans_cell = baseline_cell(records, dataset, "kmeans", *kmeans) if kmeans else "not run"
        best_cell = f"{best}: " + baseline_cell(records, dataset, best, *baselines[best]) if best else "-"
        selector = max((m for m in SELECTORS if m in means), key=means.get, default=None)
        idc = best_recorded(accs, "idc")
        if idc is None:
            rows.append([dataset, store.SIZE_RULE_SCHEDULE, "not run",
                         fill_note("idc", store.SIZE_RULE_SCHEDULE, dataset), kmeans_cell, "-", "-", best_cell, "-"])
            continue
        if kmeans:  # the mean rank: IDC at its most-recorded schedule among the baselines recorded here
            scores = {"idc": float(np.mean(idc[1])), **means}
            for m, score in scores.items():
                ranks.setdefault(m, []).append(1 + sum(other > score for other in scores.values()))
        for (method, schedule), values in sorted(accs.items(), key=lambda item: schedule_rank(item[0][1])):
            if method != "idc":
                continue
            mean = float(np.mean(values))
            ensemble = subset_consensus_accs([r for r in records if (r.method, r.schedule, r.dataset) ==
                                              ("idc", schedule, dataset)], ENSEMBLE, SUBSETS)
            diff = "-"
            if kmeans:
                diff = f"{round(mean - float(np.mean(kmeans[1])), 1) + 0.0:+.1f}"  # no "-0.0" for a tie
                if (p := welch_p(values, kmeans[1])) is not None:
                    diff += f" ({p:.2f})" if p >= 0.01 else " (< 0.01)"
                if schedule not in KEPT_BEFORE:
                    total += 1
                    wins += mean >= np.mean(kmeans[1])
                    if mean < np.mean(kmeans[1]):
                        below.append((dataset, p))
                    if (ours := stat(values)["std"]) is not None and (theirs := stat(kmeans[1])["std"]) is not None:
                        spread.append((f"{dataset} ({schedule})", ours, theirs))
                    if ensemble:
                        ensemble_total += 1
                        ensemble_wins += np.mean(ensemble) >= np.mean(kmeans[1])
            if selector and schedule not in KEPT_BEFORE:
                selecting.append((dataset, mean, selector, means[selector]))
            rank = f"{1 + sum(m > mean for m in means.values())} of {len(means) + 1}" if means else "-"
            rows.append([dataset, schedule, cell(values),
                         wall_seconds(records, "idc", schedule, dataset), kmeans_cell, diff,
                         cell(ensemble), best_cell, rank])
    if not rows:
        return ["No records yet."]
    mean_rank = ", ".join(f"{m} {np.mean(r):.1f} ({len(r)})"
                          for m, r in sorted(ranks.items(), key=lambda item: (np.mean(item[1]), item[0])))
    n_ranked = len(ranks.get("idc", []))
    return [f"Final epoch, label-free; mean ± std (seeds) over the records of each schedule (smoke runs left out); "
            f"each baseline at its most-recorded schedule; wall time: the median run's `wall_seconds` "
            f"(`run_info.json` says on which device and threads). IDC at or above K-means in {wins} of {total} rows "
            f"(the kept \"before\" rows, {', '.join(f'`{b}`' for b in KEPT_BEFORE)}, left out){below_note(below)}. "
            f"{spread_note(spread)}{selecting_note(selecting)}"
            f"The consensus of {ENSEMBLE} runs is what `model.n_init={ENSEMBLE}` returns ({ENSEMBLE} times the "
            f"training; `idc/consensus_run.py`), estimated from the row's own seeds: mean ± std over every {ENSEMBLE} "
            f"of them (at most {SUBSETS} such subsets, drawn at random beyond; in parentheses: how many; they share "
            f"seeds, so the std understates that of fresh runs), none under {ENSEMBLE} seeds; at or above K-means in "
            f"{ensemble_wins} of {ensemble_total} rows with {ENSEMBLE} or more seeds, all with their clusters files. "
            f"Welch's p: the two-sided p-value of Welch's t-test over the seeds (none where a side has one seed or "
            f"neither varies); with 10 seeds a side, a difference of about one pooled std has p near 0.05.",
            "", to_markdown(header, rows), "",
            f"Mean rank (1: best ACC) on the {n_ranked} datasets where IDC and K-means have records, IDC at its "
            f"most-recorded schedule that is not a kept \"before\", each method ranked among those recorded on the "
            f"dataset (in parentheses: on how many of them it has records): {mean_rank or '-'}."]


def over(points: float) -> str:
    """How far beyond a line: ``1.11 over``, or ``just over`` below 0.01 (never ``4e-06 over``)."""
    return f"{points:.2f} over" if points >= 0.01 else "just over"


def spread_note(spread: list[tuple[str, float, float]]) -> str:
    """How many of the rows (name, IDC's std, K-means' std; ACC points over the seeds) keep IDC's std across seeds
    within K-means' + :data:`SPREAD_MARGIN` points (issue 22's target), and which do not (by how much: a row just beyond
    the line reads as on it at one decimal)."""
    if not spread:
        return ""
    beyond = [f"{name}: {ours:.1f} against {theirs:.1f} ({over(ours - theirs - SPREAD_MARGIN)})"
              for name, ours, theirs in spread if ours > theirs + SPREAD_MARGIN + 1e-9]
    return (f"IDC's std across seeds within K-means' + {SPREAD_MARGIN:g} points in {len(spread) - len(beyond)} of "
            f"{len(spread)} of those rows with two or more seeds a side" + (f" (beyond it: {'; '.join(beyond)})"
                                                                           if beyond else "") + ". ")


def selecting_note(rows: list[tuple[str, float, str, float]]) -> str:
    """How many of the rows (dataset, IDC's mean ACC, the best feature-selecting baseline there and its mean) have IDC
    at or above the best baseline that clusters on features it selects (:data:`idc.methods.SELECTORS`: the methods
    whose explanations are of IDC's kind), naming the rows below it."""
    if not rows:
        return ""
    below = [f"{d}: {ours:.1f} against {name}'s {theirs:.1f}" for d, ours, name, theirs in rows if ours < theirs]
    return (f"Against the baselines that cluster on features they select ({', '.join(SELECTORS)}: explanations of "
            f"IDC's kind), IDC at or above the best of them in {len(rows) - len(below)} of {len(rows)} of those rows"
            + (f" (below: {'; '.join(below)})" if below else "") + ". ")


def below_note(below: list[tuple[str, float | None]]) -> str:
    """``; of the n below it, m by more than the seeds' noise (Welch's p < 0.05): <datasets>`` for the rows (dataset,
    Welch's p) below K-means; nothing when none is."""
    if not below:
        return ""
    clear = [d for d, p in below if p is not None and p < 0.05]
    return (f"; of the {len(below)} below it, {len(clear)} by more than the seeds' noise (Welch's p < 0.05)"
            + (f": {', '.join(clear)}" if clear else ""))
