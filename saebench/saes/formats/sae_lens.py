"""SAE Lens on-disk format: `cfg.json` + `sae_weights.safetensors` (+ optional `sparsity.safetensors`).

Both cfg layouts load: v5 (flat, `activation_fn_str`) and v6 (`architecture` + a `metadata` block).
Architectures: standard, topk, jumprelu, gated, batchtopk, matryoshka_batchtopk, and the transcoders
(transcoder, skip_transcoder, jumprelu_transcoder; `hook_name_out`, `d_out`, `W_skip` [d_out, d_in]).
`normalize_activations`: `none`; `expected_average_only_in` (a scaling factor, folded into the weights
exactly); `constant_norm_rescale` and `layer_norm` (per-token, applied at run time).
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import save_file

from saebench.errors import SAELoadError
from saebench.saes.architectures import JumpReLUSAE, LinearSAE, TopKSAE
from saebench.saes.build import build_sae, group_ends
from saebench.saes.formats.files import read_json, read_safetensors, resolve_folder
from saebench.saes.formats.registry import register_format
from saebench.saes.protocol import SAEMetadata
from saebench.saes.spec import SAESpec

log = logging.getLogger(__name__)

CFG_FILE = "cfg.json"
WEIGHTS_FILE = "sae_weights.safetensors"
SPARSITY_FILE = "sparsity.safetensors"
# SAE Lens architecture name -> (saebench architecture, is_transcoder)
ARCH_MAP = {
    "standard": ("relu", False), "relu": ("relu", False), "topk": ("topk", False), "jumprelu": ("jumprelu", False),
    "gated": ("gated", False), "batchtopk": ("batchtopk", False),
    "matryoshka_batchtopk": ("matryoshka_batchtopk", False),
    "transcoder": ("relu", True), "skip_transcoder": ("relu", True), "jumprelu_transcoder": ("jumprelu", True),
}
NORMALIZE_MODES = ("none", "expected_average_only_in", "constant_norm_rescale", "layer_norm")
_METADATA_KEYS = ("model_name", "hook_name", "hook_head_index", "prepend_bos", "context_size",
                  "model_from_pretrained_kwargs", "dataset_path", "sae_lens_version")


@register_format("sae_lens")
def load_sae_lens(spec: SAESpec, env=None) -> LinearSAE:
    """Load an SAE Lens SAE from `spec.path` or from the hub (`spec.repo_id`, `spec.folder`)."""
    folder, source = resolve_folder(spec, "sae_lens", required=[CFG_FILE, WEIGHTS_FILE], optional=[SPARSITY_FILE])
    cfg = read_json(folder / CFG_FILE, spec.id, hint=f"An SAE Lens folder holds {CFG_FILE} and {WEIGHTS_FILE}")
    tensors = read_safetensors(folder / WEIGHTS_FILE, spec.id)
    sae = build_from_cfg(cfg, tensors, spec, source)
    sparsity_path = folder / SPARSITY_FILE
    if sparsity_path.is_file():
        sparsity = read_safetensors(sparsity_path, spec.id)
        values = next(iter(sparsity.values()), None)
        if values is not None and values.shape == (sae.d_sae,):
            sae.register_buffer("log10_feature_sparsity", values.float(), persistent=False)
            sae.metadata.extra["has_log10_feature_sparsity"] = True
        else:
            log.warning("SAE %s: ignoring %s (expected one tensor of shape (%d,))", spec.id, sparsity_path, sae.d_sae)
    return sae


def _flatten_cfg(cfg: dict[str, Any]) -> dict[str, Any]:
    """v6 keeps model/hook facts under `metadata`; v5 has them at top level. Return one flat dict."""
    flat = dict(cfg)
    meta = cfg.get("metadata")
    if isinstance(meta, dict):
        for key in _METADATA_KEYS:
            if key in meta and flat.get(key) is None:
                flat[key] = meta[key]
    return flat


def _architecture(cfg: dict[str, Any], sae_id: str) -> tuple[str, bool, dict[str, Any]]:
    """(saebench architecture, is transcoder, hyperparameters). A cfg without `architecture` is 'standard'
    only where SAE Lens itself defaults it so: configs written before SAE Lens 6.0 (its
    `handle_pre_6_0_config`); a 6.x cfg without it is an error, not a guess."""
    if "architecture" not in cfg:
        version = str(cfg.get("sae_lens_version") or "")
        major = int(version.split(".")[0]) if version.split(".")[0].isdigit() else 0
        if major >= 6 or isinstance(cfg.get("metadata"), dict):
            raise SAELoadError(f"SAE {sae_id!r}: cfg.json has no 'architecture' key, which SAE Lens "
                               f"{version or '6.x'} configs must have. Add it (one of: {', '.join(ARCH_MAP)}).")
    name = str(cfg.get("architecture", "standard"))
    if name not in ARCH_MAP:
        raise SAELoadError(f"SAE {sae_id!r}: architecture {name!r} is not supported by the SAE Lens loader. "
                           f"Supported: {', '.join(ARCH_MAP)}.")
    arch, transcoder = ARCH_MAP[name]
    act_kwargs = cfg.get("activation_fn_kwargs") or {}
    k = cfg.get("k", act_kwargs.get("k"))
    if arch == "relu":
        act = cfg.get("activation_fn_str", cfg.get("activation_fn", "relu")) or "relu"
        if act == "topk":
            arch = "topk"
        elif act != "relu":
            raise SAELoadError(f"SAE {sae_id!r}: activation function {act!r} is not supported for the "
                               f"{name!r} architecture. Supported: relu, topk.")
    return arch, transcoder, {"k": k} if k is not None else {}


def _canonical_tensors(tensors: dict[str, torch.Tensor], arch: str) -> dict[str, torch.Tensor]:
    out = dict(tensors)
    if arch == "gated" and "b_mag" in out:                 # SAE Lens gated: b_mag is the magnitude bias
        out["b_enc"] = out.pop("b_mag")
    if "W_skip" in out:                                    # SAE Lens stores W_skip as [d_out, d_in]
        out["W_skip"] = out["W_skip"].T.contiguous()
    return out


def build_from_cfg(cfg: dict[str, Any], tensors: dict[str, torch.Tensor], spec: SAESpec,
                   source: str) -> LinearSAE:
    """Turn a parsed SAE Lens cfg and its tensors into a checked SAE module."""
    flat = _flatten_cfg(cfg)
    sae_id = spec.id
    arch, transcoder, hyper = _architecture(flat, sae_id)
    tensors = _canonical_tensors(tensors, arch)
    if "W_enc" in tensors and tensors["W_enc"].ndim == 2:
        for key, val in (("d_in", tensors["W_enc"].shape[0]), ("d_sae", tensors["W_enc"].shape[1])):
            if flat.get(key) is not None and int(flat[key]) != val:
                raise SAELoadError(f"SAE {sae_id!r}: cfg says {key}={flat[key]} but W_enc has {key}={val}.")
    if flat.get("hook_head_index") is not None:
        raise SAELoadError(f"SAE {sae_id!r}: per-head SAEs (hook_head_index={flat['hook_head_index']}) are "
                           "not supported; supported: hook_head_index null.")
    normalize = flat.get("normalize_activations") or "none"
    if normalize not in NORMALIZE_MODES:
        raise SAELoadError(f"SAE {sae_id!r}: normalize_activations={normalize!r} is unknown; supported: "
                           f"{', '.join(NORMALIZE_MODES)}.")
    hook = spec.hook or flat.get("hook_name")
    if not hook:
        raise SAELoadError(f"SAE {sae_id!r}: cfg has no hook_name (top level or metadata); set `hook:` in "
                           "the SAE config.")
    output_hook = spec.options.get("output_hook") or (flat.get("hook_name_out") if transcoder else None)
    if transcoder and not output_hook:
        raise SAELoadError(f"SAE {sae_id!r}: transcoder cfg has no hook_name_out; set options.output_hook.")
    prefixes = None
    if arch == "matryoshka_batchtopk":
        sizes = flat.get("matryoshka_widths") or flat.get("group_sizes")
        if sizes is None:
            raise SAELoadError(f"SAE {sae_id!r}: matryoshka cfg lacks group sizes (matryoshka_widths).")
        prefixes = _prefixes_from(sae_id, sizes, tensors["W_enc"].shape[1])
    kwargs = flat.get("model_from_pretrained_kwargs") or {}
    centred = spec.centred if spec.centred is not None else bool(kwargs.get("center_writing_weights", False))
    metadata = SAEMetadata(
        sae_id=sae_id, hook=hook, output_hook=output_hook, architecture=arch, source=source,
        model=spec.model or flat.get("model_name"), centred=centred, prepend_bos=flat.get("prepend_bos"),
        context_size=flat.get("context_size"), prefixes=prefixes,
        extra={"sae_lens_cfg_version": "v6" if "metadata" in cfg else "v5", "normalize_activations": normalize},
    )
    run_time_norm = normalize if normalize in ("constant_norm_rescale", "layer_norm") else "none"
    apply_b_dec = bool(flat.get("apply_b_dec_to_input", not transcoder)) and not transcoder
    sae = build_sae(arch, tensors, metadata, hyper=hyper, apply_b_dec_to_input=apply_b_dec,
                    input_norm=run_time_norm, what=f"{WEIGHTS_FILE}")
    if normalize == "expected_average_only_in":
        fold_input_scaling(sae, _scaling_factor(flat, spec))
    return sae


def _prefixes_from(sae_id: str, sizes, d_sae: int) -> tuple[int, ...]:
    sizes = [int(s) for s in sizes]
    if sizes and sizes == sorted(sizes) and sizes[-1] == d_sae and len(set(sizes)) == len(sizes):
        return tuple(sizes)  # SAE Lens `matryoshka_widths` are already cumulative
    return group_ends(sae_id, sizes, d_sae)


def _scaling_factor(flat: dict[str, Any], spec: SAESpec) -> float:
    factor = spec.options.get("norm_scaling_factor", flat.get("norm_scaling_factor"))
    if factor is None:
        raise SAELoadError(
            f"SAE {spec.id!r}: normalize_activations='expected_average_only_in' needs the activation scaling "
            "factor it was trained with (sqrt(d_in) / mean ||x||), which this cfg does not store. Set "
            "`options: {norm_scaling_factor: <float>}` in the SAE config (SAE Lens publishes it per release).")
    factor = float(factor)
    if not factor > 0:
        raise SAELoadError(f"SAE {spec.id!r}: norm_scaling_factor must be > 0, got {factor}.")
    return factor


@torch.no_grad()
def fold_input_scaling(sae: LinearSAE, s_in: float, s_out: float | None = None) -> None:
    """Fold `x -> s_in·x` on the input and `y -> y / s_out` on the output into the weights (exact).

    The SAE was trained on x·s_in and predicts y·s_out; afterwards it reads and writes raw activations.
    """
    s_out = s_in if s_out is None else s_out
    sae.W_enc.mul_(s_in)
    if sae.apply_b_dec_to_input and s_in != s_out:
        raise SAELoadError(f"SAE {sae.metadata.sae_id!r}: cannot fold different input/output scales with "
                           "apply_b_dec_to_input")
    sae.W_dec.div_(s_out)
    sae.b_dec.div_(s_out)
    if sae.W_skip is not None:
        sae.W_skip.mul_(s_in / s_out)
    sae.metadata.extra["folded_input_scaling"] = {"in": s_in, "out": s_out}


def save_sae_lens(sae: LinearSAE, folder: str | Path, cfg_version: str = "v6", model_name: str | None = None,
                  extra_metadata: dict[str, Any] | None = None) -> Path:
    """Write `sae` as an SAE Lens folder (v6 cfg with `metadata`, or the v5 flat cfg)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    md = sae.metadata
    tensors = {"W_enc": sae.W_enc, "W_dec": sae.W_dec, "b_enc": sae.b_enc, "b_dec": sae.b_dec}
    if isinstance(sae, JumpReLUSAE):
        tensors["threshold"] = sae.threshold
    save_file({k: v.detach().contiguous().cpu() for k, v in tensors.items()}, str(folder / WEIGHTS_FILE))
    facts = {"model_name": model_name or md.model, "hook_name": md.hook, "hook_head_index": None,
             "prepend_bos": md.prepend_bos if md.prepend_bos is not None else True,
             "context_size": md.context_size,
             "model_from_pretrained_kwargs": {"center_writing_weights": md.centred},
             **(extra_metadata or {})}
    arch = {"relu": "standard"}.get(sae.architecture, sae.architecture)
    base = {"d_in": sae.d_in, "d_sae": sae.d_sae, "dtype": str(sae.W_enc.dtype).removeprefix("torch."),
            "device": "cpu", "apply_b_dec_to_input": sae.apply_b_dec_to_input, "normalize_activations": "none"}
    if cfg_version == "v6":
        cfg = {"architecture": arch, **base, **sae.hyperparameters(), "reshape_activations": "none",
               "metadata": facts}
    elif cfg_version == "v5":
        topk = isinstance(sae, TopKSAE)
        cfg = {"architecture": "standard" if topk else arch, **base, **facts,
               "hook_layer": int(md.hook.split(".")[1]),
               "activation_fn_str": "topk" if topk else "relu",
               "activation_fn_kwargs": {"k": sae.k} if topk else {}, "finetuning_scaling_factor": False}
    else:
        raise ValueError(f"cfg_version must be 'v5' or 'v6', got {cfg_version!r}")
    (folder / CFG_FILE).write_text(json.dumps(cfg, indent=2))
    return folder
