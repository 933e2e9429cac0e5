#!/usr/bin/env python
"""The GPU check's measurements, each written as a JSON record into ``--out`` (``scripts/gpu_check.sh`` runs it):

- ``mnist10k_size_rule.json``: MNIST10K at the summary's schedule (``size_rule.enabled=true``, 31 epochs, batch
  100; the CPU records' settings) with ``trainer=gpu``: wall time, ACC / NMI / ARI of the final epoch, seconds per
  epoch of each stage (a minute or two on an H200);
- ``mnist10k_official.json``: the official MNIST10K schedule (300 + 400 epochs, batch 100), the same measures (on
  an H200 about 20 minutes: the check's time limit cuts it, and its partial record keeps the seconds per epoch);
- ``bench_pbmc2.json``: ``make bench``'s PBMC-2-shaped case (20742 x 17126, batch 256): seconds per epoch of each
  stage and CUDA peak memory, as is, with ``bf16-mixed`` and with ``torch.compile``.

``--dry-run`` runs the same logic on the CPU in seconds: a smoke schedule with ``trainer=cpu`` and a tiny table
shape for the bench cases (records marked ``"dry_run": true``, not results).
"""
from __future__ import annotations

import argparse
import importlib.util
import json
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
#: the config overrides of each run, the one place to adapt when config groups are renamed; the MNIST10K cases
#: by record name: (what it is, its overrides)
MNIST = {"mnist10k_size_rule": ("mnist10k, the size rule's schedule",
                                ["dataset=mnist10k", "size_rule.enabled=true", "trainer=gpu"]),
         "mnist10k_official": ("mnist10k, official schedule", ["dataset=mnist10k", "schedule=paper", "trainer=gpu"])}
MNIST_DRY = ["dataset=mnist10k", "schedule=smoke"]
COMMON = ["logger=none", "eval.enabled=false", "checkpoint_every=100000"]
PBMC2 = {"name": "pbmc2-shape", "n": 20_742, "d": 17_126, "batch": 256, "steps": 20}
PBMC2_DRY = {"name": "pbmc2-shape (dry run: tiny shape)", "n": 256, "d": 64, "batch": 64, "steps": 2}
VARIANTS = {"fp32": [], "bf16-mixed": ["trainer.precision=bf16-mixed"], "compile": ["model.compile=true"]}


def bench_module():
    """``scripts/bench.py`` as a module (its ``run_case`` times one case)."""
    spec = importlib.util.spec_from_file_location("idc_bench", HERE / "bench.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def environment() -> dict:
    import torch

    gpu = torch.cuda.is_available()
    return {"device": torch.cuda.get_device_name() if gpu else f"cpu ({platform.machine()})",
            "torch": torch.__version__, "python": platform.python_version()}


def per_stage(seconds: dict[int, float], t1: int) -> dict[str, float | None]:
    """Mean seconds per epoch of stage 1 (epochs 0..t1) and of stage 2."""
    import numpy as np

    stages = {"stage1_s_per_epoch": [s for e, s in seconds.items() if e <= t1],
              "stage2_s_per_epoch": [s for e, s in seconds.items() if e > t1]}
    return {k: float(np.mean(v)) if v else None for k, v in stages.items()}


def mnist_run(dry_run: bool, extra: list[str], out: Path, record: str = "mnist10k_official") -> dict:
    """Train the MNIST10K case ``record`` (:data:`MNIST`) once and time each epoch; ACC of the final epoch (no
    label-based selection). Every 25 epochs a partial record (``"complete": false``) is written, so a run cut by the time limit still
    tells its seconds per epoch."""
    import pytorch_lightning as pl
    import torch

    from idc.config import compose_run
    from idc.data import load_table
    from idc.inference import predict
    from idc.metrics import clustering_metrics
    from idc.fit import fit

    class EpochTimer(pl.Callback):
        def __init__(self):
            self.seconds: dict[int, float] = {}
            self.partial: dict = {}

        def on_train_epoch_start(self, trainer, module):
            if torch.cuda.is_available():
                torch.cuda.synchronize()
            self.start = time.perf_counter()

        def on_train_epoch_end(self, trainer, module):
            if torch.cuda.is_available():
                torch.cuda.synchronize()
            self.seconds[trainer.current_epoch] = time.perf_counter() - self.start
            if len(self.seconds) % 25 == 0:
                write(out, record, {**self.partial, "complete": False, "epochs": len(self.seconds),
                                    **per_stage(self.seconds, module.schedule.stage1_epochs - 1)})

    given = {o.split("=")[0] for o in extra}  # an extra override replaces the base one of the same key
    what, own = MNIST[record]
    base = [o for o in (MNIST_DRY if dry_run else own) + COMMON if o.split("=")[0] not in given]
    overrides = [*base, *extra]
    timer = EpochTimer()
    case = "dry run: smoke schedule, trainer=cpu" if dry_run else what
    timer.partial = {"case": case, "overrides": overrides, "dry_run": dry_run, **environment()}
    with tempfile.TemporaryDirectory() as tmp:
        cfg = compose_run(overrides, tmp)
        started = time.perf_counter()
        table = load_table(cfg.dataset)
        module, trainer, _ = fit(cfg, table, Path(tmp), callbacks=[timer], enable_model_summary=False)
        pred = predict(module, table.X)
        wall = time.perf_counter() - started
    scores = clustering_metrics(table.y, pred["clusters"]) if table.y is not None else {}
    return {
        **timer.partial, "complete": True, "n": table.n_samples, "d": table.n_features,
        "epochs": len(timer.seconds), "wall_seconds": wall, **per_stage(timer.seconds, module.schedule.stage1_epochs - 1),
        **{k: float(v) for k, v in scores.items()}, "selection": "final_epoch",
    }


def bench_cases(dry_run: bool) -> dict:
    """The PBMC-2-shaped bench case in each variant: in its own process (clean peak memory), or in this one for
    a dry run (``torch.compile`` is left off there: no C++ toolchain needed on a CPU)."""
    base = PBMC2_DRY if dry_run else PBMC2
    out = {"case": base["name"], "dry_run": dry_run, **environment(), "variants": {}}
    bench = bench_module() if dry_run else None
    for variant, overrides in VARIANTS.items():
        if dry_run and variant == "compile":
            overrides = ["model.compile=false"]
        case = {**base, "kind": variant, "overrides": overrides}
        try:
            if dry_run:
                row = bench.run_case(case)
            else:
                proc = subprocess.run([sys.executable, str(HERE / "bench.py"), "--case", json.dumps(case)],
                                      capture_output=True, text=True, check=False)
                line = next((l for l in proc.stdout.splitlines() if l.startswith("BENCH ")), None)
                row = json.loads(line[6:]) if line else {"error": (proc.stderr.strip().splitlines() or ["?"])[-1]}
        except Exception as err:  # a failed variant is recorded, the others still run
            row = {"error": f"{type(err).__name__}: {err}"}
        keys = ("stage1_s_per_epoch", "stage2_s_per_epoch", "stage1_ms_per_step", "stage2_ms_per_step",
                "cuda_max_allocated_gb", "peak_rss_gb", "error")
        out["variants"][variant] = {k: row[k] for k in keys if k in row}
    return out


def write(out: Path, name: str, payload: dict) -> Path:
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"{name}.json"
    path.write_text(json.dumps(payload, indent=2, sort_keys=True) + "\n")
    print(f"gpu-check: wrote {path}", flush=True)
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, required=True, help="where the JSON records go")
    parser.add_argument("--dry-run", action="store_true", help="CPU, smoke schedule, tiny bench shape")
    parser.add_argument("--only", choices=("size_rule", "bench", "mnist"), help="run one part only (mnist: the "
                        "official schedule)")
    parser.add_argument("overrides", nargs="*", help="extra overrides of the MNIST run (e.g. dataset=synthetic)")
    args = parser.parse_args(argv)
    if args.only in (None, "size_rule"):
        write(args.out, "mnist10k_size_rule", mnist_run(args.dry_run, args.overrides, args.out, "mnist10k_size_rule"))
    if args.only in (None, "bench"):
        write(args.out, "bench_pbmc2", bench_cases(args.dry_run))
    if args.only in (None, "mnist"):
        write(args.out, "mnist10k_official", mnist_run(args.dry_run, args.overrides, args.out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
