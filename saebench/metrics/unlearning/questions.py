"""Multiple-choice questions for the unlearning task (issue 19, in progress): loading, the three answer formats,
and the known-question filter.

Formats (`FORMATS`):
- `letter_chat`: SAEBench's, for instruct models: the question and lettered options as one user turn of the
  model's own chat template (`tokenizer.apply_chat_template`, not a hard-coded Gemma string) followed by
  `Answer: (`; the prediction is the letter with the highest next-token probability, each letter's the larger
  of "A" and " A" (SAEBench's `get_output_probs_abcd`).
- `letter`: the same lettered prompt for base models, ending `\\nAnswer:`, letters scored the same way
  (lm-evaluation-harness's WMDP prompt).
- `cloze`: each option's summed log-likelihood as the continuation of the question (or its `cloze` sentence
  when the question has one): what a base model that never saw lettered MCQs can answer (the organism).

A question is *known* when it is answered correctly under every order of its options (24 for four; SAEBench's
`correct` rule); the cloze format does not depend on the order, so one pass decides it.
"""

from __future__ import annotations

import itertools
import json
from dataclasses import dataclass
from pathlib import Path

import torch

from saebench.errors import ConfigError, DataError
from saebench.models.scoring import continuation_logliks, last_token_logits

FORMATS = ("letter_chat", "letter", "cloze")
LETTERS = "ABCD"


@dataclass(frozen=True)
class Question:
    question: str
    options: tuple[str, ...]
    answer: int
    subject: str = ""
    cloze: str | None = None


def load_questions(path: str | Path, subject: str = "") -> list[Question]:
    """Questions from a JSON list of {question, options (or WMDP's `choices`), answer[, cloze]}."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise DataError(f"question file {str(path)!r} does not exist.")
    out = []
    for i, row in enumerate(json.loads(path.read_text(encoding="utf-8"))):
        options = row.get("options", row.get("choices"))
        if not isinstance(options, list) or len(options) != len(LETTERS) or "question" not in row:
            raise DataError(f"{path.name} item {i}: needs `question` and {len(LETTERS)} `options` (or `choices`).")
        answer = int(row["answer"])
        if not 0 <= answer < len(options):
            raise DataError(f"{path.name} item {i}: answer {answer} is not an option index 0-{len(options) - 1}.")
        out.append(Question(row["question"], tuple(options), answer, row.get("subject", subject), row.get("cloze")))
    return out


def lettered(q: Question, order: tuple[int, ...]) -> str:
    """SAEBench's question body: a subject line, the question, then `\\nA. <option>` per option in `order`."""
    pre = f"The following are multiple choice questions (with answers) about {q.subject}.\n" if q.subject else ""
    return pre + q.question + "".join(f"\n{LETTERS[i]}. {q.options[j]}" for i, j in enumerate(order))


def prompt_ids(tokenizer, q: Question, order: tuple[int, ...], fmt: str) -> list[int]:
    """Token ids of a lettered prompt (`letter_chat` or `letter`)."""
    if fmt == "letter_chat":
        if not getattr(tokenizer, "chat_template", None):
            raise ConfigError(f"format 'letter_chat' needs an instruct model with a chat template; "
                              f"{type(tokenizer).__name__} has none (use format 'letter' or 'cloze' for base models).")
        text = tokenizer.apply_chat_template([{"role": "user", "content": lettered(q, order)}], tokenize=False,
                                             add_generation_prompt=True) + "Answer: ("
        return tokenizer(text, add_special_tokens=False)["input_ids"]   # the template writes BOS itself
    if fmt != "letter":
        raise ConfigError(f"unknown question format {fmt!r}; valid: {list(FORMATS)}.")
    ids = tokenizer(lettered(q, order) + "\nAnswer:", add_special_tokens=False)["input_ids"]
    return ([tokenizer.bos_token_id] if tokenizer.bos_token_id is not None else []) + ids


def letter_tokens(tokenizer) -> torch.Tensor:
    """[2, 4] ids of "A".."D" and " A".." D" (the last token of each)."""
    return torch.tensor([[tokenizer(p + c, add_special_tokens=False)["input_ids"][-1] for c in LETTERS]
                         for p in ("", " ")])


@torch.no_grad()
def option_scores(lm, questions: list[Question], fmt: str, order: tuple[int, ...] = (0, 1, 2, 3),
                  batch_size: int = 32, hook: str | None = None, splice=None) -> torch.Tensor:
    """[n, 4] scores of the options as presented in `order` (position i = option order[i]); with `hook` and
    `splice` the activation there is replaced in every forward (the unlearning intervention)."""
    tok = lm.tokenizer
    if fmt in ("letter_chat", "letter"):
        rows = [prompt_ids(tok, q, order, fmt) for q in questions]
        probs = last_token_logits(lm, rows, batch_size, hook, splice).softmax(-1)
        return probs[:, letter_tokens(tok)].amax(1)
    if fmt != "cloze":
        raise ConfigError(f"unknown question format {fmt!r}; valid: {list(FORMATS)}.")
    bos = [tok.bos_token_id] if tok.bos_token_id is not None else []
    pairs = [(bos + tok(q.cloze or q.question, add_special_tokens=False)["input_ids"],
              tok(" " + q.options[j], add_special_tokens=False)["input_ids"]) for q in questions for j in order]
    scores = continuation_logliks(lm, pairs, batch_size, hook, splice)
    return torch.tensor(scores).view(len(questions), len(order))


def correct(lm, questions: list[Question], fmt: str, order: tuple[int, ...] = (0, 1, 2, 3), **kw) -> torch.Tensor:
    """[n] bool: the top-scored option is the right one, with options presented in `order`."""
    predicted = option_scores(lm, questions, fmt, order, **kw).argmax(1)
    return predicted == torch.tensor([order.index(q.answer) for q in questions])


def known_questions(lm, questions: list[Question], fmt: str, **kw) -> list[int]:
    """Indices of the questions answered correctly under every order of their options (one order for cloze)."""
    orders = [(0, 1, 2, 3)] if fmt == "cloze" else list(itertools.permutations(range(len(LETTERS))))
    ok = torch.ones(len(questions), dtype=torch.bool)
    for order in orders:
        ok &= correct(lm, questions, fmt, order, **kw)
    return torch.nonzero(ok).flatten().tolist()
