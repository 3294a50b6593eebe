"""SAE Lens on-disk format: `cfg.json` + `sae_weights.safetensors` (v5 flat cfg and v6 `metadata` cfg).

Architectures read here: standard/ReLU, TopK (v6 `architecture: topk` + `k`, or v5 `activation_fn_str:
topk` + `activation_fn_kwargs.k`) and JumpReLU (`threshold` tensor).
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from saebench.errors import SAELoadError
from saebench.saes.architectures import ARCHITECTURES, JumpReLUSAE, LinearSAE, TopKSAE
from saebench.saes.formats.hub import fetch_files
from saebench.saes.formats.registry import register_format
from saebench.saes.protocol import SAEMetadata
from saebench.saes.spec import SAESpec
from saebench.saes.validation import check_k, check_weights

log = logging.getLogger(__name__)

CFG_FILE = "cfg.json"
WEIGHTS_FILE = "sae_weights.safetensors"
SUPPORTED_ARCHITECTURES = ("standard", "relu", "topk", "jumprelu")
_METADATA_KEYS = ("model_name", "hook_name", "hook_head_index", "prepend_bos", "context_size",
                  "model_from_pretrained_kwargs", "dataset_path", "sae_lens_version")


@register_format("sae_lens")
def load_sae_lens(spec: SAESpec) -> LinearSAE:
    """Load an SAE Lens SAE from `spec.path` or from the hub (`spec.repo_id`, `spec.folder`)."""
    if spec.path:
        folder = Path(spec.path).expanduser()
        source = f"sae_lens:{folder}"
    else:
        prefix = f"{spec.folder.strip('/')}/" if spec.folder else ""
        files = fetch_files(spec.repo_id, [prefix + CFG_FILE, prefix + WEIGHTS_FILE], revision=spec.revision)
        folder = files[0].parent
        source = f"sae_lens:hf://{spec.repo_id}/{prefix}@{spec.revision or 'main'}"
    return load_sae_lens_folder(folder, spec, source)


def load_sae_lens_folder(folder: Path, spec: SAESpec, source: str) -> LinearSAE:
    if not folder.is_dir():
        raise SAELoadError(f"SAE {spec.id!r}: folder {str(folder)!r} does not exist.")
    cfg = _read_cfg(folder, spec.id)
    tensors = _read_weights(folder, spec.id)
    return build_from_cfg(cfg, tensors, spec, source)


def _read_cfg(folder: Path, sae_id: str) -> dict[str, Any]:
    path = folder / CFG_FILE
    if not path.is_file():
        present = sorted(p.name for p in folder.iterdir())
        raise SAELoadError(f"SAE {sae_id!r}: {str(path)!r} is missing. An SAE Lens folder holds {CFG_FILE} "
                           f"and {WEIGHTS_FILE}; found {present}.")
    try:
        cfg = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise SAELoadError(f"SAE {sae_id!r}: {str(path)!r} is not valid JSON ({e}).") from e
    if not isinstance(cfg, dict):
        raise SAELoadError(f"SAE {sae_id!r}: {str(path)!r} must hold a JSON object, got {type(cfg).__name__}.")
    return cfg


def _read_weights(folder: Path, sae_id: str) -> dict[str, torch.Tensor]:
    path = folder / WEIGHTS_FILE
    if not path.is_file():
        present = sorted(p.name for p in folder.iterdir())
        raise SAELoadError(f"SAE {sae_id!r}: weight file {str(path)!r} is missing; found {present}.")
    try:
        return load_file(str(path))
    except (SafetensorError, OSError, ValueError, RuntimeError) as e:
        raise SAELoadError(f"SAE {sae_id!r}: weight file {str(path)!r} is corrupt or not safetensors ({e}).") from e


def _flatten_cfg(cfg: dict[str, Any]) -> dict[str, Any]:
    """v6 keeps model/hook facts under `metadata`; v5 has them at top level. Return one flat dict."""
    flat = dict(cfg)
    meta = cfg.get("metadata")
    if isinstance(meta, dict):
        for key in _METADATA_KEYS:
            if key in meta and flat.get(key) is None:
                flat[key] = meta[key]
    return flat


def _architecture(cfg: dict[str, Any], sae_id: str) -> tuple[str, dict[str, Any]]:
    arch = str(cfg.get("architecture", "standard"))
    if arch not in SUPPORTED_ARCHITECTURES:
        raise SAELoadError(f"SAE {sae_id!r}: architecture {arch!r} is not supported by the SAE Lens loader. "
                           f"Supported: {', '.join(SUPPORTED_ARCHITECTURES)}.")
    if arch == "topk":
        return "topk", {"k": cfg.get("k", (cfg.get("activation_fn_kwargs") or {}).get("k"))}
    if arch == "jumprelu":
        return "jumprelu", {}
    act = cfg.get("activation_fn_str", cfg.get("activation_fn", "relu")) or "relu"
    if act == "topk":
        return "topk", {"k": (cfg.get("activation_fn_kwargs") or {}).get("k")}
    if act != "relu":
        raise SAELoadError(f"SAE {sae_id!r}: activation function {act!r} is not supported for the "
                           "standard architecture. Supported: relu, topk.")
    return "relu", {}


def build_from_cfg(cfg: dict[str, Any], tensors: dict[str, torch.Tensor], spec: SAESpec,
                   source: str) -> LinearSAE:
    """Turn a parsed SAE Lens cfg and its tensors into a checked SAE module."""
    flat = _flatten_cfg(cfg)
    sae_id = spec.id
    arch, hyper = _architecture(flat, sae_id)
    for key in ("W_enc", "W_dec", "b_enc", "b_dec") + (("threshold",) if arch == "jumprelu" else ()):
        if key not in tensors:
            raise SAELoadError(f"SAE {sae_id!r}: weight file lacks tensor {key!r} needed by architecture "
                               f"{arch!r}; it has {sorted(tensors)}.")
    d_in, d_sae = tensors["W_enc"].shape if tensors["W_enc"].ndim == 2 else (None, None)
    if d_in is None:
        raise SAELoadError(f"SAE {sae_id!r}: W_enc must be 2-D [d_in, d_sae], got {tuple(tensors['W_enc'].shape)}.")
    for key, val in (("d_in", d_in), ("d_sae", d_sae)):
        if flat.get(key) is not None and int(flat[key]) != val:
            raise SAELoadError(f"SAE {sae_id!r}: cfg says {key}={flat[key]} but W_enc has {key}={val}.")
    check_weights(sae_id, tensors, d_in, d_sae)

    normalize = flat.get("normalize_activations") or "none"
    if normalize != "none":
        raise SAELoadError(f"SAE {sae_id!r}: normalize_activations={normalize!r} is not supported yet; "
                           "supported: 'none'.")
    if flat.get("hook_head_index") is not None:
        raise SAELoadError(f"SAE {sae_id!r}: per-head SAEs (hook_head_index={flat['hook_head_index']}) are "
                           "not supported; supported: hook_head_index null.")
    hook = spec.hook or flat.get("hook_name")
    if not hook:
        raise SAELoadError(f"SAE {sae_id!r}: cfg has no hook_name (top level or metadata); set `hook:` in "
                           "the SAE config.")
    kwargs = flat.get("model_from_pretrained_kwargs") or {}
    centred = spec.centred if spec.centred is not None else bool(kwargs.get("center_writing_weights", False))
    metadata = SAEMetadata(
        sae_id=sae_id, hook=hook, architecture=arch, source=source, model=flat.get("model_name"),
        centred=centred, prepend_bos=flat.get("prepend_bos"), context_size=flat.get("context_size"),
        extra={"sae_lens_cfg_version": "v6" if "metadata" in cfg else "v5"},
    )
    common = dict(metadata=metadata, apply_b_dec_to_input=bool(flat.get("apply_b_dec_to_input", False)))
    w = (tensors["W_enc"], tensors["W_dec"], tensors["b_enc"], tensors["b_dec"])
    if arch == "topk":
        return TopKSAE(*w, k=check_k(sae_id, hyper["k"], d_sae), **common)
    if arch == "jumprelu":
        return JumpReLUSAE(*w, threshold=tensors["threshold"], **common)
    return ARCHITECTURES.get(arch)(*w, **common)


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
