"""The metric-plugin registry: `@register_plugin(name, version, metrics)` on a class with Params + run."""

from __future__ import annotations

import dataclasses
import importlib
import logging
import pkgutil
from collections.abc import Iterator
from dataclasses import dataclass
from importlib.metadata import entry_points
from typing import Any, Protocol

from saebench.errors import ConfigError
from saebench.metrics.api import EvalContext, MetricInfo, SAEResult
from saebench.registry import Registry

log = logging.getLogger(__name__)


class Plugin(Protocol):
    Params: type

    def run(self, ctx: EvalContext, params: Any) -> Iterator[SAEResult]: ...


@dataclass(frozen=True)
class PluginInfo:
    name: str
    version: str
    description: str
    metrics: tuple[MetricInfo, ...]
    plugin: Plugin
    needs: tuple[str, ...] = ()      # run-level configs the plugin uses (e.g. "judge"); part of its params

    def metric(self, name: str) -> MetricInfo | None:
        return next((m for m in self.metrics if m.name == name), None)

    def make_params(self, values: dict[str, Any] | None) -> Any:
        """Build the frozen Params from config values; unknown keys fail listing the valid ones."""
        cls = self.plugin.Params
        valid = {f.name for f in dataclasses.fields(cls)}
        values = dict(values or {})
        unknown = sorted(set(values) - valid)
        if unknown:
            raise ConfigError(f"Unknown parameter(s) {unknown} for task {self.name!r}. Valid: {sorted(valid)}.")
        try:
            return cls(**values)
        except (TypeError, ValueError) as e:
            raise ConfigError(f"Invalid parameters for task {self.name!r}: {e}") from e


PLUGINS: Registry[PluginInfo] = Registry("task")


def register_plugin(name: str, *, version: str, metrics: list[MetricInfo], description: str,
                    needs: tuple[str, ...] = ()):
    """Class decorator registering a plugin (a class with a `Params` dataclass and `run`)."""

    def wrap(cls):
        names = [m.name for m in metrics]
        if len(set(names)) != len(names):
            raise ValueError(f"Plugin {name!r} declares duplicate metric names: {names}")
        if not dataclasses.is_dataclass(getattr(cls, "Params", None)):
            raise TypeError(f"Plugin {name!r} must define a dataclass `Params`.")
        PLUGINS.add(name, PluginInfo(name, version, description, tuple(metrics), cls(), tuple(needs)))
        return cls

    return wrap


_discovered = False


def discover() -> Registry[PluginInfo]:
    """Import every plugin package under saebench.metrics, then `saebench.plugins` entry points."""
    global _discovered
    if not _discovered:
        import saebench.metrics as pkg

        for mod in pkgutil.iter_modules(pkg.__path__, pkg.__name__ + "."):
            if mod.ispkg:
                importlib.import_module(mod.name)
        for ep in entry_points(group="saebench.plugins"):
            ep.load()
        _discovered = True
    return PLUGINS
