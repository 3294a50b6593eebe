"""SCR quadrants: SAEBench's construction needs 2n rows of the aligned quadrants and n of the others."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from saebench.errors import DataError
from saebench.metrics.probing.sampling import scr_quadrants

N = 5


def frame(counts: dict[tuple[str, str], int]) -> pd.DataFrame:
    rows = [{"text": f"{c}-{s}-{i}", "label": c, "spurious": s} for (c, s), k in counts.items() for i in range(k)]
    return pd.DataFrame(rows)


EXACT = {("a", "s+"): 2 * N, ("a", "s-"): N, ("b", "s+"): N, ("b", "s-"): 2 * N}


def test_exactly_2n_aligned_and_n_off_diagonal_rows_suffice_and_every_row_is_used():
    splits = {"train": frame(EXACT), "test": frame(EXACT)}
    pr = scr_quadrants(splits, ("a", "b"), ("s+", "s-"), {"train": 4 * N, "test": 4 * N},
                       np.random.default_rng(0), "toy")
    texts = pr.texts
    for split in ("train", "test"):
        spurious, klass, biased = ([texts[i] for i in row] for row in pr.rows[split].tolist())
        labels = pr.labels[split].tolist()
        quad = [t.rsplit("-", 1)[0] for t in spurious]
        assert quad[:2 * N] == sorted(quad[:2 * N]) and set(quad[:N]) == {"a-s+"} and set(quad[N:2 * N]) == {"b-s+"}
        assert set(quad[2 * N:]) == {"a-s-", "b-s-"} and labels[0] == [1.0] * 2 * N + [0.0] * 2 * N
        kq = [t.rsplit("-", 1)[0] for t in klass]
        assert set(kq[:2 * N]) == {"a-s+", "a-s-"} and set(kq[2 * N:]) == {"b-s+", "b-s-"}
        bq = [t.rsplit("-", 1)[0] for t in biased]
        assert set(bq[:2 * N]) == {"a-s+"} and set(bq[2 * N:]) == {"b-s-"}
        assert len(set(biased)) == 4 * N                                  # the aligned quadrants, all of them
        assert set(spurious[:N]) <= set(biased[:2 * N]) and set(klass[:N]) == set(spurious[:N])  # [:n] of the 2n
        used = set(spurious) | set(klass) | set(biased)
        assert len(used) == 6 * N                                         # every row of the frame


@pytest.mark.parametrize("short", [("a", "s-"), ("b", "s-")])
def test_too_few_rows_name_the_quadrant(short):
    counts = dict(EXACT)
    counts[short] -= 1
    with pytest.raises(DataError, match=f"quadrant \\({short[0]}, {short[1]}\\)"):
        scr_quadrants({"train": frame(counts), "test": frame(EXACT)}, ("a", "b"), ("s+", "s-"),
                      {"train": 4 * N, "test": 4 * N}, np.random.default_rng(0), "toy")


def test_validation_rows_are_stratified_by_quadrant_for_scr():
    from saebench.data.labelled import stratified_split

    rows = frame({("a", "s+"): 40, ("a", "s-"): 10, ("b", "s+"): 10, ("b", "s-"): 40})
    for seed in range(5):
        kept, held = stratified_split(rows, 0.2, seed, by=("label", "spurious"))
        counts = held.groupby(["label", "spurious"]).size().to_dict()
        assert counts == {("a", "s+"): 8, ("a", "s-"): 2, ("b", "s+"): 2, ("b", "s-"): 8}
        assert len(kept) + len(held) == 100 and not set(kept.text) & set(held.text)
    by_label = [stratified_split(rows, 0.2, s)[1].groupby(["label", "spurious"]).size().get(("a", "s-"), 0)
                for s in range(20)]
    assert len(set(by_label)) > 1          # by label alone the small quadrants' share varies with the seed
