"""Absorption and auto-interp sampling per SAE, cold (empty cache folder) vs warm (a later run).

    python benchmarks/sampling_cache.py [--n 1 8] [--d-sae 4096] [--autointerp-tokens 131072]

Model: a random-init 4-layer d256 Llama (~7.4M parameters) with a byte-level BPE tokenizer of 8,192
tokens trained here on the bundled texts (AG News slice, Bias-in-Bios slice, stories), so absorption's
word list is thousands of alphabetic tokens, as with a real vocabulary. SAEs: random TopK (k 32) on
blocks.2.hook_resid_post. For each N, in a fresh cache folder:
  cold - a first run: absorption (prompt activations and ground-truth probe computed) and auto-interp's
         sampling pass (the corpus rows' LM activations computed and cached), then every SAE's share
  warm - a new process's view: new cache objects on the same folder (nothing in memory), so prompt and
         corpus activations are read from disk; absorption's probe and all SAE work are recomputed
Prints seconds per SAE and cold/warm. (Auto-interp's judge calls are not part of this benchmark.)
"""

from __future__ import annotations

import argparse
import tempfile
import time

import torch

from saebench.cache import ActivationCache
from saebench.data import CorpusSpec
from saebench.metrics import EvalContext, discover
from saebench.metrics.autointerp.plugin import AutoInterpParams, _sample_group
from saebench.models import LanguageModel
from saebench.paths import asset
from saebench.saes import SAEMetadata, TopKSAE
from saebench.services import Services

HOOK = "blocks.2.hook_resid_post"
D_MODEL = 256


def bundled_texts() -> list[str]:
    import json

    import pandas as pd

    with open(asset("corpus/stories260k_samples.jsonl"), encoding="utf-8") as f:
        texts = [json.loads(line)["text"] for line in f]
    news = pd.read_csv(asset("datasets/ag_news_test.csv"), header=None, dtype=str, keep_default_na=False)
    texts += (news[1] + " " + news[2]).tolist()
    bios = pd.read_csv(asset("datasets/bias_in_bios_accountant.csv"), dtype=str, keep_default_na=False)
    texts += bios["hard_text"].tolist()
    return texts


def build_tokenizer(vocab_size: int = 8192):
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=["<|bos|>", "<|eos|>", "<|pad|>"],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tok.train_from_iterator(bundled_texts(), trainer)
    return PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<|bos|>", eos_token="<|eos|>",
                                   pad_token="<|pad|>")


def build_model(tokenizer) -> LanguageModel:
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    cfg = LlamaConfig(num_hidden_layers=4, hidden_size=D_MODEL, intermediate_size=688, num_attention_heads=4,
                      num_key_value_heads=4, vocab_size=len(tokenizer), max_position_embeddings=256,
                      bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id)
    return LanguageModel(LlamaForCausalLM(cfg).eval(), tokenizer, name="random-llama-4x256-bpe8k")


def make_saes(n: int, d_sae: int) -> list[TopKSAE]:
    saes = []
    for i in range(n):
        W_dec = torch.randn(d_sae, D_MODEL, generator=torch.Generator().manual_seed(i))
        W_dec /= W_dec.norm(dim=1, keepdim=True)
        md = SAEMetadata(sae_id=f"random/{i}", hook=HOOK, architecture="topk", source="benchmark")
        saes.append(TopKSAE(W_dec.T.clone(), W_dec, torch.zeros(d_sae), torch.zeros(D_MODEL), k=32, metadata=md))
    return saes


def context(lm, saes, folder) -> EvalContext:
    services = Services.for_model(lm, CorpusSpec(path=asset("corpus/stories260k_samples.jsonl")),
                                  activations=ActivationCache(folder))
    return EvalContext(lm=lm, hook=HOOK, saes=saes, space=lm.activation_space(False), device=torch.device("cpu"),
                       batch_size=32, services=services)


def timed_run(lm, saes, folder, n_tokens: int) -> tuple[float, float]:
    """(absorption seconds, auto-interp sampling seconds) for the group, with new cache objects."""
    ctx = context(lm, saes, folder)
    info = discover().get("absorption")
    start = time.perf_counter()
    list(info.run(ctx, info.make_params({})))
    absorption = time.perf_counter() - start
    params = AutoInterpParams(n_tokens=n_tokens)
    start = time.perf_counter()
    tokens = ctx.tokens(params.n_rows, params.context_size, params.prepend_bos)
    _sample_group(ctx, ctx.saes, params, tokens, ctx.special_mask(tokens))
    return absorption, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, nargs="+", default=[1, 8])
    parser.add_argument("--d-sae", type=int, default=4096)
    parser.add_argument("--autointerp-tokens", type=int, default=131072)
    args = parser.parse_args()
    torch.set_grad_enabled(False)
    tokenizer = build_tokenizer()
    lm = build_model(tokenizer)
    words = sum(1 for t in tokenizer.get_vocab() if t.lstrip("Ġ").isalpha() and t.lstrip("Ġ").isascii())
    params = sum(p.numel() for p in lm.model.parameters())
    print(f"torch={torch.__version__} threads={torch.get_num_threads()} model={params / 1e6:.1f}M params, "
          f"vocab {len(tokenizer)} ({words} alphabetic tokens) d_sae={args.d_sae} "
          f"autointerp tokens={args.autointerp_tokens}")
    print(f"{'N':>3} {'absorption cold':>16} {'warm s/SAE':>11} {'cold/warm':>10} "
          f"{'sampling cold':>14} {'warm s/SAE':>11} {'cold/warm':>10}")
    for n in args.n:
        saes = make_saes(n, args.d_sae)
        with tempfile.TemporaryDirectory() as folder:
            cold = timed_run(lm, saes, folder, args.autointerp_tokens)
            warm = timed_run(lm, saes, folder, args.autointerp_tokens)
        print(f"{n:>3} {cold[0] / n:>16.3f} {warm[0] / n:>11.3f} {cold[0] / warm[0]:>9.2f}x "
              f"{cold[1] / n:>14.3f} {warm[1] / n:>11.3f} {cold[1] / warm[1]:>9.2f}x", flush=True)


if __name__ == "__main__":
    main()
