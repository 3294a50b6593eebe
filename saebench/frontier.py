"""Pareto frontiers of a metric against L0 (lower L0 is sparser, always preferred)."""

from __future__ import annotations

import math

import numpy as np


def frontier(l0: np.ndarray, values: np.ndarray, higher_is_better: bool) -> tuple[np.ndarray, np.ndarray]:
    """Pareto frontier of (L0, value): points no other point beats with lower-or-equal L0; sorted by L0.
    Lower L0 is always better; the value's direction is `higher_is_better`."""
    order = np.lexsort((-values if higher_is_better else values, l0))
    xs, ys, best = [], [], -math.inf
    for i in order:
        score = values[i] if higher_is_better else -values[i]
        if score > best:
            xs.append(l0[i])
            ys.append(values[i])
            best = score
    return np.asarray(xs, dtype=float), np.asarray(ys, dtype=float)


def interpolate_log(x: float, xs: np.ndarray, ys: np.ndarray) -> float:
    """Linear interpolation in log(x) on a frontier; NaN outside its range."""
    if len(xs) == 0 or x <= 0 or x < xs[0] or x > xs[-1]:
        return float("nan")
    if len(xs) == 1:
        return float(ys[0])
    return float(np.interp(math.log(x), np.log(xs), ys))
