"""Ground-truth metrics against a synthetic model's known feature dictionary."""

from saebench.metrics.ground_truth.plugin import GroundTruthParams, evaluate_ground_truth

__all__ = ["GroundTruthParams", "evaluate_ground_truth"]
