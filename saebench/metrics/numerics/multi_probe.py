"""SAEBench's one-vs-rest multi-probe recipe (absorption's ground-truth and L1 k-sparse probes), seeded.

One `Linear(d, P)` trained on every row at once: BCE-with-logits with `pos_weight = n_neg / n_pos` per
probe, optionally `+ l1 * mean_p(sum_i |W[p, i]|)`, Adam with (coupled) weight decay, learning rate decayed
exponentially per epoch from `lr` towards `end_lr` over `epochs` epochs, shuffled mini-batches. Features
may be mapped per batch (`map_features`, e.g. an SAE encode) so wide latent matrices are never held whole.
The randomness (initialisation, shuffling) comes from `generator` only.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch

from saebench.metrics.numerics.probes import LinearProbes


@dataclass(frozen=True, kw_only=True)
class MultiProbeRecipe:
    epochs: int = 50
    batch_size: int = 64
    lr: float = 1e-2
    end_lr: float = 1e-5
    weight_decay: float = 1e-4
    l1: float = 0.0


def train_multi_probe(X: torch.Tensor, Y: torch.Tensor, recipe: MultiProbeRecipe, generator: torch.Generator,
                      map_features: Callable[[torch.Tensor], torch.Tensor] | None = None,
                      n_features: int | None = None) -> LinearProbes:
    """Train P probes on rows X [n, d_in] with 0/1 targets Y [n, P]; returns W [P, d], b [P]."""
    n, P = Y.shape
    d = n_features if n_features is not None else X.shape[1]
    device = X.device
    bound = 1.0 / math.sqrt(d)                      # nn.Linear's default initialisation
    W = ((torch.rand(P, d, generator=generator) * 2 - 1) * bound).to(device).requires_grad_(True)
    b = ((torch.rand(P, generator=generator) * 2 - 1) * bound).to(device).requires_grad_(True)
    Yf = Y.float().to(device)
    n_pos = Yf.sum(0)
    pos_weight = (n - n_pos) / n_pos                # inf for a probe without positives, as SAEBench
    opt = torch.optim.Adam([W, b], lr=recipe.lr, weight_decay=recipe.weight_decay)
    gamma = math.exp(math.log(recipe.end_lr / recipe.lr) / recipe.epochs)
    sched = torch.optim.lr_scheduler.ExponentialLR(opt, gamma=gamma)
    with torch.enable_grad():
        for _ in range(recipe.epochs):
            order = torch.randperm(n, generator=generator).to(device)
            for start in range(0, n, recipe.batch_size):
                idx = order[start:start + recipe.batch_size]
                with torch.no_grad():
                    feats = X[idx] if map_features is None else map_features(X[idx])
                logits = feats.float() @ W.T + b
                loss = torch.nn.functional.binary_cross_entropy_with_logits(logits, Yf[idx], pos_weight=pos_weight)
                if recipe.l1:
                    loss = loss + recipe.l1 * W.abs().sum(-1).mean()
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
            sched.step()
    return LinearProbes(W.detach().clone(), b.detach().clone())
