"""The `ravel` plugin's planning: which pairs each definition trains and scores on, the coverage refusal, and
its parameter errors."""

from __future__ import annotations

import itertools

import pytest

from saebench.metrics.ravel.data import RavelPrompt
from saebench.metrics.ravel.knowledge import Knowledge, KnownPrompt
from saebench.metrics.ravel.params import RavelParams
from saebench.metrics.ravel.plugin import coverage_refusal, pairs_for, too_few_pairs

SPLIT = {0: "train", 1: "val", 2: "test"}


def world(n_entities: int = 24, n_templates: int = 6) -> Knowledge:
    """Every (entity, template) of two attributes known; entity and template splits cycle train/val/test."""
    known = []
    for e, t in itertools.product(range(n_entities), range(n_templates)):
        for attribute, answer in (("Country", f"C{e % 5}"), ("Continent", f"K{(e // 3) % 3}")):
            p = RavelPrompt(f"E{e}", f"{attribute} T{t} of %s:", attribute, answer, SPLIT[e % 3], SPLIT[t % 3])
            known.append(KnownPrompt(p, [1, 2, 3], 2, 10 + e % 5, answer))
    return Knowledge(known, {})


def params(**kw) -> RavelParams:
    kw = {"batch_size": 8, "micro_batch_size": 8, **kw}
    return RavelParams(classes={"city": ["Country", "Continent"]}, n_pairs_per_attribute=40, **kw)


def test_heldout_trains_on_train_entities_and_templates_and_scores_on_test_ones():
    train, test = pairs_for(world(60, 9), params(), "Country", ["Country", "Continent"], "heldout", seed=3)
    assert len(train) == 56 and len(test) == 24                       # 40 cause + 40 isolation, cut 28 / 12
    for pairs, split in ((train, "train"), (test, "test")):
        prompts = [k.prompt for p in pairs for k in (p.base, p.source)]
        assert {p.entity_split for p in prompts} == {split} and {p.template_split for p in prompts} == {split}
    cause = [p for p in test if p.kind == "cause"]
    assert len(cause) == 12 and len({p.base.prompt for p in cause}) == 12      # SAEBench: bases without replacement
    assert all(p.base.prompt.answer != p.source.prompt.answer for p in train + test)


def test_a_pool_smaller_than_asked_gives_each_prompt_once_as_base():
    train, _ = pairs_for(world(), params(), "Country", ["Country", "Continent"], "heldout", seed=3)
    cause = [p for p in train if p.kind == "cause"]
    assert len(cause) == 16 and len({p.base.prompt for p in cause}) == 16     # 8 entities x 2 templates < 28


def test_saebench_cuts_one_pool_70_30_and_drops_the_last_partial_evaluation_batch():
    train, test = pairs_for(world(), params(), "Country", ["Country", "Continent"], "saebench", seed=3)
    assert len(train) == 56 and len(test) == 24                        # 80 pairs: 56 / 24 (24 = 3 batches of 8)
    splits = {k.prompt.entity_split for p in train + test for k in (p.base, p.source)}
    assert splits == {"train", "val", "test"}                          # entities are shared between the parts
    train_again, _ = pairs_for(world(), params(), "Country", ["Country", "Continent"], "saebench", seed=3)
    assert [(p.base.prompt, p.source.prompt) for p in train_again] == [(p.base.prompt, p.source.prompt)
                                                                         for p in train]


def test_low_coverage_is_refused_with_the_numbers():
    w = world(n_entities=6, n_templates=3)                            # 2 test entities x 1 test template
    worlds = {("heldout", "city"): w, ("saebench", "city"): world()}
    reason = coverage_refusal(worlds, params(min_prompts=5))
    assert "heldout: city/Country (eval splits ['test']): 2 known prompts, 2 distinct answers" in reason
    assert "task.ravel.min_prompts" in reason and "saebench:" not in reason
    full = world()
    assert coverage_refusal({("heldout", "city"): full, ("saebench", "city"): full}, params(min_prompts=5)) == ""
    one_answer = Knowledge([k for k in world().known if k.prompt.answer in ("C0", "K0", "K1")], {})
    reason = coverage_refusal({("heldout", "city"): full, ("saebench", "city"): one_answer}, params(min_prompts=1))
    assert "saebench: city/Country (all splits ['train', 'val', 'test']): 30 known prompts, 1 distinct answers" \
        in reason


@pytest.mark.parametrize("bad, match", [
    ({"definitions": ["ravel"]}, "definitions must be distinct names among"),
    ({"selection": "das"}, "selection must be one of"),
    ({"train_splits": ["train", "test"]}, "overlap"),
    ({"eval_splits": ["dev"]}, "eval_splits must be a non-empty list among"),
    ({"batch_size": 10, "micro_batch_size": 4}, "multiple of micro_batch_size"),
    ({"classes": {"city": []}}, "non-empty attribute lists"),
    ({"n_pairs_per_attribute": 0}, "n_pairs_per_attribute must be >= 1"),
])
def test_bad_parameters_are_named(bad, match):
    with pytest.raises(Exception, match=match):
        RavelParams(**bad)


def test_a_missing_data_folder_is_reported_before_the_model_loads(tmp_path):
    assert RavelParams(source=str(tmp_path / "nope")).missing_files()[0].endswith("does not exist")
    assert RavelParams(source="asset:organisms/orgllama/ravel").missing_files() == []


def test_too_few_pairs_to_fill_an_optimiser_batch_is_named():
    units = {(0, "city", "Country", "heldout"): (list(range(8)), list(range(4))),
             (0, "city", "Continent", "heldout"): (list(range(40)), [])}
    reason = too_few_pairs(units, params(batch_size=16, micro_batch_size=16))
    assert "heldout: city/Country seed 0: 8 training, 4 evaluation pairs" in reason
    assert "city/Continent seed 0: 40 training, 0 evaluation pairs" in reason and "batch_size 16" in reason
    assert too_few_pairs({(0, "city", "Country", "heldout"): (list(range(16)), [1])}, params(batch_size=16,
                                                                                           micro_batch_size=16)) == ""


def test_the_probe_selection_runs_through_the_plugin_on_the_organism():
    """Probe selection on the organism's blocks.0 with the orthogonal SAE: the probe picks a proper subset of the
    latents, so unlike swapping every latent (isolation < 0.2, test_ravel_scoring) the other attributes stay
    (measured: 37 of 192 latents for Continent, isolation 1.0, cause 0.07)."""
    from saebench.metrics import EvalContext, discover
    from saebench.models import load_language_model
    from saebench.paths import asset
    from saebench.services import Services
    from tests.ravel_world import orthogonal_sae

    lm = load_language_model(asset("organisms/orgllama"))
    hook = "blocks.0.hook_resid_post"
    sae = orthogonal_sae(lm.hook_width(hook), hook)
    p = discover().get("ravel").make_params({"source": "asset:organisms/orgllama/ravel", "selection": "probe",
                                             "classes": {"city": ["Continent", "Language"]}, "definitions": ["heldout"],
                                             "n_pairs_per_attribute": 48, "seeds": [0], "top_n_entities": 60})
    ctx = EvalContext(lm=lm, hook=hook, saes=[sae], space=lm.activation_space(False), device=lm.device,
                      services=Services.for_model(lm))
    (result,) = list(discover().get("ravel").run(ctx, p))
    rows = {(m.metric, m.subset): m.value for m in result.metrics}
    assert result.status == "ok" and 0 < rows[("n_selected_latents_heldout", "city/Continent")] < sae.d_sae
    assert rows[("isolation_score_heldout", "city/Continent")] >= 0.9
