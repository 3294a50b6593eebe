"""SAE Lens's synthetic generator on saebench's `synth_ci` configuration: the statistics
`tests/parity/test_synthetic_generator_parity.py` holds saebench's generator to, and checks of saebench's
reader of SAE Lens-saved models.

    .venv-parity/bin/python parity/synthetic_generator_sae_lens.py     # parity environment (sae_lens installed)

1. Translates saebench's `synth_ci` config into an SAE Lens `SyntheticModelConfig` (Zipfian firing,
   breadth-first hierarchy with mutually exclusive children, probability compensation, children scaled by
   their parent, low-rank correlation, linear mean magnitudes, folded-normal stds, bias norm), samples
   100,000 activations with SAE Lens and records per-feature firing rates, mean magnitude when firing,
   the true L0's mean and std, and per level the rate at which a parent's children fire given the parent.
2. Saves that SAE Lens model to a folder and loads it through saebench (`synthetic:<folder>`): the
   dictionary, bias and parents must equal SAE Lens's, and sampling must be reproducible from a seed.
Writes tests/parity/fixtures/synthetic_generator/sae_lens.json.
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))                     # saebench from this checkout

from sae_lens.synthetic import (  # noqa: E402
    FoldedNormalMagnitudeConfig,
    HierarchyConfig,
    LinearMagnitudeConfig,
    LowRankCorrelationConfig,
    OrthogonalizationConfig,
    SyntheticModel,
    SyntheticModelConfig,
    ZipfianFiringProbabilityConfig,
)

from saebench.synthetic import preset  # noqa: E402
from saebench.synthetic.source import load_synthetic  # noqa: E402
from saebench.synthetic.statistics import sample_statistics  # noqa: E402

OUT = REPO / "tests" / "parity" / "fixtures" / "synthetic_generator"
N = 100_000


def sae_lens_config(cfg) -> SyntheticModelConfig:
    h = cfg.hierarchy
    std = (FoldedNormalMagnitudeConfig(mean=cfg.magnitude_std, std=cfg.magnitude_std_spread)
           if cfg.magnitude_std_spread > 0 else cfg.magnitude_std)
    return SyntheticModelConfig(
        num_features=cfg.num_features, hidden_dim=cfg.d,
        firing_probability=ZipfianFiringProbabilityConfig(exponent=cfg.zipf_exponent, max_prob=cfg.p_max,
                                                          min_prob=cfg.p_min),
        hierarchy=HierarchyConfig(total_root_nodes=h.roots, branching_factor=h.branching, max_depth=h.depth,
                                  mutually_exclusive_portion=1.0 if h.mutually_exclusive else 0.0,
                                  mutually_exclusive_min_depth=0,
                                  compensate_probabilities=h.compensate_probabilities,
                                  scale_children_by_parent=h.scale_children_by_parent) if h.roots else None,
        orthogonalization=OrthogonalizationConfig(num_steps=cfg.orthogonalize_steps, lr=cfg.orthogonalize_lr),
        correlation=(LowRankCorrelationConfig(rank=cfg.correlation_rank, correlation_scale=cfg.correlation_scale)
                     if cfg.correlation_rank else None),
        mean_firing_magnitudes=LinearMagnitudeConfig(start=cfg.mean_start, end=cfg.mean_end),
        std_firing_magnitudes=std, bias=cfg.bias_norm, seed=cfg.seed)


def main() -> None:
    cfg = preset("synth_ci")
    torch.manual_seed(0)
    model = SyntheticModel(sae_lens_config(cfg))
    with tempfile.TemporaryDirectory() as tmp:
        model.save(tmp)
        ours = load_synthetic(f"synthetic:{tmp}").model           # saebench's reader of SAE Lens folders
        checks = {
            "dictionary_equal": bool(torch.equal(ours.D, model.feature_dict.feature_vectors.detach().float())),
            "bias_equal": bool(torch.equal(ours.bias, model.feature_dict.bias.detach().float())),
            "seeded_sampling_reproducible": bool(torch.equal(ours.sample(64, torch.Generator().manual_seed(3))[1],
                                                             ours.sample(64, torch.Generator().manual_seed(3))[1])),
            "parents": ours.parent.tolist(),
        }
    parent = ours.parent
    stats = sample_statistics(lambda m: model.sample_with_features(m), N, parent)
    OUT.mkdir(parents=True, exist_ok=True)
    import sae_lens
    (OUT / "sae_lens.json").write_text(json.dumps({"sae_lens": sae_lens.__version__, "preset": "synth_ci",
                                                   "config": cfg.to_dict(), "reader_checks": checks,
                                                   "statistics": stats}) + "\n")
    print(json.dumps({k: v for k, v in checks.items() if k != "parents"}), "L0", stats["l0_mean"])


if __name__ == "__main__":
    main()
