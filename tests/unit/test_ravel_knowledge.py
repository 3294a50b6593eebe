"""RAVEL's knowledge filter on the bundled organism: what it keeps, that it is batch-size invariant, and
that its cache answers the second call."""

from __future__ import annotations

import dataclasses

import pytest

from saebench.metrics.ravel import knowledge
from saebench.metrics.ravel.data import load_ravel_class
from saebench.models import load_language_model
from saebench.paths import asset


@pytest.fixture(scope="module")
def organism():
    lm = load_language_model(asset("organisms/orgllama"))
    cls = load_ravel_class("city", asset("organisms/orgllama/ravel"))
    entities = sorted(cls.values)[:12]
    values = {e: dict(cls.values[e]) for e in entities}
    values[entities[0]]["Country"] = "Nowhereland"               # a planted wrong label: never answered
    def two_per_split(ts: list[str]) -> list[str]:
        return [t for split in ("train", "val", "test") for t in [x for x in ts if cls.template_split[x] == split][:2]]

    templates = {a: two_per_split(ts) for a, ts in cls.templates.items()}
    small = dataclasses.replace(cls, values=values, templates=templates)
    return lm, small, entities


def test_the_filter_keeps_correct_prompts_of_the_top_entities(organism):
    lm, cls, entities = organism
    k = knowledge.known_prompts(lm, cls, ["Country", "Continent"], top_n_entities=10, batch_size=16)
    cov = k.coverage["Country"]
    n_templates = len(cls.templates["Country"])
    assert n_templates >= 4 and cov["prompts"] == 12 * n_templates and cov["correct"] == 11 * n_templates
    assert entities[0] not in {p.prompt.entity for p in k.known}           # fewest correct prompts: dropped
    assert cov["kept_entities"] == 10 and k.coverage["Continent"]["kept_entities"] == 10
    tok = lm.tokenizer
    for p in k.known[:20]:
        assert p.continuation.startswith(tok.decode([p.first_token]))
        assert tok.decode([p.ids[p.entity_pos]]).strip() in p.prompt.entity
        assert p.ids[0] == tok.bos_token_id and p.continuation.strip().startswith(p.prompt.answer)


def test_generation_does_not_depend_on_the_batch_size(organism):
    lm, cls, _ = organism
    prompts = cls.prompts(["Language"])[:24]
    ids, _ = knowledge.tokenize_prompts(lm.tokenizer, prompts, prepend_bos=True)
    assert knowledge.generate(lm, ids, 6, batch_size=1) == knowledge.generate(lm, ids, 6, batch_size=24)


def test_the_second_call_reads_the_cache(organism, tmp_path, monkeypatch):
    lm, cls, _ = organism
    first = knowledge.known_prompts(lm, cls, ["Country"], top_n_entities=10, cache_dir=tmp_path)
    monkeypatch.setattr(knowledge, "generate", lambda *a, **k: (_ for _ in ()).throw(AssertionError("recomputed")))
    again = knowledge.known_prompts(lm, cls, ["Country"], top_n_entities=10, cache_dir=tmp_path)
    assert again == first
    with pytest.raises(AssertionError, match="recomputed"):      # other settings: another entry
        knowledge.known_prompts(lm, cls, ["Country"], top_n_entities=9, cache_dir=tmp_path)


def test_pairs_by_construction(organism):
    from saebench.metrics.ravel.pairs import make_pairs, saebench_split

    lm, cls, _ = organism
    k = knowledge.known_prompts(lm, cls, ["Country", "Continent", "Language"], top_n_entities=11)
    pairs = make_pairs(k, "Country", ["Country", "Continent", "Language"], n_pairs=40, seed=3)
    cause = [p for p in pairs if p.kind == "cause"]
    iso = [p for p in pairs if p.kind == "iso"]
    assert len(cause) == 40 and len(iso) == 40
    assert all(p.base.prompt.attribute == p.source.prompt.attribute == "Country" for p in cause)
    assert all(p.base.prompt.answer != p.source.prompt.answer for p in pairs)
    assert all(p.target_token == p.source.first_token and p.label == p.source.prompt.answer for p in cause)
    assert all(p.base.prompt.attribute != "Country" and p.target_token == p.base.first_token for p in iso)
    assert {p.base.prompt.attribute for p in iso} == {"Continent", "Language"}
    assert make_pairs(k, "Country", ["Country", "Continent", "Language"], 40, seed=3) == pairs   # seeded
    test_only = make_pairs(k, "Country", ["Country", "Continent"], 20, seed=0, split=("test",))
    assert test_only and all({p.base.prompt.entity_split, p.base.prompt.template_split, p.source.prompt.entity_split,
                              p.source.prompt.template_split} == {"test"} for p in test_only)
    train, val = saebench_split(pairs, 0.7, seed=0)
    assert len(train) == 56 and len(val) == 24 and sorted(map(id, train + val)) == sorted(map(id, pairs))
    with pytest.raises(Exception, match="not among the attributes"):
        make_pairs(k, "Mayor", ["Country"], 5, 0)
