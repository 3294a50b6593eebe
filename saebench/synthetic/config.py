"""Configuration of a synthetic activation model (SynthSAEBench-class) and its named presets.

Activations are x = sum_i a_i d_i + b over a known dictionary D [num_features, d]. Feature i fires with
probability p_i (Zipfian from p_max down to p_min), jointly through a Gaussian copula with a low-rank
correlation; a firing feature's magnitude is ReLU(N(mean_i, std_i^2)) (means linear from `mean_start` to
`mean_end` over the features, in firing-probability order; std_i = `magnitude_std`, or per feature
|N(magnitude_std, magnitude_std_spread^2)|); in the hierarchy a child fires only with its parent (and,
under a mutually exclusive parent, at most one child fires). These are SAE Lens's (`sae_lens.synthetic`)
semantics: the forest takes the most frequent features, breadth first from feature 0;
`compensate_probabilities` raises the children's probabilities so each feature's marginal firing rate
is its base probability; `scale_children_by_parent` multiplies a child's magnitude by its parent's
magnitude over the parent's mean.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from saebench.errors import ConfigError


@dataclass(frozen=True)
class HierarchyConfig:
    roots: int = 0                      # trees; 0 = no hierarchy
    branching: int = 4                  # children per parent
    depth: int = 1                      # levels below the root (1: root + children)
    mutually_exclusive: bool = False    # at most one child of a parent fires
    compensate_probabilities: bool = False  # marginal firing rate = base probability despite the gating
    scale_children_by_parent: bool = False  # child magnitude *= parent magnitude / parent mean

    def n_features(self) -> int:
        """Features in the forest: roots * (1 + b + ... + b^depth)."""
        return self.roots * sum(self.branching ** level for level in range(self.depth + 1))


@dataclass(frozen=True)
class SyntheticConfig:
    num_features: int = 1024
    d: int = 64
    zipf_exponent: float = 0.5
    p_max: float = 0.4
    p_min: float = 5e-4
    mean_start: float = 5.0             # mean firing magnitude of the most frequent feature
    mean_end: float = 4.0               # ... and of the rarest
    magnitude_std: float = 0.5          # std of a firing magnitude ReLU(N(mean, std^2)) ...
    magnitude_std_spread: float = 0.0   # ... or per feature |N(magnitude_std, spread^2)| when > 0
    hierarchy: HierarchyConfig = field(default_factory=HierarchyConfig)
    correlation_rank: int = 0           # low-rank Gaussian-copula correlation; 0 = independent
    correlation_scale: float = 0.1
    orthogonalize_steps: int = 100      # gradient steps pushing the dictionary's overlaps down
    orthogonalize_lr: float = 0.01
    bias_norm: float = 0.0
    seed: int = 0

    def __post_init__(self) -> None:
        checks = [
            (self.num_features >= 1 and self.d >= 1, f"num_features and d must be >= 1, got {self.num_features}, "
                                                       f"{self.d}"),
            (0 < self.p_min < self.p_max <= 1, f"need 0 < p_min < p_max <= 1, got p_min={self.p_min}, "
                                                f"p_max={self.p_max}"),
            (self.zipf_exponent > 0, f"zipf_exponent must be > 0, got {self.zipf_exponent}"),
            (self.magnitude_std >= 0 and self.magnitude_std_spread >= 0 and self.mean_start > 0 and self.mean_end > 0,
             "magnitudes: mean_start, mean_end must be > 0 and magnitude_std, magnitude_std_spread >= 0"),
            (self.hierarchy.n_features() <= self.num_features,
             f"the hierarchy needs {self.hierarchy.n_features()} features, more than num_features="
             f"{self.num_features}"),
            (self.hierarchy.roots == 0 or (self.hierarchy.branching >= 2 and self.hierarchy.depth >= 1),
             "a hierarchy needs branching >= 2 and depth >= 1"),
            (0 <= self.correlation_rank <= self.num_features and 0 <= self.correlation_scale < 1,
             f"correlation_rank must be in 0..num_features and correlation_scale in [0, 1), got "
             f"{self.correlation_rank}, {self.correlation_scale}"),
        ]
        for ok, message in checks:
            if not ok:
                raise ConfigError(f"synthetic model: {message}.")

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> SyntheticConfig:
        d = dict(d)
        unknown = sorted(set(d) - {f for f in cls.__dataclass_fields__})
        if unknown:
            raise ConfigError(f"synthetic model: unknown setting(s) {unknown}; valid: "
                              f"{sorted(cls.__dataclass_fields__)}.")
        if isinstance(d.get("hierarchy"), dict):
            d["hierarchy"] = HierarchyConfig(**d["hierarchy"])
        return cls(**d)


PRESETS: dict[str, SyntheticConfig] = {
    # CI-sized (seconds to sample 100k activations on a CPU): synth16k's recipe at ~1/10 of its features and
    # width, firing probabilities lowered so d / true L0 (96 / 5.7) is near synth16k's
    "synth_ci": SyntheticConfig(num_features=1536, d=96, zipf_exponent=0.5, p_max=0.15, p_min=1e-3,
                                magnitude_std=0.5, magnitude_std_spread=0.5, bias_norm=0.5,
                                hierarchy=HierarchyConfig(roots=48, branching=4, depth=2, mutually_exclusive=True,
                                                          compensate_probabilities=True,
                                                          scale_children_by_parent=True),
                                correlation_rank=10, correlation_scale=0.1, orthogonalize_steps=100),
    # SynthSAEBench-16k's published configuration (arXiv 2602.14687; the SAE Lens config it was saved from)
    "synth16k": SyntheticConfig(num_features=16_384, d=768, zipf_exponent=0.5, p_max=0.4, p_min=5e-4,
                                magnitude_std=0.5, magnitude_std_spread=0.5, bias_norm=0.5,
                                hierarchy=HierarchyConfig(roots=128, branching=4, depth=3, mutually_exclusive=True,
                                                          compensate_probabilities=True,
                                                          scale_children_by_parent=True),
                                correlation_rank=25, correlation_scale=0.1, orthogonalize_steps=100,
                                orthogonalize_lr=3e-4, seed=42),
}


def preset(name: str) -> SyntheticConfig:
    """A named preset; unknown names are an error listing the valid ones."""
    if name not in PRESETS:
        raise ConfigError(f"Unknown synthetic preset {name!r}; valid: {sorted(PRESETS)}.")
    return PRESETS[name]
