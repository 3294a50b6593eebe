"""What a plugin declares and reports, without the engine: MetricInfo, MetricValue, Details, SAEResult.

These are plain data (numpy at most), so the read side (`saebench.results`, gate, leaderboard) uses
them without importing torch; `saebench.metrics` re-exports them for plugin authors."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

DIRECTIONS = {True: "higher", False: "lower", None: "none"}


@dataclass(frozen=True, kw_only=True)
class MetricInfo:
    """A metric a plugin may emit. `higher_is_better=None` means no direction (e.g. L0). Metrics with a
    `k` column (top-k accuracy, ablation size N) name the k of their headline value in `headline_k`."""

    name: str
    higher_is_better: bool | None
    description: str
    headline: bool = False
    headline_k: int | None = None

    @property
    def direction(self) -> str:
        """'higher' | 'lower' | 'none' (declared without a direction), as stored in the results."""
        return DIRECTIONS[self.higher_is_better]


class _RunSeed:
    """Marker: the row's `seed` is the run's seed."""

    def __repr__(self) -> str:
        return "RUN_SEED"


RUN_SEED = _RunSeed()


@dataclass(frozen=True, kw_only=True)
class MetricValue:
    """One value. NaN means 'undefined' (e.g. 0/0), never 'failed'.

    `seed`: RUN_SEED (default) stamps the run's seed; an int names the seed this value was computed
    with (plugins that run several seeds); None marks an aggregate over seeds (mean, with stderr)."""

    metric: str
    value: float
    stderr: float | None = None
    n: int | None = None
    subset: str | None = None
    k: int | None = None
    seed: int | None | _RunSeed = RUN_SEED


@dataclass(frozen=True)
class Details:
    """A per-item table (e.g. per latent): `index` [n], equally long float `columns`, and optional item
    `labels` [n] (e.g. "ag_news/World") for tables whose items have names."""

    table: str
    index: np.ndarray
    columns: dict[str, np.ndarray]
    labels: list[str] | None = None

    @classmethod
    def from_rows(cls, table: str, rows: list[tuple[str, dict[str, float]]]) -> Details:
        """A labelled table from (label, {field: value}) rows; fields missing in a row are NaN."""
        fields = sorted({f for _, cols in rows for f in cols})
        return cls(table, np.arange(len(rows)),
                   {f: np.array([cols.get(f, np.nan) for _, cols in rows], dtype=float) for f in fields},
                   [label for label, _ in rows])


def mean_stderr(values: list[float]) -> tuple[float, float | None, float, int]:
    """(mean, standard error, standard deviation, n) over the defined (non-NaN) values; the mean is NaN
    for none, the stderr None and the sd NaN for fewer than two."""
    ok = [float(v) for v in values if not np.isnan(v)]
    if not ok:
        return float("nan"), None, float("nan"), 0
    if len(ok) == 1:
        return ok[0], None, float("nan"), 1
    sd = float(np.std(ok, ddof=1))
    return float(np.mean(ok)), sd / len(ok) ** 0.5, sd, len(ok)


@dataclass
class SAEResult:
    """Everything a plugin reports for one SAE (one result unit)."""

    sae_id: str
    metrics: list[MetricValue]
    details: list[Details] = field(default_factory=list)
    info: dict[str, Any] = field(default_factory=dict)   # run facts for the manifest (e.g. judge usage)
    # 'ok': complete. 'partial': what was computed is written and kept, but the unit is not complete (e.g.
    # a judge budget ran out) and a rerun computes it again (cached work is reused). 'error': nothing is
    # written; `reason` says why (e.g. most latents' judge requests failed). 'skipped': the plugin cannot score
    # this SAE on this model (e.g. the model knows too little of RAVEL's world); a manifest row with the reason.
    # 'staged': the device part is done and saved for a later stage (`judge_stage=sample`); a manifest row.
    status: str = "ok"
    reason: str = ""

    def __post_init__(self) -> None:
        if self.status not in ("ok", "partial", "error", "skipped", "staged"):
            raise ValueError(f"SAEResult.status must be 'ok', 'partial', 'error', 'skipped' or 'staged', got "
                             f"{self.status!r}")
        if self.status != "ok" and not self.reason:
            raise ValueError(f"SAEResult for {self.sae_id!r} has status {self.status!r} but no reason")
