"""The page's closing sections: records per run kind, the official code as measured, the wall-time estimates, the
GPU check's records and the benchmark's (``make bench-record``)."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from idc import results as store
from idc.benchmark import page
from idc.report.definitions import estimates, official, schedule_rank
from idc.report.fill import duration
from idc.tables import fmt, stat, to_markdown


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


def bench_section(root: Path) -> list[str]:
    """Each ``results/bench/*.json`` (``make bench-record``): its machine, one row per case and the speed-ups
    measured side by side in that one run."""
    files = sorted((Path(root) / store.BENCH).glob("*.json"))
    if not files:
        return ["Not measured: no records under `results/bench/` yet. `make bench-record` runs the benchmark's quick "
                "cases (about two minutes on a 2-core CPU, nothing else running) and writes "
                "`results/bench/cpu-quick.json`; commit it with `make report`'s page."]
    out = []
    for f in files:
        payload = json.loads(f.read_text())
        machine = payload.get("machine") or {}
        about = ", ".join(f"{k} {v}" for k, v in machine.items())
        out += [f"### {f.stem}", "", f"`results/bench/{f.name}`" + (f": {about}" if about else "") + ".", "",
                *page(payload), ""]
    return out[:-1]


def flatten(payload: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(payload, dict):
        out = {}
        for k, v in payload.items():
            out.update(flatten(v, f"{prefix}{k}."))
        return out
    return {prefix.rstrip("."): payload}
