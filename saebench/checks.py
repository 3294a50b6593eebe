"""One validator for configuration mappings: unknown keys fail with the list of valid ones."""

from __future__ import annotations

import difflib
import types
import typing
from collections.abc import Iterable, Mapping
from typing import Any

from saebench.errors import ConfigError


def check_keys(values: Mapping[str, Any] | Iterable[str], valid: Iterable[str], what: str, hint: str = "") -> None:
    """Raise `ConfigError` naming every key of `values` that is not in `valid`, and the valid keys.

    `what` says where the keys are, e.g. "task 'core'" or "gate config 'gate.yaml'"."""
    valid = sorted(set(valid))
    unknown = sorted(set(values) - set(valid))
    if unknown:
        close = {k: difflib.get_close_matches(k, valid, n=1, cutoff=0.6) for k in unknown}
        guess = "; ".join(f"{k!r}: did you mean {c[0]!r}?" for k, c in close.items() if c)
        raise ConfigError(f"Unknown key(s) {unknown} in {what}.{(' ' + guess) if guess else ''} Valid: {valid}."
                          f"{(' ' + hint) if hint else ''}")


def check_types(values: Mapping[str, Any], cls: type, what: str) -> None:
    """Raise `ConfigError` for a value whose type does not fit its dataclass field (int, float, bool, str,
    lists, optionals), e.g. `n_tokens=abc`; fields with other annotations are left to the class."""
    hints = typing.get_type_hints(cls)
    for key, value in values.items():
        hint = hints.get(key)
        if hint is not None and not _fits(value, hint):
            raise ConfigError(f"{what}: {key}={value!r} ({type(value).__name__}) is not a valid {_name(hint)}.")


def _fits(value: Any, hint: Any) -> bool:
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        return any(_fits(value, h) for h in typing.get_args(hint))
    if hint is type(None):
        return value is None
    if hint is bool:
        return isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if hint is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if hint is str:
        return isinstance(value, str)
    if origin in (list, tuple) or hint in (list, tuple):
        return isinstance(value, (list, tuple))
    if origin is dict or hint is dict:
        return isinstance(value, Mapping)
    return True


def _name(hint: Any) -> str:
    args = typing.get_args(hint)
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        return " or ".join("null" if a is type(None) else _name(a) for a in args)
    return getattr(hint, "__name__", str(hint))
