"""The results store: ``results/<schedule>/<method>/<dataset>/seed<k>/`` holds the small files of a finished run
(resolved ``config.yaml``, ``metrics.json``, ``run_info.json``, ``eval.json`` and ``clusters.txt``, the final
cluster and the label of each sample), committed to the repository so that the report (:mod:`idc.report`) is
rebuilt from them alone. No checkpoints and no per-sample gates: a record is a few KB.

``idc-paper`` adds its runs when they are DONE (:func:`add_done`); ``idc-results add RUN_DIR...`` adds runs made
by hand. A run is named by its Hydra choices (``.hydra/hydra.yaml``), else by its resolved config: its method
by the registry (:func:`idc.methods.run_name`), its schedule by :data:`SCHEDULE_GROUPS`.
"""
from __future__ import annotations

import functools
import json
import shutil
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from idc import run_dir as rd
from idc.io import write_text
from idc.methods import run_name

#: where ``idc-paper`` and ``idc-results add`` put records unless told otherwise (relative to the working folder)
DEFAULT_ROOT = Path("results")
#: the small files copied from a run directory (those a run lacks, e.g. a baseline's eval.json, are skipped)
COPIED = (rd.CONFIG, rd.METRICS, rd.RUN_INFO, "eval.json")
CLUSTERS = "clusters.txt"
#: ``eval_<method>.json`` of ``idc-results attribute`` (:mod:`idc.attribution_run`), copied too
ATTRIBUTIONS = "eval_*.json"
#: records of the GPU check live here, not as runs
GPU = "gpu"
#: records of ``make bench-record`` (``scripts/bench.py --record``: one JSON file per machine and case set)
BENCH = "bench"
#: records of ``scripts/stage1_probe.py`` (one JSON line per dataset, lever, seed and number of gated epochs)
PROBE = "probe"
#: records of ``scripts/lever_study.py`` (one JSON line per study, variant and seed)
LEVERS = "levers"
#: records of ``scripts/global_gate_study.py`` (one JSON line per study, run and variant)
GLOBAL_GATES = "global_gates"
#: a run without a schedule choice trained with the model config's own schedule
DEFAULT_SCHEDULE = "default"
#: a run whose schedule the size rule chose from the table's shape (``size_rule.chosen`` names it; idc/size_rule.py)
SIZE_RULE_SCHEDULE = "size_rule"

# ---------------------------------------------------------------------------------------------------- names
#: Hydra groups whose choice names the schedule, first present wins: ``schedule=paper`` (the new group), else the
#: folder of ``experiment=paper/tox171``
SCHEDULE_GROUPS = ("schedule", "experiment")


class RecordError(ValueError):
    """A run directory that cannot become a record (unfinished, or its schedule or method unknown)."""


def hydra_choices(run_dir: Path) -> dict[str, str] | None:
    """``hydra.runtime.choices`` of the run (``.hydra/hydra.yaml``), or None when Hydra wrote none."""
    path = run_dir / ".hydra" / "hydra.yaml"
    if not path.is_file():
        return None
    choices = (yaml.safe_load(path.read_text()) or {}).get("hydra", {}).get("runtime", {}).get("choices") or {}
    return {str(k): str(v) for k, v in choices.items() if v is not None}


def schedule_of(choices: dict[str, str]) -> str:
    """The schedule a run trained with: ``paper``/``short``/``quick`` (the folder of its experiment file, or its
    ``schedule`` choice), an experiment's own name, or :data:`DEFAULT_SCHEDULE` (which Hydra's choices name
    beside an experiment: the experiment's name wins over it)."""
    for group in SCHEDULE_GROUPS:
        if choices.get(group) and not (group == "schedule" and choices[group] == DEFAULT_SCHEDULE):
            return choices[group].split("/")[0]
    return DEFAULT_SCHEDULE


# --------------------------------------------------------------------------------------------------- adding
def record_dir(root: Path, schedule: str, method: str, dataset: str, seed: int) -> Path:
    return Path(root) / schedule / method / dataset / f"seed{int(seed)}"


def dataset_name(dataset: Mapping[str, Any]) -> str:
    """A run's dataset as records and tables name it: the config's name, or for a user's table (``dataset=table``)
    the file's name (``cells.csv``), so that runs on different files are different datasets ("?": no name)."""
    name = str(dataset.get("name") or "?")
    return Path(str(dataset["path"])).name if name == "table" and dataset.get("path") else name


def identify(run_dir: Path, schedule: str | None = None, method: str | None = None) -> tuple[str, str, str, int]:
    """``(schedule, method, dataset, seed)`` of a finished run (given names win over the ones read)."""
    config = run_dir / rd.CONFIG
    if not config.is_file():
        raise RecordError(f"{run_dir}: no {rd.CONFIG}; give an idc-train run directory")
    cfg = yaml.safe_load(config.read_text()) or {}
    choices = hydra_choices(run_dir) or {}
    if not (cfg.get("dataset") or {}).get("name"):
        raise RecordError(f"{config}: no dataset.name; not an idc-train config")
    dataset = dataset_name(cfg["dataset"])
    named = run_name(cfg, choices)
    read = schedule_of(choices)
    rule = str(((cfg.get("size_rule") or {}).get("chosen") or {}).get("schedule", "given"))
    if choices.get("schedule", DEFAULT_SCHEDULE) == DEFAULT_SCHEDULE and not rule.startswith("given"):
        read = SIZE_RULE_SCHEDULE  # not the model config's schedule: the rule's, from the table's shape
    return schedule or read, method or named, str(dataset), int(cfg.get("seed", 0))


def write_clusters(path: Path, clusters: np.ndarray, labels: np.ndarray | None) -> None:
    """``clusters.txt``: a header line, then ``cluster label`` per sample (label -1 when the table has none)."""
    labels = np.full(len(clusters), -1) if labels is None else np.asarray(labels)
    lines = [f"{int(c)} {int(y)}" for c, y in zip(clusters, labels)]
    write_text(path, "# cluster label (one line per sample, -1: no label)\n" + "\n".join(lines) + "\n")


def read_clusters(path: Path) -> tuple[np.ndarray, np.ndarray | None]:
    """``(clusters, labels or None)`` from a ``clusters.txt``."""
    table = np.loadtxt(path, dtype=np.int64, comments="#", ndmin=2)
    labels = table[:, 1]
    return table[:, 0], None if (labels < 0).all() else labels


def add(run_dir: Path, root: Path = DEFAULT_ROOT, schedule: str | None = None, method: str | None = None) -> Path:
    """Copy the small files of the DONE run ``run_dir`` into its record folder below ``root`` (replacing an
    earlier record of the same schedule, method, dataset and seed) and return that folder."""
    run_dir = Path(run_dir)
    if not rd.is_done(run_dir) or not (run_dir / rd.PREDICTIONS).is_file():
        raise RecordError(f"{run_dir}: not a finished run (no {rd.DONE} marker or no {rd.PREDICTIONS}); "
                          "only DONE runs become records")
    dest = record_dir(root, *identify(run_dir, schedule, method))
    staging = dest.with_name(dest.name + ".tmp")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    for name in COPIED:
        if (run_dir / name).is_file():
            shutil.copyfile(run_dir / name, staging / name)
    for path in run_dir.glob(ATTRIBUTIONS):  # idc-results attribute's scores of post-hoc explanations
        shutil.copyfile(path, staging / path.name)
    pred = rd.read_predictions(run_dir / rd.PREDICTIONS)
    write_clusters(staging / CLUSTERS, pred["clusters"], pred.get("labels"))
    shutil.rmtree(dest, ignore_errors=True)
    staging.replace(dest)
    return dest


def add_done(run_dirs: list[Path], root: Path = DEFAULT_ROOT) -> list[Path]:
    """Add every DONE run of ``run_dirs`` (the others are skipped); ``idc-paper`` calls it after its sweeps."""
    return [add(d, root) for d in run_dirs if rd.is_done(d) and (d / rd.PREDICTIONS).is_file()]


# -------------------------------------------------------------------------------------------------- reading
@dataclass
class Record:
    schedule: str
    method: str
    dataset: str
    seed: int
    path: Path
    metrics: dict[str, Any] = field(default_factory=dict)
    evaluation: dict[str, Any] = field(default_factory=dict)
    run_info: dict[str, Any] = field(default_factory=dict)
    #: attribution method (``ig``, ``gradient_shap``, ``kernel_shap``) -> its ``eval_<method>.json``
    attributions: dict[str, dict[str, Any]] = field(default_factory=dict)

    def clusters(self) -> tuple[np.ndarray, np.ndarray | None]:
        return read_clusters(self.path / CLUSTERS)

    @functools.cached_property
    def settings(self) -> dict[str, str]:
        """The run's settings (:func:`idc.run_dir.settings_of` of its ``config.yaml``; empty when it has none), read
        once per record (a report asks for them in every table that shows the record)."""
        path = self.path / rd.CONFIG
        loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
        return rd.settings_of(yaml.load(path.read_text(), Loader=loader) or {}) if path.is_file() else {}


def _json(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text()) if path.is_file() else {}


def load_records(root: Path = DEFAULT_ROOT, row: str = "*/*/*") -> list[Record]:
    """Every record below ``root`` (``<schedule>/<method>/<dataset>/seed<k>/metrics.json``), or those of one
    ``row`` (``size_rule/idc/allaml``), sorted by schedule, method, dataset and seed; ``root/gpu`` is not a schedule."""
    records = []
    for metrics in Path(root).glob(f"{row}/seed*/" + rd.METRICS):
        d = metrics.parent
        schedule, method, dataset = d.parts[-4:-1]
        if schedule == GPU or not d.name.removeprefix("seed").isdigit():
            continue
        records.append(Record(schedule, method, dataset, int(d.name.removeprefix("seed")), d, _json(metrics),
                              _json(d / "eval.json"), _json(d / rd.RUN_INFO),
                              {p.stem.removeprefix("eval_"): _json(p) for p in sorted(d.glob(ATTRIBUTIONS))}))
    return sorted(records, key=lambda r: (r.schedule, r.method, r.dataset, r.seed))
