"""RAVEL's evaluation of a hard mask: greedy continuations with the intervention in place, scored with RAVEL's
answer matching against each pair's label (the source's answer for cause pairs, the base's own for
isolation pairs).

cause = the fraction of cause pairs answered with the source's value; isolation = the fraction of isolation
pairs still answered with the base's value; disentanglement = their mean. SAEBench moves a cause pair whose
base and target first tokens coincide ("United" States / "United" Kingdom) into the isolation bucket and
scores it against the source's label there; by default a pair is scored in its own bucket
(`saebench_buckets=True` reproduces SAEBench). The intervention is re-applied at the base's entity position
on every generation step (no KV cache), which equals applying it once on the prefill.
"""

from __future__ import annotations

import torch

from saebench.metrics.ravel.answers import answer_matches
from saebench.metrics.ravel.intervention import positions_from_mask, swap_latents
from saebench.metrics.ravel.pairs import Pair


@torch.no_grad()
def generate_intervened(lm, sae, hook: str, ids: torch.Tensor, attention_mask: torch.Tensor,
                        base_activation: torch.Tensor, positions: torch.Tensor, source: torch.Tensor,
                        mask: torch.Tensor, n_new: int = 6, add_error: bool = False) -> list[str]:
    """Greedy continuations [B] of left-padded base `ids` with the masked latents swapped in from `source`."""
    rows = torch.arange(len(ids))
    vectors = swap_latents(sae, base_activation[rows, positions], source, mask, add_error)

    def splice(x: torch.Tensor) -> torch.Tensor:
        x = x.clone()
        x[rows, positions.to(x.device)] = vectors.to(x.device, x.dtype)
        return x

    new = []
    for _ in range(n_new):
        logits = lm.logits(ids, hook, splice=splice, attention_mask=attention_mask,
                           position_ids=positions_from_mask(attention_mask))
        token = logits[:, -1].argmax(-1).cpu()
        new.append(token)
        ids = torch.cat([ids, token[:, None]], 1)
        attention_mask = torch.cat([attention_mask, torch.ones_like(token)[:, None]], 1)
    return lm.tokenizer.batch_decode(torch.stack(new, 1), skip_special_tokens=True)


def scores(pairs: list[Pair], continuations: list[str], saebench_buckets: bool = False) -> dict[str, float]:
    """cause_score, isolation_score, disentanglement_score and the bucket sizes for scored pairs."""
    buckets: dict[str, list[bool]] = {"cause": [], "iso": []}
    for pair, text in zip(pairs, continuations, strict=True):
        kind = pair.kind
        if saebench_buckets and kind == "cause" and pair.base.first_token == pair.target_token:
            kind = "iso"
        buckets[kind].append(answer_matches(pair.base.prompt.text, pair.label, text))
    cause = sum(buckets["cause"]) / len(buckets["cause"]) if buckets["cause"] else float("nan")
    iso = sum(buckets["iso"]) / len(buckets["iso"]) if buckets["iso"] else float("nan")
    return {"cause_score": cause, "isolation_score": iso, "disentanglement_score": (cause + iso) / 2,
            "n_cause": float(len(buckets["cause"])), "n_isolation": float(len(buckets["iso"]))}
