"""The leaderboard's tables, from result folders only (never from models or SAEs)."""

from __future__ import annotations

import hashlib
import math
import re
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from saebench.errors import DataError
from saebench.frontier import l0_per_sae
from saebench.results import (
    catalogue,
    direction_of,
    ids_on_several_models,
    qualify_detail_ids,
    qualify_ids,
    read_details,
    read_many,
    representative,
)


@dataclass(frozen=True)
class Column:
    """A headline metric column: which rows, how to label it, which way is better."""

    task: str
    metric: str
    k: int | None
    higher_is_better: bool | None
    description: str

    @property
    def key(self) -> str:
        return f"{self.task}/{self.metric}" + ("" if self.k is None else f"@{self.k}")

    @property
    def label(self) -> str:
        return self.metric + ("" if self.k is None else f"@{self.k}")

    known_direction: bool = True

    @property
    def arrow(self) -> str:
        if not self.known_direction:
            return "?"
        return {True: "↑", False: "↓", None: ""}[self.higher_is_better]


@dataclass
class Board:
    rows: pd.DataFrame          # representative metric rows (one per sae, task, metric, subset, k)
    saes: pd.DataFrame          # one row per SAE: facts + "<column key>" values and "<column key>:se"
    columns: list[Column]
    details: pd.DataFrame
    # tasks whose SAEs were evaluated with different parameters: task -> [(label, params hash, n SAEs)];
    # each SAE's label is in saes["<task>:setting"]
    settings: dict[str, list[tuple[str, str, int]]] = field(default_factory=dict)


def page_name(sae_id: str) -> str:
    """A safe, collision-free file name for an SAE's page."""
    slug = re.sub(r"[^A-Za-z0-9._-]+", "_", sae_id).strip("._")[:60] or "sae"
    return f"{slug}-{hashlib.sha1(sae_id.encode()).hexdigest()[:8]}.html"


def headline_columns(rows: pd.DataFrame) -> list[Column]:
    """Headline columns from the catalogue the rows carry (core first, then tasks by name). A task whose
    rows carry no catalogue (written before schema 5) is shown, not dropped: each of its overall metrics
    becomes a column with an unknown direction ("?")."""
    cols = []
    cat = catalogue(rows)
    overall = rows[rows["subset"].isna()]
    for task in sorted(set(rows["task"]), key=lambda t: (t != "core", t)):
        entries = cat[cat["task"] == task]
        if entries["direction"].notna().any():
            for m in entries.itertuples():
                if m.headline is True:
                    k = None if pd.isna(m.headline_k) else int(m.headline_k)
                    cols.append(Column(task, m.metric, k, direction_of(m.direction), m.description or ""))
            continue
        sel = overall[overall["task"] == task]
        for metric in sel["metric"].drop_duplicates():
            ks = sel.loc[sel["metric"] == metric, "k"].dropna()
            k = None if ks.empty else int(ks.min())
            cols.append(Column(task, metric, k, None, "No catalogue in these results (written before schema 5): "
                                                      "direction and headline status unknown.", False))
    return cols


def load_board(roots: list[str]) -> Board:
    raw = read_many(roots)
    clashing = ids_on_several_models(raw)
    rows = representative(qualify_ids(raw, clashing))
    if rows.empty:
        missing = [r for r in roots if not (Path(r) / "metrics").is_dir()]
        where = f"{missing} (not saebench result folders: no metrics/ inside)" if missing else f"{roots}"
        raise DataError(f"No metric rows under {where}; run `saebench run` first, or name the folder it wrote "
                        "(output_dir).")
    columns = headline_columns(rows)
    facts = (rows.sort_values("created_at").groupby("sae_id", sort=True)
             .agg(model=("model", "last"), hook=("hook", "last"), architecture=("architecture", "last"),
                  d_sae=("d_sae", "last"), d_in=("d_in", "last"), sae_source=("sae_source", "last")))
    table = facts.copy()
    overall = rows[rows["subset"].isna()]
    for col in columns:
        sel = overall[(overall["task"] == col.task) & (overall["metric"] == col.metric)
                      & (overall["k"].isna() if col.k is None else overall["k"] == col.k)]
        table[col.key] = sel.set_index("sae_id")["value"]
        table[col.key + ":se"] = sel.set_index("sae_id")["stderr"]
    table["l0"] = l0_per_sae(overall)
    table = table.reset_index()
    table["page"] = table["sae_id"].map(page_name)
    table["is_baseline"] = table["sae_source"].fillna("").str.startswith("baseline")
    versions = overall.sort_values("created_at").groupby(["sae_id", "task"])["task_version"].last().unstack("task")
    for task in versions.columns:
        table[f"{task}:version"] = table["sae_id"].map(versions[task])
    details = qualify_detail_ids(pd.concat([read_details(r) for r in roots], ignore_index=True), raw, clashing)
    settings = mixed_settings(overall)
    for task, labels in settings.items():
        of_hash = {h: label for label, h, _ in labels}
        per_sae = overall[overall["task"] == task].groupby("sae_id")["params_hash"].last()
        table[f"{task}:setting"] = table["sae_id"].map(per_sae).map(of_hash)
    return Board(rows, table, columns, details, settings)


def mixed_settings(overall: pd.DataFrame) -> dict[str, list[tuple[str, str, int]]]:
    """Tasks whose SAEs of one model carry more than one params hash: each setting lettered A, B, ... by how many
    SAEs use it (values under different settings are not comparable, so the site marks them). Different models
    are never compared (the site groups by model), so settings that differ only between models are not mixed."""
    out = {}
    for task, group in overall.groupby("task", sort=True):
        per_sae = group.sort_values("created_at").groupby("sae_id")[["params_hash", "model"]].last()
        counts = per_sae["params_hash"].value_counts()
        if (per_sae.groupby("model")["params_hash"].nunique() > 1).any():
            ordered = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
            out[str(task)] = [(chr(ord("A") + i) if i < 26 else f"S{i}", str(h), int(n))
                              for i, (h, n) in enumerate(ordered)]
    return out


def fmt(value, stderr=None) -> str:
    """'0.123 ± 0.004' (4 significant digits), '' for missing values."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    value = float(value)
    text = str(int(value)) if value.is_integer() and abs(value) < 1e15 else f"{value:.4g}"
    if stderr is not None and not (isinstance(stderr, float) and math.isnan(stderr)):
        text += f" ± {stderr:.2g}"
    return text
