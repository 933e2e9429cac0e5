"""``idc-train``: the Hydra application that trains IDC (root config ``configs/train.yaml``).

Examples::

    idc-train                                     # synthetic data, CPU, W&B offline
    idc-train dataset=digits trainer=cpu logger=csv
    idc-train dataset=allaml schedule=paper       # the paper's schedule (Table 7) for ALLAML
    idc-train -m seed=0,1,2                       # a multirun sweep
"""
from __future__ import annotations

import logging
import os
import sys
from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig
from pytorch_lightning.utilities import rank_zero_info

from idc.config import config_dir

log = logging.getLogger(__name__)


def _show_progress(setting: object) -> bool:
    """``auto``: a progress bar on an interactive terminal, none in CI or when output goes to a file."""
    if setting == "auto":
        return sys.stderr.isatty() and not os.environ.get("CI")
    return bool(setting)


@hydra.main(version_base="1.3", config_path=str(config_dir()), config_name="train")
def main(cfg: DictConfig) -> None:
    from idc.schema import ConfigError, validate

    multirun = HydraConfig.get().mode == RunMode.MULTIRUN
    try:
        validate(cfg)
    except ConfigError as err:  # nothing was written
        if multirun:
            log.error("job not run, the sweep goes on: %s", err)
            return
        raise SystemExit(f"idc-train: {err}") from None
    from idc.data import DataError
    from idc.run_dir import FAILED, SettingsChanged, is_done
    from idc.train import train  # imported after the check, and here so that `--help` and `--cfg` stay fast

    if cfg.get("skip_done") and is_done(Path(cfg.paths.output_dir)):
        log.info("already done, skipped: %s", cfg.paths.output_dir)
        return
    try:
        metrics = train(cfg, show_progress=_show_progress(cfg.get("progress_bar", "auto")))
    except SettingsChanged as err:  # nothing was written
        if multirun:
            log.error("job not run, the sweep goes on: %s", err)
            return
        raise SystemExit(f"idc-train: {err}") from None
    except Exception as err:  # train() has written FAILED
        failed = Path(cfg.paths.output_dir) / FAILED
        if multirun:  # one failed job must not stop the sweep
            log.error("job failed, the sweep goes on: %s (details in %s)", err, failed)
            return
        if isinstance(err, DataError):
            raise SystemExit(f"idc-train: {err}") from None
        raise
    headline = {k: metrics[k] for k in ("acc", "nmi", "ari", "open_local_gates", "open_global_gates") if k in metrics}
    rank_zero_info(f"final model ({metrics['selection']}): {headline}")


if __name__ == "__main__":
    main()
