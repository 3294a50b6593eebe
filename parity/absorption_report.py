"""Print the absorption parity table (saebench vs SAEBench 0.6.0 on the organism, every fixture seed), and the
same table with one convention changed, to show which changes the parity test detects.

    python parity/absorption_report.py [--perturb bos|classmean|same-prompts|v1]

- `bos`: prepend BOS (TransformerLens 3.9 prepends none for GPT-NeoX, so SAEBench's prompts have none);
- `classmean`: main latents by class-mean difference (definition v1's rule) instead of the L1 probe;
- `same-prompts`: absorption on the ground-truth probe's own prompts instead of freshly drawn ones;
- `v1`: definition v1's values against SAEBench's fields.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from tests.parity import test_absorption_parity as t  # noqa: E402
from tests.parity.test_absorption_parity import FIELDS, SAE_IDS, V1_FIELDS, bound, saebench_values  # noqa: E402

EXTRA = ("std_dev_absorption_fraction_score", "std_dev_full_absorption_score", "std_dev_num_split_features")


def perturb(name: str | None) -> tuple[dict | None, tuple[str, ...]]:
    from saebench.metrics.absorption import calculator, saebench_definition, task

    if name == "bos":
        return {"prepend_bos": True}, ("saebench",)
    if name == "classmean":
        def classmean(F, data, k_max, f1_jump, generator, recipe=None):
            ranked = calculator.rank_by_class_mean(F, data, k_max)
            f1 = calculator.k_sparse_f1(F, data, ranked, C=1.0, sklearn_balanced=True)
            return calculator.KSparse(ranked.cpu(), f1, calculator.count_main_latents(f1, f1_jump))
        saebench_definition.k_sparse_probing = classmean
    if name == "same-prompts":
        def same(ctx, params, data, prompts, probes, rng):
            rows = saebench_definition.true_positives(data, probes)
            return task.FreshPrompts(saebench_definition.Candidates([r.cpu() for r in rows],
                                                                    [r.cpu() for r in rows]), data.X)
        task._fresh = same
    return None, ("saebench", "v1") if name == "v1" else ("saebench",)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--perturb", choices=("bos", "classmean", "same-prompts", "v1"))
    args = parser.parse_args()
    overrides, definitions = perturb(args.perturb)
    ours = t.run_absorption_on_fixture(definitions, overrides)
    n = len(t.FIXTURE["seeds"])
    print(f"{n} seeds; criterion |delta| <= {t.Z} * sqrt(sd_SAEBench^2 / n + sd_saebench^2 / n)")
    print("| SAE | field | SAEBench mean ± sd | saebench mean ± sd | Δ | bound | within |")
    print("|---|---|---|---|---|---|---|")
    failed = 0
    for sae_id in SAE_IDS:
        for field in (*FIELDS, *EXTRA):
            mine_name = V1_FIELDS.get(field) if args.perturb == "v1" else field
            if mine_name is None:
                continue
            theirs, mine = saebench_values(sae_id, field), ours[(sae_id, mine_name)]
            delta, b = np.mean(mine) - np.mean(theirs), bound(mine, theirs)
            ok = abs(delta) <= b
            failed += (not ok) and field in FIELDS
            print(f"| {sae_id} | {field} | {np.mean(theirs):.4f} ± {np.std(theirs, ddof=1):.4f} | "
                  f"{np.mean(mine):.4f} ± {np.std(mine, ddof=1):.4f} | {delta:+.4f} | {b:.4f} | "
                  f"{'yes' if ok else '**no**'} |")
    print(f"tested fields outside the bound: {failed} of {len(FIELDS) * len(SAE_IDS)}")


if __name__ == "__main__":
    main()
