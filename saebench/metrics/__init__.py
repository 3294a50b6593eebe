"""Metric plugins: the registry and one subpackage per metric family."""

from saebench.metrics.api import Details, EvalContext, MetricInfo, MetricValue, SAEResult
from saebench.metrics.registry import PLUGINS, PluginInfo, discover, register_plugin

__all__ = ["PLUGINS", "Details", "EvalContext", "MetricInfo", "MetricValue", "PluginInfo", "SAEResult",
           "discover", "register_plugin"]
