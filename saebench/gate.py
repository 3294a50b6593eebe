"""Regression gate: compare a candidate's results with a baseline's, per (task, metric, subset, k).

Two ways to pair rows:
- `match: sae` (default) pairs the same SAE id in both folders (a new code version, a retrained SAE);
- `match: l0` compares each candidate SAE with the baseline's frontier at the candidate's own L0: for a
  metric, the baseline SAEs' best values along L0 (Pareto frontier, in the metric's direction), linearly
  interpolated in log L0. A candidate outside the baseline's L0 range has no match (reported).

The config's tolerance `abs + rel * |baseline|` (per metric, falling back to the default) is the smallest
change it cares about; when both rows carry a standard error, the noise is `z * sqrt(se_a^2 + se_b^2)`.
A row is `worse` when it moves against the metric's direction by more than both; `better` likewise the
other way. When the noise exceeds the tolerance, the comparison cannot detect a change of that size: the
row is `underpowered` (it fails unless `fail_on_underpowered` is false), naming the noise and the
tolerance, so a large change hidden in large noise is never `ok`. Raise the tolerance to what the data
can resolve, or reduce the noise (more seeds, tokens or examples). Directions, headline flags and headline k come from
the metric catalogue stamped on the result rows, never from plugin code:
- a metric declared without a direction is reported (`info`), never gated;
- a metric whose direction is unknown (rows without a catalogue, or a name in `metrics:` that no row
  describes) is `unknown-direction` and fails unless `fail_on_unknown_direction` is false or
  `directions:` in the config gives it one;
- rows whose task version or params hash differ between baseline and candidate did different work: they
  are `incomparable` (both versions / hashes in `note`) and fail unless `fail_on_incomparable` is false.
A baseline metric missing from the candidate (or defined in the baseline and NaN in the candidate) is
reported and fails the gate unless `fail_on_missing` is false; NaN in both is "ok".
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from saebench.checks import check_keys
from saebench.errors import ConfigError
from saebench.frontier import frontier, interpolate_log, l0_per_sae
from saebench.results import catalogue, ids_on_several_models, qualify_ids, read_many, representative

UNKNOWN = "unknown"       # direction of a metric no catalogue describes
DIRECTION_NAMES = {"higher": True, "lower": False, "none": None}
FAILING = ("worse", "underpowered", "missing", "undefined", "unknown-direction", "incomparable")

KEY = ["task", "metric", "subset", "k"]


@dataclass(frozen=True)
class Tolerance:
    abs: float = 0.0
    rel: float = 0.0


@dataclass(frozen=True, kw_only=True)
class GateConfig:
    """What to gate and how strictly (a YAML file, `--config gate.yaml`)."""

    match: str = "sae"                          # sae | l0
    z: float = 2.0
    default: Tolerance = Tolerance(abs=1e-6, rel=0.01)
    tolerances: dict[str, Tolerance] = field(default_factory=dict)   # "task/metric" or "metric" -> tolerance
    metrics: list[str] | None = None            # "task/metric" to gate; None = every headline metric
    fail_on_missing: bool = True
    fail_on_unknown_direction: bool = True
    fail_on_incomparable: bool = True
    fail_on_underpowered: bool = True
    directions: dict[str, str] = field(default_factory=dict)  # "task/metric" or "metric" -> higher|lower|none

    def __post_init__(self) -> None:
        if self.match not in ("sae", "l0"):
            raise ConfigError(f"gate match must be 'sae' or 'l0', got {self.match!r}.")
        if self.z <= 0:
            raise ConfigError(f"gate z must be positive, got {self.z}.")
        bad = {k: v for k, v in self.directions.items() if v not in DIRECTION_NAMES}
        if bad:
            raise ConfigError(f"gate directions must be one of {sorted(DIRECTION_NAMES)}, got {bad}.")

    @classmethod
    def load(cls, path: str | Path | None) -> GateConfig:
        if path is None:
            return cls()
        from omegaconf import OmegaConf

        raw = OmegaConf.to_container(OmegaConf.load(path), resolve=True) or {}
        check_keys(raw, cls.__dataclass_fields__, f"gate config {str(path)!r}")
        try:
            raw["default"] = Tolerance(**raw.get("default", {"abs": 1e-6, "rel": 0.01}))
            raw["tolerances"] = {k: Tolerance(**v) for k, v in (raw.get("tolerances") or {}).items()}
        except TypeError as e:
            raise ConfigError(f"Gate config {str(path)!r}: a tolerance takes `abs` and `rel` ({e}).") from e
        return cls(**raw)

    def tolerance(self, task: str, metric: str) -> Tolerance:
        return self.tolerances.get(f"{task}/{metric}") or self.tolerances.get(metric) or self.default

    def with_noise_tolerances(self, noise: pd.DataFrame) -> GateConfig:
        """Tolerances from a measured noise table (`saebench validity`'s noise.parquet, or
        `saebench.validity.noise_table` of any multi-seed results): per task/metric, the largest minimum
        detectable difference (2.77 sigma) over SAEs on overall rows. Tolerances the config sets itself win."""
        overall = noise[noise["subset"].isna() & noise["mdd"].notna()]
        measured = overall.groupby(["task", "metric"])["mdd"].max()
        added = {f"{task}/{metric}": Tolerance(abs=float(mdd), rel=0.0) for (task, metric), mdd in measured.items()
                 if f"{task}/{metric}" not in self.tolerances and metric not in self.tolerances}
        return dataclasses.replace(self, tolerances={**added, **self.tolerances})

    def direction_override(self, task: str, metric: str) -> str | None:
        return self.directions.get(f"{task}/{metric}") or self.directions.get(metric)


@dataclass
class GateReport:
    rows: pd.DataFrame          # one row per comparison
    config: GateConfig

    @property
    def failed(self) -> bool:
        c = self.config
        failing = {"worse"}
        failing |= {"missing", "undefined"} if c.fail_on_missing else set()
        failing |= {"unknown-direction"} if c.fail_on_unknown_direction else set()
        failing |= {"incomparable"} if c.fail_on_incomparable else set()
        failing |= {"underpowered"} if c.fail_on_underpowered else set()
        return bool(self.rows["verdict"].isin(sorted(failing)).any())

    def table(self) -> str:
        cols = ["sae_id", "task", "metric", "subset", "k", "baseline", "candidate", "delta", "allowed", "verdict",
                "note"]
        with pd.option_context("display.width", 200, "display.max_rows", 500, "display.max_columns", 20):
            return self.rows[cols].to_string(index=False, na_rep="")

    def markdown(self) -> str:
        counts = self.rows["verdict"].value_counts().to_dict()
        status = "FAILED" if self.failed else "passed"
        lines = [f"## saebench gate: {status}", "",
                 f"match: `{self.config.match}`; " + ", ".join(f"{v}: {n}" for v, n in sorted(counts.items())), "",
                 "| SAE | task | metric | subset | k | baseline | candidate | delta | allowed | verdict | note |",
                 "|---|---|---|---|---|---|---|---|---|---|---|"]
        order = {"worse": 0, "underpowered": 1, "incomparable": 2, "unknown-direction": 3, "missing": 4,
                 "undefined": 5, "no-match": 6, "better": 7, "ok": 8, "info": 9}
        for r in self.rows.sort_values("verdict", key=lambda s: s.map(order), kind="stable").itertuples():
            verdict = f"**{r.verdict}**" if r.verdict in FAILING and self._fails(r.verdict) else r.verdict
            cells = [r.sae_id, r.task, r.metric, _cell(r.subset), _cell(r.k), _num(r.baseline), _num(r.candidate),
                     _num(r.delta), _num(r.allowed), verdict, r.note or ""]
            lines.append("| " + " | ".join(str(c).replace("|", "\\|") for c in cells) + " |")
        return "\n".join(lines) + "\n"

    def _fails(self, verdict: str) -> bool:
        c = self.config
        return {"worse": True, "missing": c.fail_on_missing, "undefined": c.fail_on_missing,
                "unknown-direction": c.fail_on_unknown_direction,
                "incomparable": c.fail_on_incomparable,
                "underpowered": c.fail_on_underpowered}.get(verdict, False)


def _cell(v: Any) -> str:
    return "" if v is None or (isinstance(v, float) and math.isnan(v)) else str(int(v) if isinstance(v, float) else v)


def _num(v: Any) -> str:
    return "" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{v:.4g}"


Facts = dict[tuple[str, str], tuple[object, bool]]   # (task, metric) -> (direction or UNKNOWN, headline)


def _facts(rows: pd.DataFrame, config: GateConfig) -> Facts:
    """(task, metric) -> (True | False | None | UNKNOWN, headline) from the rows' catalogue and the config."""
    out: Facts = {}
    for m in catalogue(rows).itertuples():
        override = config.direction_override(m.task, m.metric)
        name = override or (m.direction if isinstance(m.direction, str) else None)
        direction = DIRECTION_NAMES.get(name, UNKNOWN)
        out[(m.task, m.metric)] = (direction, m.headline is True)
    return out


def _selected(rows: pd.DataFrame, config: GateConfig, facts: Facts) -> pd.DataFrame:
    """The gated rows: the configured metrics, or every headline metric; with no catalogue (rows older
    than schema 5) headline status is unknown, so those metrics are gated too (and fail as
    unknown-direction unless the config gives their direction)."""
    if config.metrics is not None:
        wanted = set(config.metrics)
        mask = [f"{t}/{m}" in wanted or m in wanted for t, m in zip(rows["task"], rows["metric"], strict=True)]
    else:
        looked_up = [facts.get((t, m), (UNKNOWN, False)) for t, m in zip(rows["task"], rows["metric"], strict=True)]
        mask = [headline or direction is UNKNOWN for direction, headline in looked_up]
    return rows[np.asarray(mask, dtype=bool)]


def compare(baseline: pd.DataFrame, candidate: pd.DataFrame, config: GateConfig) -> GateReport:
    """Compare representative rows of two result tables (see the module docstring)."""
    facts = _facts(pd.concat([baseline, candidate], ignore_index=True), config)
    base = _selected(representative(baseline), config, facts)
    cand = _selected(representative(candidate), config, facts)
    if base.empty:
        raise ConfigError("The baseline has no rows for the gated metrics; check --baseline and the gate config.")
    if config.match == "sae":
        pairs = _pair_by_sae(base, cand)
    else:
        pairs = _pair_by_l0(base, cand, representative(baseline), representative(candidate), facts)
    records = []
    for p in pairs:
        direction = facts.get((p["task"], p["metric"]), (UNKNOWN, False))[0]
        verdict = _verdict(p, direction, config)
        records.append({**p, **verdict})
    cols = ["sae_id", "task", "metric", "subset", "k", "baseline", "baseline_stderr", "candidate", "candidate_stderr",
            "delta", "allowed", "verdict", "note"]
    return GateReport(pd.DataFrame.from_records(records, columns=cols), config)


def _work(version, phash) -> str:
    return f"v{version} params {phash}"


def _pair_by_sae(base: pd.DataFrame, cand: pd.DataFrame) -> list[dict]:
    merged = base.merge(cand, on=["sae_id", *KEY], how="left", suffixes=("_b", "_c"), indicator="presence")
    out = []
    for r in merged.itertuples():
        present = r.presence != "left_only"
        same = not present or (r.task_version_b == r.task_version_c and r.params_hash_b == r.params_hash_c)
        out.append({"sae_id": r.sae_id, "task": r.task, "metric": r.metric, "subset": r.subset, "k": r.k,
                    "baseline": r.value_b, "baseline_stderr": r.stderr_b,
                    "candidate": r.value_c, "candidate_stderr": r.stderr_c, "_absent": not present,
                    "_incomparable": not same,
                    "note": "" if same else (f"baseline {_work(r.task_version_b, r.params_hash_b)} vs candidate "
                                             f"{_work(r.task_version_c, r.params_hash_c)}")})
    return out


def _l0_of(rows: pd.DataFrame) -> dict[str, float]:
    return l0_per_sae(rows).to_dict()


def _pair_by_l0(base, cand, base_all, cand_all, facts: Facts) -> list[dict]:
    base_l0, cand_l0 = _l0_of(base_all), _l0_of(cand_all)
    if not base_l0 or not cand_l0:
        raise ConfigError("match: l0 needs an `l0` metric (core's, or ground truth's on a synthetic model) in both "
                          "the baseline and the candidate.")
    out = []
    for (task, metric, subset, k), group in base.groupby(KEY, dropna=False, sort=False):
        hib = facts.get((task, metric), (UNKNOWN, False))[0]
        hib = True if hib is None or hib is UNKNOWN else hib
        # the frontier is the trained SAEs': controls (identity, oracle, random: `baseline:*` sources) never form it
        group = group[group["sae_id"].isin(base_l0) & ~group["sae_source"].fillna("").str.startswith("baseline")]
        matches = cand[(cand["task"] == task) & (cand["metric"] == metric)
                       & _same(cand["subset"], subset) & _same(cand["k"], k)]
        by_sae = dict(zip(matches["sae_id"], matches.itertuples(), strict=True))
        for sae_id, l0 in cand_l0.items():
            row = by_sae.get(sae_id)
            # the frontier of baseline rows that did the same work as this candidate row
            same = group if row is None else group[(group["task_version"] == row.task_version)
                                                   & (group["params_hash"] == row.params_hash)]
            note = ""
            if row is not None and same.empty and not group.empty:
                works = sorted({_work(v, h) for v, h in zip(group["task_version"], group["params_hash"], strict=True)})
                note = f"baseline {', '.join(works)} vs candidate {_work(row.task_version, row.params_hash)}"
            xs, ys = frontier(np.array([base_l0[s] for s in same["sae_id"]]), same["value"].to_numpy(dtype=float),
                              hib)
            expected = interpolate_log(l0, xs, ys) if len(xs) else float("nan")
            out.append({"sae_id": sae_id, "task": task, "metric": metric, "subset": subset, "k": k,
                        "baseline": expected, "baseline_stderr": float("nan"),
                        "candidate": float("nan") if row is None else row.value,
                        "candidate_stderr": float("nan") if row is None else row.stderr,
                        "_no_match": math.isnan(expected) and not note, "_incomparable": bool(note), "note": note})
    return out


def _same(series: pd.Series, value) -> pd.Series:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return series.isna()
    return series == value


def _verdict(p: dict, higher_is_better, config: GateConfig) -> dict:
    base, cand = p["baseline"], p["candidate"]
    nan = {"delta": float("nan"), "allowed": float("nan")}
    incomparable = p.pop("_incomparable", False)
    if p.pop("_no_match", False):
        return {**nan, "verdict": "no-match"}
    absent = p.pop("_absent", False)
    if absent or cand is None:
        return {**nan, "verdict": "missing"}
    if incomparable:
        return {**nan, "verdict": "incomparable"}
    if higher_is_better is UNKNOWN:
        return {**nan, "verdict": "unknown-direction",
                "note": "no catalogue describes this metric's direction; set it in the gate config's `directions:`"}
    if not _finite(base):       # undefined in the baseline (NaN means undefined, e.g. 0/0)
        return {**nan, "verdict": "ok" if not _finite(cand) else "info"}
    if not _finite(cand):       # defined before, undefined now
        return {**nan, "verdict": "undefined"}
    delta = float(cand) - float(base)
    se_b, se_c = p.get("baseline_stderr"), p.get("candidate_stderr")
    tol = config.tolerance(p["task"], p["metric"])
    tolerance = tol.abs + tol.rel * abs(float(base))
    noise = config.z * math.sqrt(se_b ** 2 + se_c ** 2) if _finite(se_b) and _finite(se_c) else 0.0
    allowed = max(tolerance, noise)
    if higher_is_better is None:
        return {"delta": delta, "allowed": allowed, "verdict": "info"}
    worse_by = -delta if higher_is_better else delta
    if worse_by > allowed:
        return {"delta": delta, "allowed": allowed, "verdict": "worse"}
    if -worse_by > allowed:
        return {"delta": delta, "allowed": allowed, "verdict": "better"}
    if noise > tolerance:
        return {"delta": delta, "allowed": allowed, "verdict": "underpowered",
                "note": (f"noise z*se = {noise:.3g} exceeds the tolerance {tolerance:.3g} "
                         f"({p['task']}/{p['metric']}): a change of that size cannot be detected; raise the "
                         "tolerance to what the data resolve, or add seeds / tokens")}
    return {"delta": delta, "allowed": allowed, "verdict": "ok"}


def _finite(v) -> bool:
    return v is not None and isinstance(v, (int, float)) and math.isfinite(v)


def run_gate(baseline: list[str], candidate: list[str], config: GateConfig) -> GateReport:
    """Read the result folders and compare them."""
    for root in [*baseline, *candidate]:
        if not (Path(root) / "metrics").is_dir():
            raise ConfigError(f"{root!r} is not a saebench results folder (no metrics/ inside).")
    base, cand = read_many(baseline), read_many(candidate)
    clashing = ids_on_several_models(pd.concat([base, cand], ignore_index=True))   # one id, two models: two SAEs
    return compare(qualify_ids(base, clashing), qualify_ids(cand, clashing), config)
