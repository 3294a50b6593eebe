"""The `unlearning` plugin: select the SAE latents that fire on a forget corpus and not on a retain corpus,
clamp them negative where they fire, and measure how much forget-domain knowledge is lost while
retain-domain knowledge is kept (SAEBench's unlearning eval, for any task, model and hook).

Shared work, once per run: the known-question pools (also cached on disk per model, task and format), the
questions' activations at the hook, the forget/retain token rows per seed and their activations (the run's
activation cache; never for a gated corpus). Per SAE: its densities on the rows, the selection per
threshold, and one suffix pass over the questions per distinct grid configuration.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Iterator
from pathlib import Path

import torch

from saebench.atomic import atomic_write_text
from saebench.cache.keys import cache_key
from saebench.data.pretokenized import tokenizer_fingerprint
from saebench.metrics.api import EvalContext, MetricValue, Needs, SAEResult
from saebench.metrics.applicability import reconstructs_its_input
from saebench.metrics.numerics.aggregate import with_seed_aggregates
from saebench.metrics.registry import register_plugin
from saebench.metrics.unlearning import report
from saebench.metrics.unlearning.clamp import ranked_latents, saebench_densities
from saebench.metrics.unlearning.grid import ConfigResult, run_grid
from saebench.metrics.unlearning.params import UnlearningParams
from saebench.metrics.unlearning.prepared import PreparedQuestions
from saebench.metrics.unlearning.questions import CHANCE, Question, known_questions
from saebench.metrics.unlearning.sparsity import corpus_rows, densities
from saebench.metrics.unlearning.tasks import UnlearningTask, corpus_texts, load_task, task_questions
from saebench.progress import progress

log = logging.getLogger(__name__)


def _questions_digest(questions: list[Question]) -> str:
    payload = json.dumps([[q.question, q.options, q.answer, q.subject, q.cloze] for q in questions])
    return hashlib.sha256(payload.encode()).hexdigest()[:16]


def all_questions(ctx: EvalContext, task: UnlearningTask, which: str) -> list[Question]:
    return ctx.memo.get_or_compute(cache_key("unlearning_questions", task=task.identity(), which=which),
                                   lambda: task_questions(task, which))


def known_pool(ctx: EvalContext, task: UnlearningTask, which: str, fmt: str) -> list[Question]:
    """The `which` questions the model answers under every option order (SAEBench's `correct` rule); once per
    run and model, and on disk under the cache folder."""
    questions = all_questions(ctx, task, which)
    key = cache_key("unlearning_known", model=ctx.lm.name, revision=ctx.lm.revision, format=fmt,
                    tokenizer=tokenizer_fingerprint(ctx.lm.tokenizer), questions=_questions_digest(questions),
                    chat_template=getattr(ctx.lm.tokenizer, "chat_template", None) if fmt == "letter_chat" else None)

    def compute() -> list[int]:
        path = Path(ctx.services.cache_dir) / "unlearning" / f"known-{key}.json" if ctx.services.cache_dir else None
        if path is not None and path.is_file():
            return json.loads(path.read_text())["known"]
        known = known_questions(ctx.lm, questions, fmt, batch_size=ctx.batch_size)
        log.info("unlearning %s/%s: the model knows %d of %d questions (%s)", task.name, which, len(known),
                 len(questions), fmt)
        if path is not None:
            atomic_write_text(path, json.dumps({"known": known, "n": len(questions)}))
        return known

    return [questions[i] for i in ctx.memo.get_or_compute(key, compute)]


def prepared(ctx: EvalContext, task: UnlearningTask, which: str, fmt: str) -> PreparedQuestions:
    return ctx.shared("unlearning_prepared", lambda: PreparedQuestions(
        ctx.lm, ctx.hook, known_pool(ctx, task, which, fmt), fmt, ctx.batch_size),
        task=task.identity(), which=which, format=fmt)


def corpus(ctx: EvalContext, task: UnlearningTask, which: str) -> list[str]:
    """The texts of the task's `forget` or `retain` corpus, once per run."""
    return ctx.memo.get_or_compute(cache_key("unlearning_texts", task=task.identity(), which=which),
                                   lambda: corpus_texts(task, which))


def rows_and_activations(ctx: EvalContext, task: UnlearningTask, which: str, params: UnlearningParams, seed: int
                         ) -> tuple[torch.Tensor, torch.Tensor]:
    """The seed's token rows of one corpus and their activations at the hook (the run's activation cache, or
    computed in memory only for a gated corpus)."""
    texts = corpus(ctx, task, which)
    tokens = ctx.memo.get_or_compute(
        cache_key("unlearning_rows", task=task.identity(), which=which, seed=seed, n_rows=params.n_rows,
                  n_documents=params.n_documents, seq_len=params.seq_len_for(ctx.lm), model=ctx.lm.name),
        lambda: corpus_rows(texts, ctx.lm.tokenizer, params.seq_len_for(ctx.lm), params.n_rows, seed,
                            params.n_documents if which == "forget" else None, f"{task.name} {which} corpus"))
    gated = (task.forget_corpus if which == "forget" else task.retain_corpus).gated
    if not gated:
        return tokens, ctx.corpus_activations(tokens)
    return tokens, torch.cat([ctx.lm.activations(tokens[s:s + ctx.batch_size], ctx.hook).cpu()
                              for s in range(0, len(tokens), ctx.batch_size)])


def _densities(sae, ctx: EvalContext, rows: torch.Tensor, acts: torch.Tensor, params: UnlearningParams):
    d = densities(sae, acts, rows, ctx.lm.special_token_ids(), ctx.space, ctx.batch_size)
    if params.density_decimals == 6:
        return saebench_densities(d)
    exact = d.double().cpu().numpy()
    return exact.round(params.density_decimals) if params.density_decimals else exact


@register_plugin("unlearning", version="1.0.0", metrics=report.UNLEARNING_METRICS, params=UnlearningParams,
                 needs=Needs(activations=True), applies_to=reconstructs_its_input,
                 description="Unlearning by clamping the latents that fire on a forget corpus: forget-question "
                             "accuracy lost while retain-question accuracy stays >= 0.99 (SAEBench's score).")
def evaluate_unlearning(ctx: EvalContext, params: UnlearningParams) -> Iterator[SAEResult]:
    task = load_task(params.task, params.task_overrides.get(params.task))
    fmt = params.format or task.format
    for which in ("forget", "retain"):     # a missing (gated) corpus fails now, not after the known-question pass
        corpus(ctx, task, which)
    forget, retain = prepared(ctx, task, "forget", fmt), prepared(ctx, task, "retain", fmt)
    totals = {w: len(all_questions(ctx, task, w)) for w in ("forget", "retain")}
    known = {"forget": len(forget), "retain": len(retain)}
    short = [w for w in known if not report.above_chance(known[w], totals[w], CHANCE[fmt], params.chance_alpha)]
    if short:
        counts = ", ".join(f"{known[w]} of {totals[w]} {w} questions" for w in known)
        reason = (f"unlearning task {task.name!r} ({fmt}): {ctx.lm.name} knows {counts} (the {'/'.join(short)} pool "
                  f"is no better than chance {CHANCE[fmt]:.3g}, binomial p >= {params.chance_alpha}); use a model "
                  f"that knows the domains, or format 'letter_chat' for an instruct model, 'cloze' for a base model.")
        for sae in ctx.saes:
            yield SAEResult(sae.metadata.sae_id, [], status="skipped", reason=reason)
        return
    luck = (report.luck_share(known["forget"], totals["forget"], CHANCE[fmt]),
            report.luck_share(known["retain"], totals["retain"], CHANCE[fmt]))
    clean = ctx.shared("unlearning_clean", lambda: (float(forget.correct().float().mean()),
                                                    float(retain.correct().float().mean())),
                       task=task.identity(), format=fmt)
    low = report.is_low_signal(len(forget), len(retain), params.gate, params.min_tolerated_errors,
                               params.min_forget_questions, luck, params.max_luck_share)
    if low:
        log.warning("unlearning %s: low signal (%d forget, %d retain known questions at gate %g; estimated luck "
                    "%.2f / %.2f)", task.name, len(forget), len(retain), params.gate, *luck)
    grids: dict[str, dict[int, list[ConfigResult]]] = {s.metadata.sae_id: {} for s in ctx.saes}
    for seed in params.seeds:
        corpora = {w: rows_and_activations(ctx, task, w, params, seed) for w in ("forget", "retain")}
        for sae in progress(ctx.saes, desc=f"unlearning {ctx.hook} seed {seed}", unit="SAE"):
            dens = {w: _densities(sae, ctx, *corpora[w], params) for w in corpora}
            ranked = {t: ranked_latents(dens["forget"], dens["retain"], t) for t in params.retain_thresholds}
            grids[sae.metadata.sae_id][seed] = run_grid(sae, ctx.space, forget, retain, ranked, params.grid())
        del corpora
    pool_seed = params.seeds[0] if len(params.seeds) == 1 else None
    pools = report.pool_rows(len(forget), len(retain), *clean, low, luck, pool_seed)
    for sae in ctx.saes:
        per_seed: dict[int, list[MetricValue]] = {
            seed: report.seed_rows(results, params.gate, params.selection_fraction, seed)
            for seed, results in grids[sae.metadata.sae_id].items()}
        yield SAEResult(sae.metadata.sae_id, with_seed_aggregates(per_seed) + pools,
                        report.grid_details(grids[sae.metadata.sae_id], params.gate, params.selection_fraction))
