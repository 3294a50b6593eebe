"""Downstream-loss statistics: next-token CE and KL(clean || other), from log_softmax (never NaN).

CE at position t predicts token t+1 and, like KL at position t, is counted when the input token t is
non-special (SAEBench's convention: a special token as the *target*, e.g. predicting the BOS that
separates documents, counts). The clean reference is computed once per batch and shared by the
zero-ablation baseline and every SAE.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from saebench.metrics.api import MetricValue
from saebench.metrics.core.stderr import RowMeans


def token_cross_entropy(logp: torch.Tensor, tokens: torch.Tensor) -> torch.Tensor:
    """logp [B, L, V], tokens [B, L] -> CE [B, L-1] for predicting tokens[:, 1:]."""
    return -logp[:, :-1].gather(-1, tokens[:, 1:, None]).squeeze(-1)


def token_kl(logp_p: torch.Tensor, logp_q: torch.Tensor, p: torch.Tensor | None = None,
             p_pos: torch.Tensor | None = None) -> torch.Tensor:
    """KL(p || q) per position [B, L] from log-probabilities; 0·log 0 terms are 0. `p` = exp(logp_p) and
    `p_pos` = p > 0 may be passed in when p is shared by many comparisons (same values, computed once)."""
    p = logp_p.exp() if p is None else p
    p_pos = p > 0 if p_pos is None else p_pos
    return torch.where(p_pos, p * (logp_p - logp_q), 0.0).sum(-1)


class CleanReference:
    """The clean log-probabilities and CE of one batch, plus the masks every comparison uses."""

    def __init__(self, clean_logits: torch.Tensor, tokens: torch.Tensor, keep: torch.Tensor) -> None:
        self.tokens = tokens
        self.logp = F.log_softmax(clean_logits.float(), dim=-1)
        self.ce_mask = keep[:, :-1]
        self.kl_mask = keep
        self.ce = token_cross_entropy(self.logp, tokens)
        self.p = self.logp.exp()            # shared by every comparison of this batch (one per SAE)
        self.p_pos = self.p > 0

    def compare(self, other_logits: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """CE [B, L-1] and KL(clean || other) [B, L] of another forward pass on the same tokens."""
        logp = F.log_softmax(other_logits.float(), dim=-1)
        return token_cross_entropy(logp, self.tokens), token_kl(self.logp, logp, self.p, self.p_pos)


class DownstreamStats:
    """Per-variant (SAE or ablation) CE and KL, and the CE increase over clean paired by row."""

    def __init__(self) -> None:
        self.ce = RowMeans()
        self.kl = RowMeans()
        self.ce_increase = RowMeans()

    def update(self, ref: CleanReference, ce: torch.Tensor, kl: torch.Tensor) -> None:
        cm, km = ref.ce_mask.double(), ref.kl_mask.double()
        ce_rows = (ce.double() * cm).sum(-1)
        self.ce.add(ce_rows, cm.sum(-1))
        self.ce_increase.add(ce_rows - (ref.ce.double() * cm).sum(-1), cm.sum(-1))
        self.kl.add((kl.double() * km).sum(-1), km.sum(-1))


class CleanStats:
    """CE of the unmodified model over the same positions."""

    def __init__(self) -> None:
        self.ce = RowMeans()

    def update(self, ref: CleanReference) -> None:
        cm = ref.ce_mask.double()
        self.ce.add((ref.ce.double() * cm).sum(-1), cm.sum(-1))


def _ratio(num: float, den: float) -> float:
    return num / den if den != 0 and math.isfinite(den) else math.nan


def _shared_denominator_se(numerator_se: float | None, denominator: float) -> float | None:
    """Standard error of a score whose denominator (clean and ablation CE/KL) is shared by every SAE on the
    same tokens: the SAE's own paired error over it, the noise relevant to comparing SAEs."""
    if numerator_se is None or denominator == 0 or not math.isfinite(denominator):
        return None
    return numerator_se / abs(denominator)


def downstream_metrics(clean: CleanStats, zero: DownstreamStats, sae: DownstreamStats) -> list[MetricValue]:
    """CE/KL values and the scores: ce_loss_score = (CE_zero - CE_sae)/(CE_zero - CE_clean);
    kl_div_score = (KL_zero - KL_sae)/KL_zero. A zero denominator gives NaN (undefined)."""
    ce_clean, ce_zero, ce_sae = clean.ce.mean(), zero.ce.mean(), sae.ce.mean()
    kl_zero, kl_sae = zero.kl.mean(), sae.kl.mean()
    n_ce, n_kl = sae.ce.n, sae.kl.n
    return [
        MetricValue(metric="ce_loss_without_sae", value=ce_clean, stderr=clean.ce.stderr(), n=n_ce),
        MetricValue(metric="ce_loss_with_sae", value=ce_sae, stderr=sae.ce.stderr(), n=n_ce),
        MetricValue(metric="ce_loss_with_ablation", value=ce_zero, stderr=zero.ce.stderr(), n=n_ce),
        MetricValue(metric="ce_loss_increase", value=sae.ce_increase.mean(), stderr=sae.ce_increase.stderr(),
                    n=n_ce),
        MetricValue(metric="ce_loss_score", value=_ratio(ce_zero - ce_sae, ce_zero - ce_clean),
                    stderr=_shared_denominator_se(sae.ce_increase.stderr(), ce_zero - ce_clean), n=n_ce),
        MetricValue(metric="kl_div_with_sae", value=kl_sae, stderr=sae.kl.stderr(), n=n_kl),
        MetricValue(metric="kl_div_with_ablation", value=kl_zero, stderr=zero.kl.stderr(), n=n_kl),
        MetricValue(metric="kl_div_score", value=_ratio(kl_zero - kl_sae, kl_zero),
                    stderr=_shared_denominator_se(sae.kl.stderr(), kl_zero), n=n_kl),
    ]
