"""User-facing error types. Each message names the bad value and what would be valid."""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class SaeBenchError(Exception):
    """Base class for every error saebench raises on purpose."""


class ConfigError(SaeBenchError):
    """A configuration value is missing, malformed or inconsistent."""


class UnknownNameError(SaeBenchError, KeyError):
    """A registry or config lookup used a name that does not exist."""

    def __str__(self) -> str:  # KeyError would otherwise repr() the message
        return str(self.args[0]) if self.args else ""


class IncompatibleSAEError(SaeBenchError):
    """An SAE does not fit the model or hook it is asked to run on."""


class SAELoadError(SaeBenchError):
    """An SAE file is missing, corrupt, or has invalid contents."""


class ModelLoadError(SaeBenchError):
    """A language model or tokenizer could not be loaded."""


class DataError(SaeBenchError):
    """A text corpus or dataset could not be read or is unusable."""


def did_you_mean(name: str, valid: Iterable[str], what: str, limit: int = 12) -> str:
    """Build a message for an unknown `name`, with close matches and the valid choices (capped)."""
    valid = sorted(set(valid))
    close = difflib.get_close_matches(name, valid, n=3, cutoff=0.5)
    msg = f"Unknown {what} {name!r}."
    if close:
        msg += " Did you mean: " + ", ".join(repr(c) for c in close) + "?"
    shown = valid[:limit]
    more = f" (and {len(valid) - limit} more)" if len(valid) > limit else ""
    msg += " Valid: " + (", ".join(shown) if shown else "(none registered)") + more + "."
    return msg
