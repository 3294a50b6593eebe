"""dictionary_learning (Marks, Karvonen, Mueller et al.): `ae.pt` (a torch state dict) + `config.json`.

The trainer's `dict_class` (or, failing that, its `trainer_class`) selects the architecture; the state
dict keys are mapped to saebench's canonical names (nn.Linear weights are transposed). This is the format
of the SAEBench baseline suites (`adamkarvonen/saebench_*` repositories).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import torch

from saebench.errors import SAELoadError
from saebench.saes.architectures import LinearSAE
from saebench.saes.build import build_sae, group_ends
from saebench.saes.formats.files import read_json, read_torch_state, resolve_folder
from saebench.saes.formats.registry import register_format
from saebench.saes.protocol import SAEMetadata
from saebench.saes.spec import SAESpec
from saebench.saes.validation import require

WEIGHTS_FILE = "ae.pt"
CONFIG_FILE = "config.json"


@dataclass(frozen=True)
class DictClass:
    architecture: str          # saebench architecture class
    keys: dict[str, str]       # canonical name -> state-dict key
    transpose: tuple[str, ...]  # canonical names stored as nn.Linear weights ([out, in])
    apply_b_dec_to_input: bool


_LINEAR = {"W_enc": "encoder.weight", "b_enc": "encoder.bias", "W_dec": "decoder.weight"}
DICT_CLASSES = {
    "AutoEncoder": DictClass("relu", {**_LINEAR, "b_dec": "bias"}, ("W_enc", "W_dec"), True),
    "AutoEncoderNew": DictClass("relu", {**_LINEAR, "b_dec": "decoder.bias"}, ("W_enc", "W_dec"), False),
    "GatedAutoEncoder": DictClass("gated", {"W_enc": "encoder.weight", "W_dec": "decoder.weight",
                                            "b_dec": "decoder_bias", "b_enc": "mag_bias", "b_gate": "gate_bias",
                                            "r_mag": "r_mag"}, ("W_enc", "W_dec"), True),
    "AutoEncoderTopK": DictClass("topk", {**_LINEAR, "b_dec": "b_dec"}, ("W_enc", "W_dec"), True),
    "BatchTopKSAE": DictClass("batchtopk", {**_LINEAR, "b_dec": "b_dec", "threshold": "threshold"},
                              ("W_enc", "W_dec"), True),
    "MatryoshkaBatchTopKSAE": DictClass("matryoshka_batchtopk", {"W_enc": "W_enc", "b_enc": "b_enc", "W_dec": "W_dec",
                                                                 "b_dec": "b_dec", "threshold": "threshold"}, (), True),
    "JumpReluAutoEncoder": DictClass("jumprelu", {"W_enc": "W_enc", "b_enc": "b_enc", "W_dec": "W_dec",
                                                  "b_dec": "b_dec", "threshold": "threshold"}, (), False),
}
# trainer_class -> (dict_class, architecture label used in results)
TRAINERS = {
    "StandardTrainer": ("AutoEncoder", "relu"),
    "StandardTrainerAprilUpdate": ("AutoEncoder", "relu_april_update"),
    "PAnnealTrainer": ("AutoEncoder", "p_anneal"),
    "GatedSAETrainer": ("GatedAutoEncoder", "gated"),
    "GatedAnnealTrainer": ("GatedAutoEncoder", "gated"),
    "TopKTrainer": ("AutoEncoderTopK", "topk"),
    "BatchTopKTrainer": ("BatchTopKSAE", "batchtopk"),
    "MatryoshkaBatchTopKTrainer": ("MatryoshkaBatchTopKSAE", "matryoshka_batchtopk"),
    "JumpReluTrainer": ("JumpReluAutoEncoder", "jumprelu"),
}
_SUBMODULE_RE = re.compile(r"^(resid_post|resid_pre|mlp_out|attn_out)_layer_(\d+)$")


def _dict_class(trainer: dict[str, Any], sae_id: str) -> tuple[str, str]:
    trainer_class = trainer.get("trainer_class")
    dict_class = trainer.get("dict_class")
    label = TRAINERS.get(trainer_class, (None, None))[1]
    if dict_class not in DICT_CLASSES:
        dict_class = TRAINERS.get(trainer_class, (None, None))[0]
    if dict_class is None:
        raise SAELoadError(f"SAE {sae_id!r}: unknown dictionary_learning trainer_class={trainer_class!r} / "
                           f"dict_class={trainer.get('dict_class')!r}. Supported trainer classes: "
                           f"{', '.join(TRAINERS)}; dict classes: {', '.join(DICT_CLASSES)}.")
    return dict_class, label or DICT_CLASSES[dict_class].architecture


def _hook(trainer: dict[str, Any], spec: SAESpec) -> str:
    if spec.hook:
        return spec.hook
    m = _SUBMODULE_RE.match(str(trainer.get("submodule_name") or ""))
    if m:
        return f"blocks.{m.group(2)}.hook_{m.group(1)}"
    if trainer.get("layer") is None:
        raise SAELoadError(f"SAE {spec.id!r}: config.json names no layer (trainer.layer) and no "
                           "submodule_name; set `hook:` in the SAE config.")
    return f"blocks.{int(trainer['layer'])}.hook_resid_post"  # the convention of SAEBench's loaders


def canonical_tensors(state: dict[str, torch.Tensor], dc: DictClass, sae_id: str) -> dict[str, torch.Tensor]:
    """Rename (and transpose) a dictionary_learning state dict to W_enc/W_dec/b_enc/b_dec/...."""
    require(sae_id, state, tuple(dc.keys.values()), WEIGHTS_FILE)
    out = {}
    for name, key in dc.keys.items():
        t = state[key]
        out[name] = t.T.contiguous() if name in dc.transpose and t.ndim == 2 else t
    if "threshold" in out and out["threshold"].ndim == 0:
        out["threshold"] = out["threshold"].expand(out["W_enc"].shape[1]).clone()
    return out


@register_format("dictionary_learning")
def load_dictionary_learning(spec: SAESpec, env=None) -> LinearSAE:
    """Load a dictionary_learning SAE folder (`ae.pt` + `config.json`), local or from the hub."""
    folder, source = resolve_folder(spec, "dictionary_learning", required=[CONFIG_FILE, WEIGHTS_FILE])
    config = read_json(folder / CONFIG_FILE, spec.id, hint="A dictionary_learning folder holds ae.pt and config.json")
    trainer = config.get("trainer")
    if not isinstance(trainer, dict):
        raise SAELoadError(f"SAE {spec.id!r}: {folder / CONFIG_FILE} has no 'trainer' object; found keys "
                           f"{sorted(config)}.")
    dict_class, label = _dict_class(trainer, spec.id)
    dc = DICT_CLASSES[dict_class]
    state = read_torch_state(folder / WEIGHTS_FILE, spec.id)
    tensors = canonical_tensors(state, dc, spec.id)
    d_sae = tensors["W_enc"].shape[1] if tensors["W_enc"].ndim == 2 else None
    hyper: dict[str, Any] = {}
    k = state["k"].item() if "k" in state else trainer.get("k")
    if k is not None:
        hyper["k"] = k
    prefixes = None
    if dc.architecture == "matryoshka_batchtopk":
        sizes = state["group_sizes"].tolist() if "group_sizes" in state else trainer.get("group_sizes")
        if sizes is None:
            raise SAELoadError(f"SAE {spec.id!r}: Matryoshka SAE without group_sizes (state dict or config).")
        prefixes = group_ends(spec.id, sizes, d_sae)
    buffer = config.get("buffer") if isinstance(config.get("buffer"), dict) else {}
    metadata = SAEMetadata(
        sae_id=spec.id, hook=_hook(trainer, spec), architecture=label, source=source,
        model=spec.model or trainer.get("lm_name"), centred=bool(spec.centred), prepend_bos=True,
        context_size=buffer.get("ctx_len"), prefixes=prefixes,
        extra={"trainer_class": trainer.get("trainer_class"), "dict_class": dict_class},
    )
    return build_sae(dc.architecture, tensors, metadata, hyper=hyper, apply_b_dec_to_input=dc.apply_b_dec_to_input,
                     what=WEIGHTS_FILE)
