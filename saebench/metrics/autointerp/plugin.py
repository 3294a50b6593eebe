"""The `autointerp` plugin: explain sampled latents with an LLM judge and score the explanations.

Per SAE group: one pass over the corpus (the LM once per batch, every SAE encoded) keeps each
candidate latent's top, importance-weighted and random windows (`sampling.py`). Per sampled live latent:
one generation request, then detection and fuzzing requests (`prompts.py`), all through the cached,
budgeted judge (`saebench.judge`, a run service). Dead latents are reported, not sampled.
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import torch
from tqdm.auto import tqdm

from saebench.errors import ConfigError
from saebench.judge import BudgetExhausted, Judge, JudgeError
from saebench.metrics.api import Details, EvalContext, MetricInfo, MetricValue, Needs, SAEResult, mean_stderr
from saebench.metrics.autointerp.prompts import (
    MalformedReply,
    detection_messages,
    fuzzing_messages,
    generation_messages,
    parse_explanation,
    parse_numbers,
    render,
)
from saebench.metrics.autointerp.sampling import LatentRecord, RecordCollector, Window
from saebench.metrics.registry import register_plugin

log = logging.getLogger(__name__)

AUTOINTERP_METRICS = [
    MetricInfo(name="autointerp_detection", higher_is_better=True, headline=True,
               description="Detection score: fraction of shuffled excerpts (top, importance-weighted, random) the "
                           "judge classifies correctly as firing or not from the explanation; mean over scored "
                           "latents (stderr over latents)."),
    MetricInfo(name="autointerp_fuzzing", higher_is_better=True,
               description="Fuzzing score: fraction of excerpts the judge classifies correctly as correctly or "
                           "wrongly marked; mean over scored latents."),
    MetricInfo(name="n_latents_scored", higher_is_better=None, description="Latents with both scores."),
    MetricInfo(name="n_latents_failed", higher_is_better=None,
               description="Latents whose judge replies were malformed or whose requests failed (not scored)."),
    MetricInfo(name="n_latents_unscored_budget", higher_is_better=None,
               description="Latents left unscored because the judge budget (max_requests / max_cost) ran out."),
    MetricInfo(name="frac_dead", higher_is_better=False,
               description="Fraction of latents firing on at most `dead_threshold` tokens of the corpus sample."),
    MetricInfo(name="judge_requests", higher_is_better=None, description="Requests sent to the judge for this SAE."),
    MetricInfo(name="judge_cached", higher_is_better=None, description="Judge answers served from the cache."),
    MetricInfo(name="judge_cost_usd", higher_is_better=None,
               description="Estimated judge cost for this SAE from the configured prices."),
]


@dataclass(frozen=True, kw_only=True)
class AutoInterpParams:
    n_latents: int = 100
    n_tokens: int = 2_000_000
    context_size: int = 128
    prepend_bos: bool = True
    buffer: int = 10
    dead_threshold: int = 15
    act_threshold_frac: float = 0.01
    n_top_generation: int = 10
    n_iw_generation: int = 5
    n_top_scoring: int = 2
    n_iw_scoring: int = 2
    n_random_scoring: int = 10
    max_tokens_explanation: int = 60
    seed: int = 42

    def __post_init__(self) -> None:
        if self.n_latents < 1 or self.n_tokens < self.context_size:
            raise ConfigError(f"autointerp needs n_latents >= 1 and n_tokens >= context_size, got {self.n_latents}, "
                              f"{self.n_tokens}.")
        if self.context_size <= 2 * self.buffer + 1:
            raise ConfigError(f"context_size {self.context_size} must exceed a window (2 * buffer + 1 = "
                              f"{2 * self.buffer + 1}).")

    @property
    def n_rows(self) -> int:
        return math.ceil(self.n_tokens / self.context_size)


@dataclass
class LatentOutcome:
    latent: int
    density: float
    status: str                      # scored | malformed | error | budget | no_examples
    explanation: str = ""
    detection: float = float("nan")
    fuzzing: float = float("nan")
    log: str = ""


def _token_strings(tokenizer, ids: list[int]) -> list[str]:
    out = []
    for tok in tokenizer.convert_ids_to_tokens(ids):
        tok = tok or ""
        if tok.startswith(("▁", "Ġ")):
            tok = " " + tok[1:]
        out.append(tok.replace("Ċ", "\n").replace("<0x0A>", "\n"))
    return out


def _sample_group(ctx: EvalContext, params: AutoInterpParams, tokens: torch.Tensor, special: torch.Tensor
                  ) -> list[tuple[list[LatentRecord], np.ndarray]]:
    """One pass over the corpus for the whole group: the LM runs once per batch, every SAE encodes it."""
    collectors = []
    for sae in ctx.saes:
        rng = np.random.default_rng(params.seed)
        candidates = sorted(rng.choice(sae.d_sae, size=min(sae.d_sae, 2 * params.n_latents), replace=False).tolist())
        collectors.append(RecordCollector(len(tokens), params.context_size, candidates,
                                          params.n_top_generation + params.n_top_scoring,
                                          params.n_iw_generation + params.n_iw_scoring, params.n_random_scoring,
                                          params.buffer, params.seed))
    starts = range(0, len(tokens), ctx.batch_size)
    for start in tqdm(starts, desc=f"autointerp sampling ({len(ctx.saes)} SAEs)", unit="batch", leave=False,
                      disable=None):
        stop = min(start + ctx.batch_size, len(tokens))
        x = ctx.space.to_sae(ctx.lm.activations(tokens[start:stop], ctx.hook))
        keep = ~special[start:stop].to(x.device)
        kept = int(keep.sum())
        for sae, collector in zip(ctx.saes, collectors, strict=True):
            collector.add(start, sae.encode(x.to(sae.W_dec.dtype)) * keep[..., None], kept)
    out = []
    for c in collectors:
        records, counts, _ = c.finish()
        out.append((records, counts))
    return out


def _windows_text(tokenizer, tokens: torch.Tensor, windows: list[Window], buffer: int, threshold: float,
                  mark: bool) -> list[str]:
    texts = []
    for w in windows:
        ids = tokens[w.row, w.centre - buffer:w.centre + buffer + 1].tolist()
        marked = {i for i, a in enumerate(w.acts) if a > threshold} if mark else None
        texts.append(render(_token_strings(tokenizer, ids), marked))
    return texts


async def _score_latent(judge: Judge, sem, rec: LatentRecord, tokens, tokenizer, params: AutoInterpParams,
                        rng: np.random.Generator) -> LatentOutcome:
    out = LatentOutcome(rec.latent, rec.density, "no_examples")
    if not rec.top:
        return out
    b = params.buffer
    threshold = params.act_threshold_frac * max(w.max for w in rec.top)
    top = [rec.top[i] for i in rng.permutation(len(rec.top))]
    iw = [rec.iw[i] for i in rng.permutation(len(rec.iw))]
    gen = sorted(top[:params.n_top_generation] + iw[:params.n_iw_generation], key=lambda w: -w.max)
    scoring = (top[params.n_top_generation:params.n_top_generation + params.n_top_scoring]
               + iw[params.n_iw_generation:params.n_iw_generation + params.n_iw_scoring])
    scoring_all = scoring + rec.random[:params.n_random_scoring]
    order = rng.permutation(len(scoring_all))
    shown = [scoring_all[i] for i in order]
    active = [w.max > threshold for w in shown]
    logs = []
    try:
        gen_msgs = generation_messages(_windows_text(tokenizer, tokens, gen, b, threshold, True))
        logs.append(f"[generation prompt]\n{gen_msgs[-1]['content']}")
        reply = await judge.complete(gen_msgs, params.max_tokens_explanation, sem)
        logs.append(f"[generation]\n{reply}")
        out.explanation = parse_explanation(reply)
        example = ", ".join(str(i) for i in sorted(rng.choice(np.arange(1, len(shown) + 1),
                                                              size=min(3, len(shown)), replace=False)))
        det_msgs = detection_messages(out.explanation, _windows_text(tokenizer, tokens, shown, b, threshold, False),
                                      example)
        fuzz_windows, fuzz_truth = _fuzzing_examples(scoring, threshold, rng)
        fuzz_texts = [render(_token_strings(tokenizer, tokens[w.row, w.centre - b:w.centre + b + 1].tolist()), m)
                      for w, m in fuzz_windows]
        fuzz_msgs = fuzzing_messages(out.explanation, fuzz_texts, example) if fuzz_texts else None
        n_det = len(shown)
        det_reply, fuzz_reply = await asyncio.gather(
            judge.complete(det_msgs, 5 * n_det + 10, sem),
            judge.complete(fuzz_msgs, 5 * len(fuzz_texts) + 10, sem) if fuzz_msgs else _none())
        logs += [f"[detection prompt]\n{det_msgs[-1]['content']}", f"[detection]\n{det_reply}",
                 f"[fuzzing prompt]\n{fuzz_msgs[-1]['content'] if fuzz_msgs else ''}", f"[fuzzing]\n{fuzz_reply}"]
        picked = parse_numbers(det_reply, n_det)
        out.detection = float(np.mean([(i + 1 in picked) == a for i, a in enumerate(active)]))
        if fuzz_msgs:
            picked = parse_numbers(fuzz_reply, len(fuzz_texts))
            out.fuzzing = float(np.mean([(i + 1 in picked) == t for i, t in enumerate(fuzz_truth)]))
        out.status = "scored"
    except MalformedReply as e:
        out.status, logs = "malformed", [*logs, f"[malformed] {e}"]
    except BudgetExhausted as e:
        out.status, logs = "budget", [*logs, f"[budget] {e}"]
    except JudgeError as e:
        out.status, logs = "error", [*logs, f"[error] {e}"]
    out.log = "\n".join(logs)
    return out


async def _none():
    return ""


def _fuzzing_examples(windows: list[Window], threshold: float, rng: np.random.Generator):
    """Each active window twice: marked on its firing tokens (True) and on as many other tokens (False)."""
    examples, truth = [], []
    for w in windows:
        firing = [i for i, a in enumerate(w.acts) if a > threshold]
        quiet = [i for i, a in enumerate(w.acts) if a <= threshold]
        if not firing or len(quiet) < len(firing):
            continue
        examples.append((w, set(firing)))
        truth.append(True)
        examples.append((w, {int(i) for i in rng.choice(quiet, size=len(firing), replace=False)}))
        truth.append(False)
    order = rng.permutation(len(examples))
    return [examples[i] for i in order], [truth[i] for i in order]


@register_plugin("autointerp", version="1.0.0", metrics=AUTOINTERP_METRICS, params=AutoInterpParams,
                 needs=Needs(corpus=True, judge=True),
                 description="LLM explanations of latents, scored by detection and fuzzing (OpenAI-compatible judge).")
@torch.no_grad()
def evaluate_autointerp(ctx: EvalContext, params: AutoInterpParams) -> Iterator[SAEResult]:
    judge = ctx.judge
    tokens = ctx.tokens(params.n_rows, params.context_size, params.prepend_bos)
    special = ctx.special_mask(tokens)
    sampled = _sample_group(ctx, params, tokens, special)
    for sae, (records, counts) in zip(ctx.saes, sampled, strict=True):
        dead = counts <= params.dead_threshold
        live = [r for r in records if not dead[r.latent]][:params.n_latents]
        before = judge.usage.as_dict()
        outcomes = asyncio.run(_score_all(judge, live, tokens, ctx.lm.tokenizer, params))
        used = {k: judge.usage.as_dict()[k] - before[k] for k in before}
        if used["budget_stops"] or any(o.status == "budget" for o in outcomes):
            log.warning("autointerp %s: the judge budget ran out; %d latents left unscored (results kept)",
                        sae.metadata.sae_id, sum(o.status == "budget" for o in outcomes))
        yield _result(sae.metadata.sae_id, outcomes, float(dead.mean()), used)


async def _score_all(judge: Judge, records: list[LatentRecord], tokens, tokenizer, params) -> list[LatentOutcome]:
    sem = asyncio.Semaphore(judge.config.concurrency)
    judge.start_session()                 # lock and client bound to this event loop
    tasks = [_score_latent(judge, sem, rec, tokens, tokenizer, params, np.random.default_rng([params.seed,
                                                                                              rec.latent]))
             for rec in records]
    results = []
    for fut in tqdm(asyncio.as_completed(tasks), total=len(tasks), desc="autointerp judge", leave=False,
                    disable=None):
        results.append(await fut)
    return sorted(results, key=lambda o: o.latent)


def _result(sae_id: str, outcomes: list[LatentOutcome], frac_dead: float, used: dict) -> SAEResult:
    scored = [o for o in outcomes if o.status == "scored"]
    metrics = []
    for name, attr in (("autointerp_detection", "detection"), ("autointerp_fuzzing", "fuzzing")):
        mean, se, _sd, n = mean_stderr([getattr(o, attr) for o in scored])
        metrics.append(MetricValue(metric=name, value=mean, stderr=se, n=n))
    metrics += [MetricValue(metric="n_latents_scored", value=float(len(scored))),
                MetricValue(metric="n_latents_failed",
                            value=float(sum(o.status in ("malformed", "error") for o in outcomes))),
                MetricValue(metric="n_latents_unscored_budget",
                            value=float(sum(o.status == "budget" for o in outcomes))),
                MetricValue(metric="frac_dead", value=frac_dead),
                MetricValue(metric="judge_requests", value=float(used["requests"])),
                MetricValue(metric="judge_cached", value=float(used["cached"])),
                MetricValue(metric="judge_cost_usd", value=float(used["cost_usd"]))]
    status = {"scored": 0, "malformed": 1, "error": 2, "budget": 3, "no_examples": 4}
    idx = np.array([o.latent for o in outcomes], dtype=np.int64)
    latents = Details("latents", idx, {"density": np.array([o.density for o in outcomes]),
                                       "detection": np.array([o.detection for o in outcomes]),
                                       "fuzzing": np.array([o.fuzzing for o in outcomes]),
                                       "status": np.array([float(status[o.status]) for o in outcomes])},
                      labels=[o.explanation for o in outcomes])
    logs = Details("judge_log", idx, {"status": np.array([float(status[o.status]) for o in outcomes])},
                   labels=[o.log for o in outcomes])
    return SAEResult(sae_id, metrics, [latents, logs], info={"judge_usage": used})
