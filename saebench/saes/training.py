"""A small, seeded SAE trainer for the bundled models (demo SAEs, organism SAEs); CPU-sized, not a
replacement for a training library.

Architectures: `relu` (L1 penalty weighted by decoder norms), `jumprelu` (per-latent log-parameterised
thresholds, L0 penalty, straight-through estimator with a rectangle kernel of width `bandwidth`, as in
Rajamanoharan et al. 2024; thresholds start at `threshold_init` and learn at `threshold_lr_scale` x the
learning rate, so they keep up with the sparsity coefficient: at 1x Adam moves a log-threshold ~3e-3 per step,
the coefficient ran 100x ahead of it, and the thresholds overshot into dead latents), `topk`, `batchtopk` (the
k·batch largest activations over the batch; inference threshold = running mean of the smallest kept
activation, as dictionary_learning's trainer sets it) and `matryoshka_batchtopk` (BatchTopK where every prefix
of the latent groups reconstructs on its own). Decoder rows are kept unit-norm for the top-k family, and
decoder norms are folded into the encoder at the end (same function, unit-norm rows) for all. The top-k family
adds the AuxK loss of Gao et al. 2024 (as SAE Lens trains them): latents silent for `dead_window` steps
reconstruct the residual with their top d_in/2 pre-activations, scaled by min(dead / (d_in/2), 1), times
`aux_coefficient` (SAE Lens: 1.0; the default 0.0 keeps the bundled demo and organism SAEs reproducible as
built).

For the penalty-based kinds (`relu`, `jumprelu`) `target_l0` replaces a hand-tuned coefficient: the
coefficient is adapted multiplicatively at every step towards a goal L0 that falls geometrically from the
initial L0 to the target over the first 30 % of training, then stays there. (Chasing the target from the
start drove a JumpReLU's coefficient up 250x, its thresholds above most pre-activations, and its L0 to 2.1
for a target of 4, never to recover; a coefficient frozen for the last 20 % let the L0 drift from 4 to
2.2.) So SAEs compared "at matched L0" really are.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass

import torch

from saebench.progress import progress
from saebench.saes.architectures import BatchTopKSAE, JumpReLUSAE, MatryoshkaBatchTopKSAE, ReLUSAE, TopKSAE
from saebench.saes.protocol import SAEMetadata

log = logging.getLogger(__name__)
KINDS = ("relu", "jumprelu", "topk", "batchtopk", "matryoshka_batchtopk")
PENALTY_KINDS = ("relu", "jumprelu")


class _JumpReLU(torch.autograd.Function):
    """JumpReLU with straight-through threshold gradients (rectangle kernel of width `bandwidth`)."""

    @staticmethod
    def forward(ctx, pre: torch.Tensor, threshold: torch.Tensor, bandwidth: float) -> torch.Tensor:
        ctx.save_for_backward(pre, threshold)
        ctx.bandwidth = bandwidth
        return pre * (pre > threshold)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        pre, threshold = ctx.saved_tensors
        near = ((pre - threshold).abs() < ctx.bandwidth / 2).to(pre.dtype)
        grad_threshold = (grad * -(threshold / ctx.bandwidth) * near).sum(0)
        return grad * (pre > threshold), grad_threshold, None


class _Step(torch.autograd.Function):
    """Heaviside step H(pre - threshold) whose threshold gradient is the rectangle-kernel estimate."""

    @staticmethod
    def forward(ctx, pre: torch.Tensor, threshold: torch.Tensor, bandwidth: float) -> torch.Tensor:
        ctx.save_for_backward(pre, threshold)
        ctx.bandwidth = bandwidth
        return (pre > threshold).to(pre.dtype)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        pre, threshold = ctx.saved_tensors
        near = ((pre - threshold).abs() < ctx.bandwidth / 2).to(pre.dtype)
        return None, (grad * -(1.0 / ctx.bandwidth) * near).sum(0), None


@dataclass(frozen=True)
class TrainedWeights:
    W_enc: torch.Tensor
    W_dec: torch.Tensor
    b_enc: torch.Tensor
    b_dec: torch.Tensor
    threshold: torch.Tensor | float | None = None


def matryoshka_groups(d_sae: int) -> list[int]:
    """Group sizes 1/8, 1/4, 5/8 of the width (the demo's 32/64/160 at 256)."""
    a, b = d_sae // 8, d_sae // 4
    return [a, b, d_sae - a - b]


def train_sae(acts: torch.Tensor, kind: str, d_sae: int, steps: int, seed: int, k: int = 8, l1: float = 2e-2,
              batch: int = 4096, lr: float = 3e-3, groups: list[int] | None = None,
              target_l0: float | None = None, bandwidth: float = 0.2, dead_window: int = 250,
              aux_coefficient: float = 0.0, threshold_init: float = 0.5,
              threshold_lr_scale: float = 10.0) -> TrainedWeights:
    """Train one SAE on activations [N, d_in] (seeded; deterministic on one machine).

    `l1` is the sparsity coefficient of the penalty kinds (L1 for `relu`, L0 for `jumprelu`); with
    `target_l0` it is only the starting value of the adapted coefficient."""
    if kind not in KINDS:
        raise ValueError(f"unknown SAE kind {kind!r}; valid: {', '.join(KINDS)}")
    if target_l0 is not None and (kind not in PENALTY_KINDS or target_l0 <= 0):
        raise ValueError(f"target_l0={target_l0} needs a positive target and a penalty kind "
                         f"({', '.join(PENALTY_KINDS)}), not {kind!r}")
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
    log_threshold = torch.full((d_sae,), math.log(threshold_init), requires_grad=True)
    if kind == "jumprelu":
        opt.add_param_group({"params": [log_threshold], "lr": lr * threshold_lr_scale})
    coefficient, start_l0 = l1, None
    steps_since_fired = torch.zeros(d_sae, dtype=torch.long)
    k_aux = d_in // 2
    for step in progress(range(steps), desc=f"training {kind} {d_sae}", unit="step"):
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
        elif kind == "jumprelu":
            theta = log_threshold.exp()
            f = _JumpReLU.apply(pre, theta, bandwidth)
        else:
            f = torch.relu(pre)
        if kind == "matryoshka_batchtopk":     # prefix reconstructions built group by group: one decode's cost
            loss, recon, start = 0.0, b_dec.expand_as(x), 0
            for e in ends:
                recon = recon + f[:, start:e] @ W_dec[start:e]
                loss = loss + ((x - recon) ** 2).sum(-1).mean()
                start = e
            loss = loss / (len(ends) * scale)
        else:
            loss = ((x - (f @ W_dec + b_dec)) ** 2).sum(-1).mean() / scale
        with torch.no_grad():
            steps_since_fired = torch.where((f > 0).any(0), 0, steps_since_fired + 1)
        dead = steps_since_fired > dead_window
        if kind not in PENALTY_KINDS and aux_coefficient and int(dead.sum()):
            n_dead = int(dead.sum())
            aux_pre = torch.relu(pre).masked_fill(~dead, 0.0)
            top = aux_pre.topk(min(k_aux, n_dead), dim=-1)
            aux_f = torch.zeros_like(pre).scatter(-1, top.indices, top.values)
            residual = (x - (f @ W_dec + b_dec)).detach()
            aux = ((aux_f @ W_dec - residual) ** 2).sum(-1).mean() / scale
            loss = loss + aux_coefficient * min(n_dead / k_aux, 1.0) * aux
        if kind == "relu":
            loss = loss + coefficient * (f * W_dec.norm(dim=1)).sum(-1).mean()
        elif kind == "jumprelu":
            loss = loss + coefficient * _Step.apply(pre, theta, bandwidth).sum(-1).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        if kind not in PENALTY_KINDS:
            with torch.no_grad():
                W_dec /= W_dec.norm(dim=1, keepdim=True)
        if target_l0 is not None:
            l0 = float((f != 0).sum(-1).float().mean())
            if start_l0 is None:
                start_l0 = l0
            goal = target_l0 * max(start_l0 / target_l0, 1.0) ** max(0.0, 1.0 - step / (0.3 * steps))
            coefficient *= math.exp(0.01 * max(-1.0, min(1.0, l0 / goal - 1.0)))
        if step % 1000 == 0:
            log.info("%s step %d loss %.4f l0 %.1f coefficient %.3g dead %d", kind, step, loss.item(),
                     (f != 0).sum(-1).float().mean(), coefficient, int(dead.sum()))
    with torch.no_grad():   # fold decoder norms into the encoder: same function, unit-norm decoder rows
        norms = W_dec.norm(dim=1)
        if kind == "jumprelu":
            threshold = (log_threshold.exp() * norms).detach()
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
    if kind == "jumprelu":
        return JumpReLUSAE(*args, threshold=w.threshold, **common)
    threshold = torch.full((w.W_dec.shape[0],), float(w.threshold or 0.0))
    if kind == "batchtopk":
        return BatchTopKSAE(*args, threshold=threshold, k=k, **common)
    return MatryoshkaBatchTopKSAE(*args, threshold=threshold, k=k, **common)
