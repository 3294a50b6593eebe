"""One validator for configuration mappings: unknown keys fail with the list of valid ones."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from saebench.errors import ConfigError


def check_keys(values: Mapping[str, Any] | Iterable[str], valid: Iterable[str], what: str, hint: str = "") -> None:
    """Raise `ConfigError` naming every key of `values` that is not in `valid`, and the valid keys.

    `what` says where the keys are, e.g. "task 'core'" or "gate config 'gate.yaml'"."""
    valid = sorted(set(valid))
    unknown = sorted(set(values) - set(valid))
    if unknown:
        raise ConfigError(f"Unknown key(s) {unknown} in {what}. Valid: {valid}.{(' ' + hint) if hint else ''}")
