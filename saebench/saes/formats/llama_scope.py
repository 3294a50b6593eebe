"""Llama Scope (OpenMOSS, `fnlp/Llama3_1-8B-Base-L{N}{R|A|M|TC}-{8|32}x`): `hyperparams.json` +
`checkpoints/final.safetensors` with `encoder.weight [d_sae, d_in]`, `encoder.bias`, `decoder.weight
[d_out, d_sae]`, `decoder.bias`; JumpReLU with one scalar `jump_relu_threshold`.

The SAEs were trained on dataset-wise normalised activations: inputs scaled by sqrt(d_model) / the
average input norm and outputs by sqrt(d_model) / the average output norm
(`dataset_average_activation_norm: {in, out}`). Both scalings are folded into the weights exactly.
"""

from __future__ import annotations

import math

import torch

from saebench.errors import SAELoadError
from saebench.saes.architectures import LinearSAE
from saebench.saes.build import build_sae
from saebench.saes.formats.files import read_json, read_safetensors, resolve_folder
from saebench.saes.formats.registry import register_format
from saebench.saes.formats.sae_lens import fold_input_scaling
from saebench.saes.protocol import SAEMetadata
from saebench.saes.spec import SAESpec
from saebench.saes.validation import require

HYPERPARAMS_FILE = "hyperparams.json"
WEIGHTS_FILE = "checkpoints/final.safetensors"
DEFAULT_MODEL = "meta-llama/Llama-3.1-8B"


@register_format("llama_scope")
def load_llama_scope(spec: SAESpec, env=None) -> LinearSAE:
    """Load one Llama Scope SAE folder, local or from the hub (`repo_id` + `folder`)."""
    folder, source = resolve_folder(spec, "llama_scope", required=[HYPERPARAMS_FILE, WEIGHTS_FILE])
    hp = read_json(folder / HYPERPARAMS_FILE, spec.id, hint="A Llama Scope folder holds hyperparams.json")
    state = read_safetensors(folder / WEIGHTS_FILE, spec.id)
    require(spec.id, state, ("encoder.weight", "encoder.bias", "decoder.weight", "decoder.bias"), WEIGHTS_FILE)
    for key in ("jump_relu_threshold", "hook_point_in"):
        if key not in hp:
            raise SAELoadError(f"SAE {spec.id!r}: {HYPERPARAMS_FILE} lacks {key!r}; found {sorted(hp)}.")
    tensors = {"W_enc": state["encoder.weight"].T.contiguous(), "b_enc": state["encoder.bias"],
               "W_dec": state["decoder.weight"].T.contiguous(), "b_dec": state["decoder.bias"]}
    d_sae = tensors["W_enc"].shape[1]
    tensors["threshold"] = torch.full((d_sae,), float(hp["jump_relu_threshold"]), dtype=tensors["W_enc"].dtype)
    hook_in, hook_out = spec.hook or hp["hook_point_in"], hp.get("hook_point_out")
    output_hook = spec.options.get("output_hook") or (hook_out if hook_out and hook_out != hook_in else None)
    metadata = SAEMetadata(
        sae_id=spec.id, hook=hook_in, output_hook=output_hook, architecture="jumprelu", source=source,
        model=spec.model or DEFAULT_MODEL, centred=bool(spec.centred), prepend_bos=True, context_size=1024,
        extra={"llama_scope_norm_activation": hp.get("norm_activation")},
    )
    sae = build_sae("jumprelu", tensors, metadata, what=WEIGHTS_FILE)
    if hp.get("norm_activation", "dataset-wise") == "dataset-wise":
        norms = hp.get("dataset_average_activation_norm")
        if not isinstance(norms, dict) or not {"in", "out"} <= set(norms):
            raise SAELoadError(f"SAE {spec.id!r}: norm_activation is dataset-wise but {HYPERPARAMS_FILE} has no "
                               "dataset_average_activation_norm {in, out}.")
        root_d = math.sqrt(hp.get("d_model", sae.d_in))
        fold_input_scaling(sae, root_d / float(norms["in"]), root_d / float(norms["out"]))
    return sae
