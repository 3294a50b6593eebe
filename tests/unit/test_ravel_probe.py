"""RAVEL's probe selection: an L1 multinomial probe on standardised latents picks the latents that carry the
attribute and none of the noise latents; the cap keeps the strongest; one class is an error."""

from __future__ import annotations

import pytest
import torch

from saebench.metrics.ravel.probe import ProbeSelection, probe_mask


def planted(n: int = 600, d_sae: int = 40, informative=(3, 17, 29), seed: int = 0):
    """Latents where `informative` ones fire for one attribute value each; the rest are noise (one dead)."""
    g = torch.Generator().manual_seed(seed)
    labels = torch.randint(0, len(informative), (n,), generator=g)
    latents = torch.rand(n, d_sae, generator=g).clamp_min(0.5) - 0.5            # sparse noise
    for value, latent in enumerate(informative):
        latents[:, latent] = (labels == value).float() * (1 + torch.rand(n, generator=g))
    latents[:, 0] = 0.0
    return latents, [["Avalon", "Brisk", "Corvo"][v] for v in labels.tolist()]


def test_the_probe_selects_exactly_the_latents_that_carry_the_attribute():
    latents, labels = planted()
    mask = probe_mask(latents, labels, ProbeSelection(l1=0.05))
    assert torch.nonzero(mask).flatten().tolist() == [3, 17, 29]


def test_a_cap_keeps_the_strongest_latents_and_a_weak_penalty_selects_more():
    latents, labels = planted()
    latents[:, 29] *= torch.linspace(0, 1, len(latents)) > 0.8       # latent 29 now fires on few of its prompts
    capped = probe_mask(latents, labels, ProbeSelection(l1=0.05, max_latents=2))
    assert torch.nonzero(capped).flatten().tolist() == [3, 17]
    loose = probe_mask(latents, labels, ProbeSelection(l1=1e-4))
    assert loose.sum() > 3 and loose[0] == 0                       # noise enters; the dead latent never does


def test_one_attribute_value_and_bad_settings_are_named():
    latents, _ = planted()
    with pytest.raises(Exception, match="at least two attribute values"):
        probe_mask(latents, ["Avalon"] * len(latents), ProbeSelection())
    with pytest.raises(Exception, match="l1 > 0"):
        ProbeSelection(l1=0)
