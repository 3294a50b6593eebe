"""Where each Hugging Face architecture family keeps its decoder layers, final norm and sublayers."""

from __future__ import annotations

from dataclasses import dataclass

from torch import nn

from saebench.errors import ModelLoadError


@dataclass(frozen=True)
class FamilyLayout:
    """Attribute paths: `layers`/`final_norm` from the model root, `attn_out`/`mlp_out`/`mlp` within a layer.

    `attn_out`/`mlp_out` name the module whose *output* is what the block adds to the residual stream
    (TransformerLens `hook_attn_out`/`hook_mlp_out`); for Gemma 2/3 that is the post-sublayer norm.
    """

    layers: str
    final_norm: str
    attn_out: str
    mlp_out: str
    mlp: str = "mlp"   # the MLP module itself; its input is TransformerLens `ln2.hook_normalized`


_LLAMA = FamilyLayout("model.layers", "model.norm", "self_attn", "mlp")
_GEMMA2 = FamilyLayout("model.layers", "model.norm", "post_attention_layernorm", "post_feedforward_layernorm")
_NEOX = FamilyLayout("gpt_neox.layers", "gpt_neox.final_layer_norm", "attention", "mlp")
_GPT2 = FamilyLayout("transformer.h", "transformer.ln_f", "attn", "mlp")

FAMILIES: dict[str, FamilyLayout] = {
    "llama": _LLAMA,
    "mistral": _LLAMA,
    "mixtral": _LLAMA,
    "qwen2": _LLAMA,
    "qwen3": _LLAMA,
    "gemma": _LLAMA,
    "gemma2": _GEMMA2,
    "gemma3_text": _GEMMA2,
    "gpt_neox": _NEOX,
    "gpt2": _GPT2,
}


def layout_for(model_type: str) -> FamilyLayout:
    """The layout for a `config.model_type`, or a clear error listing the supported families."""
    try:
        return FAMILIES[model_type]
    except KeyError:
        raise ModelLoadError(
            f"Unsupported model family {model_type!r}: saebench does not know where its decoder layers "
            f"live. Supported model_type values: {', '.join(sorted(FAMILIES))}."
        ) from None


def get_submodule(root: nn.Module, path: str) -> nn.Module:
    """Follow a dotted attribute path, with an error naming the missing step."""
    mod: nn.Module = root
    for part in path.split("."):
        if not hasattr(mod, part):
            raise ModelLoadError(f"Module {type(root).__name__} has no submodule {path!r} (missing {part!r}).")
        mod = getattr(mod, part)
    return mod
