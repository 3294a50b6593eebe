"""How far apart RAVEL's two definitions are on the same SAE, and how many cause pairs SAEBench's bucketing moves.

    python scripts/ravel_definition_gap.py [--seeds 0 1 2 3 4] [--pairs 256]

Model: the organism with a BOS-adding tokenizer (parity/ravel_inputs.py; there both definitions read the
entity's last token, so they differ only by the pair split and the bucketing), its TopK SAE on blocks.0,
city x (Country, Continent, Language). Prints, per attribute, the mean over seeds of cause / isolation /
disentanglement under `heldout` and `saebench`, and the share of SAEBench-definition cause pairs whose base
and source answers share their first token (scored as isolation by SAEBench).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from saebench.metrics import EvalContext, discover
from saebench.metrics.ravel.plugin import knowledge, pairs_for
from saebench.models import load_language_model
from saebench.saes import load_sae
from saebench.services import Services

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "parity"))
from ravel_inputs import ATTRIBUTES, CLASS, ORGANISM, SAE, bos_organism  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument("--pairs", type=int, default=256)
    parser.add_argument("--work", type=Path, default=Path("/tmp/ravel_definition_gap"))
    args = parser.parse_args()
    lm = load_language_model(str(bos_organism(args.work / "model")))
    sae = load_sae({"id": "orgllama/l0_topk_512", "path": str(SAE)})
    info = discover().get("ravel")
    params = info.make_params({"source": str(ORGANISM / "ravel"), "classes": {CLASS: ATTRIBUTES},
                               "seeds": args.seeds, "n_pairs_per_attribute": args.pairs})
    ctx = EvalContext(lm=lm, hook=sae.metadata.hook, saes=[sae], space=lm.activation_space(False), device=lm.device,
                      services=Services.for_model(lm))
    (result,) = list(info.run(ctx, params))
    values = {}
    for m in result.metrics:
        if m.seed is None and m.subset and "/" in m.subset and not m.metric.startswith("n_"):
            values[(m.subset.split("/")[1], m.metric)] = (m.value, m.stderr)
    known = knowledge(ctx, params, CLASS, ATTRIBUTES, "saebench")
    print(f"{'attribute':10s} {'metric':16s} {'heldout':>15s} {'saebench':>15s}  moved to isolation")
    for attribute in ATTRIBUTES:
        moved = []
        for seed in args.seeds:
            _, test = pairs_for(known, params, attribute, ATTRIBUTES, "saebench", seed)
            cause = [p for p in test if p.kind == "cause"]
            moved.append(np.mean([p.base.first_token == p.source.first_token for p in cause]))
        for metric in ("cause_score", "isolation_score", "disentanglement_score"):
            h, s = values[(attribute, f"{metric}_heldout")], values[(attribute, metric)]
            print(f"{attribute:10s} {metric:16s} {h[0]:.3f} ± {h[1]:.3f}   {s[0]:.3f} ± {s[1]:.3f}"
                  + (f"  {np.mean(moved):.3f}" if metric == "cause_score" else ""))


if __name__ == "__main__":
    main()
