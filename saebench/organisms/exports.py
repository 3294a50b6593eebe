"""The organism's evaluation data, in the formats saebench's tasks read:

- `datasets/topics.csv` (text, topic, gender): labelled documents for sparse probing, SCR and TPP, drawn
  with a seed the training corpus did not use (new documents, same generator);
- `ravel/`: RAVEL's file layout (`ravel_<class>_entity_attributes.json`, `_attribute_to_prompts.json`,
  `_prompt_to_split.json`, `_entity_to_split.json`) for the classes `city` and `nobel_prize_winner`
  (the world's scholars), with training templates as split `train` and held-out ones as `test`;
- `unlearning/`: per domain the questions (`<domain>_questions.json`: question, options, answer, cloze)
  and a corpus of new statements about the domain (`<domain>_corpus.jsonl`) for latent selection.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np

from saebench.organisms.corpus import domain_questions, templates_for, topic_documents
from saebench.organisms.templates import CITY, DOMAIN, SCHOLAR
from saebench.organisms.world import World

EVAL_SEED_OFFSET = 1000   # evaluation data is drawn from seed + this; the corpus uses seed


def write_topics(world: World, path: Path, n: int = 6000) -> Path:
    docs = topic_documents(world, np.random.default_rng(world.seed + EVAL_SEED_OFFSET), n)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["text", "topic", "gender"])
        w.writerows(docs)
    return path


def _entity_splits(entities: list[str], rng: np.random.Generator) -> dict[str, str]:
    """RAVEL-style entity split: 50 % train, 25 % val, 25 % test."""
    order = rng.permutation(len(entities))
    n = len(entities)
    split = {}
    for rank, i in enumerate(order):
        split[entities[i]] = "train" if rank < n // 2 else "val" if rank < 3 * n // 4 else "test"
    return dict(sorted(split.items()))


def write_ravel(world: World, folder: Path) -> list[Path]:
    """RAVEL-format files for `city` and `nobel_prize_winner` (the scholars; without Birth City)."""
    rng = np.random.default_rng(world.seed + EVAL_SEED_OFFSET + 1)
    classes = {
        "city": ({c: world.city_attributes(c) for c in world.cities}, CITY, "city"),
        "nobel_prize_winner": ({s: {k: v for k, v in world.scholar_attributes(s).items() if k != "Birth City"}
                                for s in world.scholars},
                               {k: v for k, v in SCHOLAR.items() if k != "Birth City"}, "scholar"),
    }
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for name, (attributes, table, cls) in classes.items():
        prompts = {attr: [*splits["train"], *splits["test"]] for attr, splits in table.items()}
        prompt_split = {p: split for attr in table for split in ("train", "test")
                        for p in templates_for(cls, attr, split)}
        files = {f"ravel_{name}_entity_attributes.json": attributes,
                 f"ravel_{name}_attribute_to_prompts.json": prompts,
                 f"ravel_{name}_prompt_to_split.json": prompt_split,
                 f"ravel_{name}_entity_to_split.json": _entity_splits(sorted(attributes), rng)}
        for file, data in files.items():
            path = folder / file
            path.write_text(json.dumps(data, indent=1, sort_keys=True) + "\n", encoding="utf-8")
            written.append(path)
    return written


def write_unlearning(world: World, folder: Path, statements_per_fact: int = 3) -> list[Path]:
    """Questions and a statement corpus per knowledge domain (held-out templates excluded from the corpus)."""
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for domain, dom in world.domains.items():
        rng = np.random.default_rng(world.seed + EVAL_SEED_OFFSET + 2 + len(written))
        qs = domain_questions(world, domain, rng)
        path = folder / f"{domain}_questions.json"
        path.write_text(json.dumps(qs, indent=1) + "\n", encoding="utf-8")
        written.append(path)
        lines = []
        for fact in dom.facts:
            for attribute, value in fact.attributes.items():
                tpls = DOMAIN[domain][attribute]["train"]
                for i in rng.integers(len(tpls), size=statements_per_fact):
                    lines.append(json.dumps({"text": f"{tpls[int(i)] % fact.entity} {value}."}))
        path = folder / f"{domain}_corpus.jsonl"
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        written.append(path)
    return written
