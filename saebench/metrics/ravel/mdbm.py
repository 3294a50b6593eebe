"""SAEBench's latent selection for RAVEL (MDBM): a learned mask over all latents, trained so that swapping the
masked latents from source into base makes the model give the pair's target (the source's first answer token
for cause pairs, the base's own for isolation pairs).

mask = sigmoid(logits / T) while training, with T annealed on a log scale from `temperature_start` to
`temperature_end` over all steps; Adam on the logits only; cross-entropy of the next token at the last
position; evaluation uses the hard mask logits > 0. Batch-size invariant by construction: the optimiser
steps on a fixed effective batch (`batch_size` pairs), accumulated over micro-batches of `micro_batch_size`,
and pairs are shuffled by a seeded generator.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from saebench.errors import ConfigError
from saebench.metrics.ravel.intervention import last_logits_with, swap_latents


@dataclass(frozen=True)
class MaskTraining:
    epochs: int = 2
    lr: float = 1e-3
    batch_size: int = 16                 # pairs per optimiser step (the effective batch)
    micro_batch_size: int = 16           # pairs per forward; batch_size must be a multiple of it
    temperature_start: float = 1.0
    temperature_end: float = 1e-4
    add_error: bool = False
    seed: int = 0

    def __post_init__(self) -> None:
        if self.batch_size % self.micro_batch_size:
            raise ConfigError(f"RAVEL mask training: batch_size {self.batch_size} must be a multiple of "
                              f"micro_batch_size {self.micro_batch_size}.")
        if not 0 < self.temperature_end <= self.temperature_start:
            raise ConfigError("RAVEL mask training: need 0 < temperature_end <= temperature_start.")


@dataclass(frozen=True)
class PairBatch:
    """Tensors of a batch of pairs: left-padded base ids and mask, the base's activation at the hook, the
    entity positions (padded coordinates), the source vectors, and the targets."""

    ids: torch.Tensor
    attention_mask: torch.Tensor
    base_activation: torch.Tensor
    positions: torch.Tensor
    source: torch.Tensor
    targets: torch.Tensor


def train_mask(lm, sae, hook: str, batches_of, n_pairs: int, cfg: MaskTraining, space=None) -> torch.Tensor:
    """Mask logits [d_sae] trained on `n_pairs` pairs; `batches_of(indices)` builds the `PairBatch` of those
    pair indices (SAE-independent tensors, so they can be cached across SAEs); `space` as in `swap_latents`."""
    gen = torch.Generator().manual_seed(cfg.seed)
    frozen = [(p, p.requires_grad) for p in sae.parameters()]
    for p, _ in frozen:
        p.requires_grad_(False)
    try:
        return _train(lm, sae, hook, batches_of, n_pairs, cfg, gen, space)
    finally:
        for p, was in frozen:
            p.requires_grad_(was)


def _train(lm, sae, hook: str, batches_of, n_pairs: int, cfg: MaskTraining, gen: torch.Generator,
           space) -> torch.Tensor:
    logits = torch.zeros(sae.d_sae, device=sae.W_dec.device, requires_grad=True)
    opt = torch.optim.Adam([logits], lr=cfg.lr)
    steps_per_epoch = n_pairs // cfg.batch_size              # the last partial batch is dropped (SAEBench)
    total = max(1, cfg.epochs * steps_per_epoch)
    log_t0, log_t1 = math.log(cfg.temperature_start), math.log(cfg.temperature_end)
    step = 0
    for _ in range(cfg.epochs):
        order = torch.randperm(n_pairs, generator=gen)
        for s in range(steps_per_epoch):
            frac = step / max(1, total - 1)
            temperature = math.exp(log_t0 + (log_t1 - log_t0) * frac)
            opt.zero_grad()
            chunk = order[s * cfg.batch_size:(s + 1) * cfg.batch_size]
            for m in range(0, len(chunk), cfg.micro_batch_size):
                b = batches_of(chunk[m:m + cfg.micro_batch_size].tolist())
                mask = torch.sigmoid(logits / temperature)
                base_vec = b.base_activation[torch.arange(len(b.ids)), b.positions]
                vec = swap_latents(sae, base_vec, b.source, mask, cfg.add_error, space)
                out = last_logits_with(lm, hook, b.ids, b.attention_mask, b.base_activation, b.positions, vec)
                loss = torch.nn.functional.cross_entropy(out.float(), b.targets.to(out.device), reduction="sum")
                (loss / len(chunk)).backward()
            opt.step()
            step += 1
    return logits.detach()
