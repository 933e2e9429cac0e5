"""The methods of the paper's tables, in one registry: how each is selected on the command line, how a run's
saved config names it, and its row name in the paper. ``idc-paper`` runs them; ``idc-table`` names them."""
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
    """``overrides`` select the method for ``idc-train``; ``paper`` is its row in the paper's tables (None: the
    paper has no such row)."""

    name: str
    overrides: tuple[str, ...]
    paper: str | None


METHODS: dict[str, Method] = {m.name: m for m in (
    Method("idc", (), "IDC"),
    Method("idc_faithful", ("method=idc_faithful",), "IDC"),
    Method("idc_no_gates", ("gates=none",), "IDC w/o gates"),
    Method("kmeans", ("method=kmeans",), "KM"),
    Method("gmm", ("method=gmm",), None),
    Method("spectral", ("method=spectral",), None),
    Method("agglomerative", ("method=agglomerative",), None),
    Method("ls_kmeans", ("method=ls_kmeans",), "LS+KM"),
    Method("cae_kmeans", ("method=cae_kmeans",), "CAE+KM"),
    Method("ae_kmeans", ("method=ae_kmeans", "gates=none"), "IDC features + K-Means"),
    Method("ifpca", ("method=ifpca",), "IF-PCA"),
)}
#: methods whose runs train IDC's clustering head, so that "without local gates" makes them another method
GATED = ("idc", "idc_faithful")
NO_GATES = "_no_gates"


def method_of(cfg: Mapping[str, Any]) -> str:
    """The method a run's resolved config describes: ``method.name`` (``model.name`` in run directories written
    before the ``method`` group), with ``_no_gates`` added when an IDC head was trained without local gates."""
    name = str((cfg.get("method") or {}).get("name") or (cfg.get("model") or {}).get("name") or "idc")
    if name in GATED and not (cfg.get("gates") or {}).get("enabled", True):
        name += NO_GATES
    return name


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


def paper_name(method: str) -> str:
    """The paper's row name of ``method`` (the method itself when the paper has none)."""
    known = METHODS.get(method) or ablation_rows().get(method)
    return known.paper if known and known.paper else method
