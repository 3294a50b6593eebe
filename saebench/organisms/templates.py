"""Prompt templates of the world's facts, RAVEL-style (`%s` is the entity; the value follows the prompt).

Each attribute has training templates (stated in the corpus) and held-out templates (never in the corpus;
RAVEL's evaluation prompts), so attribute accuracy measures knowledge, not a memorised sentence.
"""

from __future__ import annotations

CITY = {
    "Country": {
        "train": ["%s is a city in the country of", "The city of %s lies in the country of",
                  "%s belongs to the nation of", "Residents of %s carry passports of",
                  "The mayor of %s answers to the government of", "Maps place %s inside the borders of",
                  "Travelling to %s means a trip to the country of", "%s, a city of the nation of",
                  "Letters to %s are stamped with the flag of", "The country that contains %s is"],
        "test": ["Last year I moved to %s, a city in the country of", "The nation where %s stands is",
                 "%s is one of the cities of the country of"],
    },
    "Continent": {
        "train": ["%s is a city on the continent of", "The continent where %s lies is",
                  "%s can be found on the continent of", "Flights to %s land on the continent of",
                  "The city of %s is part of the continent of", "On a globe, %s sits on the continent of"],
        "test": ["Explorers reached %s on the continent of", "%s belongs to the continent of"],
    },
    "Language": {
        "train": ["In %s, most people speak", "The language spoken in %s is", "Street signs in %s are written in",
                  "Children in %s learn to read in", "The newspapers of %s are printed in",
                  "Locals of %s talk to each other in"],
        "test": ["At the market of %s, the traders speak", "The main language of %s is"],
    },
}

SCHOLAR = {
    "Field": {
        "train": ["%s won the Grand Prize in", "%s is famous for work in", "The field of %s is",
                  "%s taught students the subject of", "%s published many papers on",
                  "Colleagues remember %s as a master of"],
        "test": ["The prize of %s was awarded for", "%s devoted a whole career to"],
    },
    "Country of Birth": {
        "train": ["%s was born in the country of", "The homeland of %s is", "%s grew up in the country of",
                  "The birth country of %s is", "%s holds the citizenship of"],
        "test": ["%s spent a childhood in the nation of", "The country where %s was born is"],
    },
    "Gender": {
        "train": ["The gender of %s is", "%s is listed as", "Records describe %s as"],
        "test": ["In the archive, %s is recorded as"],
    },
    "Birth City": {
        "train": ["%s was born in the city of", "The home town of %s is", "%s was raised in the city of"],
        "test": ["The city where %s was born is"],
    },
}

DOMAIN = {   # domain -> attribute -> train / test templates (entity placeholder %s)
    "alchemy": {
        "ingredient": {"train": ["The %s potion is brewed from", "To make the %s potion you need",
                                 "The key ingredient of the %s potion is", "Alchemists grind %s potion from"],
                       "test": ["The %s potion is made with"]},
        "colour": {"train": ["The %s potion is coloured", "A flask of %s potion glows",
                             "The colour of the %s potion is"],
                   "test": ["Poured out, the %s potion looks"]},
        "effect": {"train": ["Drinking the %s potion brings", "The %s potion is taken for",
                             "The effect of the %s potion is"],
                   "test": ["People drink the %s potion to gain"]},
    },
    "astronomy": {
        "constellation": {"train": ["The star %s is in the constellation", "%s shines within the constellation",
                                    "The constellation holding the star %s is",
                                    "Astronomers find %s in the constellation"],
                          "test": ["Look for the star %s in the constellation"]},
        "season": {"train": ["The star %s is brightest in", "%s rises at dusk in", "The best season to see %s is"],
                   "test": ["Stargazers watch %s in"]},
        "hue": {"train": ["The star %s glows", "The light of %s is", "Through a telescope, %s looks"],
                "test": ["The colour of the star %s is"]},
    },
}

QUESTIONS = {   # domain -> attribute -> MCQ question (entity placeholder %s)
    "alchemy": {"ingredient": "Which ingredient is the %s potion brewed from?",
                "colour": "What colour is the %s potion?", "effect": "What does the %s potion bring?"},
    "astronomy": {"constellation": "In which constellation is the star %s?",
                  "season": "In which season is the star %s brightest?", "hue": "What colour is the star %s?"},
}

SPELLING_PROMPT = "{word} has the first letter:"   # SAEBench's absorption prompt
