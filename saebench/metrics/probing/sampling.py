"""Seeded sampling of binary probe problems from labelled rows (one-vs-rest, SCR quadrants).

A `ProbeProblems` holds P binary problems over one pool of unique texts: for each split, row indices into
the pool [P, n] and labels [P, n]. Problems of one kind have equal sizes so they train in one batch.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import torch

from saebench.data.labelled import stratified_split
from saebench.errors import DataError

log = logging.getLogger(__name__)
SPLITS = ("train", "val", "test")


@dataclass
class ProbeProblems:
    names: list[str]
    texts: list[str]
    rows: dict[str, torch.Tensor] = field(default_factory=dict)     # split -> [P, n]
    labels: dict[str, torch.Tensor] = field(default_factory=dict)   # split -> [P, n] float {0, 1}


class _Pool:
    def __init__(self) -> None:
        self.texts: list[str] = []
        self._index: dict[str, int] = {}

    def ids(self, texts) -> list[int]:
        out = []
        for t in texts:
            i = self._index.get(t)
            if i is None:
                i = self._index[t] = len(self.texts)
                self.texts.append(t)
            out.append(i)
        return out


def split_train_val(train: pd.DataFrame, val_fraction: float, rng: np.random.Generator,
                    by: tuple[str, ...] = ("label",)) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A seeded split of the dataset's training rows into probe-training and validation rows (per class, or
    per stratum of the `by` columns)."""
    seed = int(rng.integers(2**31))
    return stratified_split(train, val_fraction, seed, by)


def _take(frame: pd.DataFrame, n: int, rng: np.random.Generator, what: str) -> list[str]:
    if len(frame) < n:
        raise DataError(f"{what}: needs {n} rows but the data has {len(frame)}; lower the task's train_size / "
                        "test_size or provide more data.")
    return frame["text"].iloc[rng.choice(len(frame), size=n, replace=False)].tolist()


def one_vs_rest(splits: dict[str, pd.DataFrame], classes: list[str], sizes: dict[str, int],
                rng: np.random.Generator, dataset: str) -> ProbeProblems:
    """One problem per class: `sizes[split] // 2` positives of the class and as many negatives drawn
    evenly from the other classes. When a class has fewer rows, every problem shrinks to the smallest
    class (logged), so problems stay equal-sized."""
    pool = _Pool()
    problems = ProbeProblems(names=list(classes), texts=pool.texts)
    for split in (s for s in SPLITS if s in sizes):
        frame = splits[split]
        by_class = {c: frame[frame["label"] == c] for c in classes}
        counts = {c: len(v) for c, v in by_class.items()}
        n_pos = sizes[split] // 2
        smallest = min(counts.values())
        if smallest < n_pos:
            log.warning("%s %s: class sizes %s; using %d positives per class instead of %d", dataset, split,
                        counts, smallest, n_pos)
            n_pos = smallest
        if n_pos < 2:
            raise DataError(f"Dataset {dataset!r} {split} split: too few rows per class ({counts}) for probes.")
        rows, labels = [], []
        for c in classes:
            pos = _take(by_class[c], n_pos, rng, f"{dataset} {split} class {c}")
            others = [o for o in classes if o != c]
            per_other = math.ceil(n_pos / len(others))
            neg: list[str] = []
            for o in others:
                neg += _take(by_class[o], min(per_other, counts[o]), rng, f"{dataset} {split} class {o}")
            neg = [neg[i] for i in rng.permutation(len(neg))[:n_pos]]
            if len(neg) < n_pos:
                raise DataError(f"Dataset {dataset!r} {split}: only {len(neg)} negatives for class {c!r}.")
            rows.append(pool.ids(pos + neg))
            labels.append([1.0] * n_pos + [0.0] * n_pos)
        problems.rows[split] = torch.tensor(rows)
        problems.labels[split] = torch.tensor(labels)
    return problems


SCR_PROBES = ("spurious", "class", "biased")


def scr_quadrants(splits: dict[str, pd.DataFrame], pair: tuple[str, str], spurious: tuple[str, str],
                  sizes: dict[str, int], rng: np.random.Generator, dataset: str) -> ProbeProblems:
    """The three SCR problems per split, with a/b the class pair and s+/s- the spurious values and
    n = size // 4 (SAEBench's construction):
      spurious: (a,s+)[:n] + (b,s+)[:n]  vs (a,s-)[:n] + (b,s-)[:n]   (balanced over the class)
      class:    (a,s+)[:n] + (a,s-)[:n]  vs (b,s+)[:n] + (b,s-)[:n]   (balanced over the attribute)
      biased:   (a,s+)[:2n]              vs (b,s-)[:2n]               (class and attribute aligned)
    so 2n rows are drawn from the aligned quadrants (a,s+), (b,s-) and n from the others, as SAEBench needs.
    """
    a, b = pair
    sp, sn = spurious
    pool = _Pool()
    problems = ProbeProblems(names=list(SCR_PROBES), texts=pool.texts)
    for split in (s for s in SPLITS if s in sizes):
        frame = splits[split]
        n = sizes[split] // 4
        if n < 1:
            raise DataError(f"SCR {dataset} {split}: size {sizes[split]} gives no rows per quadrant; use >= 4.")
        q = {}
        for c in (a, b):
            for s in (sp, sn):
                rows = frame[(frame["label"] == c) & (frame["spurious"] == s)]
                need = 2 * n if (c, s) in ((a, sp), (b, sn)) else n
                q[c, s] = _take(rows, need, rng, f"SCR {dataset} {split} quadrant ({c}, {s})")
        spurious_rows = (q[a, sp][:n] + q[b, sp][:n], q[a, sn][:n] + q[b, sn][:n])
        class_rows = (q[a, sp][:n] + q[a, sn][:n], q[b, sp][:n] + q[b, sn][:n])
        biased_rows = (q[a, sp][:2 * n], q[b, sn][:2 * n])
        rows, labels = [], []
        for pos, neg in (spurious_rows, class_rows, biased_rows):
            rows.append(pool.ids(pos + neg))
            labels.append([1.0] * len(pos) + [0.0] * len(neg))
        problems.rows[split] = torch.tensor(rows)
        problems.labels[split] = torch.tensor(labels)
    return problems
