"""Core metrics: reconstruction, sparsity, downstream loss."""

from saebench.metrics.core.plugin import CoreParams, evaluate_core

__all__ = ["CoreParams", "evaluate_core"]
