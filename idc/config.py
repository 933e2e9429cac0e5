"""Where the Hydra configs live, in a source checkout and in an installed package alike."""
from __future__ import annotations

import copy
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

_PACKAGE = Path(__file__).resolve().parent


def _add(*terms: int) -> int:
    """``${idc.add:a,b,...}``: the sum of whole numbers (a schedule's total epochs from its stages)."""
    return sum(int(t) for t in terms)


OmegaConf.register_new_resolver("idc.add", _add, replace=True)


def config_dir() -> Path:
    """``configs/`` of the source tree (checkout or editable install), else ``idc/configs`` of a wheel."""
    for candidate in (_PACKAGE.parent / "configs", _PACKAGE / "configs"):
        if (candidate / "train.yaml").is_file():
            return candidate
    raise FileNotFoundError(f"IDC configs not found next to {_PACKAGE}; reinstall the package")


def group_options(group: str) -> list[str]:
    """The options of a config group of :func:`config_dir`: its YAML files, nested ones as ``sub/name``."""
    folder = config_dir() / group
    return sorted(p.relative_to(folder).with_suffix("").as_posix() for p in folder.rglob("*.yaml"))


#: composed configs by what they depend on (see :func:`compose`), oldest first; a few hundred KB at most
_COMPOSED: dict[tuple, DictConfig] = {}
_COMPOSED_MAX = 64


def _compose_key(overrides: Sequence[str], config_name: str) -> tuple:
    """What a composition depends on: the overrides, the YAML files (their number and newest change, so that a
    config edited in place composes anew), the working directory (``hydra.runtime.cwd``) and the ``IDC_*``
    environment (interpolations that validation resolves)."""
    files = [p.stat().st_mtime_ns for p in config_dir().rglob("*.yaml")]
    env = tuple(sorted((k, v) for k, v in os.environ.items() if k.startswith("IDC_")))
    return config_name, tuple(overrides), len(files), max(files), os.getcwd(), env


def compose(overrides: Sequence[str] = (), config_name: str = "train") -> DictConfig:
    """Compose a config with Hydra's compose API (for notebooks, the estimator and tests) and validate it
    (:func:`idc.schema.validate`: a bad key or value raises :class:`idc.schema.ConfigError` here).

    Interpolations that need a running Hydra app (``${hydra:...}``) are left unresolved. Composing takes a
    good part of a second (Hydra reads and merges every group's YAML), so the same request is answered from
    memory, as a copy of its own.
    """
    key = _compose_key(overrides, config_name)
    if key not in _COMPOSED:
        from hydra import compose as hydra_compose
        from hydra import initialize_config_dir

        from idc.schema import validate

        with initialize_config_dir(config_dir=str(config_dir()), version_base="1.3"):
            cfg = hydra_compose(config_name=config_name, overrides=list(overrides), return_hydra_config=True)
        if config_name == "train":
            validate(cfg)
        if len(_COMPOSED) >= _COMPOSED_MAX:
            del _COMPOSED[next(iter(_COMPOSED))]
        _COMPOSED[key] = cfg
    return copy.deepcopy(_COMPOSED[key])


def compose_run(overrides: Sequence[str], output_dir: str | Path) -> DictConfig:
    """A composed train config for a run in ``output_dir`` outside a Hydra app (searches, tests): the
    ``${hydra:...}`` interpolations are resolved once, then the Hydra node is dropped."""
    from hydra.core.hydra_config import HydraConfig
    from omegaconf import open_dict

    cfg = compose(overrides)
    HydraConfig.instance().set_config(cfg)
    with open_dict(cfg):
        cfg.paths.output_dir = str(output_dir)
        del cfg.hydra
    return cfg


def instantiate(node: Any, **kwargs: Any) -> Any:
    """``hydra.utils.instantiate`` that re-raises the target's own exception (a ``DataError`` with its
    message, a ``TypeError`` for a bad argument) instead of Hydra's wrapper."""
    import hydra
    from hydra.errors import InstantiationException

    try:
        return hydra.utils.instantiate(node, **kwargs)
    except InstantiationException as err:
        if err.__cause__ is not None:
            raise err.__cause__ from None
        raise
