"""RAVEL-style attribute disentanglement: data, knowledge filter, pairs, the intervention, latent selection
(MDBM mask or L1 probe), scoring, and the `ravel` plugin."""

from saebench.metrics.ravel import plugin  # noqa: F401  (registers the plugin)
