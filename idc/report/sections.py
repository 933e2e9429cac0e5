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
    """The GPU check's records (``scripts/gpu_check.sh``): the bench variants side by side, the MNIST10K run and,
    where ``scripts/gpu_profile.py`` left one, the profile's split of a step between host and device."""
    folder = Path(root) / store.GPU
    files = sorted(folder.glob("*.json"))
    if not files:
        return ["Not measured: no records under `results/gpu/` yet. On a machine with a GPU run "
                "`make gpu-wheels` beforehand (with network), then `scripts/gpu_check.sh` there, and commit the JSON "
                "records it writes to `results/gpu/`."]
    out: list[str] = []
    for f in files:
        payload = json.loads(f.read_text())
        about = f"`results/gpu/{f.name}`: {payload.get('device', '?')}, torch {payload.get('torch', '?')}"
        about += " (dry run: not a result)" if payload.get("dry_run") else ""
        if "variants" in payload:
            header = ["variant", "stage 1 ms/step", "stage 2 ms/step", "CUDA peak (GB)", "error"]
            rows = [[name, _num(v.get("stage1_ms_per_step"), 1), _num(v.get("stage2_ms_per_step"), 1),
                     _num(v.get("cuda_max_allocated_gb"), 2), v.get("error", "")]
                    for name, v in payload["variants"].items()]
            out += [f"### {payload.get('case', f.stem)}", "", about + ".", "", to_markdown(header, rows), ""]
        elif "epochs" in payload:
            state = "complete" if payload.get("complete") else "cut by the check's time limit"
            header = ["epochs run", "state", "stage 1 s/epoch", "stage 2 s/epoch", "wall", "ACC (final epoch)"]
            acc = payload.get("acc")
            rows = [[str(payload["epochs"]), state, _num(payload.get("stage1_s_per_epoch"), 2),
                     _num(payload.get("stage2_s_per_epoch"), 2),
                     duration(payload["wall_seconds"]) if payload.get("wall_seconds") else "-",
                     "-" if acc is None else f"{100 * acc:.1f}"]]
            out += [f"### {payload.get('case', f.stem)}", "", about + "; `" + " ".join(payload.get("overrides", []))
                    + "`.", "", to_markdown(header, rows), ""]
        else:
            rows = [[key, f"{value:.3f}" if isinstance(value, float) else str(value)]
                    for key, value in sorted(flatten(payload).items())]
            out += [f"### {f.stem}", "", to_markdown(["key", "value"], rows), ""]
    profile = profile_rows(folder / "profile")
    if profile:
        out += ["### Where a step's time goes (`scripts/gpu_profile.py`)", "",
                "torch.profiler over consecutive steps: the host's own time (Python, dispatch, kernel launches; the "
                "profiler's own overhead included) against the time the device computes; launches counted from the "
                "profiler's 30 costliest rows.", "",
                to_markdown(["profile", "steps", "host ms/step (under the profiler)", "device ms/step (self CUDA)",
                             "kernel launches/step (at least)"], profile), ""]
    return out[:-1]


def profile_rows(folder: Path) -> list[list[str]]:
    """One row per ``profile_*.txt`` under ``folder`` (and its subfolders): the profiler's self-CPU and
    self-CUDA totals per step and the launches per step."""
    rows = []
    for f in sorted(folder.rglob("profile_stage*.txt")):
        text = f.read_text()
        steps = int(text.split(" steps", 1)[0]) if text[:1].isdigit() else 0
        totals = {}
        launches = 0
        first_table = text.split("Self CPU time total:", 1)[0]
        for line in text.splitlines():
            if line.startswith("Self CPU time total:") or line.startswith("Self CUDA time total:"):
                kind, value = line.split(":", 1)
                totals.setdefault(kind, _ms(value.strip()))
        for line in first_table.splitlines():
            if line.strip().startswith(("cudaLaunchKernel ", "cudaLaunchKernelExC ", "cuLaunchKernel ")):
                launches += int(line.split()[-1])
        if not steps:
            continue
        host, device = totals.get("Self CPU time total"), totals.get("Self CUDA time total")
        rows.append([str(f.relative_to(folder).with_suffix("")), str(steps), _num(host and host / steps, 1),
                     _num(device and device / steps, 1), str(launches // steps if launches else "-")])
    return rows


def _ms(text: str) -> float:
    value, unit = float(text.rstrip("mus")), text.lstrip("0123456789.")
    return value * {"us": 1e-3, "ms": 1.0, "s": 1e3}[unit]


def _num(value: float | None, digits: int) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


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
