"""Invented, pronounceable names from a seeded generator, so no fact depends on prior knowledge."""

from __future__ import annotations

import numpy as np

ONSETS = ["b", "d", "f", "g", "k", "l", "m", "n", "p", "r", "s", "t", "v", "z", "br", "dr", "gr", "kr", "tr", "st",
          "th", "sh", "vr", "zh", "qu", "fl", "pl", "sk"]
VOWELS = ["a", "e", "i", "o", "u", "ae", "io", "ou", "y"]
CODAS = ["", "", "", "n", "r", "l", "s", "th", "x", "nd", "rk", "lm"]


class NameMaker:
    """Distinct capitalised names of 2-3 syllables; `taken` avoids collisions across kinds."""

    def __init__(self, rng: np.random.Generator, taken: set[str] | None = None) -> None:
        self.rng = rng
        self.taken = taken if taken is not None else set()

    def syllable(self) -> str:
        r = self.rng
        return (ONSETS[int(r.integers(len(ONSETS)))] + VOWELS[int(r.integers(len(VOWELS)))]
                + CODAS[int(r.integers(len(CODAS)))])

    def make(self, n: int, syllables: tuple[int, int] = (2, 3), suffixes: list[str] | None = None) -> list[str]:
        out = []
        while len(out) < n:
            k = int(self.rng.integers(syllables[0], syllables[1] + 1))
            name = "".join(self.syllable() for _ in range(k))
            if suffixes:
                name += suffixes[int(self.rng.integers(len(suffixes)))]
            name = name.capitalize()
            if len(name) > 10 or name.lower() in self.taken:
                continue
            self.taken.add(name.lower())
            out.append(name)
        return out
