"""A misspelt key in an override (``model.botleneck=3``, ``sed=1``) answered with the schema's "did you mean"
(:func:`idc.schema.unknown_key_message`, the message :func:`idc.schema.validate` gives for the same key), before Hydra
composes: Hydra's own answer, "Could not override 'model.botleneck'. To append to your config use
+model.botleneck=3", leads to a key that validation then refuses.

Only plain overrides are checked (``key=value``, not ``+key``, ``++key``, ``~key`` or ``group@package``), only
against the schemas of :data:`idc.schema.GROUPS` and the root config's keys, so that what is refused here is
what :func:`idc.schema.validate` would refuse after composing; the rest (keys of the open groups ``trainer``,
``logger``, ``paths``, ``hydra``) is left to Hydra. A group's choice (``schedule=quik``) is checked against the
group's files in the config dir (:func:`unknown_option`), where Hydra would list the options under its config
search path (or, for an optional group such as ``tuning``, silently take none). The check parses the arguments
with Hydra's own parsers and composes nothing.
"""
from __future__ import annotations

import functools
import sys
from collections.abc import Sequence
from typing import Any, Callable, NoReturn

#: the exit status of a bad argument (as argparse's)
BAD_INPUT = 2


def unknown_key(overrides: Sequence[str], root_check: bool = True) -> str | None:
    """The message of the first plain override whose key the schema does not have, or whose group's option the
    config dir does not have (:func:`unknown_option`), or None. ``root_check``: also keys of the root config and
    groups' options (off where other config directories may bring more config groups and options)."""
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.errors import HydraException

    from idc.config import config_dir
    from idc.schema import GROUPS, ROOT_KEYS, keys_at, unknown_key_message

    parser = OverridesParser.create()
    for text in overrides:
        try:
            override = parser.parse_override(text)
        except HydraException:  # a syntax error: Hydra reports it
            continue
        if override.is_add() or override.is_force_add() or override.is_delete() or override.package is not None:
            continue
        key = override.key_or_group
        group, *path = key.split(".")
        if not path:  # a root key or a group's choice (dataset=digits, experiment=..., hydra/launcher=joblib)
            if not root_check or "/" in key:  # other config dirs may bring options; Hydra's own groups
                continue
            if (config_dir() / key).is_dir():
                if (message := unknown_option(key, override.value())) is not None:
                    return message
            elif key not in ROOT_KEYS:
                return unknown_key_message(key, ROOT_KEYS)
            continue
        if group not in GROUPS:
            continue
        for depth, name in enumerate(path):
            allowed = keys_at(GROUPS[group], path[:depth])
            if not allowed:  # not a dataclass: a free mapping (hparams_search.params), a list, Any
                break
            if name not in allowed:
                return unknown_key_message(".".join([group, *path[:depth + 1]]), allowed)
    return None


def unknown_option(group: str, value: Any) -> str | None:
    """``GROUP=OPTION: no such option (did you mean 'X'?); GROUP has: ...`` for the first option of ``value`` (a
    group's choice as Hydra parsed it: a string, or a sweep ``a,b`` / list ``[a,b]`` of them) that ``group`` of
    the config dir lacks, or None. ``null`` (no config of the group), other types, interpolations and
    ``glob(...)``/``range(...)`` sweeps are left to Hydra, as is Hydra's own group ``hydra`` (Hydra's ConfigStore
    holds options of it too)."""
    from hydra.core.override_parser.types import ChoiceSweep

    from idc.config import group_options
    from idc.schema import did_you_mean

    if group == "hydra":
        return None
    items = value.list if isinstance(value, ChoiceSweep) else value if isinstance(value, list) else [value]
    options = None
    for item in items:
        if not isinstance(item, str) or "${" in item:
            continue
        options = options if options is not None else group_options(group)
        if item.removesuffix(".yaml") not in options:  # Hydra takes `schedule=quick.yaml` as `schedule=quick`
            return f"{group}={item}: no such option{did_you_mean(item, options)}; {group} has: {', '.join(options)}"
    return None


def check(prog: str, overrides: Sequence[str], root_check: bool = True) -> None:
    """Exit with :data:`BAD_INPUT` and ``PROG: KEY: unknown key (did you mean ...?); ... has: ...`` on stderr
    when an override's key, or a group's option, is unknown (:func:`unknown_key`); with a ``hydra.searchpath``
    override (other config directories) only the groups' keys are checked."""
    root_check = root_check and not any("hydra.searchpath" in o for o in overrides)
    message = unknown_key(overrides, root_check)
    if message is not None:
        refuse(prog, message)


def compose_errors() -> tuple[type[Exception], ...]:
    """Hydra's and OmegaConf's exceptions (bad input that the checks before composing let through: a sweep given to
    a command that composes one config, an interpolation that does not resolve), with idc's
    :class:`~idc.schema.ConfigError` and :class:`~idc.data.DataError`: bad input to a command, answered by
    :func:`refuse`."""
    from hydra.errors import HydraException
    from omegaconf.errors import OmegaConfBaseException

    from idc.data import DataError
    from idc.schema import ConfigError

    return ConfigError, DataError, HydraException, OmegaConfBaseException


def refuse(prog: str, message: object) -> NoReturn:
    """Bad input: ``PROG: MESSAGE`` on stderr, exit status :data:`BAD_INPUT`."""
    print(f"{prog}: {message}", file=sys.stderr)
    raise SystemExit(BAD_INPUT)


def checked(prog: str, config_name: str = "train") -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Wrap a ``@hydra.main`` function: its command line's overrides are checked (:func:`check`) before Hydra
    composes. The command line is read with Hydra's own parser (an option it refuses, or ``--version``, ends
    the program as Hydra would); a called ``main(cfg)`` (Hydra's ``cfg_passthrough``) is not checked."""
    def wrap(hydra_main: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(hydra_main)
        def main(*args: Any, **kwargs: Any) -> Any:
            if not args and not kwargs:
                from hydra._internal.utils import get_args_parser  # the parser hydra.main uses

                parsed = get_args_parser().parse_args()
                if (parsed.config_name in (None, config_name) and parsed.experimental_rerun is None
                        and not parsed.shell_completion):
                    other_dirs = parsed.config_path is not None or parsed.config_dir is not None
                    check(prog, parsed.overrides, root_check=not other_dirs)
            return hydra_main(*args, **kwargs)
        return main
    return wrap
