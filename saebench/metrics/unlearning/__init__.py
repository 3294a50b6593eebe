"""Unlearning by clamping SAE latents (SAEBench's eval, generalised): task definitions, questions and their
formats, the known-question filter, densities, selection, the clamp, the grid, and the `unlearning` plugin."""

from saebench.metrics.unlearning import plugin  # noqa: F401  (registers the plugin)
