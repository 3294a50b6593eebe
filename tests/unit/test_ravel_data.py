"""RAVEL's data (the vendored release and the organism's RAVEL-format world), the entity's last token from
offsets on SentencePiece and byte-level BPE tokenizers, and RAVEL's answer matching by hand."""

from __future__ import annotations

import pytest
from transformers import AutoTokenizer

from saebench.errors import ConfigError, DataError
from saebench.metrics.ravel.answers import answer_matches, utc_offset_hours
from saebench.metrics.ravel.data import load_ravel_class
from saebench.metrics.ravel.positions import last_entity_token
from saebench.paths import asset

ORGANISM_RAVEL = asset("organisms/orgllama/ravel")


def test_the_vendored_release_has_ravels_classes_and_splits():
    city = load_ravel_class("city")
    assert city.attributes == ["Continent", "Country", "Language", "Latitude", "Longitude", "Timezone"]
    assert len(city.values) == 3552 and len(city.templates["Country"]) == 46
    test = city.prompts(["Country"], entity_splits=("test",), template_splits=("test",))
    assert test and all(p.entity_split == p.template_split == "test" for p in test)
    p = test[0]
    assert p.text == p.template % p.entity and p.answer == city.values[p.entity]["Country"]
    assert len(load_ravel_class("nobel_prize_winner").templates["Gender"]) == 36
    with pytest.raises(ConfigError, match="no entity class 'town'; valid: .*'city'"):
        load_ravel_class("town")
    with pytest.raises(ConfigError, match="no attribute\\(s\\) \\['Mayor'\\]"):
        city.prompts(["Mayor"])


def test_the_organism_world_loads_in_ravel_format_and_bad_folders_are_named(tmp_path):
    world = load_ravel_class("city", ORGANISM_RAVEL)
    assert world.attributes == ["Continent", "Country", "Language"]
    assert {p.entity_split for p in world.prompts()} == {"train", "val", "test"}
    with pytest.raises(DataError, match="lacks ravel_city_attribute_to_prompts.json"):
        load_ravel_class("city", tmp_path)
    (tmp_path / "ravel_c_attribute_to_prompts.json").write_text('{"A": ["no entity here"]}')
    for part in ("entity_attributes", "prompt_to_split", "entity_to_split"):
        (tmp_path / f"ravel_c_{part}.json").write_text("{}")
    with pytest.raises(DataError, match="exactly one %s"):
        load_ravel_class("c", tmp_path)


@pytest.mark.parametrize("model", ["stories260K", "organisms/orgllama"])   # SentencePiece, byte-level BPE
def test_the_last_entity_token_comes_from_offsets(model):
    tok = AutoTokenizer.from_pretrained(asset(model))
    templates = [" %s is a city in", "%s's people speak", "The capital of %s", "Flights to %s, landing", "%s"]
    entities = ["Baeslaen", "Paris", "Bioquior", "New York", "Ulm"]
    for template, entity, i in zip(templates, entities, last_entity_token(tok, templates, entities), strict=True):
        text = template % entity
        start = template.index("%s")
        offsets = tok(text, return_offsets_mapping=True)["offset_mapping"]
        a, b = offsets[i]
        assert a < start + len(entity) and b > start                       # it covers the entity ...
        later = [o for o in offsets[i + 1:] if o[1] > o[0]]
        assert all(o[0] >= start + len(entity) for o in later)            # ... and nothing after it does


def test_counting_suffix_tokens_misses_the_entity_on_sentencepiece():
    tok = AutoTokenizer.from_pretrained(asset("stories260K"))
    text_ids = tok("Paris's people speak")["input_ids"]
    suffix = len(tok("'s people speak", add_special_tokens=False)["input_ids"])
    saebench_style = len(text_ids) - suffix - 1          # SAEBench: -len(tokenize(suffix)) - 1
    ours = last_entity_token(tok, ["%s's people speak"], ["Paris"])[0]
    assert tok.decode(text_ids[ours]).strip() == "is"    # the last piece of "Paris"
    assert saebench_style != ours                        # the suffix alone gains a word-start piece


def test_a_slow_tokenizer_is_refused_with_the_reason():
    class Slow:
        is_fast = False
    with pytest.raises(ConfigError, match="needs a fast tokenizer"):
        last_entity_token(Slow(), ["%s"], ["x"])


def test_answer_matching_by_hand():
    assert answer_matches("Paris is in", "France", " France, which")
    assert answer_matches("x", "France", " Fr") and not answer_matches("x", "France", " Germany")
    assert not answer_matches("x", "Asia", ' "Asia"') and not answer_matches("x", "", "Asia")
    assert answer_matches("The latitude of X is", "48.85", " 47 degrees")
    assert not answer_matches("The latitude of X is", "48.85", " 52")
    assert answer_matches("X is in", "United States", " the United States of")
    assert answer_matches("X is in", "United States", " England")
    assert answer_matches("X", "South Korea", " Korea.") and answer_matches("X", "North America", " America")
    assert answer_matches("X", "Mandarin", " Chinese") and answer_matches("X", "Mandarin", " Mand")
    assert answer_matches("The language of X is", "Arabic,Berberi", " berberi and")


def test_utc_offsets_do_not_depend_on_the_date_of_the_run():
    assert utc_offset_hours("America/New_York") == (-5.0, -4.0) and utc_offset_hours("Asia/Tokyo") == (9.0,)
    assert utc_offset_hours("Not/AZone") == ()
    prompt = "The UTC offset of X is"
    assert answer_matches(prompt, "America/New_York", " -5") and answer_matches(prompt, "America/New_York", " -4")
    assert not answer_matches(prompt, "America/New_York", " -7")
    assert answer_matches(prompt, "Asia/Tokyo", " UTC+09") and answer_matches(prompt, "Asia/Kolkata", " +5:30")
    assert answer_matches(prompt, "Pacific/Pago_Pago", " +13")          # -11 read across the date line
    assert not answer_matches(prompt, "Asia/Kolkata", " +5")


def test_saebenchs_position_rule_is_the_entity_only_where_the_tokenizer_adds_bos():
    from saebench.metrics.ravel.data import RavelPrompt
    from saebench.metrics.ravel.knowledge import tokenize_prompts

    prompt = RavelPrompt("Velmora", "%s is a city in", "Country", "X", "train", "train")
    llama = AutoTokenizer.from_pretrained(asset("stories260K"))                 # adds BOS by default
    ids, (pos,) = tokenize_prompts(llama, [prompt], True, "saebench")
    assert ids[0][0] == llama.bos_token_id and pos == tokenize_prompts(llama, [prompt], True)[1][0]
    organism = AutoTokenizer.from_pretrained(asset("organisms/orgllama"))       # adds none (as Pythia's)
    ids, (pos,) = tokenize_prompts(organism, [prompt], True, "saebench")
    ours = tokenize_prompts(organism, [prompt], False)[1][0]
    assert ids[0][0] != organism.bos_token_id and pos == ours + 1           # the first token after the entity
    assert organism.decode(ids[0][pos]).strip() == "is"
