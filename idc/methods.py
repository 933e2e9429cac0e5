"""The methods of the paper's tables, in one registry: how each is selected on the command line, how a run's
saved config names it, and its row name in the paper. ``idc-paper`` runs them; ``idc-table`` names them."""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


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


def paper_name(method: str) -> str:
    """The paper's row name of ``method`` (the method itself when the paper has none)."""
    known = METHODS.get(method)
    return known.paper if known and known.paper else method
