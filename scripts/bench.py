#!/usr/bin/env python
"""Speed and memory of IDC training, measured: seconds per epoch of stage 1 and stage 2, steps per second,
peak memory, for a grid of table shapes, the paper datasets present, and "reference-style" rows (the official
code's D x D log-det and per-row data loading, switched on in our code) so each lever is a ratio measured side
by side in one run.

    python scripts/bench.py                  # the grid + datasets -> outputs/bench/bench.md, bench.json
    python scripts/bench.py --quick          # a small subset, under two minutes on a 2-core CPU
    python scripts/bench.py --quick --record results/bench/cpu-quick.json   # keep it as a record (make bench-record)

Each case runs in its own process (clean peak-memory numbers). Steps are timed on a few batches per epoch
(``--steps``) after a warm-up epoch; seconds per epoch = steps per epoch / steps per second.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path

from idc.benchmark import page

GRID_N = (1_000, 10_000, 100_000)
GRID_D = (64, 784, 5748, 20_000)
MEMORY_BUDGET_GB = 12.0  # cells whose estimated footprint exceeds this are skipped


def model_overrides(d: int) -> list[str]:
    """Official sizes: gate width D and bottleneck 10 up to MNIST's D; 1024 and 128 above (the PBMC config)."""
    hidden, bottleneck = (d, 10) if d <= 784 else (1024, 128)
    return [f"gates.hidden_dim={hidden}", f"model.bottleneck={bottleneck}"]


def estimate_gb(n: int, d: int) -> float:
    hidden = d if d <= 784 else 1024
    params = 2 * d * hidden + 2 * (d * 512 + 512 * 512 + 512 * 2048) + d * 2048
    return (3 * n * d * 4 + 4 * params * 4) / 1e9


# --------------------------------------------------------------------------------------------- one case
def run_case(case: dict) -> dict:
    """Train a few epochs of each stage and time them (runs inside the case's own process)."""
    import numpy as np
    import torch
    from omegaconf import open_dict
    from pytorch_lightning import Callback

    from idc.config import compose
    from idc.data import Table, load_table
    from idc.fit import fit

    gpu = torch.cuda.is_available()
    e1, e2 = 2, 2  # stage 1: epochs 0 (no gates), 1, 2 (gated); stage 2: epoch 3 (head), 4, 5 (global gates on)
    overrides = [  # the official code's configuration (one head trained by the compression loss throughout)
        "method=idc_faithful", "logger=none", "eval.enabled=false", f"trainer={'gpu' if gpu else 'cpu'}",
        "schedule.ungated_epochs=1", f"schedule.stage1_epochs={e1 + 1}", "schedule.head_epochs=1",
        f"schedule.stage2_epochs={e2 + 1}", "schedule.eval_every=1000", "checkpoint_every=1000",
        *case.get("overrides", []),
    ]
    if case.get("dataset"):
        table = load_table(compose([f"dataset={case['dataset']}"]).dataset)
        cfg = compose([f"dataset={case['dataset']}", *overrides, *model_overrides(table.n_features)])
    else:
        cfg = compose(overrides + model_overrides(case["d"]))
        rng = np.random.default_rng(0)
        table = Table(rng.random((case["n"], case["d"]), dtype=np.float32), n_clusters=10, name="random")
        with open_dict(cfg):
            cfg.dataset.batch_size = case["batch"]
    batch = min(int(cfg.dataset.batch_size), table.n_samples)
    steps = max(1, min(case["steps"], table.n_samples // batch))

    class Timer(Callback):
        """Seconds per epoch; and the matrix-product FLOPs (forward + backward) of one gated stage-1 step, counted
        by torch's FlopCounterMode on an untimed epoch (optimizer and element-wise work are not counted)."""

        def __init__(self):
            self.epochs: dict[int, float] = {}
            self.flops: int | None = None
            self.counter = None

        def on_train_batch_start(self, trainer, module, batch, batch_idx):
            if trainer.current_epoch == 1 and batch_idx == 0:
                from torch.utils.flop_counter import FlopCounterMode

                self.counter = FlopCounterMode(display=False)
                self.counter.__enter__()

        def on_train_batch_end(self, trainer, module, outputs, batch, batch_idx):
            if self.counter is not None:
                self.counter.__exit__(None, None, None)
                self.flops, self.counter = self.counter.get_total_flops(), None

        def on_train_epoch_start(self, trainer, module):
            if gpu:
                torch.cuda.synchronize()
            self.start = time.perf_counter()

        def on_train_epoch_end(self, trainer, module):
            if gpu:
                torch.cuda.synchronize()
            self.epochs[trainer.current_epoch] = time.perf_counter() - self.start

    timer = Timer()
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        fit(cfg, table, Path(tmp), callbacks=[timer], limit_train_batches=steps, enable_model_summary=False)
    s1, s2 = timer.epochs[e1], timer.epochs[e1 + 1 + e2 - 1]  # a gated stage-1 epoch, a global-gate stage-2 epoch
    per_epoch = table.n_samples // batch
    return {
        **{k: case.get(k) for k in ("name", "kind")},
        "n": table.n_samples, "d": table.n_features, "batch": batch, "steps_timed": steps,
        "stage1_ms_per_step": 1e3 * s1 / steps, "stage2_ms_per_step": 1e3 * s2 / steps,
        "stage1_s_per_epoch": s1 / steps * per_epoch, "stage2_s_per_epoch": s2 / steps * per_epoch,
        "stage1_steps_per_s": steps / s1,
        "stage1_gflop_per_step": timer.flops / 1e9 if timer.flops else None,
        "stage1_gflops_achieved": timer.flops / 1e9 / (s1 / steps) if timer.flops else None,
        "peak_rss_gb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6,
        "cuda_max_allocated_gb": torch.cuda.max_memory_allocated() / 1e9 if gpu else None,
        "device": torch.cuda.get_device_name() if gpu else f"cpu ({platform.processor() or platform.machine()})",
        "torch": torch.__version__, "threads": torch.get_num_threads(),
    }


# ------------------------------------------------------------------------------------------- the suite
def cases(quick: bool, steps: int, data_present: list[str]) -> list[dict]:
    unfused = ["model.fused_optimizers=false"]
    reference = ["gates.gtcr_small_side=false", "data_loading=per_row", *unfused]
    bf16 = ["trainer.precision=bf16-mixed"]
    out = [
        {"name": "digits", "kind": "ours", "dataset": "digits"},
        {"name": "digits", "kind": "ours, bf16-mixed", "dataset": "digits", "overrides": bf16},
        {"name": "digits", "kind": "reference-style", "dataset": "digits", "overrides": reference},
        {"name": "tox171-shape", "kind": "ours", "n": 171, "d": 5748, "batch": 171},
        {"name": "tox171-shape", "kind": "ours, bf16-mixed", "n": 171, "d": 5748, "batch": 171, "overrides": bf16},
        {"name": "tox171-shape", "kind": "reference-style", "n": 171, "d": 5748, "batch": 171, "overrides": reference},
        {"name": "tox171-shape", "kind": "ours, unfused optimizers", "n": 171, "d": 5748, "batch": 171,
         "overrides": unfused},
        # last: torch.compile's worker processes stay busy a while after it and would slow the case after them
        {"name": "digits", "kind": "ours, torch.compile", "dataset": "digits", "overrides": ["model.compile=true"]},
    ]
    if quick:
        out.append({"name": "grid", "kind": "ours", "n": 1_000, "d": 784, "batch": 256})
    else:
        for n in GRID_N:
            for d in GRID_D:
                if estimate_gb(n, d) <= MEMORY_BUDGET_GB:
                    out.append({"name": "grid", "kind": "ours", "n": n, "d": d, "batch": 256})
        # PBMC-2 scale (paper: 20742 x 17126, batch 256; must train within a 24 GB CPU machine)
        out.append({"name": "pbmc2-shape", "kind": "ours", "n": 20_742, "d": 17_126, "batch": 256})
        out += [{"name": name, "kind": "ours", "dataset": name} for name in data_present]
    for c in out:
        c["steps"] = steps
    return out


def present_datasets() -> list[str]:
    from idc.data.registry import dataset_names, files_present

    return [n for n in dataset_names() if n not in ("table", "synthetic", "digits") and files_present(n)]


def matmul_gflops(size: int = 2048, repeats: int = 10) -> float:
    """This machine's fp32 rate on one large square matrix product (GFLOP/s): the yardstick for GFLOP/s above."""
    import torch

    device = "cuda" if torch.cuda.is_available() else "cpu"
    a, b = torch.randn(size, size, device=device), torch.randn(size, size, device=device)
    a @ b
    if device == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    for _ in range(repeats):
        a @ b
    if device == "cuda":
        torch.cuda.synchronize()
    return 2 * size**3 * repeats / (time.perf_counter() - start) / 1e9


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--steps", type=int, default=5, help="batches timed per epoch")
    parser.add_argument("--out", type=Path, default=Path("outputs/bench"))
    parser.add_argument("--record", type=Path, metavar="FILE",
                        help="also write bench.json here, a record the report shows (results/bench/<name>.json)")
    parser.add_argument("--only", nargs="+", metavar="NAME", help="run only these cases (e.g. pbmc2-shape grid)")
    parser.add_argument("--case", help=argparse.SUPPRESS)  # internal: run one case, print its JSON
    args = parser.parse_args()
    if args.case:
        print("BENCH " + json.dumps(run_case(json.loads(args.case))))
        return 0
    args.out.mkdir(parents=True, exist_ok=True)
    rows = []
    todo = cases(args.quick, args.steps, [] if args.quick else present_datasets())
    if args.only:
        todo = [c for c in todo if c["name"] in args.only]
        if not todo:
            parser.error(f"--only {args.only}: no such case")
    for i, case in enumerate(todo, 1):
        label = f"{case['name']} {case['kind']} {case.get('n', '')}x{case.get('d', '')}"
        print(f"[{i}/{len(todo)}] {label}", flush=True)
        proc = subprocess.run([sys.executable, __file__, "--case", json.dumps(case)], capture_output=True, text=True,
                              env={**os.environ, "CI": "1"})
        line = next((l for l in proc.stdout.splitlines() if l.startswith("BENCH ")), None)
        errors = [l for l in proc.stderr.splitlines() if "Error" in l or "Killed" in l] or [f"exit code {proc.returncode}"]
        rows.append(json.loads(line[6:]) if line else {**case, "error": errors[-1]})
    peak = matmul_gflops()
    machine = {"cpus": os.cpu_count(), "cpus_usable": len(os.sched_getaffinity(0)), "platform": platform.platform(),
               "python": platform.python_version(), "quick": args.quick, "steps": args.steps}
    payload = json.dumps({"machine": machine, "matmul_gflops": peak, "cases": rows}, indent=2) + "\n"
    (args.out / "bench.json").write_text(payload)
    if args.record:
        args.record.parent.mkdir(parents=True, exist_ok=True)
        args.record.write_text(payload)
    text = "\n".join(["# IDC training speed", "", *page({"matmul_gflops": peak, "cases": rows}), ""])
    (args.out / "bench.md").write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
