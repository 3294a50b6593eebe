"""The organism world and corpus: deterministic, large enough, and held-out templates never trained on."""

from __future__ import annotations

import dataclasses
import hashlib
import json

import numpy as np

from saebench.organisms.corpus import build_corpus, domain_questions, mcq, statements
from saebench.organisms.exports import write_ravel, write_topics, write_unlearning
from saebench.organisms.templates import CITY, DOMAIN, SCHOLAR
from saebench.organisms.world import make_world

WORDS = ["apple", "banana", "cherry", "delta", "eagle", "forest"]


def _digest(corpus: dict[str, list[str]]) -> str:
    return hashlib.sha256(json.dumps(corpus, sort_keys=True).encode()).hexdigest()


def test_same_seed_same_corpus_bytes_other_seed_other_world():
    small = dict(fact_repeats=2, spelling_repeats=1, n_topic_docs=50, question_repeats=1)
    a = build_corpus(make_world(0), WORDS, 0, **small)
    b = build_corpus(make_world(0), WORDS, 0, **small)
    c = build_corpus(make_world(1), WORDS, 1, **small)
    assert _digest(a) == _digest(b) != _digest(c)


def test_world_meets_the_organism_sizes_and_facts_are_consistent():
    w = make_world(0)
    assert len(w.cities) >= 300 and len(w.scholars) >= 200
    assert {c.continent for c in w.countries.values()} == set(w.continents)
    assert {c.language for c in w.countries.values()} == set(w.languages)
    names = [*w.cities, *w.countries, *w.continents, *w.languages, *(f.entity for d in w.domains.values()
                                                                      for f in d.facts)]
    assert len({n.lower() for n in names}) == len(names)      # no name means two things
    for s in w.scholars:
        attrs = w.scholar_attributes(s)
        assert attrs["Country of Birth"] == w.cities[attrs["Birth City"]].country


def test_held_out_templates_never_appear_in_the_training_corpus():
    w = make_world(0)
    corpus = build_corpus(w, WORDS, 0, fact_repeats=5, spelling_repeats=1, n_topic_docs=10, question_repeats=1)
    text = "\n".join(corpus["facts"])
    held_out = {cls: [t for attr in table.values() for t in attr["test"]]
                for cls, table in (("city", CITY), ("scholar", SCHOLAR), *DOMAIN.items())}
    entities = {"city": list(w.cities), "scholar": list(w.scholars),
                **{d: [f.entity for f in dom.facts] for d, dom in w.domains.items()}}
    for cls, templates in held_out.items():
        for template in templates:
            for entity in entities[cls]:
                assert template % entity not in text, (template, entity)
    n_statements = len(statements(w))
    assert sum(doc.count(".") for doc in corpus["facts"]) >= 5 * n_statements


def test_spelling_lines_use_the_vocabulary_form_of_words():
    corpus = build_corpus(make_world(0), WORDS, 0, fact_repeats=1, spelling_repeats=1, n_topic_docs=1,
                          question_repeats=1)
    lines = [line for doc in corpus["spelling"] for line in doc.split("\n")]
    assert " apple has the first letter: A" in lines and " apple: a p p l e" in lines


def test_mcq_answers_point_at_the_true_value():
    w = make_world(0)
    for q in domain_questions(w, "alchemy", np.random.default_rng(0)):
        fact = next(f for f in w.domains["alchemy"].facts if f.entity == q["entity"])
        assert q["options"][q["answer"]] == fact.attributes[q["attribute"]] == q["value"]
        assert len(set(q["options"])) == 4
    assert mcq("Q?", ["x", "y"], 1) == "Q?\nA. x\nB. y\nAnswer: B"


def test_exports_are_ravel_shaped_and_complete(tmp_path):
    w = make_world(0)
    write_ravel(w, tmp_path / "ravel")
    attrs = json.loads((tmp_path / "ravel" / "ravel_city_entity_attributes.json").read_text())
    assert set(attrs) == set(w.cities) and set(next(iter(attrs.values()))) == {"Country", "Continent", "Language"}
    prompts = json.loads((tmp_path / "ravel" / "ravel_city_attribute_to_prompts.json").read_text())
    split = json.loads((tmp_path / "ravel" / "ravel_city_prompt_to_split.json").read_text())
    assert all(split[p] in ("train", "test") for ps in prompts.values() for p in ps)
    assert all("%s" in p for ps in prompts.values() for p in ps)
    ents = json.loads((tmp_path / "ravel" / "ravel_nobel_prize_winner_entity_to_split.json").read_text())
    assert set(ents.values()) == {"train", "val", "test"}
    topics = write_topics(w, tmp_path / "topics.csv", n=30).read_text().splitlines()
    assert topics[0] == "text,topic,gender" and len(topics) == 31
    files = write_unlearning(w, tmp_path / "unlearning")
    assert sorted(p.name for p in files) == ["alchemy_corpus.jsonl", "alchemy_questions.json",
                                             "astronomy_corpus.jsonl", "astronomy_questions.json"]


def test_padded_batches_on_either_side():
    from saebench.organisms.knowledge import padded

    ids, mask, width = padded([[5, 6, 7], [8]], pad_id=0, left=True)
    assert width == 3 and ids.tolist() == [[5, 6, 7], [0, 0, 8]] and mask.tolist() == [[1, 1, 1], [0, 0, 1]]
    ids, mask, _ = padded([[5, 6, 7], [8]], pad_id=0)
    assert ids.tolist() == [[5, 6, 7], [8, 0, 0]] and mask.tolist() == [[1, 1, 1], [1, 0, 0]]


def test_every_alphabetic_token_is_spelled_right_after_itself():
    from saebench.organisms.corpus import vocabulary_spelling_documents

    docs = vocabulary_spelling_documents([" Apple", "ing", " b"], np.random.default_rng(0), repeats=2)
    lines = sorted(line for doc in docs for line in doc.split("\n"))
    assert lines == [" Apple a p p l e"] * 2 + [" b b"] * 2 + ["ing i n g"] * 2


def test_training_is_deterministic_and_plants_first_letters(tmp_path):
    import torch
    from safetensors.torch import load_file

    from saebench.metrics.absorption.vocab import alphabetic_words
    from saebench.organisms.training import OrganismConfig, build_model, plant_letter_directions, train

    cfg = OrganismConfig(vocab_size=400, n_words=30, hidden_size=32, n_layers=1, n_heads=2, intermediate_size=64,
                         context=32, batch_rows=4, steps=3, warmup=1, fact_repeats=1, spelling_repeats=1,
                         vocab_spelling_repeats=1, n_topic_docs=20, question_repeats=1)
    world = make_world(0)
    records = [train(cfg, tmp_path / name, world) for name in ("a", "b")]
    assert records[0]["corpus_tokens"] == records[1]["corpus_tokens"]
    a, b = (load_file(str(tmp_path / name / "model.safetensors")) for name in ("a", "b"))
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    # at initialisation each alphabetic token's embedding is its random row plus its letter's direction
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tmp_path / "a")
    plain = build_model(dataclasses.replace(cfg, letter_embedding=0.0), tok).get_input_embeddings().weight
    planted = build_model(cfg, tok).get_input_embeddings().weight
    dirs = plant_letter_directions(plain.detach().clone(), tok, 1.0, cfg.seed)
    for word in alphabetic_words(tok)[:50]:
        diff = (planted[word.token_id] - plain[word.token_id]).detach()
        expected = plain[word.token_id].norm() * dirs["ABCDEFGHIJKLMNOPQRSTUVWXYZ".index(word.letter)]
        torch.testing.assert_close(diff, expected.detach(), atol=1e-5, rtol=1e-4)
