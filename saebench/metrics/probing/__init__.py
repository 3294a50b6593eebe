"""The probing family: sparse probing, SCR and TPP on one shared activation cache."""

from saebench.metrics.probing import scr, sparse_probing, tpp  # noqa: F401  (registers the plugins)
