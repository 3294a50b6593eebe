"""Registry of SAE file-format loaders."""

from __future__ import annotations

from collections.abc import Callable

from saebench.registry import Registry
from saebench.saes.architectures import LinearSAE
from saebench.saes.spec import SAESpec

Loader = Callable[[SAESpec, object], LinearSAE]  # (spec, LoadEnv) -> SAE
FORMATS: Registry[Loader] = Registry("SAE format")


def register_format(name: str):
    def wrap(fn: Loader) -> Loader:
        FORMATS.add(name, fn)
        return fn

    return wrap
