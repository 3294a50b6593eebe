"""Unlearning's questions on the organism, by its measured knowledge: it answers its domains' cloze questions
(cloze choice 1.0 in knowledge.json) and not lettered MCQs (all-rotations accuracy 0.0), so the known-question
filter keeps nearly every cloze question and almost no lettered one; and SAEBench's Gemma prompt, rebuilt
from a chat template."""

from __future__ import annotations

import json

import pytest

from saebench.errors import ConfigError, DataError
from saebench.metrics.unlearning.questions import Question, known_questions, lettered, load_questions, prompt_ids
from saebench.models import load_language_model
from saebench.paths import asset

GEMMA_TEMPLATE = ("{{ bos_token }}{% for m in messages %}<start_of_turn>{{ m['role'] }}\n{{ m['content'] }}"
                  "<end_of_turn>\n{% endfor %}{% if add_generation_prompt %}<start_of_turn>model\n{% endif %}")


@pytest.fixture(scope="module")
def organism():
    lm = load_language_model(asset("organisms/orgllama"))
    return lm, load_questions(asset("organisms/orgllama/unlearning/alchemy_questions.json"))[:48]


def test_the_organism_knows_its_cloze_questions_and_not_lettered_ones(organism):
    lm, questions = organism
    cloze = known_questions(lm, questions, "cloze")
    assert len(cloze) >= 0.95 * len(questions)
    letter = known_questions(lm, questions[:12], "letter")            # 24 orders each
    assert len(letter) <= 1


def test_saebenchs_gemma_prompt_from_the_chat_template(organism):
    lm, _ = organism
    tok = lm.tokenizer
    q = Question("Which potion glows?", ("Ash", "Brine", "Cinder", "Dew"), 2, subject="biology")
    with pytest.raises(ConfigError, match="needs an instruct model with a chat template"):
        prompt_ids(tok, q, (0, 1, 2, 3), "letter_chat")
    tok.chat_template = GEMMA_TEMPLATE
    try:
        ids = prompt_ids(tok, q, (3, 2, 1, 0), "letter_chat")
    finally:
        tok.chat_template = None
    saebench = ("<|bos|><start_of_turn>user\nThe following are multiple choice questions (with answers) about "
                "biology.\nWhich potion glows?\nA. Dew\nB. Cinder\nC. Brine\nD. Ash<end_of_turn>\n"
                "<start_of_turn>model\nAnswer: (")                   # SAEBench's GEMMA_INST_FORMAT, permuted
    assert tok.decode(ids) == saebench and ids[0] == tok.bos_token_id and ids.count(tok.bos_token_id) == 1
    assert lettered(q, (0, 1, 2, 3)).endswith("\nA. Ash\nB. Brine\nC. Cinder\nD. Dew")


def test_bad_question_files_are_named(tmp_path):
    bad = tmp_path / "q.json"
    bad.write_text(json.dumps([{"question": "x", "options": ["a", "b"], "answer": 0}]))
    with pytest.raises(DataError, match="needs `question` and 4 `options`"):
        load_questions(bad)
    bad.write_text(json.dumps([{"question": "x", "choices": ["a", "b", "c", "d"], "answer": 7}]))
    with pytest.raises(DataError, match="answer 7 is not an option index"):
        load_questions(bad)
    with pytest.raises(DataError, match="does not exist"):
        load_questions(tmp_path / "none.json")
