"""Hierarchy-aware ground-truth measures: absorption of a parent into its children's latents, and hedging.

With D the true features and W the SAE's decoder rows, each true feature's latent is its best match,
argmax_l |cos(W_l, d_i)|.

- **Absorption on the hierarchy** (`HierarchyAbsorption`): for each (parent p, child c) pair, over the
  samples where both fire, the fraction where the parent's latent is silent while the child's latent fires
  and carries the parent (|cos(W_child latent, d_p)| >= `carry`). Per pair, then the mean over pairs with at
  least `min_samples` co-firing samples. 0 = the parent's latent always fires with its children; 1 = every
  child absorbed its parent.
- **Hedging** (`hedging`): for each parent's latent, the norm of its unit decoder row's projection on the
  span of the parent's children's directions, after removing the parent direction: 0 = a pure parent
  latent, 1 = a latent entirely made of its children. Mean over parents.
"""

from __future__ import annotations

import torch

from saebench.metrics.ground_truth.measures import abs_cosines


def best_latents(decoder: torch.Tensor, features: torch.Tensor, cos: torch.Tensor | None = None) -> torch.Tensor:
    """[F] each true feature's best-matching latent (`cos`: the decoder x features |cos|, if known)."""
    return (abs_cosines(decoder, features) if cos is None else cos).argmax(0)


class HierarchyAbsorption:
    """Streaming counts per (parent, child) pair; `parent` [F] is each feature's parent (-1: none)."""

    def __init__(self, decoder: torch.Tensor, features: torch.Tensor, parent: torch.Tensor, carry: float = 0.1,
                 min_samples: int = 20, cos: torch.Tensor | None = None):
        self.child = (parent >= 0).nonzero().flatten()
        self.parent = parent[self.child]
        latent = best_latents(decoder, features, cos)
        self.parent_latent, self.child_latent = latent[self.parent], latent[self.child]
        cos = abs_cosines(decoder[self.child_latent], features[self.parent]).diagonal()
        self.carries = cos >= carry
        self.min_samples = min_samples
        self.both = torch.zeros(len(self.child), dtype=torch.float64)
        self.absorbed = torch.zeros(len(self.child), dtype=torch.float64)

    def add(self, latents: torch.Tensor, feature_acts: torch.Tensor) -> None:
        both = (feature_acts[:, self.parent] > 0) & (feature_acts[:, self.child] > 0)
        silent = latents[:, self.parent_latent] == 0
        child_on = latents[:, self.child_latent] != 0
        self.both += both.sum(0).double()
        self.absorbed += (both & silent & child_on & self.carries).sum(0).double()

    def per_pair(self) -> torch.Tensor:
        """[pairs] absorption rate, NaN where fewer than `min_samples` co-firing samples."""
        rate = self.absorbed / self.both.clamp_min(1)
        return torch.where(self.both >= self.min_samples, rate, torch.full_like(rate, float("nan")))

    def value(self) -> float:
        rates = self.per_pair()
        ok = ~rates.isnan()
        return float(rates[ok].mean()) if ok.any() else float("nan")


def hedging(decoder: torch.Tensor, features: torch.Tensor, parent: torch.Tensor,
            cos: torch.Tensor | None = None) -> float:
    """Mean over parents of |projection of the parent latent's unit decoder row on span(children) minus
    the parent direction|; NaN without a hierarchy."""
    parents = parent[parent >= 0].unique()
    if len(parents) == 0:
        return float("nan")
    latent = best_latents(decoder, features, cos)
    unit = torch.nn.functional.normalize(decoder.float(), dim=1)
    D = features.float()
    values = []
    for p in parents.tolist():
        w = unit[latent[p]]
        dp = torch.nn.functional.normalize(D[p], dim=0)
        w_perp = w - (w @ dp) * dp
        kids = D[(parent == p).nonzero().flatten()]
        kids = kids - (kids @ dp)[:, None] * dp                     # children's directions without the parent
        q = torch.linalg.qr(kids.T).Q                              # orthonormal basis of their span
        values.append(float((q.T @ w_perp).norm()))
    return sum(values) / len(values)
