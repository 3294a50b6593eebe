"""First-letter feature absorption."""

from saebench.metrics.absorption import plugin  # noqa: F401  (registers the plugin)
