"""Where the Hydra configs live, in a source checkout and in an installed package alike."""
from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from omegaconf import DictConfig

_PACKAGE = Path(__file__).resolve().parent


def config_dir() -> Path:
    """``configs/`` of the source tree (checkout or editable install), else ``idc/configs`` of a wheel."""
    for candidate in (_PACKAGE.parent / "configs", _PACKAGE / "configs"):
        if (candidate / "train.yaml").is_file():
            return candidate
    raise FileNotFoundError(f"IDC configs not found next to {_PACKAGE}; reinstall the package")


def compose(overrides: Sequence[str] = (), config_name: str = "train") -> DictConfig:
    """Compose a config with Hydra's compose API (for notebooks, the estimator and tests).

    Interpolations that need a running Hydra app (``${hydra:...}``) are left unresolved.
    """
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir

    with initialize_config_dir(config_dir=str(config_dir()), version_base="1.3"):
        return hydra_compose(config_name=config_name, overrides=list(overrides), return_hydra_config=True)


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
