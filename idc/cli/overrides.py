"""A misspelt key in an override (``model.botleneck=3``, ``sed=1``) answered with the schema's "did you mean"
(:func:`idc.schema.unknown_key_message`, the message :func:`idc.schema.validate` gives for the same key), before Hydra
composes: Hydra's own answer, "Could not override 'model.botleneck'. To append to your config use
+model.botleneck=3", leads to a key that validation then refuses.

Only plain overrides are checked (``key=value``, not ``+key``, ``++key``, ``~key`` or ``group@package``), only
against the schemas of :data:`idc.schema.GROUPS` and the root config's keys, so that what is refused here is
what :func:`idc.schema.validate` would refuse after composing; the rest (choices of a group, keys of the open
groups ``trainer``, ``logger``, ``paths``, ``hydra``) is left to Hydra. The check parses the arguments with
Hydra's own parsers and composes nothing.
"""
from __future__ import annotations

import functools
import sys
from collections.abc import Sequence
from typing import Any, Callable, NoReturn

#: the exit status of a bad argument (as argparse's)
BAD_INPUT = 2


def unknown_key(overrides: Sequence[str], root_check: bool = True) -> str | None:
    """The message of the first plain override whose key the schema does not have, or None. ``root_check``:
    also keys of the root config (off where other config directories may bring more config groups)."""
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
            if root_check and "/" not in key and key not in ROOT_KEYS and not (config_dir() / key).is_dir():
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


def check(prog: str, overrides: Sequence[str], root_check: bool = True) -> None:
    """Exit with :data:`BAD_INPUT` and ``PROG: KEY: unknown key (did you mean ...?); ... has: ...`` on stderr
    when an override's key is unknown (:func:`unknown_key`)."""
    message = unknown_key(overrides, root_check)
    if message is not None:
        refuse(prog, message)


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
                    other_dirs = parsed.config_path is not None or parsed.config_dir is not None or any(
                        "hydra.searchpath" in o for o in parsed.overrides)
                    check(prog, parsed.overrides, root_check=not other_dirs)
            return hydra_main(*args, **kwargs)
        return main
    return wrap
