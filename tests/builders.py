"""Test builders: tiny random models of each family (built from configs, offline) and hand-made SAEs."""

from __future__ import annotations

import torch

from saebench.models import LanguageModel
from saebench.paths import asset
from saebench.saes import LinearSAE, ReLUSAE, SAEMetadata, TopKSAE

FAMILIES = ("llama", "mistral", "qwen2", "gemma", "gemma2", "gpt_neox", "gpt2")


class _Tok:
    """Minimal tokenizer stand-in for random models (only special ids are used by the adapter)."""

    bos_token_id, eos_token_id, pad_token_id, all_special_ids = 1, 2, None, [1, 2]


def tiny_model(family: str, n_layers: int = 3, d: int = 32, vocab: int = 97, seed: int = 0) -> LanguageModel:
    """A random-weight model of `family` with `n_layers` layers and width `d`."""
    import transformers as tf

    torch.manual_seed(seed)
    common = dict(vocab_size=vocab, bos_token_id=1, eos_token_id=2, pad_token_id=0)
    if family == "gpt2":
        cfg = tf.GPT2Config(n_layer=n_layers, n_embd=d, n_head=4, n_positions=64, **common)
        model = tf.GPT2LMHeadModel(cfg)
    elif family == "gpt_neox":
        cfg = tf.GPTNeoXConfig(num_hidden_layers=n_layers, hidden_size=d, num_attention_heads=4,
                               intermediate_size=2 * d, max_position_embeddings=64, **common)
        model = tf.GPTNeoXForCausalLM(cfg)
    else:
        cls_cfg, cls = {
            "llama": (tf.LlamaConfig, tf.LlamaForCausalLM),
            "mistral": (tf.MistralConfig, tf.MistralForCausalLM),
            "qwen2": (tf.Qwen2Config, tf.Qwen2ForCausalLM),
            "gemma": (tf.GemmaConfig, tf.GemmaForCausalLM),
            "gemma2": (tf.Gemma2Config, tf.Gemma2ForCausalLM),
        }[family]
        cfg = cls_cfg(num_hidden_layers=n_layers, hidden_size=d, num_attention_heads=4, num_key_value_heads=2,
                      head_dim=d // 4, intermediate_size=2 * d, max_position_embeddings=64, **common)
        model = cls(cfg)
    model.eval()
    return LanguageModel(model, _Tok(), name=f"tiny-{family}")


def stories_model() -> LanguageModel:
    from saebench.models import load_language_model

    return load_language_model(asset("stories260K"))


def metadata(sae_id: str = "test/sae", hook: str = "blocks.2.hook_resid_post", arch: str = "relu",
             centred: bool = False) -> SAEMetadata:
    return SAEMetadata(sae_id=sae_id, hook=hook, architecture=arch, source="test", centred=centred)


class IdentitySAE(LinearSAE):
    """f = x, x_hat = f: a perfect (non-sparse) reconstruction."""

    architecture = "identity"

    def activation(self, pre: torch.Tensor) -> torch.Tensor:
        return pre


def identity_sae(d: int, **md) -> IdentitySAE:
    eye = torch.eye(d)
    return IdentitySAE(eye.clone(), eye.clone(), torch.zeros(d), torch.zeros(d), metadata=metadata(**md))


def zero_sae(d: int, d_sae: int = 8, **md) -> ReLUSAE:
    """Decodes to exactly zero whatever it encodes."""
    g = torch.Generator().manual_seed(0)
    return ReLUSAE(torch.randn(d, d_sae, generator=g), torch.zeros(d_sae, d), torch.zeros(d_sae), torch.zeros(d),
                   metadata=metadata(**md))


def random_topk_sae(d: int, d_sae: int, k: int, seed: int = 0, **md) -> TopKSAE:
    g = torch.Generator().manual_seed(seed)
    W_dec = torch.randn(d_sae, d, generator=g)
    W_dec /= W_dec.norm(dim=1, keepdim=True)
    return TopKSAE(W_dec.T.clone(), W_dec, torch.zeros(d_sae), torch.zeros(d), k=k,
                   metadata=metadata(arch="topk", **md))


def offline_hub_repo(tmp_path, monkeypatch, repo_id: str):
    """A pre-populated Hugging Face cache for `repo_id` (offline mode); returns its snapshot folder,
    where a test writes files exactly as they sit in the hub repository."""
    import huggingface_hub.constants as c

    cache = tmp_path / "hub"
    repo = cache / f"models--{repo_id.replace('/', '--')}"
    commit = "b" * 40
    snap = repo / "snapshots" / commit
    snap.mkdir(parents=True)
    (repo / "refs").mkdir(parents=True, exist_ok=True)
    (repo / "refs" / "main").write_text(commit)
    monkeypatch.setattr(c, "HF_HUB_CACHE", str(cache))
    monkeypatch.setattr(c, "HF_HUB_OFFLINE", True)
    return snap
