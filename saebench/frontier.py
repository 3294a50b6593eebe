"""Pareto frontiers of a metric against L0 (lower L0 is sparser, always preferred)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd


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


def l0_per_sae(rows: pd.DataFrame) -> pd.Series:
    """Each SAE's L0 from result rows: core's `l0` where core ran, else another task's overall `l0` (ground
    truth on a synthetic model, where core does not run)."""
    sel = rows[(rows["metric"] == "l0") & rows["subset"].isna() & rows["k"].isna()]
    sel = sel.assign(_not_core=sel["task"] != "core").sort_values(["_not_core", "task"]).drop_duplicates("sae_id")
    return sel.set_index("sae_id")["value"]
