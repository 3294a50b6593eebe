"""The synthetic tier's architecture ordering: ground-truth metrics of the reference SAEs per (architecture,
L0) over their training seeds, next to the controls and SynthSAEBench's published ordering.

    saebench run sae=synth_ci suite=synthetic output_dir=results/baselines/synth_ci
    python scripts/synthetic_ordering.py [--results results/baselines/synth_ci]
                                         [--out results/synthetic/synth_ci_ordering]

Reads the run's rows (task `ground_truth`), groups the reference SAEs `synth_ci/<kind>_l0_<L0>_s<seed>` by
(kind, L0), and writes `<out>.parquet` (one row per SAE and metric) and `<out>.md`: per (L0, kind) the
seed mean and half the seed range of each metric, the controls, and for each published pairwise claim
(Matryoshka > BatchTopK ≈ JumpReLU > L1, on F1 and MCC) the difference on each seed and whether every
seed agrees.
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path

import pandas as pd

from saebench.results.reader import read_many, representative

METRICS = ("f1", "mcc", "explained_variance", "hierarchy_absorption", "hedging", "uniqueness", "dead_latents", "l0")
NAME = re.compile(r"^synth_ci/(?P<kind>[a-z_]+)_l0_(?P<target>\d+)_s(?P<seed>\d+)$")
# SynthSAEBench (arXiv 2602.14687) on synth16k at L0 25: F1 0.879 / 0.732 / 0.732 / 0.556
PUBLISHED_F1 = {"matryoshka_batchtopk": 0.879, "batchtopk": 0.732, "jumprelu": 0.732, "relu": 0.556}
CLAIMS = [("matryoshka_batchtopk", ">", "batchtopk"), ("matryoshka_batchtopk", ">", "jumprelu"),
          ("batchtopk", "≈", "jumprelu"), ("batchtopk", ">", "relu"), ("jumprelu", ">", "relu")]


def load(results: Path) -> pd.DataFrame:
    rows = representative(read_many([str(results)]))
    rows = rows[(rows["task"] == "ground_truth") & rows["subset"].isna() & rows["metric"].isin(METRICS)]
    return rows[["sae_id", "metric", "value"]].pivot(index="sae_id", columns="metric", values="value")


def seed_table(wide: pd.DataFrame) -> pd.DataFrame:
    ref = wide[wide.index.str.match(NAME.pattern)].copy()
    parts = ref.index.to_series().str.extract(NAME)
    ref["kind"], ref["target_l0"], ref["seed"] = parts["kind"], parts["target"].astype(int), parts["seed"].astype(int)
    return ref


def claim_rows(ref: pd.DataFrame, metric: str) -> list[str]:
    """Each published claim at each L0, paired by seed (the kinds trained with one seed share their initial
    decoder, and seed-to-seed swings are shared across kinds): the per-seed differences, and a verdict that
    needs every seed to agree."""
    out = []
    for target, at in ref.groupby("target_l0"):
        by = at.pivot(index="seed", columns="kind", values=metric)
        for a, rel, b in CLAIMS:
            if a not in by.columns or b not in by.columns:
                continue
            diffs = (by[a] - by[b]).dropna()
            shown = ", ".join(f"{d:+.3f}" for d in diffs)
            if rel == ">":
                verdict = ("holds on every seed" if (diffs > 0).all() else
                           "reversed on every seed" if (diffs < 0).all() else "seeds disagree")
            else:
                verdict = ("holds (every seed within 0.03)" if (diffs.abs() <= 0.03).all() else
                           f"{a} higher on every seed" if (diffs > 0).all() else
                           f"{b} higher on every seed" if (diffs < 0).all() else "seeds disagree")
            out.append(f"| {target} | {metric} | {a} {rel} {b} | {shown} | {verdict} |")
    return out


def markdown(wide: pd.DataFrame, ref: pd.DataFrame) -> str:
    shown = [m for m in METRICS if m in wide.columns]
    lines = [f"| L0 | architecture | seeds | {' | '.join(shown)} |", "|---|---|---|" + "---|" * len(shown)]
    for (target, kind), g in ref.groupby(["target_l0", "kind"]):
        cells = [f"{g[m].mean():.3f} ± {(g[m].max() - g[m].min()) / 2:.3f}" for m in shown]
        lines.append(f"| {target} | {kind} | {len(g)} | {' | '.join(cells)} |")
    controls = wide[wide.index.str.startswith("control/")]
    lines += ["", f"| control | {' | '.join(shown)} |", "|---|" + "---|" * len(shown)]
    for sae, r in controls.iterrows():
        lines.append(f"| {sae} | {' | '.join(f'{r[m]:.3f}' for m in shown)} |")
    lines += ["", "| L0 | metric | published claim | difference per seed | on synth_ci |", "|---|---|---|---|---|"]
    for metric in ("f1", "mcc"):
        lines += claim_rows(ref, metric)
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--results", type=Path, default=Path("results/baselines/synth_ci"))
    parser.add_argument("--out", type=Path, default=Path("results/synthetic/synth_ci_ordering"))
    args = parser.parse_args()
    wide = load(args.results)
    ref = seed_table(wide)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    ref.reset_index().melt(id_vars=["sae_id", "kind", "target_l0", "seed"], var_name="metric").to_parquet(
        args.out.with_suffix(".parquet"), index=False)
    text = markdown(wide, ref)
    args.out.with_suffix(".md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
