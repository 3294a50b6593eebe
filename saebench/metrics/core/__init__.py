"""Core metrics: reconstruction, sparsity, downstream loss."""

from saebench.metrics.core.plugin import CoreParams, CorePlugin, evaluate_core

__all__ = ["CoreParams", "CorePlugin", "evaluate_core"]
