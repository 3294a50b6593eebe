"""Parity tier, synthetic generator: saebench's `synth_ci` sampler against SAE Lens's sampler on the same
configuration (fixture made by parity/synthetic_generator_sae_lens.py in the parity environment). The
dictionaries and correlation factors differ (each tool draws its own), so what is compared is the law of
the feature activations: the firing rate of every feature whose rate the correlation factor cannot move
(roots and features outside the forest, within 5 standard errors of the difference of two samples of
100,000), each hierarchy level's total rate and co-firing with parents (a child's rate depends on its
copula correlation with its parent, a draw of each tool: within 3 %), mean magnitudes when firing, and
the true L0. It also records that saebench's reader of SAE Lens-saved models returned SAE Lens's dictionary,
bias and hierarchy exactly."""

from __future__ import annotations

import json
import math
from pathlib import Path

import torch

from saebench.synthetic import SyntheticModel, preset
from saebench.synthetic.statistics import sample_statistics

FIXTURE = json.loads((Path(__file__).parent / "fixtures" / "synthetic_generator" / "sae_lens.json").read_text())


def test_synth_ci_samples_follow_sae_lens_law():
    assert FIXTURE["config"] == preset("synth_ci").to_dict(), "fixture made for another synth_ci configuration"
    model = SyntheticModel(preset("synth_ci"))
    theirs = FIXTURE["statistics"]
    n = theirs["n"]
    gen = torch.Generator().manual_seed(0)
    ours = sample_statistics(lambda m: model.sample(m, gen), n, model.parent)
    r1, r2 = torch.tensor(ours["rate"], dtype=torch.float64), torch.tensor(theirs["rate"], dtype=torch.float64)
    p = (r1 + r2) / 2
    se = (p * (1 - p) * 2 / n).sqrt().clamp_min(1 / n)
    ungated = model.parent < 0
    assert float(((r1 - r2).abs() / se)[ungated].max()) < 5, "a feature fires at another rate than in SAE Lens"
    for level in model.levels:
        kids = level.children.flatten()
        assert abs(float(r1[kids].sum() / r2[kids].sum()) - 1) < 0.03, "a hierarchy level fires at another rate"
    # magnitudes: within 5 standard errors for a magnitude std of at most 2 (children are scaled by parents)
    c1, c2 = r1 * n, r2 * n
    m1, m2 = torch.tensor(ours["mean_on"]), torch.tensor(theirs["mean_on"])
    seen = (c1 > 50) & (c2 > 50)
    se_mean = 2.0 * (1 / c1[seen] + 1 / c2[seen]).sqrt()
    assert float(((m1[seen] - m2[seen]).abs() / se_mean).max()) < 5
    k1 = torch.tensor(ours["child_fires_with_parent"], dtype=torch.float64) / n
    k2 = torch.tensor(theirs["child_fires_with_parent"], dtype=torch.float64) / n
    for level in model.levels:
        kids = level.children.flatten()
        assert abs(float(k1[kids].sum() / k2[kids].sum()) - 1) < 0.03
    assert abs(ours["l0_mean"] - theirs["l0_mean"]) < 5 * theirs["l0_std"] * math.sqrt(2 / n)
    assert abs(ours["l0_std"] - theirs["l0_std"]) < 0.05 * theirs["l0_std"]


def test_the_sae_lens_reader_returned_sae_lens_tensors():
    checks = FIXTURE["reader_checks"]
    assert checks["dictionary_equal"] and checks["bias_equal"] and checks["seeded_sampling_reproducible"]
    # SAE Lens's hierarchy, read from its hierarchy.json, is synth_ci's breadth-first forest
    assert checks["parents"] == SyntheticModel(preset("synth_ci")).parent.tolist()
