"""Synthetic activations with a known feature dictionary (a SynthSAEBench-class tier)."""

from saebench.synthetic.config import PRESETS, HierarchyConfig, SyntheticConfig, preset
from saebench.synthetic.model import SyntheticModel

__all__ = ["PRESETS", "HierarchyConfig", "SyntheticConfig", "SyntheticModel", "preset"]
