"""Inputs of the core parity fixture, made with saebench (main environment): token rows of the
bundled corpus, packed as SAE Lens packs them, written with the tokenizer's fingerprint.

    python parity/make_core_inputs.py [--rows 32] [--context 128]
"""

from __future__ import annotations

import argparse
from pathlib import Path

from saebench.data import CorpusSpec, iter_documents, pack_documents
from saebench.data.pretokenized import save_tokens
from saebench.models import load_language_model
from saebench.paths import asset

OUT = Path(__file__).resolve().parent.parent / "tests" / "parity" / "fixtures" / "core"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=32)
    parser.add_argument("--context", type=int, default=128)
    args = parser.parse_args()
    lm = load_language_model(asset("stories260K"))
    corpus = CorpusSpec(path=asset("corpus/stories260k_samples.jsonl"))
    rows = pack_documents(iter_documents(corpus), lm.tokenizer, args.context, args.rows, True)
    path = save_tokens(OUT / "tokens.safetensors", rows, lm.tokenizer)
    print(f"wrote {path}: {tuple(rows.shape)}")


if __name__ == "__main__":
    main()
