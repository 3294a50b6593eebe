"""Train the bundled demo SAEs on stories260K residual activations.

    python scripts/train_demo_saes.py --out saebench/assets/demo_saes [--only matryoshka]

Training text is sampled from the model with a seed different from the demo corpus's, so the demo
evaluates on held-out text. ReLU SAE: L1 penalty weighted by decoder norms (saved with the v5 flat
cfg). TopK SAE: k=8 (saved with the v6 cfg). Matryoshka BatchTopK SAE: k=8, groups of 32/64/160
latents, each prefix trained to reconstruct on its own (saved in dictionary_learning format: ae.pt +
config.json). All have d_sae=256 on blocks.2.hook_resid_post.
"""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

import torch
from tqdm.auto import trange

from saebench.data import pack_documents, special_mask
from saebench.models import load_language_model
from saebench.paths import asset
from saebench.saes import ReLUSAE, SAEMetadata, TopKSAE
from saebench.saes.formats.sae_lens import save_sae_lens
from saebench.saes.training import matryoshka_groups, train_sae

log = logging.getLogger("train_demo_saes")
HOOK = "blocks.2.hook_resid_post"


def training_activations(n_stories: int, seed: int) -> torch.Tensor:
    lm = load_language_model(asset("stories260K"))
    tok = lm.tokenizer
    torch.manual_seed(seed)
    prompts = torch.full((n_stories, 1), tok.bos_token_id, dtype=torch.long)
    texts = []
    for start in trange(0, n_stories, 128, desc="sampling training text"):
        out = lm.model.generate(prompts[start:start + 128], do_sample=True, temperature=1.0, top_k=0,
                                max_new_tokens=256, pad_token_id=tok.eos_token_id, eos_token_id=tok.eos_token_id)
        texts += [t.strip() for t in tok.batch_decode(out[:, 1:], skip_special_tokens=True) if t.strip()]
    n_rows = sum(len(tok(t, add_special_tokens=False).input_ids) for t in texts) // 128
    tokens = pack_documents(texts, tok, context_size=128, n_rows=n_rows)
    keep = ~special_mask(tokens, lm.special_token_ids())
    acts = torch.cat([lm.activations(tokens[i:i + 64], HOOK) for i in range(0, len(tokens), 64)])
    return acts[keep]


GROUPS = tuple(matryoshka_groups(256))   # 32 / 64 / 160


def train(acts: torch.Tensor, kind: str, d_sae: int, steps: int, seed: int, k: int = 8):
    """The shared trainer (saebench/saes/training.py); Matryoshka returns its threshold too."""
    w = train_sae(acts, "matryoshka_batchtopk" if kind == "matryoshka" else kind, d_sae, steps, seed, k=k)
    weights = w.W_enc, w.W_dec, w.b_enc, w.b_dec
    return (*weights, w.threshold) if kind == "matryoshka" else weights


def save_matryoshka(folder: Path, W_enc, W_dec, b_enc, b_dec, threshold, k: int) -> None:
    """Write the state dict and config exactly as dictionary_learning's MatryoshkaBatchTopKTrainer does."""
    folder.mkdir(parents=True, exist_ok=True)
    state = {"W_enc": W_enc.contiguous(), "b_enc": b_enc.contiguous(), "W_dec": W_dec.contiguous(),
             "b_dec": b_dec.contiguous(), "threshold": torch.as_tensor(float(threshold)),
             "k": torch.tensor(k, dtype=torch.int), "group_sizes": torch.tensor(GROUPS)}
    torch.save(state, folder / "ae.pt")
    trainer = {"trainer_class": "MatryoshkaBatchTopKTrainer", "dict_class": "MatryoshkaBatchTopKSAE",
               "activation_dim": W_enc.shape[0], "dict_size": W_enc.shape[1], "k": k, "group_sizes": list(GROUPS),
               "layer": 2, "lm_name": "stories260K", "submodule_name": "resid_post_layer_2"}
    (folder / "config.json").write_text(json.dumps({"trainer": trainer, "buffer": {"ctx_len": 128}}, indent=2))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("saebench/assets/demo_saes"))
    parser.add_argument("--stories", type=int, default=3000)
    parser.add_argument("--steps", type=int, default=3000)
    parser.add_argument("--only", choices=("relu", "topk", "matryoshka"), help="train just this one")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO)
    acts = training_activations(args.stories, seed=7)
    log.info("training on %d activations of width %d", *acts.shape)
    if args.only in (None, "matryoshka"):
        *weights, threshold = train(acts, "matryoshka", d_sae=256, steps=args.steps, seed=11)
        save_matryoshka(args.out / "matryoshka", *weights, threshold=threshold, k=8)
        log.info("saved matryoshka SAE (dictionary_learning format) to %s", args.out / "matryoshka")
    for kind, version in (("relu", "v5"), ("topk", "v6")):
        if args.only not in (None, kind):
            continue
        W_enc, W_dec, b_enc, b_dec = train(acts, kind, d_sae=256, steps=args.steps, seed=11)
        md = SAEMetadata(sae_id=f"demo/{kind}", hook=HOOK, architecture=kind, source="train_demo_saes",
                         model="stories260K", prepend_bos=True, context_size=128)
        sae = TopKSAE(W_enc, W_dec, b_enc, b_dec, k=8, metadata=md, apply_b_dec_to_input=True) if kind == "topk" \
            else ReLUSAE(W_enc, W_dec, b_enc, b_dec, metadata=md, apply_b_dec_to_input=True)
        save_sae_lens(sae, args.out / kind, cfg_version=version, model_name="stories260K",
                      extra_metadata={"dataset_path": "stories260K samples (scripts/train_demo_saes.py)"})
        log.info("saved %s SAE (%s cfg) to %s", kind, version, args.out / kind)


if __name__ == "__main__":
    main()
