"""Train the two bundled demo SAEs on stories260K residual activations and save them in SAE Lens format.

    python scripts/train_demo_saes.py --out saebench/assets/demo_saes

Training text is sampled from the model with a seed different from the demo corpus's, so the demo
evaluates on held-out text. ReLU SAE: L1 penalty weighted by decoder norms (saved with the v5 flat
cfg). TopK SAE: k=8 (saved with the v6 cfg). Both have d_sae=256 on blocks.2.hook_resid_post.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

import torch
from tqdm.auto import trange

from saebench.data import pack_documents, special_mask
from saebench.models import load_language_model
from saebench.paths import asset
from saebench.saes import ReLUSAE, SAEMetadata, TopKSAE
from saebench.saes.formats.sae_lens import save_sae_lens

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


def _init(d_in: int, d_sae: int, acts: torch.Tensor, gen: torch.Generator):
    W_dec = torch.randn(d_sae, d_in, generator=gen)
    W_dec /= W_dec.norm(dim=1, keepdim=True)
    return (W_dec.T.clone() * 0.5).requires_grad_(), W_dec.requires_grad_(), \
        torch.zeros(d_sae, requires_grad=True), acts.mean(0).clone().requires_grad_()


def train(acts: torch.Tensor, kind: str, d_sae: int, steps: int, seed: int, k: int = 8, l1: float = 2e-2):
    gen = torch.Generator().manual_seed(seed)
    W_enc, W_dec, b_enc, b_dec = _init(acts.shape[1], d_sae, acts, gen)
    opt = torch.optim.Adam([W_enc, W_dec, b_enc, b_dec], lr=3e-3)
    scale = acts.var(0).sum()
    for step in trange(steps, desc=f"training {kind}"):
        x = acts[torch.randint(len(acts), (4096,), generator=gen)]
        pre = (x - b_dec) @ W_enc + b_enc
        if kind == "topk":
            top = pre.topk(k, dim=-1)
            f = torch.zeros_like(pre).scatter(-1, top.indices, torch.relu(top.values))
        else:
            f = torch.relu(pre)
        x_hat = f @ W_dec + b_dec
        loss = ((x - x_hat) ** 2).sum(-1).mean() / scale
        if kind == "relu":
            loss = loss + l1 * (f * W_dec.norm(dim=1)).sum(-1).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        with torch.no_grad():
            if kind == "topk":
                W_dec /= W_dec.norm(dim=1, keepdim=True)
        if step % 500 == 0:
            log.info("%s step %d loss %.4f l0 %.1f", kind, step, loss.item(), (f != 0).sum(-1).float().mean())
    with torch.no_grad():  # fold decoder norms into the encoder: same function, unit-norm decoder rows
        norms = W_dec.norm(dim=1)
        W_enc_f, b_enc_f, W_dec_f = W_enc * norms, b_enc * norms, W_dec / norms[:, None]
    return W_enc_f.detach(), W_dec_f.detach(), b_enc_f.detach(), b_dec.detach()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("saebench/assets/demo_saes"))
    parser.add_argument("--stories", type=int, default=3000)
    parser.add_argument("--steps", type=int, default=3000)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO)
    acts = training_activations(args.stories, seed=7)
    log.info("training on %d activations of width %d", *acts.shape)
    for kind, version in (("relu", "v5"), ("topk", "v6")):
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
