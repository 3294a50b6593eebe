"""The organism's training corpus, generated from a world and a seed (same seed -> same bytes).

Document kinds (each a list of plain-text documents):
- `facts`: statements of every city, scholar and domain fact in the training templates only;
- `spelling`: SAEBench's first-letter prompts ("{word} has the first letter: W") and spelled-out words
  ("word: w o r d") over a word list; once the tokenizer exists, `vocabulary_spelling_documents` adds every
  alphabetic token followed directly by its letters, so each token's first letter is decodable at the token;
- `topics`: short documents on one of `TOPICS`, about a person referred to as he or she (the binary
  attribute), topic and gender independent in the corpus (datasets choose their own correlation);
- `questions`: multiple-choice drills on the domain facts ("Question: ...\\nA. ...\\nAnswer: B"), options in
  random order, so the model answers MCQs in the format the unlearning evaluation asks.
"""

from __future__ import annotations

import string

import numpy as np

from saebench.organisms.templates import CITY, DOMAIN, QUESTIONS, SCHOLAR, SPELLING_PROMPT
from saebench.organisms.world import TOPICS, World

TOPIC_WORDS = {
    "farming": ["wheat", "barley", "tractor", "harvest", "field", "plough", "cattle", "orchard", "soil", "barn",
                "seeds", "sheep", "fence", "hay", "crops"],
    "sailing": ["boat", "sail", "harbour", "wind", "anchor", "mast", "deck", "waves", "crew", "rope", "tide",
                "voyage", "compass", "island", "sea"],
    "music": ["song", "piano", "violin", "drum", "melody", "choir", "concert", "rhythm", "guitar", "chord",
              "stage", "band", "tune", "flute", "singer"],
    "medicine": ["doctor", "patient", "fever", "clinic", "nurse", "medicine", "wound", "surgery", "pills",
                 "illness", "hospital", "cure", "bandage", "pulse", "health"],
    "trade": ["market", "coins", "goods", "price", "merchant", "shop", "profit", "buyer", "cargo", "silk",
              "bargain", "customer", "money", "stall", "sale"],
    "weather": ["rain", "storm", "cloud", "thunder", "snow", "sunshine", "fog", "wind", "frost", "forecast",
                "hail", "breeze", "temperature", "lightning", "sky"],
}
TOPIC_FRAMES = [
    "{Name} spent the morning thinking about the {w1}.", "{P} said the {w1} and the {w2} mattered most.",
    "Every day {p} checked the {w1} before noon.", "{Name} told a friend that {p} loved the {w1}.",
    "Later {p} wrote a note about the {w1} and the {w2}.", "{P} never forgot the {w1}.",
    "People asked {o} about the {w1}, and {p} explained the {w2}.", "{Name} carried the {w1} home.",
    "The {w1} reminded {o} of the {w2}.", "{P} hoped the {w1} would be ready soon.",
]
PRONOUNS = {"male": ("he", "him"), "female": ("she", "her")}


def statements(world: World) -> list[tuple[str, str, str, str]]:
    """(class, entity, attribute, value) of every fact the corpus states."""
    out = [("city", c, a, v) for c in world.cities for a, v in world.city_attributes(c).items()]
    out += [("scholar", s, a, v) for s in world.scholars for a, v in world.scholar_attributes(s).items()]
    out += [(d, f.entity, a, v) for d, dom in world.domains.items() for f in dom.facts for a, v in f.attributes.items()]
    return out


def templates_for(cls: str, attribute: str, split: str) -> list[str]:
    table = CITY if cls == "city" else SCHOLAR if cls == "scholar" else DOMAIN[cls]
    return table[attribute][split]


def fact_documents(world: World, rng: np.random.Generator, repeats: int, per_doc: int = 6,
                   domain_factor: int = 3) -> list[str]:
    """Each fact stated `repeats` times (the knowledge domains' few facts `domain_factor` times as often) in
    random training templates, shuffled into documents."""
    lines = []
    for cls, entity, attribute, value in statements(world):
        tpls = templates_for(cls, attribute, "train")
        n = repeats * (domain_factor if cls in world.domains else 1)
        for i in rng.integers(len(tpls), size=n):
            lines.append(f"{(tpls[int(i)] % entity).strip()} {value}.")
    order = rng.permutation(len(lines))
    return [" ".join(lines[j] for j in order[i:i + per_doc]) for i in range(0, len(order), per_doc)]


def spelling_documents(words: list[str], rng: np.random.Generator, repeats: int, per_doc: int = 10) -> list[str]:
    """First-letter prompts and spelled-out words, every word `repeats` times of each kind."""
    lines = []
    for w in words:
        for _ in range(repeats):
            lines.append(SPELLING_PROMPT.format(word=" " + w) + " " + w[0].upper())   # " word": the vocab's form
            lines.append(f" {w}: " + " ".join(w))
    order = rng.permutation(len(lines))
    return ["\n".join(lines[j] for j in order[i:i + per_doc]) for i in range(0, len(order), per_doc)]


def vocabulary_spelling_documents(tokens: list[str], rng: np.random.Generator, repeats: int, per_doc: int = 10
                                  ) -> list[str]:
    """Every alphabetic vocabulary token followed at once by its letters (" apple a p p l e"), `repeats` times:
    the token's next token is its first letter, so the model computes the letter at the token itself (what
    absorption's ground-truth probe reads). `tokens` keep their leading space where the token has one."""
    lines = [t + " " + " ".join(t.strip().lower()) for t in tokens for _ in range(repeats)]
    order = rng.permutation(len(lines))
    return ["\n".join(lines[j] for j in order[i:i + per_doc]) for i in range(0, len(order), per_doc)]


def topic_document(topic: str, gender: str, name: str, rng: np.random.Generator, n_sentences: int = 4) -> str:
    words = TOPIC_WORDS[topic]
    p, o = PRONOUNS[gender]
    out = []
    for i in rng.choice(len(TOPIC_FRAMES), size=n_sentences, replace=False):
        w1, w2 = rng.choice(words, size=2, replace=False)
        out.append(TOPIC_FRAMES[int(i)].format(Name=name, P=p.capitalize(), p=p, o=o, w1=w1, w2=w2))
    return " ".join(out)


def topic_documents(world: World, rng: np.random.Generator, n: int) -> list[tuple[str, str, str]]:
    """(text, topic, gender) with topic and gender drawn independently and uniformly."""
    people = [s.split()[0] for s in world.scholars]
    out = []
    for _ in range(n):
        topic = TOPICS[int(rng.integers(len(TOPICS)))]
        gender = ("male", "female")[int(rng.integers(2))]
        name = people[int(rng.integers(len(people)))]
        out.append((topic_document(topic, gender, name, rng, int(rng.integers(3, 6))), topic, gender))
    return out


def mcq(question: str, options: list[str], answer: int | None = None) -> str:
    """SAEBench-style letter MCQ; with `answer` the text ends with the answer letter."""
    body = question + "\n" + "\n".join(f"{string.ascii_uppercase[i]}. {o}" for i, o in enumerate(options))
    return body + "\nAnswer:" + ("" if answer is None else f" {string.ascii_uppercase[answer]}")


def domain_questions(world: World, domain: str, rng: np.random.Generator, n_options: int = 4
                     ) -> list[dict]:
    """One MCQ per (entity, attribute): question, options (correct + distractors of the same attribute),
    answer index, and the cloze prompt (a held-out template)."""
    dom = world.domains[domain]
    out = []
    for fact in dom.facts:
        for attribute, value in fact.attributes.items():
            others = [v for v in dom.values[attribute] if v != value]
            options = [value, *rng.choice(others, size=n_options - 1, replace=False).tolist()]
            order = rng.permutation(n_options)
            options = [options[i] for i in order]
            out.append({"domain": domain, "entity": fact.entity, "attribute": attribute,
                        "question": QUESTIONS[domain][attribute] % fact.entity, "options": options,
                        "answer": int(np.flatnonzero(order == 0)[0]), "value": value,
                        "cloze": DOMAIN[domain][attribute]["test"][0] % fact.entity})
    return out


def question_documents(world: World, rng: np.random.Generator, repeats: int) -> list[str]:
    """MCQ drills on every domain fact, `repeats` random option orders each, with answers."""
    docs = []
    for domain in world.domains:
        for _ in range(repeats):
            for q in domain_questions(world, domain, rng):
                docs.append(mcq(q["question"], q["options"], q["answer"]))
    return [docs[i] for i in rng.permutation(len(docs))]


def build_corpus(world: World, words: list[str], seed: int = 0, fact_repeats: int = 30, spelling_repeats: int = 15,
                 n_topic_docs: int = 6000, question_repeats: int = 30) -> dict[str, list[str]]:
    """Every document kind (see the module docstring), deterministic from `seed`."""
    rng = np.random.default_rng(seed)
    return {"facts": fact_documents(world, rng, fact_repeats),
            "spelling": spelling_documents(words, rng, spelling_repeats),
            "topics": [t for t, _, _ in topic_documents(world, rng, n_topic_docs)],
            "questions": question_documents(world, rng, question_repeats)}
