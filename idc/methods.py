"""The methods of the paper's tables and the wider benchmark, in one registry: how each is selected on the command
line, how a run is recognised as one of them, its row name in the paper, and what kind of method it is.
``idc-paper --methods`` runs them, ``idc-results add`` files runs under their names, ``idc-table`` and the
report (:mod:`idc.report`) name and compare them."""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

#: the ablation table's rows (``idc-paper --table ablation``)
ABLATION_FILE = Path(__file__).resolve().parent / "paper" / "ablation.yaml"


@dataclass(frozen=True)
class Method:
    """``overrides`` select the method for ``idc-train``; a run is one of it when it chose the ``config`` option
    of ``configs/method`` (``method.name`` in its resolved config) with its local gates on (``gates=True``), off
    (False) or either (None). ``paper`` is its row in the paper's tables (None: the paper has no such row);
    ``baseline``: a comparison method, not IDC or one of its ablations; ``trains``: it trains a network, so a run
    costs about what an IDC run costs; ``selects``: it clusters on features it selects, so, like IDC's gates, it
    says which features a partition rests on."""

    name: str
    overrides: tuple[str, ...]
    paper: str | None
    config: str
    gates: bool | None = None
    baseline: bool = False
    trains: bool = True
    selects: bool = False


METHODS: dict[str, Method] = {m.name: m for m in (
    Method("idc", (), "IDC", "idc", gates=True),
    Method("idc_faithful", ("method=idc_faithful",), "IDC", "idc_faithful", gates=True),
    Method("idc_no_gates", ("gates=none",), "IDC w/o gates", "idc", gates=False),
    # the paper's ablation: K-means on the embeddings of IDC's stage 1 (gated inputs), no clustering head
    Method("idc_features_kmeans", ("method=ae_kmeans",), "IDC features + K-Means", "ae_kmeans", gates=True),
    Method("kmeans", ("method=kmeans",), "KM", "kmeans", baseline=True, trains=False),
    Method("gmm", ("method=gmm",), None, "gmm", baseline=True, trains=False),
    Method("spectral", ("method=spectral",), None, "spectral", baseline=True, trains=False),
    Method("agglomerative", ("method=agglomerative",), None, "agglomerative", baseline=True, trains=False),
    Method("ls_kmeans", ("method=ls_kmeans",), "LS+KM", "ls_kmeans", baseline=True, trains=False,
           selects=True),
    Method("ifpca", ("method=ifpca",), None, "ifpca", baseline=True, trains=False, selects=True),
    Method("cae_kmeans", ("method=cae_kmeans",), "CAE+KM", "cae_kmeans", baseline=True, selects=True),
    # a plain autoencoder (no gates) + K-means: the paper has no such row
    Method("ae_kmeans", ("method=ae_kmeans", "gates=none"), None, "ae_kmeans", gates=False, baseline=True),
)}
BASELINES = tuple(m.name for m in METHODS.values() if m.baseline)
#: the baselines that select features (IDC's kind of explanation)
SELECTORS = tuple(m.name for m in METHODS.values() if m.baseline and m.selects)
#: the suffix of a gated method's name when a run of it had its local gates off and no registry entry says so
NO_GATES = "_no_gates"
#: runs written before ``method=idc_faithful`` chose the official head on the ``idc`` method
LEGACY_HEADS = {("idc", "official"): "idc_faithful"}


def recognise(config: str, gates: bool = True, head: str | None = None) -> str:
    """The registry name of a run that chose method option ``config`` (old runs: ``model=`` option), with its
    local gates on or off and (when known) its ``head`` option. A combination the registry lacks keeps the
    option's name, with :data:`NO_GATES` added when the option's methods all have gates."""
    config = LEGACY_HEADS.get((config, head or ""), config)
    candidates = [m for m in METHODS.values() if m.config == config]
    for m in candidates:
        if m.gates is None or m.gates == gates:
            return m.name
    return config + NO_GATES if candidates and not gates else config


def method_of(cfg: Mapping[str, Any], choices: Mapping[str, str] | None = None) -> str:
    """The registry name of a run, from its Hydra choices (``.hydra/hydra.yaml``: ``method=``, or ``model=``
    before the method group; ``gates=``; ``head=``) where they say it, else from its resolved config
    (``method.name``, or ``model.name`` in run directories written before the method group; ``gates.enabled``)."""
    choices = choices or {}
    config = (choices.get("method") or choices.get("model") or (cfg.get("method") or {}).get("name")
              or (cfg.get("model") or {}).get("name") or "idc")
    gates = choices["gates"] != "none" if choices.get("gates") else bool((cfg.get("gates") or {}).get("enabled", True))
    return recognise(str(config), gates, choices.get("head"))


def run_name(cfg: Mapping[str, Any], choices: Mapping[str, str] | None = None) -> str:
    """The name a run is recorded and tabled under: the ablation row its ``method.name`` names (a row names
    itself, idc/paper/ablation.yaml, while its Hydra choice stays ``method=idc``), else :func:`method_of`."""
    row = str((cfg.get("method") or {}).get("name"))
    return row if row in ablation_rows() and row != "idc" else method_of(cfg, choices)


@dataclass(frozen=True)
class AblationRow:
    """A row of the ablation table: ``overrides`` make it (``method.name`` names it, see :meth:`run_overrides`);
    ``stage1`` is ``own`` or the row whose stage 1 (same dataset and seed) it reuses."""

    name: str
    overrides: tuple[str, ...]
    paper: str | None
    stage1: str

    def run_overrides(self) -> tuple[str, ...]:
        """The overrides with the row's name as ``method.name`` (``idc`` and ``idc_no_gates`` are named already)."""
        named = () if self.name in ("idc", "idc" + NO_GATES) else (f"method.name={self.name}",)
        return (*self.overrides, *named)


@lru_cache(maxsize=1)
def ablation_rows() -> dict[str, AblationRow]:
    """The rows of ``idc/paper/ablation.yaml``, stage-1 owners first."""
    path = ABLATION_FILE
    rows = (yaml.safe_load(path.read_text()) or {})["rows"]
    out = {name: AblationRow(name, tuple(r.get("overrides") or ()), r.get("paper"), str(r.get("stage1", "own")))
           for name, r in rows.items()}
    for row in out.values():
        if row.stage1 != "own" and out.get(row.stage1, row).stage1 != "own":
            raise ValueError(f"{path}: row {row.name} reuses the stage 1 of {row.stage1!r}, which is not a "
                             "row that trains its own (stage1: own)")
    return dict(sorted(out.items(), key=lambda item: item[1].stage1 != "own"))



def paper_row(method: str) -> str | None:
    """The paper's row name of ``method`` (a registry method or an ablation row), or None when the paper has no
    row for it."""
    known = METHODS.get(method) or ablation_rows().get(method)
    return known.paper if known else None
