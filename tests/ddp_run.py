"""One smoke run for tests/test_ddp.py, re-run by Lightning's DDP launcher in every rank:
``python tests/ddp_run.py <run dir> <override> ...``. Each rank records the table rows of its first epoch in
``<run dir>/rows_rank<k>.json``, its final global gates in ``<run dir>/global_gates_rank<k>.json`` and the files it
wrote in ``<run dir>/writes_rank<k>.json``."""
import json
import sys
from pathlib import Path

from pytorch_lightning import Callback
from pytorch_lightning.utilities import rank_zero_only

import idc.run_dir
import idc.train
from idc.config import compose_run


class RankRecord(Callback):
    """The row indices of the batches this rank trains on in epoch 0, and its global gates when training ends."""

    def __init__(self, out: Path):
        self.out, self.rows = out, []

    def on_train_batch_start(self, trainer, module, batch, batch_idx):
        if trainer.current_epoch == 0:
            self.rows += batch[0].tolist()

    def on_train_epoch_end(self, trainer, module):
        if trainer.current_epoch == 0:
            (self.out / f"rows_rank{trainer.global_rank}.json").write_text(json.dumps(self.rows))

    def on_train_end(self, trainer, module):
        gates = module.global_gates.matrix().detach().tolist() if module.global_gates is not None else None
        (self.out / f"global_gates_rank{trainer.global_rank}.json").write_text(json.dumps(gates))


def record_writes() -> list[str]:
    """Wrap the run directory's writers so that each rank lists the files it wrote."""
    written: list[str] = []
    for module, name in ((idc.run_dir, "write_text"), (idc.run_dir, "write_json"), (idc.run_dir, "write_predictions"),
                         (idc.run_dir, "mark_done"), (idc.run_dir, "mark_started")):
        original = getattr(module, name)

        def wrapper(path, *args, _original=original, **kwargs):
            written.append(Path(path).name)
            return _original(path, *args, **kwargs)

        setattr(module, name, wrapper)
    return written


if __name__ == "__main__":
    run_dir = Path(sys.argv[1])
    run_dir.mkdir(parents=True, exist_ok=True)
    written = record_writes()
    try:
        idc.train.train(compose_run(["logger=none", *sys.argv[2:]], run_dir), callbacks=[RankRecord(run_dir)])
    finally:
        (run_dir / f"writes_rank{rank_zero_only.rank}.json").write_text(json.dumps(written))
