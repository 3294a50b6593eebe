"""Numerics shared by metric plugins (plugins import these, never each other): batched logistic probes,
exact latent ablation, and the subset -> overall -> seed-aggregate reduction."""
