"""The `core` plugin: reconstruction, sparsity and downstream loss for every SAE on one hook.

SAE-independent work is shared by the group: one clean pass and one zero-ablation pass per batch serve
every SAE, and each SAE's spliced pass starts from the cached residual (layers before the hook are
skipped) when the hook is on the residual stream.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterator
from dataclasses import dataclass

import torch

from saebench.errors import ConfigError
from saebench.metrics.api import EvalContext, Needs, SAEResult
from saebench.metrics.core.downstream import CleanReference, CleanStats, DownstreamStats, downstream_metrics
from saebench.metrics.core.metrics import CORE_METRICS
from saebench.metrics.core.reconstruction import ReconstructionStats
from saebench.metrics.registry import register_plugin
from saebench.progress import progress

log = logging.getLogger(__name__)


@dataclass(frozen=True, kw_only=True)
class CoreParams:
    """Token budgets. `n_tokens_loss` tokens (the first rows) also get CE/KL, which need full LM passes."""

    n_tokens: int = 262_144
    n_tokens_loss: int = 65_536
    context_size: int = 128
    prepend_bos: bool = True
    reference_batch_rows: int = 16   # SAEBench's batch_size_prompts, for its per-batch definitions

    def __post_init__(self) -> None:
        if self.reference_batch_rows < 1:
            raise ConfigError(f"task.core.reference_batch_rows must be >= 1, got {self.reference_batch_rows}.")
        if self.context_size < 2:
            raise ConfigError(f"task.core.context_size must be >= 2, got {self.context_size}.")
        if self.n_tokens < 1 or self.n_tokens_loss < 0:
            raise ConfigError(f"task.core.n_tokens must be >= 1 and n_tokens_loss >= 0, got "
                              f"{self.n_tokens} and {self.n_tokens_loss}.")
        if self.n_tokens_loss > self.n_tokens:
            raise ConfigError(f"task.core.n_tokens_loss={self.n_tokens_loss} exceeds n_tokens={self.n_tokens}; "
                              "the loss tokens are a subset of the statistics tokens.")

    @property
    def n_rows(self) -> int:
        return math.ceil(self.n_tokens / self.context_size)

    @property
    def n_rows_loss(self) -> int:
        return math.ceil(self.n_tokens_loss / self.context_size)


@register_plugin("core", version="2.1.0", metrics=CORE_METRICS, params=CoreParams, needs=Needs(corpus=True),
                 description="Reconstruction (MSE, FVU), sparsity (L0, density) and downstream loss (CE, KL).")
@torch.no_grad()
def evaluate_core(ctx: EvalContext, params: CoreParams) -> Iterator[SAEResult]:
    """Run the shared batch loop over all SAEs in `ctx.saes`; yield one SAEResult per SAE.

    Transcoders (`ctx.output_hook` set) read `ctx.hook` and are compared with, and spliced into,
    `ctx.output_hook`; the input activation comes from the same clean pass.
    """
    lm, space, saes = ctx.lm, ctx.space, ctx.saes
    in_hook, out_hook = ctx.hook, ctx.target_hook
    tokens = ctx.tokens(params.n_rows, params.context_size, params.prepend_bos)
    special = ctx.special_mask(tokens)
    recon = [ReconstructionStats(s.d_out, s.d_sae, ctx.device, params.reference_batch_rows) for s in saes]
    losses = [DownstreamStats() for _ in saes]
    clean, zero = CleanStats(), DownstreamStats()
    for start, stop, with_loss in progress(list(batch_ranges(params.n_rows, params.n_rows_loss, ctx.batch_size)),
                                           desc=f"core {out_hook} ({len(saes)} SAEs)", unit="batch"):
        batch = tokens[start:stop].to(ctx.device)
        keep = ~special[start:stop].to(ctx.device)
        if with_loss:
            with lm.capturing([in_hook]) as captured:
                clean_logits, x = lm.logits(batch, out_hook, capture=True)
            x_in = captured[in_hook]
            ref = CleanReference(clean_logits, batch, keep)
            del clean_logits
            clean.update(ref)
            zero.update(ref, *ref.compare(lm.logits_from(batch, out_hook, torch.zeros_like(x))))
        else:
            x_in, x = lm.activations(batch, [in_hook, out_hook])
        x_sae, x_in_sae = space.to_sae(x), space.to_sae(x_in)
        for i, sae in enumerate(saes):
            f, x_hat = sae.reconstruct(x_in_sae)
            recon[i].update(x_sae, x_hat, f, keep)
            if with_loss:
                spliced = lm.logits_from(batch, out_hook, _splice_values(x, x_hat, keep, space))
                losses[i].update(ref, *ref.compare(spliced))
    for i, sae in enumerate(saes):
        values, details = recon[i].finish()
        if params.n_rows_loss > 0:
            values += downstream_metrics(clean, zero, losses[i])
        yield SAEResult(sae_id=sae.metadata.sae_id, metrics=values, details=[details])


def batch_ranges(n_rows: int, n_rows_loss: int, batch_size: int) -> list[tuple[int, int, bool]]:
    """(start, stop, with_loss) row ranges: loss rows first, then statistics-only rows; none straddles."""
    ranges = [(s, min(s + batch_size, n_rows_loss), True) for s in range(0, n_rows_loss, batch_size)]
    ranges += [(s, min(s + batch_size, n_rows), False) for s in range(n_rows_loss, n_rows, batch_size)]
    return ranges


def _splice_values(x: torch.Tensor, x_hat_sae: torch.Tensor, keep: torch.Tensor, space) -> torch.Tensor:
    """Model-space activation to inject: the reconstruction at kept positions, the original activation at
    special tokens (SAEBench's `exclude_special_tokens_from_reconstruction`, as its run scripts set it).
    The zero-ablation baseline zeroes every position, special tokens included (SAEBench's convention)."""
    return torch.where(keep[..., None], space.to_model(x_hat_sae.to(x.dtype), x), x)
