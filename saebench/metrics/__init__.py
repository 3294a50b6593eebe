"""Metric plugins: the registry and one subpackage per metric family."""

from saebench.metrics.api import Details, EvalContext, MetricInfo, MetricValue, Needs, SAEResult
from saebench.metrics.registry import PLUGINS, PluginInfo, discover, make_plugin, register_plugin

__all__ = ["PLUGINS", "Details", "EvalContext", "MetricInfo", "MetricValue", "Needs", "PluginInfo", "SAEResult",
           "discover", "make_plugin", "register_plugin"]
