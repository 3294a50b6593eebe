"""Which absorption definition recovers absorption planted at known rates? (issue 16's known-answer test)

    python scripts/absorption_recovery.py [--organism saebench/assets/organisms/orgllama] [--seeds 42 43 44]
                                          [--out results/validity/report/absorption_recovery]

Loads the organism's surgery SAE (`saes/surgery_absorption`, built by `scripts/build_organism.py --stages
surgery`) as a user would, runs the absorption task for each seed, and writes per (seed, letter) the planted
rate, the truth read from the planted latents on the rows each definition scores, and both definitions'
absorption fraction and full-absorption rate (`<out>.parquet`), plus a Markdown summary (`<out>.md`).
"""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

import pandas as pd

from saebench.models import load_language_model
from saebench.organisms.recovery import absorption_context, absorption_task, recovery_table
from saebench.paths import asset
from saebench.saes import load_sae

log = logging.getLogger("absorption_recovery")
HOOK = "blocks.2.hook_resid_post"


def summary(table: pd.DataFrame) -> pd.DataFrame:
    """Per definition: mean absolute error of the absorption fraction and of the full-absorption rate
    against the truth on that definition's rows, the largest error, and the correlation with the truth."""
    rows = []
    for d in ("saebench", "v1"):
        truth = table[f"truth_{d}_rows"]
        for field in ("absorption", "full_absorption"):
            err = table[f"{field}_{d}"] - truth
            rows.append({"definition": d, "value": field, "mean_abs_error": err.abs().mean(),
                         "max_abs_error": err.abs().max(), "mean_signed_error": err.mean(),
                         "correlation": table[f"{field}_{d}"].corr(truth),
                         "letter_latent_is_main": table[f"letter_latent_is_main_{d}"].mean()})
    return pd.DataFrame(rows)


def markdown(table: pd.DataFrame, summ: pd.DataFrame) -> str:
    per_letter = table.groupby("letter").agg(
        planted=("planted_rate", "first"), truth_sb=("truth_saebench_rows", "mean"),
        saebench=("absorption_saebench", "mean"), saebench_full=("full_absorption_saebench", "mean"),
        truth_v1=("truth_v1_rows", "mean"), v1=("absorption_v1", "mean"), v1_full=("full_absorption_v1", "mean"))
    lines = ["| letter | planted | truth (SAEBench rows) | SAEBench fraction | SAEBench full | truth (v1 rows) | "
             "v1 fraction | v1 full |", "|---|---|---|---|---|---|---|---|"]
    for letter, r in per_letter.iterrows():
        lines.append(f"| {letter} | {r.planted:.2f} | {r.truth_sb:.3f} | {r.saebench:.3f} | {r.saebench_full:.3f} | "
                     f"{r.truth_v1:.3f} | {r.v1:.3f} | {r.v1_full:.3f} |")
    lines += ["", "| definition | value | mean abs error | max abs error | mean signed error | correlation | "
              "letter latent chosen as main |", "|---|---|---|---|---|---|---|"]
    for _, r in summ.iterrows():
        lines.append(f"| {r.definition} | {r.value} | {r.mean_abs_error:.3f} | {r.max_abs_error:.3f} | "
                     f"{r.mean_signed_error:+.3f} | {r.correlation:.3f} | {r.letter_latent_is_main:.2f} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--organism", type=Path, default=Path(asset("organisms/orgllama")))
    parser.add_argument("--seeds", type=int, nargs="+", default=[42, 43, 44])
    parser.add_argument("--out", type=Path, default=Path("results/validity/report/absorption_recovery"))
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    lm = load_language_model(args.organism)
    folder = args.organism / "saes" / "surgery_absorption"
    sae = load_sae({"id": "surgery_absorption", "format": "sae_lens", "path": str(folder)})
    planted = json.loads((folder / "planted.json").read_text())
    ctx = absorption_context(lm, HOOK)
    tables = []
    for seed in args.seeds:
        task, params = absorption_task(ctx, seed)
        tables.append(recovery_table(ctx, task, params, sae, planted))
    table = pd.concat(tables, ignore_index=True)
    summ = summary(table)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    table.to_parquet(args.out.with_suffix(".parquet"), index=False)
    text = markdown(table, summ)
    args.out.with_suffix(".md").write_text(text, encoding="utf-8")
    print(text)


if __name__ == "__main__":
    main()
