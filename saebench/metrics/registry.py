"""The metric-plugin registry: `@register_plugin(name, version=..., params=..., metrics=...)` on a function
`run(ctx, params) -> Iterator[SAEResult]`; `discover()` imports every plugin and freezes the registry."""

from __future__ import annotations

import dataclasses
import importlib
import logging
import pkgutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from importlib.metadata import entry_points
from typing import Any

from saebench.checks import check_keys, check_types
from saebench.errors import ConfigError
from saebench.metrics.api import EvalContext, MetricInfo, SAEResult
from saebench.metrics.applicability import Applicability
from saebench.registry import Registry
from saebench.services import Needs

log = logging.getLogger(__name__)

NO_NEEDS = Needs()
RunFunction = Callable[[EvalContext, Any], Iterator[SAEResult]]
# Modules of saebench.metrics that are infrastructure, not plugins.
_NOT_PLUGINS = {"api", "registry", "applicability", "numerics"}


@dataclass(frozen=True)
class PluginInfo:
    """A registered plugin: what it emits, what it needs, which SAEs it applies to, and how to run it."""

    name: str
    version: str
    description: str
    metrics: tuple[MetricInfo, ...]
    run: RunFunction
    params: type
    needs: Needs = NO_NEEDS
    applies_to: Applicability | None = None   # None = every SAE

    def metric(self, name: str) -> MetricInfo | None:
        return next((m for m in self.metrics if m.name == name), None)

    @property
    def catalogue(self) -> dict[str, MetricInfo]:
        """metric name -> MetricInfo (stamped on every result row)."""
        return {m.name: m for m in self.metrics}

    def not_applicable(self, sae) -> str | None:
        """Why this plugin cannot evaluate `sae`, or None when it can."""
        return None if self.applies_to is None else self.applies_to(sae)

    def make_params(self, values: dict[str, Any] | None) -> Any:
        """Build the frozen Params from config values; unknown keys fail listing the valid ones."""
        values = dict(values or {})
        check_keys(values, [f.name for f in dataclasses.fields(self.params)], f"the parameters of task {self.name!r}")
        check_types(values, self.params, f"task.{self.name}")
        try:
            return self.params(**values)
        except (TypeError, ValueError) as e:
            raise ConfigError(f"Invalid parameters for task {self.name!r}: {e}") from e


PLUGINS: Registry[PluginInfo] = Registry("task")


def make_plugin(run: RunFunction, name: str, *, version: str, metrics: list[MetricInfo], description: str,
                params: type, needs: Needs = NO_NEEDS, applies_to: Applicability | None = None) -> PluginInfo:
    """Validate a plugin declaration and build its PluginInfo (without registering it)."""
    names = [m.name for m in metrics]
    if len(set(names)) != len(names):
        raise ValueError(f"Plugin {name!r} declares duplicate metric names: {names}")
    if not dataclasses.is_dataclass(params):
        raise TypeError(f"Plugin {name!r}: `params` must be a dataclass, got {params!r}.")
    if not isinstance(needs, Needs):
        raise TypeError(f"Plugin {name!r}: `needs` must be a saebench.services.Needs, got {needs!r}.")
    return PluginInfo(name, version, description, tuple(metrics), run, params, needs, applies_to)


def register_plugin(name: str, *, version: str, metrics: list[MetricInfo], description: str, params: type,
                    needs: Needs = NO_NEEDS, applies_to: Applicability | None = None,
                    registry: Registry[PluginInfo] | None = None):
    """Function decorator registering `run(ctx, params)` as the plugin `name` (see CONTRIBUTING.md)."""

    def wrap(run: RunFunction) -> RunFunction:
        info = make_plugin(run, name, version=version, metrics=metrics, description=description, params=params,
                           needs=needs, applies_to=applies_to)
        (PLUGINS if registry is None else registry).add(name, info)
        return run

    return wrap


_discovered = False


def discover() -> Registry[PluginInfo]:
    """Import every plugin module and package under saebench.metrics, then the `saebench.plugins` entry
    points; the registry is frozen afterwards."""
    global _discovered
    if not _discovered:
        import saebench.metrics as pkg

        for mod in pkgutil.iter_modules(pkg.__path__, pkg.__name__ + "."):
            if mod.name.rsplit(".", 1)[-1] not in _NOT_PLUGINS:
                importlib.import_module(mod.name)
        for ep in entry_points(group="saebench.plugins"):
            ep.load()
        PLUGINS.freeze()
        _discovered = True
    return PLUGINS
