"""A small, seeded SAE trainer for the bundled models (demo SAEs, organism SAEs); CPU-sized, not a
replacement for a training library.

Architectures: `relu` (L1 penalty weighted by decoder norms), `topk`, `batchtopk` (the k·batch largest
activations over the batch; inference threshold = running mean of the smallest kept activation, as
dictionary_learning's trainer sets it) and `matryoshka_batchtopk` (BatchTopK where every prefix of the
latent groups reconstructs on its own). Decoder rows are kept unit-norm for the top-k family, and
decoder norms are folded into the encoder at the end (same function, unit-norm rows) for all.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import torch
from tqdm.auto import trange

from saebench.saes.architectures import BatchTopKSAE, MatryoshkaBatchTopKSAE, ReLUSAE, TopKSAE
from saebench.saes.protocol import SAEMetadata

log = logging.getLogger(__name__)
KINDS = ("relu", "topk", "batchtopk", "matryoshka_batchtopk")


@dataclass(frozen=True)
class TrainedWeights:
    W_enc: torch.Tensor
    W_dec: torch.Tensor
    b_enc: torch.Tensor
    b_dec: torch.Tensor
    threshold: float | None = None


def matryoshka_groups(d_sae: int) -> list[int]:
    """Group sizes 1/8, 1/4, 5/8 of the width (the demo's 32/64/160 at 256)."""
    a, b = d_sae // 8, d_sae // 4
    return [a, b, d_sae - a - b]


def train_sae(acts: torch.Tensor, kind: str, d_sae: int, steps: int, seed: int, k: int = 8, l1: float = 2e-2,
              batch: int = 4096, lr: float = 3e-3, groups: list[int] | None = None) -> TrainedWeights:
    """Train one SAE on activations [N, d_in] (seeded; deterministic on one machine)."""
    if kind not in KINDS:
        raise ValueError(f"unknown SAE kind {kind!r}; valid: {', '.join(KINDS)}")
    gen = torch.Generator().manual_seed(seed)
    d_in = acts.shape[1]
    W_dec = torch.randn(d_sae, d_in, generator=gen)
    W_dec /= W_dec.norm(dim=1, keepdim=True)
    W_enc = (W_dec.T.clone() * 0.5).requires_grad_()
    W_dec.requires_grad_()
    b_enc = torch.zeros(d_sae, requires_grad=True)
    b_dec = acts.mean(0).clone().requires_grad_()
    opt = torch.optim.Adam([W_enc, W_dec, b_enc, b_dec], lr=lr)
    scale = acts.var(0).sum()
    ends = torch.tensor(groups or matryoshka_groups(d_sae)).cumsum(0).tolist()
    threshold = None
    for step in trange(steps, desc=f"training {kind} {d_sae}", leave=False, disable=None):
        x = acts[torch.randint(len(acts), (batch,), generator=gen)]
        pre = (x - b_dec) @ W_enc + b_enc
        if kind == "topk":
            top = pre.topk(k, dim=-1)
            f = torch.zeros_like(pre).scatter(-1, top.indices, torch.relu(top.values))
        elif kind in ("batchtopk", "matryoshka_batchtopk"):
            r = torch.relu(pre).flatten()
            top = r.topk(k * len(x))
            f = torch.zeros_like(r).scatter(-1, top.indices, top.values).view_as(pre)
            with torch.no_grad():
                active = f[f > 0]
                if len(active) and step >= steps // 4:
                    m = float(active.min())
                    threshold = m if threshold is None else 0.99 * threshold + 0.01 * m
        else:
            f = torch.relu(pre)
        if kind == "matryoshka_batchtopk":
            loss = sum(((x - (f[:, :e] @ W_dec[:e] + b_dec)) ** 2).sum(-1).mean() for e in ends) / (len(ends) * scale)
        else:
            loss = ((x - (f @ W_dec + b_dec)) ** 2).sum(-1).mean() / scale
        if kind == "relu":
            loss = loss + l1 * (f * W_dec.norm(dim=1)).sum(-1).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        if kind != "relu":
            with torch.no_grad():
                W_dec /= W_dec.norm(dim=1, keepdim=True)
        if step % 1000 == 0:
            log.info("%s step %d loss %.4f l0 %.1f", kind, step, loss.item(), (f != 0).sum(-1).float().mean())
    with torch.no_grad():   # fold decoder norms into the encoder: same function, unit-norm decoder rows
        norms = W_dec.norm(dim=1)
        return TrainedWeights((W_enc * norms).detach(), (W_dec / norms[:, None]).detach(), (b_enc * norms).detach(),
                              b_dec.detach(), threshold)


def build_trained_sae(w: TrainedWeights, kind: str, metadata: SAEMetadata, k: int = 8):
    """The saebench SAE module for trained weights (decoder bias applied to the input, as trained).
    For `matryoshka_batchtopk`, `metadata.prefixes` must hold the cumulative group ends."""
    args = (w.W_enc, w.W_dec, w.b_enc, w.b_dec)
    common = dict(metadata=metadata, apply_b_dec_to_input=True)
    if kind == "topk":
        return TopKSAE(*args, k=k, **common)
    if kind == "relu":
        return ReLUSAE(*args, **common)
    threshold = torch.full((w.W_dec.shape[0],), float(w.threshold or 0.0))
    if kind == "batchtopk":
        return BatchTopKSAE(*args, threshold=threshold, k=k, **common)
    return MatryoshkaBatchTopKSAE(*args, threshold=threshold, k=k, **common)
