"""The model and SAEs the benchmarks share: a random-init 6-layer d_model-512 Llama (vocab 32000) built
from a config (large enough that LM work matters on a CPU) and random TopK SAEs on one hook."""

from __future__ import annotations

import torch

from saebench.models import LanguageModel, load_language_model
from saebench.paths import asset
from saebench.saes import SAEMetadata, TopKSAE

HOOK = "blocks.3.hook_resid_post"


def build_model(device: str) -> LanguageModel:
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    cfg = LlamaConfig(num_hidden_layers=6, hidden_size=512, intermediate_size=1376, num_attention_heads=8,
                      num_key_value_heads=8, vocab_size=32000, max_position_embeddings=512)
    tokenizer = load_language_model(asset("stories260K")).tokenizer   # ids < 512, valid for any vocab
    return LanguageModel(LlamaForCausalLM(cfg).eval().to(device), tokenizer, name="random-llama-6x512")


def make_saes(n: int, device: str, d_sae: int = 4096, k: int = 32) -> list[TopKSAE]:
    saes = []
    for i in range(n):
        g = torch.Generator().manual_seed(i)
        W_dec = torch.randn(d_sae, 512, generator=g)
        W_dec /= W_dec.norm(dim=1, keepdim=True)
        md = SAEMetadata(sae_id=f"random/{i}", hook=HOOK, architecture="topk", source="benchmark")
        saes.append(TopKSAE(W_dec.T.clone(), W_dec, torch.zeros(d_sae), torch.zeros(512), k=k, metadata=md).to(device))
    return saes
