"""A synthetic world with invented names, deterministic from a seed: the ground truth the organisms learn.

- Geography: continents, languages, countries (continent, language) and cities (country; so continent
  and language follow), RAVEL's `city` class with attributes Country, Continent, Language.
- Scholars: RAVEL's `nobel_prize_winner` class (Field, Country of Birth, Gender) plus a birth city.
- Two knowledge domains with the same shape for unlearning: `alchemy` (potions: ingredient, colour,
  effect; the forget domain) and `astronomy` (stars: constellation, season, hue; the retain domain).
- Topics and a binary attribute for the labelled documents (sparse probing, SCR, TPP): see `corpus.py`.
Every list is sorted and drawn from one `numpy` generator, so a seed fixes the world byte for byte.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from saebench.organisms.names import NameMaker

FIELDS = ["physics", "chemistry", "medicine", "literature", "economics", "music", "painting", "astronomy"]
GENDERS = ["male", "female"]
TOPICS = ["farming", "sailing", "music", "medicine", "trade", "weather"]
ALCHEMY_COLOURS = ["red", "blue", "green", "yellow", "black", "purple", "orange", "brown"]
ALCHEMY_EFFECTS = ["sleep", "strength", "luck", "speed", "courage", "healing", "memory", "warmth", "silence", "vision"]
SEASONS = ["spring", "summer", "autumn", "winter"]
STAR_HUES = ["white", "golden", "crimson", "azure", "violet", "amber", "silver", "pale"]


@dataclass(frozen=True)
class Country:
    name: str
    continent: str
    language: str


@dataclass(frozen=True)
class City:
    name: str
    country: str


@dataclass(frozen=True)
class Scholar:
    name: str
    field: str
    birth_city: str
    gender: str


@dataclass(frozen=True)
class DomainFact:
    """One entity of a knowledge domain and its attribute values (attribute -> value)."""

    entity: str
    attributes: dict[str, str]


@dataclass
class Domain:
    """A knowledge domain: entity kind (`potion`, `star`), attribute value sets, facts."""

    name: str
    kind: str
    values: dict[str, list[str]]
    facts: list[DomainFact] = field(default_factory=list)


@dataclass
class World:
    seed: int
    continents: list[str]
    languages: list[str]
    countries: dict[str, Country]
    cities: dict[str, City]
    scholars: dict[str, Scholar]
    domains: dict[str, Domain]

    def city_attributes(self, city: str) -> dict[str, str]:
        country = self.countries[self.cities[city].country]
        return {"Country": country.name, "Continent": country.continent, "Language": country.language}

    def scholar_attributes(self, name: str) -> dict[str, str]:
        s = self.scholars[name]
        return {"Field": s.field.capitalize(), "Country of Birth": self.cities[s.birth_city].country,
                "Gender": s.gender, "Birth City": s.birth_city}


def make_world(seed: int = 0, n_countries: int = 30, n_cities: int = 320, n_scholars: int = 220,
               n_domain_entities: int = 48) -> World:
    """The world for `seed` (sizes as given; defaults meet the organisms' targets)."""
    rng = np.random.default_rng(seed)
    names = NameMaker(rng, taken=set(FIELDS) | set(TOPICS) | set(GENDERS) | set(ALCHEMY_COLOURS)
                      | set(ALCHEMY_EFFECTS) | set(SEASONS) | set(STAR_HUES))
    continents = sorted(names.make(5, (2, 3), ["ia", "a", "or"]))
    languages = sorted(names.make(12, (2, 2), ["ish", "ese", "ic"]))
    country_names = sorted(names.make(n_countries, (2, 3), ["land", "ia", "stan", "or", ""]))
    countries = {}
    for i, c in enumerate(country_names):   # every continent and language used
        continent = continents[i % len(continents)] if i < len(continents) else continents[int(rng.integers(5))]
        language = languages[i % len(languages)] if i < len(languages) else languages[int(rng.integers(12))]
        countries[c] = Country(c, continent, language)
    city_names = sorted(names.make(n_cities, (2, 3), ["burg", "ton", "grad", "polis", "", "", ""]))
    cities = {c: City(c, country_names[i % n_countries] if i < n_countries
                      else country_names[int(rng.integers(n_countries))]) for i, c in enumerate(city_names)}
    firsts = names.make(n_scholars, (1, 2))
    lasts = names.make(n_scholars, (2, 3))
    scholars = {}
    for first, last in sorted(zip(firsts, lasts, strict=True)):
        name = f"{first} {last}"
        scholars[name] = Scholar(name, FIELDS[int(rng.integers(len(FIELDS)))],
                                 city_names[int(rng.integers(n_cities))], GENDERS[int(rng.integers(2))])
    domains = {
        "alchemy": _domain(rng, names, "alchemy", "potion", n_domain_entities,
                           {"ingredient": 12, "colour": ALCHEMY_COLOURS, "effect": ALCHEMY_EFFECTS}),
        "astronomy": _domain(rng, names, "astronomy", "star", n_domain_entities,
                             {"constellation": 12, "season": SEASONS, "hue": STAR_HUES}),
    }
    return World(seed, continents, languages, countries, cities, scholars, domains)


def _domain(rng: np.random.Generator, names: NameMaker, name: str, kind: str, n: int,
            sizes: dict[str, int | list[str]]) -> Domain:
    """Attribute values: invented names (an int: how many) or the given words."""
    values = {attr: sorted(names.make(k, (2, 2))) if isinstance(k, int) else list(k) for attr, k in sizes.items()}
    entities = sorted(names.make(n, (2, 3)))
    facts = [DomainFact(e, {attr: vs[int(rng.integers(len(vs)))] for attr, vs in values.items()}) for e in entities]
    return Domain(name, kind, values, facts)
