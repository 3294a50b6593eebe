"""Does each metric measure something? Trained SAEs vs diagnostic controls, in units of measured noise.

Inputs: a results folder and the role of each SAE (`trained`, or a control kind: `random`,
`permuted_decoder`, `pca`, `identity`, ...). For every metric with a quality direction (overall rows:
subset null; the headline k where the metric has a `k` column):

- noise sigma per (SAE, metric): the standard deviation of its per-seed values when the task ran with
  several seeds (what a single-seed rerun varies by), else the value's own standard error (core's
  clustered token-sample error); the minimum detectable difference of two single-seed runs is
  2.77 sigma (1.96 * sqrt(2));
- separation of trained SAE t from control c: direction * (v_t - v_c) / sqrt((sigma_t^2 + sigma_c^2) / 2),
  reported as the minimum over trained SAEs (every trained SAE must beat the control);
- verdict per metric: `separates` when the minimum separation from every required control (random and
  permuted decoder, where present) is >= 3; `wrong direction` when some required control beats every
  trained SAE by >= 3; `no noise estimate` when sigma is unknown (one seed, no standard error);
  otherwise `does not separate`. PCA and identity are shown but not required: a dense, full-rank code can
  legitimately win reconstruction metrics. Nor is a random control far denser than its source (core L0
  more than `DENSE_FACTOR` x the source's, e.g. a ReLU SAE at initialisation, ~1,000 latents on): it is
  not sparsity-matched, so beating it or losing to it says nothing about the trained SAE (shown, noted).

Known-answer SAEs (built by surgery, with a `planted.json` next to their weights: role `known<-<base id>`)
are not trained SAEs nor controls: `known_answer_table` sets each of their headline values beside their
base SAE's, in noise units; what the value should be is stated by the construction (README).
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd

REQUIRED_CONTROLS = ("random", "permuted_decoder")
SEPARATION = 3.0
NOISE_FLOOR = 1e-9       # a pooled sigma below this is rounding between identical seeds, not a noise estimate
MDD_FACTOR = 1.96 * math.sqrt(2)   # minimum detectable difference of two single-seed runs, in sigma
DENSE_FACTOR = 4.0                 # a control whose L0 exceeds its source's by this factor is not required


def noise_table(df: pd.DataFrame) -> pd.DataFrame:
    """Per (sae_id, task, metric, subset, k): mean over seeds, seed std (sigma), n seeds, and the MDD."""
    keys = ["sae_id", "task", "metric", "subset", "k"]
    df = df.copy()
    df["_key"] = [repr(t) for t in zip(*(df[c].astype(object).where(df[c].notna(), None) for c in keys),
                                         strict=True)]
    rows = []
    for _, group in df.groupby("_key", sort=True):
        first = group.iloc[0]
        seeded = group[group["seed"].notna()]
        n_seeds = len(seeded)
        if n_seeds >= 2:
            value, sigma, source = float(seeded["value"].mean()), float(seeded["value"].std(ddof=1)), "seed std"
        else:
            row = (group[group["seed"].isna()] if group["seed"].isna().any() else group).iloc[0]
            value = float(row["value"])
            stderr = row["stderr"] if "stderr" in group else np.nan
            sigma = float(stderr) if stderr is not None and np.isfinite(stderr) else np.nan
            source = "stderr" if np.isfinite(sigma) else "none"
        rows.append({**{c: (None if pd.isna(first[c]) else first[c]) for c in keys}, "value": value, "sigma": sigma,
                     "n_seeds": n_seeds, "sigma_source": source,
                     "mdd": MDD_FACTOR * sigma if np.isfinite(sigma) else np.nan})
    return pd.DataFrame(rows, columns=[*keys, "value", "sigma", "n_seeds", "sigma_source", "mdd"])


def _directions(df: pd.DataFrame) -> dict[str, int]:
    if "direction" not in df:
        return {}
    out = {}
    for metric, direction in df.groupby("metric")["direction"].first().items():
        out[metric] = {"higher": 1, "lower": -1}.get(direction, 0)
    return out


def _headline_k(df: pd.DataFrame) -> dict[tuple[str, str], object]:
    """(task, metric) -> the k of its headline value (None when the metric has no k column)."""
    if "headline_k" not in df:
        return {}
    out = {}
    for (task, metric), k in df.groupby(["task", "metric"])["headline_k"].first().items():
        out[(task, metric)] = None if k is None or (isinstance(k, float) and math.isnan(k)) else int(k)
    return out


def latest_params(df: pd.DataFrame) -> pd.DataFrame:
    """Per (SAE, task) only the rows of the latest settings (parameters, plugin version and SAE weights) its
    units used: a results folder may hold parts of older settings, plugin versions or weights of an id."""
    if "params_hash" not in df or "created_at" not in df:
        return df
    blank = pd.Series([""] * len(df), index=df.index)
    version = df.get("task_version", blank)
    weights = df.get("sae_fingerprint", blank)
    setting = df["params_hash"].astype(str) + "@" + version.astype(str) + "#" + weights.astype(str)
    last = pd.DataFrame({"sae_id": df["sae_id"], "task": df["task"], "setting": setting,
                         "created_at": df["created_at"]}).sort_values("created_at").groupby(
                             ["sae_id", "task"])["setting"].last()
    keep = [last[(s, t)] == h for s, t, h in zip(df["sae_id"], df["task"], setting, strict=True)]
    return df[keep]


def validity_table(df: pd.DataFrame, roles: dict[str, str]) -> pd.DataFrame:
    """One row per (task, metric): trained mean +- sigma, each control's value and separation, verdict.
    A control paired with its source SAE (`random<-<id>`) is compared with that SAE alone; others with
    every trained SAE (the worst counts). A control whose value equals its source's exactly (a permuted
    decoder on a metric that reads only the encoder) is shown but cannot count: `same as its source`."""
    unknown = sorted(set(roles) - set(df["sae_id"]))
    if unknown:
        raise ValueError(f"SAEs with a role have no results: {unknown}; results hold {sorted(set(df['sae_id']))}")
    trained = [s for s, r in roles.items() if r == "trained"]
    if not trained:
        raise ValueError("no SAE has the role 'trained'")
    dense = _dense_controls(df, roles)
    rows = []
    for task, metric, k, direction, by_sae in _headline_groups(df):
        present = [s for s in trained if s in by_sae.index]
        if not present:
            continue
        t_vals = by_sae.loc[present, "value"].astype(float)
        t_sig = by_sae.loc[present, "sigma"].astype(float)
        row = {"task": task, "metric": metric, "k": k, "direction": "higher" if direction > 0 else "lower",
               "trained_mean": float(t_vals.mean()), "trained_min": float(t_vals.min()),
               "trained_max": float(t_vals.max()), "sigma": float(np.sqrt(np.mean(t_sig ** 2))),
               "n_trained": len(present)}
        if t_vals.isna().all():
            row["verdict"] = "no values (not evaluated on this model)"
            rows.append(row)
            continue
        verdicts = []
        for control, role in sorted((s, r) for s, r in roles.items() if r != "trained" and not _known(r)):
            if control not in by_sae.index:
                continue
            kind, _, source = role.partition("<-")
            c_val, c_sig = float(by_sae.loc[control, "value"]), float(by_sae.loc[control, "sigma"])
            versus = [source] if source in present else present
            v, sig = by_sae.loc[versus, "value"].astype(float), by_sae.loc[versus, "sigma"].astype(float)
            pooled = np.sqrt((sig ** 2 + c_sig ** 2) / 2)
            pooled = pooled.where(pooled > NOISE_FLOOR)   # seeds that agree to rounding measure no noise
            z = direction * (v - c_val) / pooled
            z_min = float(z.min()) if np.all(np.isfinite(z)) else np.nan
            row[f"{kind}:{control}"] = c_val
            row[f"sep:{control}"] = z_min
            if kind in REQUIRED_CONTROLS:
                if control in dense:
                    row["note"] = row.get("note", "") + f"{control} not sparsity-matched ({dense[control]}); "
                    continue
                if source and (v == c_val).all():
                    row.setdefault("note", "")
                    row["note"] += f"{control} same as its source; "
                    continue
                verdicts.append((z_min, float(z.max()) if np.all(np.isfinite(z)) else np.nan))
        row["verdict"] = _verdict(verdicts)
        rows.append(row)
    return pd.DataFrame(rows)


def _dense_controls(df: pd.DataFrame, roles: dict[str, str]) -> dict[str, str]:
    """Paired controls whose core L0 exceeds DENSE_FACTOR x their source's: control -> 'L0 a vs b'."""
    l0 = df[(df["task"] == "core") & (df["metric"] == "l0") & df["subset"].isna()]
    l0 = l0.groupby("sae_id")["value"].mean()
    out = {}
    for control, role in roles.items():
        source = role.partition("<-")[2]
        if source and control in l0.index and source in l0.index and l0[control] > DENSE_FACTOR * l0[source]:
            out[control] = f"L0 {l0[control]:.4g} vs {l0[source]:.4g}"
    return out


CONTROL_FORMATS = {"random": "random", "permuted_decoder": "permuted_decoder", "pca": "pca", "identity": "identity"}


def roles_from_specs(specs) -> dict[str, str]:
    """An SAE's role from its format: the baseline formats are controls, everything else is trained. A
    control built `of` a trained SAE in the run (same path) is paired with it: role `random<-<sae id>`.
    A folder with a `planted.json` (a known-answer SAE) has role `known<-<base id>` (its `base`, a sibling
    folder, when that SAE is in the run)."""
    import json

    by_path = {str(s.path): s.id for s in specs if s.format not in CONTROL_FORMATS and getattr(s, "path", None)}
    roles = {}
    for s in specs:
        role = CONTROL_FORMATS.get(s.format, "trained")
        source = by_path.get(str((s.options.get("of") or {}).get("path"))) if role != "trained" else None
        planted = Path(str(s.path)) / "planted.json" if role == "trained" and getattr(s, "path", None) else None
        if planted is not None and planted.is_file():
            base = json.loads(planted.read_text()).get("base")
            role, source = "known", by_path.get(str(Path(str(s.path)).parent / base)) if base else None
        roles[s.id] = f"{role}<-{source}" if source else role
    return roles


def _known(role: str) -> bool:
    return role.partition("<-")[0] == "known"


def known_answer_table(df: pd.DataFrame, roles: dict[str, str]) -> pd.DataFrame:
    """Per known-answer SAE and headline (task, metric): its value +- sigma beside its base SAE's, and the
    difference in noise units (signed so that positive = better by the metric's direction)."""
    known = {sae: role.partition("<-")[2] or None for sae, role in sorted(roles.items()) if _known(role)}
    groups = list(_headline_groups(df))
    rows = []
    for sae, base in known.items():
        for task, metric, k, direction, group in groups:
            if sae not in group.index:
                continue
            v, sig = float(group.loc[sae, "value"]), float(group.loc[sae, "sigma"])
            row = {"sae_id": sae, "task": task, "metric": metric, "k": k, "value": v, "sigma": sig, "base": base}
            if base in group.index:
                bv, bs = float(group.loc[base, "value"]), float(group.loc[base, "sigma"])
                pooled = float(np.sqrt((sig ** 2 + bs ** 2) / 2))
                row.update(base_value=bv, base_sigma=bs, sep=direction * (v - bv) / pooled if pooled > 0 else np.nan)
            rows.append(row)
    return pd.DataFrame(rows)


def _headline_groups(df: pd.DataFrame):
    """(task, metric, headline k, direction +1/-1, noise rows indexed by sae_id) for every overall metric
    with a quality direction, at its headline k where it has one."""
    directions = _directions(df)
    heads = _headline_k(df)
    for (task, metric), group in noise_table(df[df["subset"].isna()]).groupby(["task", "metric"], sort=True):
        direction = directions.get(metric, 0)
        if direction == 0:
            continue
        k = heads.get((task, metric))
        group = group[group["k"].isna()] if k is None else group[group["k"] == k]
        yield task, metric, k, direction, group.set_index("sae_id")


def _verdict(seps: list[tuple[float, float]]) -> str:
    if not seps:
        return "no required control with a value"
    if any(not np.isfinite(lo) for lo, _ in seps):
        return "no noise estimate"
    if any(hi <= -SEPARATION for _, hi in seps):
        return "wrong direction"
    if all(lo >= SEPARATION for lo, _ in seps):
        return "separates"
    return "does not separate"


def to_markdown(table: pd.DataFrame) -> str:
    """The report as a Markdown table (values to 4 significant digits, separations to 1 decimal)."""
    if table.empty:
        return "(no metric with a quality direction)\n"
    cols = [c for c in table.columns if c not in ("trained_min", "trained_max", "n_trained")]
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for _, r in table.iterrows():
        cells = []
        for c in cols:
            v = r[c]
            if isinstance(v, float):
                separation = c == "sep" or c.startswith("sep:")
                cells.append("" if not np.isfinite(v) else f"{v:.1f}" if separation else f"{v:.4g}")
            else:
                cells.append("" if v is None else str(v))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def write_report(results_dir: str | Path, roles: dict[str, str], out: str | Path) -> pd.DataFrame:
    """Validity table of a results folder -> `out`/validity.parquet and `out`/validity.md; also noise.parquet."""
    from saebench.results import read_metrics

    df = latest_params(read_metrics(results_dir))
    table = validity_table(df, roles)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    table.to_parquet(out / "validity.parquet", index=False)
    noise_table(df).to_parquet(out / "noise.parquet", index=False)
    known = known_answer_table(df, roles)
    text = to_markdown(table)
    if not known.empty:
        known.to_parquet(out / "known_answers.parquet", index=False)
        text += "\n## Known-answer SAEs (beside their base SAE)\n\n" + to_markdown(known)
    (out / "validity.md").write_text(text, encoding="utf-8")
    return table
