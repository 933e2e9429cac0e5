"""Tables of ``make bench`` results (``scripts/bench.py``): one Markdown row per case and the speed-ups measured
side by side in one run (ours against the reference-style row of the same case, and against the official code).
Shared by the script (``outputs/bench/bench.md``) and the report (a record under ``results/bench/``)."""
from __future__ import annotations

#: the official implementation on the same kind of 2-core CPU (docs/speed.md)
OFFICIAL = {
    "digits": {"stage1_s_per_epoch": 1.17, "stage2_s_per_epoch": 0.29},
    "tox171-shape": {"stage1_ms_per_step": 315 + 4674},  # 4-pass reconstruction + gating net with D x D GTCR
}


def one_decimal(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def markdown(rows: list[dict]) -> str:
    """One row per case (a failed case says why)."""
    head = ("| case | kind | N | D | batch | stage 1 s/epoch | stage 2 s/epoch | stage 1 ms/step | stage 2 ms/step "
            "| steps/s | stage 1 GFLOP/step | GFLOP/s | peak RSS GB | CUDA GB | device |")
    lines = [head, "|" + "---|" * 15]
    for r in rows:
        if "error" in r:
            lines.append(f"| {r['name']} | {r['kind']} | {r.get('n', '')} | {r.get('d', '')} | | failed: {r['error'][:80]} |||||||||")
            continue
        cuda = f"{r['cuda_max_allocated_gb']:.2f}" if r["cuda_max_allocated_gb"] is not None else "-"
        lines.append(
            f"| {r['name']} | {r['kind']} | {r['n']} | {r['d']} | {r['batch']} | {r['stage1_s_per_epoch']:.3f} | "
            f"{r['stage2_s_per_epoch']:.3f} | {r['stage1_ms_per_step']:.1f} | {r['stage2_ms_per_step']:.1f} | "
            f"{r['stage1_steps_per_s']:.2f} | {one_decimal(r.get('stage1_gflop_per_step'))} | {one_decimal(r.get('stage1_gflops_achieved'))} | "
            f"{r['peak_rss_gb']:.2f} | {cuda} | {r['device']} |"
        )
    return "\n".join(lines)


def times(before: float, after: float) -> str:
    """``before`` -> ``after`` as a speed-up: "4.0x faster", or "2.5x slower" when ``after`` took longer."""
    return f"{before / after:.1f}x faster" if after <= before else f"{after / before:.1f}x slower"


def ratios(rows: list[dict]) -> list[str]:
    """Speed-ups: ours against the reference-style row of the same case, against the same case with torch's unfused
    optimizers, and against the official code."""
    by = {(r["name"], r["kind"]): r for r in rows if "error" not in r}
    out = []
    for name in ("digits", "tox171-shape"):
        ref = by.get((name, "reference-style"))
        for kind in ("ours", "ours, bf16-mixed"):
            ours = by.get((name, kind))
            if ours and ref:
                before, after = ref["stage1_ms_per_step"], ours["stage1_ms_per_step"]
                out.append(f"- {name}, {kind}: stage-1 step {times(before, after)} than the reference-style row "
                           f"({before:.1f} -> {after:.1f} ms)")
    for name in ("digits", "tox171-shape"):
        ours, unfused = by.get((name, "ours")), by.get((name, "ours, unfused optimizers"))
        if ours and unfused:
            before, after = unfused["stage1_ms_per_step"], ours["stage1_ms_per_step"]
            out.append(f"- {name}, ours: stage-1 step {times(before, after)} than with torch's unfused optimizers "
                       f"({before:.1f} -> {after:.1f} ms)")
    for kind in ("ours", "ours, bf16-mixed"):
        d = by.get(("digits", kind))
        if d:
            o = OFFICIAL["digits"]
            out.append(f"- digits, {kind}, against the official code (docs/speed.md): stage-1 epoch "
                       f"{times(o['stage1_s_per_epoch'], d['stage1_s_per_epoch'])}, stage-2 epoch "
                       f"{times(o['stage2_s_per_epoch'], d['stage2_s_per_epoch'])} (target: 3x faster)")
        t = by.get(("tox171-shape", kind))
        if t:
            o = OFFICIAL["tox171-shape"]["stage1_ms_per_step"]
            out.append(f"- TOX-171 shape, {kind}, against the official code: pretraining step "
                       f"{times(o, t['stage1_ms_per_step'])} ({o} -> {t['stage1_ms_per_step']:.1f} ms; target: 100x faster)")
    return out


def page(payload: dict) -> list[str]:
    """A run's table, its yardstick and its ratios: ``bench.json`` (``{"matmul_gflops": ..., "cases": [...]}``) as
    lines of Markdown, for ``outputs/bench/bench.md`` and the report's section alike."""
    lines = [markdown(payload["cases"]), "",
             f"Yardstick: one 2048 x 2048 fp32 matrix product ran at {payload['matmul_gflops']:.0f} GFLOP/s there."]
    speedups = ratios(payload["cases"])
    return lines + (["", *speedups] if speedups else [])
