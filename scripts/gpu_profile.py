#!/usr/bin/env python
"""Where a training step's time goes on a GPU: torch.profiler over 30 steps of stage 1 and 30 of stage 2 of
MNIST10K (batch 100, the official schedule's shapes, a short schedule), written as tables into ``--out``:
``profile_stage1.txt`` / ``profile_stage2.txt`` (operators by self CPU time and by device time) and
``profile_epochs.json`` (seconds per epoch, unprofiled epochs included).

    python scripts/gpu_profile.py --out results/gpu/profile            # on the GPU machine
    python scripts/gpu_profile.py --out /tmp/p --cpu dataset=synthetic # the same logic on a CPU (not a result)
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

SHORT = ["dataset.table7.stage1=2", "dataset.table7.stage2=4", "dataset.table7.gates_from=0",
         "dataset.table7.global_after=2"]
BASE = ["dataset=mnist10k", "schedule=paper", "logger=none", "eval.enabled=false", "checkpoint_every=100000"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--cpu", action="store_true", help="trainer=cpu (a dry run of the logic)")
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("overrides", nargs="*")
    args = parser.parse_args(argv)

    import pytorch_lightning as pl
    import torch
    from torch.profiler import ProfilerActivity, profile

    from idc.config import compose_run
    from idc.data import load_table
    from idc.fit import fit

    cuda = torch.cuda.is_available() and not args.cpu
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if cuda else [])
    args.out.mkdir(parents=True, exist_ok=True)

    class Profiled(pl.Callback):
        def __init__(self):
            self.prof, self.seconds, self.start = None, {}, 0.0

        def _sync(self):
            if cuda:
                torch.cuda.synchronize()

        def on_train_epoch_start(self, trainer, module):
            self._sync()
            self.start = time.perf_counter()

        def on_train_epoch_end(self, trainer, module):
            self._sync()
            self.seconds[trainer.current_epoch] = time.perf_counter() - self.start

        @staticmethod
        def window(trainer) -> tuple[int, int]:
            """The profiled batches: ``--steps`` of them after 10 warm ones, fewer on a table of fewer batches."""
            steps = min(args.steps, trainer.num_training_batches)
            first = min(10, trainer.num_training_batches - steps)
            return first, first + steps - 1

        def _stage(self, module, epoch):
            s1 = module.schedule.stage1_epochs
            return {s1 - 1: 1, s1 + 1: 2}.get(epoch)

        def on_train_batch_start(self, trainer, module, batch, batch_idx):
            if self._stage(module, trainer.current_epoch) and batch_idx == self.window(trainer)[0]:
                self._sync()
                self.prof = profile(activities=activities)
                self.prof.start()

        def on_train_batch_end(self, trainer, module, outputs, batch, batch_idx):
            stage = self._stage(module, trainer.current_epoch)
            first, last = self.window(trainer)
            if stage and self.prof is not None and batch_idx == last:
                self._sync()
                self.prof.stop()
                avg = self.prof.key_averages()
                text = [f"{last - first + 1} steps of stage {stage}, epoch {trainer.current_epoch}\n",
                        avg.table(sort_by="self_cpu_time_total", row_limit=30)]
                if cuda:
                    text.append(avg.table(sort_by="self_cuda_time_total", row_limit=30))
                (args.out / f"profile_stage{stage}.txt").write_text("\n".join(text))
                self.prof = None

    overrides = [*BASE, "trainer=cpu" if args.cpu else "trainer=gpu", *SHORT, *args.overrides]
    cb = Profiled()
    with tempfile.TemporaryDirectory() as tmp:
        cfg = compose_run(overrides, tmp)
        table = load_table(cfg.dataset)
        module, trainer, _ = fit(cfg, table, Path(tmp), callbacks=[cb], enable_model_summary=False)
        batches = trainer.num_training_batches
    record = {"overrides": overrides, "device": torch.cuda.get_device_name() if cuda else "cpu",
              "torch": torch.__version__, "batches_per_epoch": batches, "seconds_per_epoch": cb.seconds,
              "stage1_epochs": module.schedule.stage1_epochs}
    (args.out / "profile_epochs.json").write_text(json.dumps(record, indent=2) + "\n")
    print(json.dumps(record))
    return 0


if __name__ == "__main__":
    sys.exit(main())
