"""Explainer and scorer prompts, and strict parsing of the judge's replies.

Generation (SAEBench style): numbered top / importance-weighted windows with the firing tokens marked
`<<tok>>`; reply "This neuron activates on <explanation>." Detection: the explanation and shuffled
unmarked windows; reply the numbers of the windows where the latent fires. Fuzzing (delphi style):
windows with marks on the firing tokens or on as many wrong tokens; reply the numbers whose marks fit.
A reply that is not exactly a list of valid numbers (or "None") is malformed: counted, never guessed.
"""

from __future__ import annotations

import re

GENERATION_SYSTEM = (
    "We are studying latents (neurons) of a sparse autoencoder trained on a language model. Each latent looks "
    "for one particular thing in short pieces of text. You will see text excerpts where the latent fires; the "
    "tokens it fires on are marked like <<this>>. Summarise in one short sentence (under 20 words) what the "
    "latent is looking for. Do not list many example words. Reply exactly in the form: "
    "\"This neuron activates on <explanation>.\"")
DETECTION_SYSTEM = (
    "We are studying latents (neurons) of a sparse autoencoder trained on a language model. You will be given "
    "an explanation of what one latent fires on, then {n} numbered text excerpts in random order. Return the "
    "numbers of the excerpts where the latent fires at least once, as a comma-separated list such as "
    "\"{example}\". If it fires on none, reply \"None\". Reply with the list only.")
FUZZING_SYSTEM = (
    "We are studying latents (neurons) of a sparse autoencoder trained on a language model. You will be given "
    "an explanation of what one latent fires on, then {n} numbered text excerpts in which some tokens are "
    "marked like <<this>>. In some excerpts the marks are on the tokens the latent fires on, in others on "
    "unrelated tokens. Return the numbers of the excerpts whose marked tokens fit the explanation, as a "
    "comma-separated list such as \"{example}\". If none fit, reply \"None\". Reply with the list only.")


class MalformedReply(ValueError):
    """The judge's reply is not in the requested format."""


def render(tokens: list[str], marked: set[int] | None = None) -> str:
    """Token strings joined, newlines shown as ↵, marked positions wrapped in << >>."""
    out = []
    for i, t in enumerate(tokens):
        t = t.replace("\n", "↵").replace("\ufffd", "")
        out.append(f"<<{t}>>" if marked and i in marked else t)
    return "".join(out)


def numbered(texts: list[str]) -> str:
    return "\n".join(f"{i + 1}. {t}" for i, t in enumerate(texts))


def generation_messages(texts: list[str]) -> list[dict]:
    return [{"role": "system", "content": GENERATION_SYSTEM},
            {"role": "user", "content": "The excerpts where the latent fires:\n\n" + numbered(texts)}]


def _scoring_messages(system: str, explanation: str, texts: list[str], example: str) -> list[dict]:
    return [{"role": "system", "content": system.format(n=len(texts), example=example)},
            {"role": "user", "content": f"Here is the explanation: this neuron fires on {explanation}.\n\n"
                                        f"Here are the excerpts:\n\n{numbered(texts)}"}]


def detection_messages(explanation: str, texts: list[str], example: str) -> list[dict]:
    return _scoring_messages(DETECTION_SYSTEM, explanation, texts, example)


def fuzzing_messages(explanation: str, texts: list[str], example: str) -> list[dict]:
    return _scoring_messages(FUZZING_SYSTEM, explanation, texts, example)


def parse_explanation(reply: str) -> str:
    text = reply.strip().splitlines()[0].strip() if reply.strip() else ""
    explanation = re.split(r"activates on", text, maxsplit=1, flags=re.IGNORECASE)[-1].strip().rstrip(".").strip()
    if not explanation:
        raise MalformedReply(f"empty explanation in {reply!r}")
    return explanation


def parse_numbers(reply: str, n: int) -> set[int]:
    """'1, 3 and 5' -> {1, 3, 5}; 'None' -> set(). Anything else raises MalformedReply."""
    text = reply.strip().rstrip(".").strip()
    if text.lower() in ("none", ""):
        if text == "":
            raise MalformedReply("empty reply")
        return set()
    parts = [p.strip() for p in re.split(r",|\band\b", text) if p.strip()]
    out = set()
    for p in parts:
        if not p.isdigit() or not 1 <= int(p) <= n:
            raise MalformedReply(f"{p!r} is not an excerpt number 1..{n} in {reply!r}")
        out.add(int(p))
    return out
