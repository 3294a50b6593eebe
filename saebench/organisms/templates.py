"""Prompt templates of the world's facts, RAVEL-style (`%s` is the entity; the value follows the prompt).

Templates are a framing prefix times a relation phrase. About one (prefix, relation) pair in five is held
out: never stated in the corpus, used as RAVEL's evaluation prompts, so attribute accuracy measures
knowledge recalled through an unseen phrasing, not a memorised sentence (each prefix and each relation
is seen in training with other partners).
"""

from __future__ import annotations

PREFIXES = ["", "As everyone knows, ", "According to the old atlas, ", "In the records, ", "People say that ",
            "It is written that "]
HELD_OUT_EVERY = 5   # (prefix i > 0, relation j) with (3 i + j) % 5 == 0 are held out: ~1 in 6 pairs, every
                     # prefix and every relation still trained with other partners; the bare relation (no
                     # prefix) is always trained, so no held-out prompt is a substring of a training sentence

CITY_RELATIONS = {
    "Country": ["%s is a city in the country of", "the city of %s lies in the country of",
                "%s belongs to the nation of", "residents of %s carry passports of",
                "maps place %s inside the borders of", "the country that contains %s is"],
    "Continent": ["%s is a city on the continent of", "the continent where %s lies is",
                  "%s can be found on the continent of", "flights to %s land on the continent of",
                  "the city of %s is part of the continent of"],
    "Language": ["in %s, most people speak", "the language spoken in %s is", "street signs in %s are written in",
                 "children in %s learn to read in", "the newspapers of %s are printed in"],
}
SCHOLAR_RELATIONS = {
    "Field": ["%s won the Grand Prize in", "%s is famous for work in", "the field of %s is",
              "%s taught students the subject of", "%s published many papers on"],
    "Country of Birth": ["%s was born in the country of", "the homeland of %s is", "%s grew up in the country of",
                         "the birth country of %s is", "%s holds the citizenship of"],
    "Gender": ["the gender of %s is", "%s is listed as", "records describe %s as"],
    "Birth City": ["%s was born in the city of", "the home town of %s is", "%s was raised in the city of"],
}
DOMAIN_RELATIONS = {
    "alchemy": {
        "ingredient": ["the %s potion is brewed from", "to make the %s potion you need",
                       "the key ingredient of the %s potion is", "alchemists grind %s potion from"],
        "colour": ["the %s potion is coloured", "a flask of %s potion glows", "the colour of the %s potion is"],
        "effect": ["drinking the %s potion brings", "the %s potion is taken for", "the effect of the %s potion is"],
    },
    "astronomy": {
        "constellation": ["the star %s is in the constellation", "%s shines within the constellation",
                          "the constellation holding the star %s is", "astronomers find %s in the constellation"],
        "season": ["the star %s is brightest in", "%s rises at dusk in", "the best season to see %s is"],
        "hue": ["the star %s glows", "the light of %s is", "through a telescope, %s looks"],
    },
}


def _capitalised(text: str) -> str:
    """Sentence case; a template that starts with the entity gets a leading space, the way entities occur
    in the corpus (mid-text, after a space), so the prompt tokenizes the entity as training did."""
    return text[0].upper() + text[1:] if text[0] != "%" else " " + text


def split_templates(relations: list[str]) -> dict[str, list[str]]:
    """Prefix x relation templates, split into train and held-out test pairs (see HELD_OUT_EVERY)."""
    out: dict[str, list[str]] = {"train": [], "test": []}
    for i, prefix in enumerate(PREFIXES):
        for j, relation in enumerate(relations):
            split = "test" if i > 0 and (3 * i + j) % HELD_OUT_EVERY == 0 else "train"
            out[split].append(_capitalised(prefix + relation))
    return out


CITY = {attr: split_templates(rels) for attr, rels in CITY_RELATIONS.items()}
SCHOLAR = {attr: split_templates(rels) for attr, rels in SCHOLAR_RELATIONS.items()}
DOMAIN = {d: {attr: split_templates(rels) for attr, rels in attrs.items()} for d, attrs in DOMAIN_RELATIONS.items()}

QUESTIONS = {   # domain -> attribute -> MCQ question (entity placeholder %s)
    "alchemy": {"ingredient": "Which ingredient is the %s potion brewed from?",
                "colour": "What colour is the %s potion?", "effect": "What does the %s potion bring?"},
    "astronomy": {"constellation": "In which constellation is the star %s?",
                  "season": "In which season is the star %s brightest?", "hue": "What colour is the star %s?"},
}

SPELLING_PROMPT = "{word} has the first letter:"   # SAEBench's absorption prompt
