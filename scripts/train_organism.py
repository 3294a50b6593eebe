"""Train a model organism (tokenizer + Llama) on the synthetic world's corpus and save it in HF format.

    python scripts/train_organism.py --out saebench/assets/organisms/orgllama [--steps 1200]

See saebench/organisms/ (world, corpus, training) and the organism's NOTICE/README for measured knowledge.
"""

from __future__ import annotations

import argparse
import json
import logging
from dataclasses import fields
from pathlib import Path

from saebench.organisms.training import OrganismConfig, train


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True)
    for f in fields(OrganismConfig):
        parser.add_argument(f"--{f.name.replace('_', '-')}", type=type(f.default), default=f.default)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    cfg = OrganismConfig(**{f.name: getattr(args, f.name) for f in fields(OrganismConfig)})
    print(json.dumps(train(cfg, args.out), indent=1))


if __name__ == "__main__":
    main()
