"""Train the synthetic tier's reference SAEs: ReLU (L1), JumpReLU, TopK, BatchTopK and Matryoshka BatchTopK
at two L0s and several seeds, on a synthetic model's samples.

    python scripts/train_synthetic_saes.py [--preset synth_ci] [--out saebench/assets/synthetic/synth_ci]
                                           [--l0 4 8] [--seeds 0 1] [--steps 3000] [--n 300000] [--batch 1024]

Samples `--n` activations of the preset (seeded), trains every SAE on them with saebench's trainer
(`saebench/saes/training.py`) at width = the number of true features: the TopK family at k = the target L0
with the AuxK loss (as SAE Lens trains them; coefficient 4 and a 50-step dead window, see --aux), ReLU and
JumpReLU with their sparsity coefficient adapted to the target L0. Writes SAE Lens folders
(`<kind>_l0_<L0>_s<seed>`, fp16) on hook `synthetic` and `saes.json` (L0, FVU on held-out samples,
training seconds); SAEs already in `saes.json` are kept, so an interrupted run resumes.
"""

from __future__ import annotations

import argparse
import json
import logging
import time
from pathlib import Path

import numpy as np
import torch

from saebench.saes.formats.sae_lens import save_sae_lens
from saebench.saes.protocol import SAEMetadata
from saebench.saes.training import KINDS, PENALTY_KINDS, build_trained_sae, matryoshka_groups, train_sae
from saebench.synthetic import SyntheticModel, preset
from saebench.synthetic.source import HOOK

log = logging.getLogger("train_synthetic_saes")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="synth_ci")
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--l0", type=int, nargs="+", default=[4, 8], help="target L0s (TopK family: k)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    parser.add_argument("--kinds", nargs="+", default=list(KINDS), choices=KINDS)
    parser.add_argument("--steps", type=int, default=3000)
    parser.add_argument("--n", type=int, default=300_000)
    parser.add_argument("--batch", type=int, default=1024)
    parser.add_argument("--lr", type=float, default=3e-3)
    parser.add_argument("--aux", type=float, default=4.0,
                        help="AuxK coefficient (TopK family); 1.0 (SAE Lens) left 551 of 1,536 latents dead after "
                             "1,500 steps of BatchTopK at L0 4, 4.0 with --dead-window 50 left 129")
    parser.add_argument("--dead-window", type=int, default=50, help="steps without firing before a latent is dead")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    out = args.out or Path("saebench/assets/synthetic") / args.preset
    model = SyntheticModel(preset(args.preset))
    gen = torch.Generator().manual_seed(0)
    train, _ = model.sample(args.n, gen)
    held_out, _ = model.sample(20_000, gen)
    width = model.cfg.num_features
    summary_file = out / "saes.json"
    summary = json.loads(summary_file.read_text()) if summary_file.is_file() else {}
    for seed in args.seeds:
        for l0 in args.l0:
            for kind in args.kinds:
                name = f"{kind}_l0_{l0}_s{seed}"
                if name in summary and (out / name).is_dir():
                    log.info("%s: already trained", name)
                    continue
                extra = ({"target_l0": float(l0)} if kind in PENALTY_KINDS
                         else {"k": l0, "aux_coefficient": args.aux, "dead_window": args.dead_window})
                start = time.perf_counter()
                w = train_sae(train, kind, width, args.steps, seed, batch=args.batch, lr=args.lr, **extra)
                seconds = time.perf_counter() - start
                prefixes = (tuple(np.cumsum(matryoshka_groups(width)).tolist()) if kind.startswith("matryoshka")
                            else None)
                md = SAEMetadata(sae_id=f"{args.preset}/{name}", hook=HOOK, architecture=kind,
                                 source="train_synthetic_saes", model=f"synthetic:{args.preset}", prefixes=prefixes)
                sae = build_trained_sae(w, kind, md, k=l0).to(torch.float16)
                save_sae_lens(sae, out / name, model_name=f"synthetic:{args.preset}", extra_metadata={
                    "dataset_path": f"synthetic:{args.preset} (scripts/train_synthetic_saes.py)"})
                with torch.no_grad():                      # as users load it: fp16 weights, fp32 compute
                    f = sae.float().encode(held_out)
                    x_hat = sae.decode(f)
                    fvu = float(((held_out - x_hat) ** 2).sum() / ((held_out - held_out.mean(0)) ** 2).sum())
                summary[name] = {"kind": kind, "target_l0": l0, "seed": seed, "steps": args.steps,
                                 "l0": round(float((f != 0).sum(-1).float().mean()), 3), "fvu": round(fvu, 4),
                                 "train_seconds": round(seconds, 1)}
                log.info("%s: %s", name, summary[name])
                summary_file.write_text(json.dumps(summary, indent=1, sort_keys=True) + "\n")


if __name__ == "__main__":
    main()
