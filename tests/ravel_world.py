"""What the RAVEL tests share: a small slice of the organism's RAVEL world, the prompts it knows, and an SAE
whose latents are an orthogonal (so invertible) map of the residual."""

from __future__ import annotations

import dataclasses

import torch

from saebench.metrics.ravel.data import load_ravel_class
from saebench.metrics.ravel.knowledge import known_prompts
from saebench.paths import asset
from saebench.saes.architectures import IdentityActivationSAE
from tests.builders import metadata


def organism_city(n_entities: int = 30, n_templates: int = 3):
    """The organism's `city` class cut to its first entities and templates per attribute."""
    cls = load_ravel_class("city", asset("organisms/orgllama/ravel"))
    return dataclasses.replace(cls, values=dict(sorted(cls.values.items())[:n_entities]),
                               templates={a: t[:n_templates] for a, t in cls.templates.items()})


def known_city(lm, attributes: list[str], n_entities: int = 30, n_templates: int = 3):
    """The prompts of `organism_city` the organism answers correctly (all its entities kept)."""
    return known_prompts(lm, organism_city(n_entities, n_templates), attributes, top_n_entities=n_entities)


def orthogonal_sae(d: int, hook: str, seed: int = 0) -> IdentityActivationSAE:
    """Latents = an orthogonal map of the residual: decode(encode(x)) = x, every latent swap is exact."""
    W = torch.linalg.qr(torch.randn(d, d, generator=torch.Generator().manual_seed(seed)))[0]
    return IdentityActivationSAE(W.contiguous(), W.T.contiguous(), torch.zeros(d), torch.zeros(d),
                                 metadata=metadata("ortho", hook))
