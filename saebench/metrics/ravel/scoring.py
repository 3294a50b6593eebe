"""RAVEL's evaluation of a hard mask: greedy continuations with the intervention in place, scored with RAVEL's
answer matching against each pair's label (the source's answer for cause pairs, the base's own for
isolation pairs).

cause = the fraction of cause pairs answered with the source's value; isolation = the fraction of isolation
pairs still answered with the base's value; disentanglement = their mean. SAEBench moves a cause pair whose
base and target first tokens coincide ("United" States / "United" Kingdom) into the isolation bucket and
scores it against the source's label there; by default a pair is scored in its own bucket
(`saebench_buckets=True` reproduces SAEBench). Generation uses the KV cache with the intervention on the
prefill only (SAEBench's way); the unit test checks it against re-running the whole spliced prompt per token.
"""

from __future__ import annotations

import torch

from saebench.metrics.ravel.answers import answer_matches
from saebench.metrics.ravel.intervention import swap_latents
from saebench.metrics.ravel.mdbm import PairBatch
from saebench.metrics.ravel.pairs import Pair
from saebench.torch_utils import pad_id


@torch.no_grad()
def generate_intervened(lm, sae, hook: str, batch: PairBatch, mask: torch.Tensor, n_new: int = 6,
                        add_error: bool = False, space=None) -> list[str]:
    """Greedy continuations of the batch's bases with the masked latents swapped in from the sources: the
    intervention is applied once, on the prefill; later tokens read it from the KV cache."""
    rows = torch.arange(len(batch.ids), device=batch.positions.device)
    width = batch.ids.shape[1]
    calls = []

    def splice(x: torch.Tensor) -> torch.Tensor | None:
        calls.append(x.shape[1])
        if len(calls) > 1:                             # a cached decoding step: the prefill already has it
            return None
        x = x.clone()
        vectors = swap_latents(sae, x[rows, batch.positions], batch.source, mask, add_error, space)
        x[rows, batch.positions] = vectors.to(x.dtype)
        return x

    with lm.splicing(hook, splice):
        out = lm.model.generate(input_ids=batch.ids, attention_mask=batch.attention_mask, do_sample=False,
                                max_new_tokens=n_new, pad_token_id=pad_id(lm.tokenizer))
    return lm.tokenizer.batch_decode(out[:, width:], skip_special_tokens=True)


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
