"""Model organisms: a synthetic world with invented names, its corpus, tiny LMs trained on it, and the
evaluation data (probing datasets, RAVEL-format files, unlearning questions) built from the same ground
truth, so every metric can be checked against what was planted."""

from saebench.organisms.world import World, make_world

__all__ = ["World", "make_world"]
