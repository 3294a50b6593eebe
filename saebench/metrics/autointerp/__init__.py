"""Auto-interp: LLM-written explanations of latents, scored by detection and fuzzing."""

from saebench.metrics.autointerp import plugin  # noqa: F401  (registers the plugin)
