"""The configured datasets (``configs/dataset/*.yaml``) as data: their facts and whether their files exist."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from idc.config import compose, config_dir

#: the datasets of the paper's tables, and the lists `idc-paper` and the report run by default
PAPER_DATASETS = ("synthetic", "mnist10k", "mnist60k", "tox171", "allaml", "prostate", "srbct", "biase", "pbmc",
                  "intestine", "cnae9", "mfeat_zernike")
#: --quick skips the large tables unless they are asked for by name
QUICK_DATASETS = ("synthetic", "tox171", "allaml", "prostate", "srbct", "biase", "cnae9", "mfeat_zernike")
SHORT_DATASETS = ("tox171", "allaml", "prostate", "srbct")
#: the wider benchmark (not in the paper: no Table 7 schedule), run with the default schedule beside the
#: biological tables
WIDER_DATASETS = ("coil20", "isolet", "warppie10p", "lung_small", "arcene", "basehock")
BIOLOGICAL_DATASETS = ("allaml", "prostate", "tox171", "srbct", "biase")
ALL_DATASETS = (*PAPER_DATASETS, *WIDER_DATASETS, "digits")


def dataset_names() -> list[str]:
    """Every option of the ``dataset`` config group."""
    return sorted(p.stem for p in (config_dir() / "dataset").glob("*.yaml"))


def dataset_config(name: str, overrides: list[str] | tuple = ()) -> DictConfig:
    """The ``dataset`` node of ``configs/train.yaml`` composed with ``dataset=name`` and ``overrides``."""
    return compose([f"dataset={name}", *overrides]).dataset


def dataset_node(name: str) -> DictConfig:
    """The facts of ``configs/dataset/<name>.yaml`` as written, its ``${paths...}`` resolvable, without composing
    the whole config (a few milliseconds instead of a quarter of a second): enough for its files, N, D, K, scaler
    and batch size. Settings that a schedule's tuning file adds need :func:`dataset_config`."""
    root = config_dir()
    paths = OmegaConf.load(root / "paths" / "default.yaml")
    del paths["output_dir"]  # a Hydra app's run directory: no file of a dataset lies there
    return OmegaConf.create({"paths": paths, "dataset": _dataset_yaml(name)}).dataset


def _dataset_yaml(name: str) -> DictConfig:
    """A dataset's YAML over the datasets its defaults list names (``- mnist60k``); other groups' entries
    (a schedule's tuning file) are left out."""
    node = OmegaConf.load(config_dir() / "dataset" / f"{name}.yaml")
    bases = [d for d in node.pop("defaults", []) if isinstance(d, str) and d != "_self_"]
    return OmegaConf.merge(*(_dataset_yaml(b) for b in bases), node)


def dataset_files(cfg: DictConfig) -> list[Path]:
    """The files a dataset reads (none for generated or bundled data)."""
    return [Path(f) for f in cfg.get("files") or [] if f not in (None, "???")]


def dataset_facts(name: str) -> dict[str, Any]:
    """Name, N, D, K, scaler, batch size, files and whether they are all present, from the config alone."""
    cfg = dataset_node(name)
    facts = {k: cfg.get(k) for k in ("name", "n_samples", "n_features", "n_clusters", "scaler", "batch_size")}
    if "path" in cfg and cfg.get("path") in (None, "???"):
        return {**facts, "files": "(your file: dataset.path=...)", "present": None}
    files = dataset_files(cfg)
    return {**facts, "files": ", ".join(f.name for f in files) or "(generated/bundled)", "present": files_present(name)}


def files_present(name: str) -> bool:
    """Whether every file dataset ``name`` reads is on disk (True for generated or bundled data)."""
    return all(f.is_file() for f in dataset_files(dataset_node(name)))
