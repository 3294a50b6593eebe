"""Train reference SAEs on a synthetic model (ReLU-L1, TopK, BatchTopK, Matryoshka BatchTopK at two L0s).

    python scripts/train_synthetic_saes.py [--preset synth_ci] [--out saebench/assets/synthetic/synth_ci]
                                           [--k 5 10] [--relu-l1 ...] [--steps 3000] [--n 300000] [--batch 1024]

Samples `--n` activations of the preset (seeded), trains every SAE on them with saebench's trainer
(`saebench/saes/training.py`) at width = the number of true features, and writes SAE Lens folders
(`<kind>_l0_<k>`, fp32) on hook `synthetic` plus `saes.json` (L0 and FVU on held-out samples).
"""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

import numpy as np
import torch

from saebench.saes.formats.sae_lens import save_sae_lens
from saebench.saes.protocol import SAEMetadata
from saebench.saes.training import build_trained_sae, matryoshka_groups, train_sae
from saebench.synthetic import SyntheticModel, preset
from saebench.synthetic.source import HOOK

log = logging.getLogger("train_synthetic_saes")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="synth_ci")
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--k", type=int, nargs=2, default=[5, 10], help="the two target L0s")
    parser.add_argument("--relu-l1", type=float, nargs=2, default=[4e-2, 1.5e-2],
                        help="L1 coefficients giving the ReLU SAEs about those L0s")
    parser.add_argument("--steps", type=int, default=3000)
    parser.add_argument("--n", type=int, default=300_000)
    parser.add_argument("--batch", type=int, default=1024)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    out = args.out or Path("saebench/assets/synthetic") / args.preset
    model = SyntheticModel(preset(args.preset))
    gen = torch.Generator().manual_seed(args.seed)
    train, _ = model.sample(args.n, gen)
    held_out, _ = model.sample(20_000, gen)
    width = model.cfg.num_features
    summary = {}
    for k, l1 in zip(args.k, args.relu_l1, strict=True):
        for kind in ("relu", "topk", "batchtopk", "matryoshka_batchtopk"):
            extra = {"l1": l1} if kind == "relu" else {"k": k}
            w = train_sae(train, kind, width, args.steps, args.seed, batch=args.batch, **extra)
            name = f"{kind}_l0_{k}"
            prefixes = tuple(np.cumsum(matryoshka_groups(width)).tolist()) if kind.startswith("matryoshka") else None
            md = SAEMetadata(sae_id=f"{args.preset}/{name}", hook=HOOK, architecture=kind,
                             source="train_synthetic_saes", model=f"synthetic:{args.preset}", prefixes=prefixes)
            sae = build_trained_sae(w, kind, md, k=k)
            save_sae_lens(sae, out / name, model_name=f"synthetic:{args.preset}",
                          extra_metadata={"dataset_path": f"synthetic:{args.preset} (scripts/train_synthetic_saes.py)"})
            with torch.no_grad():
                f = sae.encode(held_out)
                fvu = float(((held_out - sae.decode(f)) ** 2).sum() / ((held_out - held_out.mean(0)) ** 2).sum())
            summary[name] = {"l0": round(float((f != 0).sum(-1).float().mean()), 2), "fvu": round(fvu, 4),
                             **({"l1": l1} if kind == "relu" else {"k": k})}
            log.info("%s: %s", name, summary[name])
    (out / "saes.json").write_text(json.dumps(summary, indent=1) + "\n")


if __name__ == "__main__":
    main()
