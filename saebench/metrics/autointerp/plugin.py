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
from saebench.metrics.autointerp.staging import LatentMaterial, MaterialStore, SAEMaterial, material_key, rows_digest
from saebench.metrics.registry import register_plugin
from saebench.progress import progress

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
               description="Latents left unscored because the judge budget (max_requests / max_cost) or the "
                           "unit's deadline (judge.deadline_s) ran out; the unit is then 'partial'."),
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
    max_failed_frac: float = 0.5     # more attempted latents failing than this makes the unit an error
    seed: int = 42

    def __post_init__(self) -> None:
        if self.n_latents < 1 or self.n_tokens < self.context_size:
            raise ConfigError(f"autointerp needs n_latents >= 1 and n_tokens >= context_size, got {self.n_latents}, "
                              f"{self.n_tokens}.")
        if not 0.0 <= self.max_failed_frac < 1.0:
            raise ConfigError(f"autointerp max_failed_frac must be in [0, 1), got {self.max_failed_frac}.")
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
    status: str                      # scored | malformed | error | budget | deadline | no_examples
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


def _sample_group(ctx: EvalContext, saes: list, params: AutoInterpParams, tokens: torch.Tensor,
                  special: torch.Tensor) -> list[tuple[list[LatentRecord], np.ndarray]]:
    """One pass over the corpus for the group's SAEs to sample: its LM activations (cached across runs), every
    SAE encodes each batch."""
    collectors = []
    for sae in saes:
        rng = np.random.default_rng(params.seed)
        candidates = sorted(rng.choice(sae.d_sae, size=min(sae.d_sae, 2 * params.n_latents), replace=False).tolist())
        collectors.append(RecordCollector(len(tokens), params.context_size, candidates,
                                          params.n_top_generation + params.n_top_scoring,
                                          params.n_iw_generation + params.n_iw_scoring, params.n_random_scoring,
                                          params.buffer, params.seed))
    corpus = ctx.corpus_activations(tokens)    # the LM pass, once across runs (activation cache)
    starts = range(0, len(tokens), ctx.batch_size)
    for start in progress(starts, desc=f"autointerp sampling ({len(saes)} SAEs)", unit="batch"):
        stop = min(start + ctx.batch_size, len(tokens))
        x = ctx.space.to_sae(corpus[start:stop].to(ctx.device))
        keep = ~special[start:stop].to(x.device)
        kept = int(keep.sum())
        for sae, collector in zip(saes, collectors, strict=True):
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


def _latent_material(rec: LatentRecord, tokens, tokenizer, params: AutoInterpParams,
                     rng: np.random.Generator) -> LatentMaterial:
    """The latent's judge inputs as text (`staging.LatentMaterial`). Every random draw happens here, in a fixed
    order, so the prompts do not depend on when (or whether, or where) the judge answers."""
    if not rec.top:
        return LatentMaterial(rec.latent, rec.density)
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
    gen_msgs = generation_messages(_windows_text(tokenizer, tokens, gen, b, threshold, True))
    example = ", ".join(str(i) for i in sorted(rng.choice(np.arange(1, len(shown) + 1), size=min(3, len(shown)),
                                                          replace=False)))
    fuzz_windows, fuzz_truth = _fuzzing_examples(scoring, threshold, rng)
    fuzz_texts = [render(_token_strings(tokenizer, tokens[w.row, w.centre - b:w.centre + b + 1].tolist()), m)
                  for w, m in fuzz_windows]
    return LatentMaterial(rec.latent, rec.density, generation=gen_msgs,
                          detection_texts=_windows_text(tokenizer, tokens, shown, b, threshold, False),
                          example=example, active=[bool(w.max > threshold) for w in shown],
                          fuzzing_texts=fuzz_texts, fuzzing_truth=[bool(t) for t in fuzz_truth])


def _latent_requests(mat: LatentMaterial, params: AutoInterpParams):
    """The latent's requests as (messages, max_tokens, parse): generation, then detection and fuzzing as
    functions of the explanation (fuzzing None when no excerpt could be marked)."""
    n_det, n_fuzz = len(mat.detection_texts), len(mat.fuzzing_texts)
    generation = (mat.generation, params.max_tokens_explanation, parse_explanation)
    detection = lambda e: (detection_messages(e, mat.detection_texts, mat.example), 5 * n_det + 10,  # noqa: E731
                           lambda r: parse_numbers(r, n_det))
    fuzzing = None if not n_fuzz else (lambda e: (fuzzing_messages(e, mat.fuzzing_texts, mat.example),
                                                  5 * n_fuzz + 10, lambda r: parse_numbers(r, n_fuzz)))
    return generation, detection, fuzzing


def _plan_budget(judge: Judge, params: AutoInterpParams, generation, detection, fuzzing) -> tuple[int, float]:
    """Requests a latent will send (those not answered by the cache) and an upper bound on their cost.
    Before the explanation is known, the scoring prompts are bounded with a placeholder explanation of
    `max_tokens_explanation` tokens of 8 bytes."""
    cfg = judge.config
    explained, explanation = judge.cached_answer(*generation)
    if explained:
        needed = [r(explanation) for r in (detection, fuzzing) if r is not None]
        needed = [r for r in needed if not judge.cached_answer(*r)[0]]
    else:
        placeholder = "x" * (8 * params.max_tokens_explanation)
        needed = [generation] + [r(placeholder) for r in (detection, fuzzing) if r is not None]
    return len(needed), sum(cfg.worst_case_cost(m, t) for m, t, _ in needed)


async def _score_latent(judge: Judge, sem, mat: LatentMaterial, params: AutoInterpParams) -> LatentOutcome:
    """Explain and score one latent. The judge budget for all its requests is reserved before the first is
    sent (a latent is scored whole or not started); replies that do not parse are counted, never cached."""
    out = LatentOutcome(mat.latent, mat.density, "no_examples")
    if not mat.has_examples:
        return out
    generation, detection, fuzzing = _latent_requests(mat, params)
    active, fuzz_truth = mat.active, mat.fuzzing_truth
    logs = [f"[generation prompt]\n{generation[0][-1]['content']}"]
    reservation = None
    try:
        reservation = judge.reserve(*_plan_budget(judge, params, generation, detection, fuzzing))
        out.explanation = await judge.complete(*generation[:2], sem, parse=generation[2], reservation=reservation)
        logs.append(f"[explanation]\n{out.explanation}")
        det = detection(out.explanation)
        fuzz = fuzzing(out.explanation) if fuzzing else None
        picked_det, picked_fuzz = await _both(
            judge.complete(*det[:2], sem, parse=det[2], reservation=reservation),
            judge.complete(*fuzz[:2], sem, parse=fuzz[2], reservation=reservation) if fuzz else _none())
        logs += [f"[detection prompt]\n{det[0][-1]['content']}", f"[detection]\n{sorted(picked_det)}"]
        out.detection = float(np.mean([(i + 1 in picked_det) == a for i, a in enumerate(active)]))
        if fuzz:
            logs += [f"[fuzzing prompt]\n{fuzz[0][-1]['content']}", f"[fuzzing]\n{sorted(picked_fuzz)}"]
            out.fuzzing = float(np.mean([(i + 1 in picked_fuzz) == t for i, t in enumerate(fuzz_truth)]))
        out.status = "scored"
    except MalformedReply as e:
        out.status, logs = "malformed", [*logs, f"[malformed] {e}"]
    except BudgetExhausted as e:
        out.status, logs = "budget", [*logs, f"[budget] {e}"]
    except JudgeError as e:
        out.status, logs = "error", [*logs, f"[error] {e}"]
    except asyncio.CancelledError:
        out.status, logs = "deadline", [*logs, "[deadline] stopped: the unit's judge deadline passed"]
    finally:
        if reservation is not None:
            judge.release(reservation)
    out.log = "\n".join(logs)
    return out


async def _both(first, second):
    """Await two requests; if one fails, the other is still awaited (no 'exception never retrieved')."""
    results = await asyncio.gather(first, second, return_exceptions=True)
    for r in results:
        if isinstance(r, BaseException):
            raise r
    return results


async def _none():
    return set()


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


@register_plugin("autointerp", version="1.1.0", metrics=AUTOINTERP_METRICS, params=AutoInterpParams,
                 needs=Needs(corpus=True, judge=True, activations=True),
                 description="LLM explanations of latents, scored by detection and fuzzing (OpenAI-compatible judge).")
@torch.no_grad()
def evaluate_autointerp(ctx: EvalContext, params: AutoInterpParams) -> Iterator[SAEResult]:
    """Sample (device work, staged on disk), then judge. `ctx.judge_stage` 'sample' stops after staging (a
    'staged' row per SAE), 'judge' only judges staged material (an SAE without it is an error), 'inline' does
    both, skipping the device pass for SAEs already staged."""
    tokens = ctx.tokens(params.n_rows, params.context_size, params.prepend_bos)
    store = MaterialStore(ctx.services.root)
    rows = rows_digest(tokens)
    keys = {sae.metadata.sae_id: material_key(ctx.lm, ctx.hook, rows, params, sae) for sae in ctx.saes}
    staged = {sae_id: store.load(key) for sae_id, key in keys.items()}
    missing = [sae for sae in ctx.saes if staged[sae.metadata.sae_id] is None]
    if missing and ctx.judge_stage != "judge":
        sampled = _sample_group(ctx, missing, params, tokens, ctx.special_mask(tokens))
        for sae, (records, counts) in zip(missing, sampled, strict=True):
            sae_id = sae.metadata.sae_id
            dead = counts <= params.dead_threshold
            live = [r for r in records if not dead[r.latent]][:params.n_latents]
            latents = [_latent_material(r, tokens, ctx.lm.tokenizer, params,
                                        np.random.default_rng([params.seed, r.latent])) for r in live]
            staged[sae_id] = SAEMaterial(sae_id, float(dead.mean()), latents)
            store.save(keys[sae_id], staged[sae_id])
    for sae in ctx.saes:
        sae_id = sae.metadata.sae_id
        material = staged[sae_id]
        if material is None:
            yield SAEResult(sae_id, [], status="error", reason=(
                f"judge_stage=judge but nothing is staged for this SAE under {store.path(keys[sae_id])}: run its "
                "sample stage first (the sweep's device job, or judge_stage=sample) with the same parameters, "
                "model and cache_dir"))
        elif ctx.judge_stage == "sample":
            yield SAEResult(sae_id, [], status="staged", reason=(
                f"sampled {len(material.latents)} latents; the judge work is staged for the judge pool "
                f"({store.path(keys[sae_id]).name})"))
        else:
            judge = ctx.judge
            before = judge.usage.as_dict()
            outcomes = asyncio.run(_score_all(judge, material.latents, params))
            used = {k: judge.usage.as_dict()[k] - before[k] for k in before}
            yield _result(sae_id, outcomes, material.frac_dead, used, params, judge.down_reason)


async def _score_all(judge: Judge, records: list[LatentMaterial], params) -> list[LatentOutcome]:
    """Score every latent concurrently; stop early when the judge's circuit breaker trips or the unit's
    deadline (`judge.deadline_s`) passes (latents not finished by then are 'deadline')."""
    sem = asyncio.Semaphore(judge.config.concurrency)       # requests in flight
    started = asyncio.Semaphore(judge.config.concurrency)   # latents in flight: they finish in order, so a
    judge.start_session()                                   # deadline or a budget keeps whole latents

    async def one(rec: LatentMaterial) -> LatentOutcome:
        async with started:
            return await _score_latent(judge, sem, rec, params)

    tasks = {asyncio.ensure_future(one(rec)): rec for rec in records}
    loop = asyncio.get_running_loop()
    deadline = None if judge.config.deadline_s is None else loop.time() + judge.config.deadline_s
    pending = set(tasks)
    with progress(total=len(tasks), desc="autointerp judge", unit="latent") as bar:
        while pending:
            timeout = None if deadline is None else max(0.0, deadline - loop.time())
            done, pending = await asyncio.wait(pending, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
            bar.update(len(done))
            stop = judge.down_reason is not None or (deadline is not None and loop.time() >= deadline)
            if stop and pending:
                for t in pending:
                    t.cancel()
                await asyncio.gather(*pending, return_exceptions=True)
                bar.update(len(pending))
                pending = set()
    results = []
    for t, rec in tasks.items():
        if t.cancelled():      # cancelled before it could record its own outcome
            results.append(LatentOutcome(rec.latent, rec.density, "deadline", log="[deadline] not started"))
        else:
            results.append(t.result())
    if judge.down_reason is not None:
        for o in results:
            if o.status == "deadline":
                o.status = "error"
                o.log += f"\n[error] stopped: {judge.down_reason}"
    return sorted(results, key=lambda o: o.latent)


def unit_status(outcomes: list[LatentOutcome], params: AutoInterpParams, down_reason: str | None) -> tuple[str, str]:
    """'ok', 'partial' (budget or deadline left latents unscored; scored ones are kept) or 'error' (the
    judge went down, or more than `max_failed_frac` of the attempted latents failed), with the reason."""
    n = {s: sum(o.status == s for o in outcomes) for s in STATUS_CODES}
    failed = n["malformed"] + n["error"]
    attempted = n["scored"] + failed
    if down_reason is not None:
        return "error", f"{down_reason}; {n['scored']} of {len(outcomes)} latents were scored before it stopped"
    if attempted and failed / attempted > params.max_failed_frac:
        example = next(o.log.rsplit("\n", 1)[-1] for o in outcomes if o.status in ("malformed", "error"))
        return "error", (f"{failed} of {attempted} attempted latents failed ({n['malformed']} malformed replies, "
                         f"{n['error']} request errors) > max_failed_frac={params.max_failed_frac}; e.g. {example}")
    if n["budget"] or n["deadline"]:
        what = "budget ran out" if n["budget"] else "deadline (judge.deadline_s) passed"
        return "partial", (f"the judge {what}: {n['budget'] + n['deadline']} of {len(outcomes)} latents unscored, "
                           f"{n['scored']} scored and kept; rerun with a larger judge.max_requests / max_cost / "
                           "deadline_s to finish the unit (answers already given come from the cache)")
    return "ok", ""


STATUS_CODES = {"scored": 0, "malformed": 1, "error": 2, "budget": 3, "no_examples": 4, "deadline": 5}


def _result(sae_id: str, outcomes: list[LatentOutcome], frac_dead: float, used: dict, params: AutoInterpParams,
            down_reason: str | None = None) -> SAEResult:
    status, reason = unit_status(outcomes, params, down_reason)
    if status != "ok":
        log.warning("autointerp %s: %s: %s", sae_id, status, reason)
    scored = [o for o in outcomes if o.status == "scored"]
    metrics = []
    for name, attr in (("autointerp_detection", "detection"), ("autointerp_fuzzing", "fuzzing")):
        mean, se, _sd, n = mean_stderr([getattr(o, attr) for o in scored])
        metrics.append(MetricValue(metric=name, value=mean, stderr=se, n=n))
    metrics += [MetricValue(metric="n_latents_scored", value=float(len(scored))),
                MetricValue(metric="n_latents_failed",
                            value=float(sum(o.status in ("malformed", "error") for o in outcomes))),
                MetricValue(metric="n_latents_unscored_budget",
                            value=float(sum(o.status in ("budget", "deadline") for o in outcomes))),
                MetricValue(metric="frac_dead", value=frac_dead),
                MetricValue(metric="judge_requests", value=float(used["requests"])),
                MetricValue(metric="judge_cached", value=float(used["cached"])),
                MetricValue(metric="judge_cost_usd", value=float(used["cost_usd"]))]
    idx = np.array([o.latent for o in outcomes], dtype=np.int64)
    codes = np.array([float(STATUS_CODES[o.status]) for o in outcomes])
    latents = Details("latents", idx, {"density": np.array([o.density for o in outcomes]),
                                       "detection": np.array([o.detection for o in outcomes]),
                                       "fuzzing": np.array([o.fuzzing for o in outcomes]), "status": codes},
                      labels=[o.explanation for o in outcomes])
    logs = Details("judge_log", idx, {"status": codes}, labels=[o.log for o in outcomes])
    counts = {s: sum(o.status == s for o in outcomes) for s in STATUS_CODES}
    return SAEResult(sae_id, metrics, [latents, logs], info={"judge_usage": used, "latent_status": counts},
                     status=status, reason=reason)
