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
    small = dataclasses.replace(cls, values=values, templates={a: t[:5] for a, t in cls.templates.items()})
    return lm, small, entities


def test_the_filter_keeps_correct_prompts_of_the_top_entities(organism):
    lm, cls, entities = organism
    k = knowledge.known_prompts(lm, cls, ["Country", "Continent"], top_n_entities=10, batch_size=16)
    cov = k.coverage["Country"]
    assert cov["prompts"] == 12 * 5 and cov["correct"] == 11 * 5          # the organism knows every real label
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
