"""The `ravel` plugin: attribute disentanglement (RAVEL, Huang et al. 2024; SAEBench's eval) for any causal LM
and any hook the model adapter knows.

Shared work, once per run: the knowledge filter per entity class (also cached on disk), and per (seed, class,
attribute, definition) the pairs and their prompts' activations at the hook (`batches.PairSet`), which every
SAE of the group reuses. Per SAE: the latent selection (MDBM mask training through the layers after the
hook, or the L1 probe) and the intervened generations on the evaluation pairs. Loop order keeps one
attribute's activations in memory at a time; results are yielded when every attribute is done.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator

import torch

from saebench.cache.keys import cache_key
from saebench.metrics.api import EvalContext, MetricValue, SAEResult
from saebench.metrics.applicability import reconstructs_its_input
from saebench.metrics.numerics.aggregate import with_seed_aggregates
from saebench.metrics.ravel import report
from saebench.metrics.ravel.batches import PairSet
from saebench.metrics.ravel.data import load_ravel_class
from saebench.metrics.ravel.knowledge import Knowledge, known_prompts
from saebench.metrics.ravel.mdbm import train_mask
from saebench.metrics.ravel.pairs import Pair, make_pairs, saebench_split
from saebench.metrics.ravel.params import RavelParams
from saebench.metrics.ravel.probe import probe_mask
from saebench.metrics.ravel.scoring import generate_intervened, scores
from saebench.metrics.registry import register_plugin
from saebench.progress import progress

log = logging.getLogger(__name__)


CONVENTION = {"heldout": "bos", "saebench": "saebench"}


def knowledge(ctx: EvalContext, params: RavelParams, name: str, attributes: list[str], definition: str) -> Knowledge:
    """The knowledge filter of one entity class under a definition's tokenization (hook-independent: shared by
    every hook group of the run; continuations shared between the definitions where their token ids agree)."""
    convention = CONVENTION[definition]
    common = dict(model=ctx.lm.name, revision=ctx.lm.revision, n=params.n_generated_tokens)
    key = cache_key("ravel_knowledge", cls=name, attributes=attributes, source=params.source,
                    top=params.top_n_entities, bos=params.prepend_bos, convention=convention, **common)
    generations = ctx.memo.get_or_compute(cache_key("ravel_generations", **common), dict)
    return ctx.memo.get_or_compute(key, lambda: known_prompts(
        ctx.lm, load_ravel_class(name, params.data_folder()), attributes, params.n_generated_tokens,
        params.top_n_entities, params.generation_batch_size, params.prepend_bos, ctx.services.cache_dir,
        convention, generations))


def _in(k, splits) -> bool:
    return k.prompt.entity_split in splits and k.prompt.template_split in splits


def coverage_refusal(worlds: dict[tuple[str, str], Knowledge], params: RavelParams) -> str:
    """Why the coverage is too low to score (empty when it is enough): every attribute needs `min_prompts`
    known prompts with at least two distinct answers in each split a definition draws from. `worlds` maps
    (definition, class) to that definition's knowledge."""
    problems = []
    for definition in params.definitions:
        needs = ([("train", params.train_splits), ("eval", params.eval_splits)] if definition == "heldout"
                 else [("all", ["train", "val", "test"])])
        for cls, attrs in params.classes.items():
            for attribute in attrs:
                pool = worlds[definition, cls].for_attribute(attribute)
                for what, splits in needs:
                    mine = [k for k in pool if _in(k, splits)]
                    answers = {k.prompt.answer for k in mine}
                    if len(mine) < params.min_prompts or len(answers) < 2:
                        problems.append(f"{definition}: {cls}/{attribute} ({what} splits {list(splits)}): "
                                        f"{len(mine)} known prompts, {len(answers)} distinct answers")
    if not problems:
        return ""
    return (f"RAVEL coverage too low for this model (need >= {params.min_prompts} known prompts and >= 2 distinct "
            f"answers per attribute and split; task.ravel.min_prompts): " + "; ".join(problems) +
            ". Drop those attributes from task.ravel.classes, or use a model that knows more of them.")


def pairs_for(known: Knowledge, params: RavelParams, attribute: str, attributes: list[str], definition: str,
              seed: int) -> tuple[list[Pair], list[Pair]]:
    """(training pairs, evaluation pairs) of one cause attribute under one definition (plugin README)."""
    if definition == "saebench":
        pool = make_pairs(known, attribute, attributes, params.n_pairs_per_attribute, seed)
        train, test = saebench_split(pool, params.train_fraction, seed)
        return train, test[:len(test) // params.batch_size * params.batch_size]   # its last partial batch drops
    n_train = int(params.n_pairs_per_attribute * params.train_fraction)
    train = make_pairs(known, attribute, attributes, n_train, seed, tuple(params.train_splits))
    test = make_pairs(known, attribute, attributes, params.n_pairs_per_attribute - n_train, seed + 1,
                      tuple(params.eval_splits))
    return train, test


def too_few_pairs(units: dict[tuple, tuple[list[Pair], list[Pair]]], params: RavelParams) -> str:
    """Why some unit cannot be trained or scored (empty when every one can): MDBM needs one full optimiser
    batch of training pairs, and every unit needs pairs to score."""
    short = [f"{d}: {cls}/{attribute} seed {seed}: {len(train)} training, {len(test)} evaluation pairs"
             for (seed, cls, attribute, d), (train, test) in units.items()
             if not test or (params.selection == "mdbm" and len(train) < params.batch_size)]
    if not short:
        return ""
    return (f"RAVEL has too few pairs to train a mask (batch_size {params.batch_size}) or to score: "
            + "; ".join(short) + ". Raise task.ravel.n_pairs_per_attribute, or lower task.ravel.batch_size.")


def select_latents(ctx: EvalContext, sae, train: PairSet, params: RavelParams, seed: int) -> torch.Tensor:
    """The hard mask [d_sae] of the latents swapped for this attribute."""
    if params.selection == "mdbm":
        logits = train_mask(ctx.lm, sae, ctx.hook, train.batch, len(train), params.mask_training(seed), ctx.space)
        return (logits > 0).float()
    bases = {p.base.prompt: p.base for p in train.pairs if p.kind == "cause"}
    vectors = torch.stack([train.entity_vector(k) for k in bases.values()]).to(ctx.device)
    with torch.no_grad():
        latents = sae.encode(ctx.space.to_sae(vectors.to(sae.W_dec.dtype)))
    return probe_mask(latents, [k.prompt.answer for k in bases.values()], params.probe()).to(ctx.device)


def evaluate_pairs(ctx: EvalContext, sae, test: PairSet, mask: torch.Tensor, params: RavelParams,
                   definition: str) -> dict[str, float]:
    texts: list[str] = []
    step = params.generation_batch_size
    for start in range(0, len(test), step):
        batch = test.batch(list(range(start, min(start + step, len(test)))))
        texts += generate_intervened(ctx.lm, sae, ctx.hook, batch, mask, params.n_generated_tokens, params.add_error,
                                     ctx.space)
    return scores(test.pairs, texts, saebench_buckets=definition == "saebench")


@register_plugin("ravel", version="1.0.0", metrics=report.RAVEL_METRICS, params=RavelParams,
                 applies_to=reconstructs_its_input,
                 description="RAVEL attribute disentanglement: swap the latents selected for one attribute between "
                             "prompts and measure cause (it moves) and isolation (others stay).")
def evaluate_ravel(ctx: EvalContext, params: RavelParams) -> Iterator[SAEResult]:
    worlds = {(d, cls): knowledge(ctx, params, cls, attrs, d) for d in params.definitions
              for cls, attrs in params.classes.items()}
    refusal = coverage_refusal(worlds, params)
    if refusal:
        for sae in ctx.saes:
            yield SAEResult(sae.metadata.sae_id, [], status="skipped", reason=refusal)
        return
    results: dict[str, list[report.AttributeScore]] = {s.metadata.sae_id: [] for s in ctx.saes}
    units = {(seed, cls, attribute, definition): pairs_for(worlds[definition, cls], params, attribute, attrs,
                                                           definition, seed)
             for seed in params.seeds for cls, attrs in params.classes.items() for attribute in attrs
             for definition in params.definitions}
    refusal = too_few_pairs(units, params)
    if refusal:
        for sae in ctx.saes:
            yield SAEResult(sae.metadata.sae_id, [], status="skipped", reason=refusal)
        return
    for (seed, cls, attribute, definition), (train_pairs, test_pairs) in progress(
            list(units.items()), desc=f"ravel {ctx.hook} ({len(ctx.saes)} SAEs)", unit="attribute"):
        train = PairSet(ctx.lm, ctx.hook, train_pairs, ctx.batch_size)
        test = PairSet(ctx.lm, ctx.hook, test_pairs, ctx.batch_size)
        for sae in ctx.saes:
            mask = select_latents(ctx, sae, train, params, seed)
            s = evaluate_pairs(ctx, sae, test, mask, params, definition)
            results[sae.metadata.sae_id].append(report.AttributeScore(
                seed, definition, cls, attribute, s["cause_score"], s["isolation_score"], int(s["n_cause"]),
                int(s["n_isolation"]), int(mask.sum()), len(train_pairs)))
        del train, test
    coverage = report.coverage_rows({cls: worlds[params.definitions[0], cls].coverage for cls in params.classes},
                                    params.seeds[0] if len(params.seeds) == 1 else None)
    for sae in ctx.saes:
        mine = results[sae.metadata.sae_id]
        per_seed: dict[int, list[MetricValue]] = {
            seed: report.score_rows([s for s in mine if s.seed == seed]) for seed in params.seeds}
        yield SAEResult(sae.metadata.sae_id, with_seed_aggregates(per_seed) + coverage, report.details(mine))
