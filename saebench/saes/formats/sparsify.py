"""EleutherAI sparsify: one folder per hookpoint holding `cfg.json` + `sae.safetensors`.

Tensors: `encoder.weight [d_sae, d_in]`, `encoder.bias`, `W_dec [d_sae, d_out]`, `b_dec`, and
`W_skip [d_out, d_in]` for skip transcoders. TopK activation; `b_dec` is subtracted from the input
unless `transcode` is set. Hookpoints are module names (`layers.6`, `model.layers.6.mlp`, `h.6`);
they map to `blocks.6.hook_resid_post`, `blocks.6.hook_mlp_out` (or, for transcoders, MLP input ->
MLP output), `blocks.6.hook_attn_out`. The run's `config.json` one level up names the model.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from saebench.errors import SAELoadError
from saebench.saes.architectures import LinearSAE
from saebench.saes.build import build_sae
from saebench.saes.formats.files import read_json, read_safetensors, resolve_folder
from saebench.saes.formats.hub import fetch_optional
from saebench.saes.formats.registry import register_format
from saebench.saes.protocol import SAEMetadata
from saebench.saes.spec import SAESpec
from saebench.saes.validation import require

CFG_FILE = "cfg.json"
WEIGHTS_FILE = "sae.safetensors"
_HOOKPOINT_RE = re.compile(
    r"^(?:model\.|transformer\.|gpt_neox\.)?(?:layers|h)\.(\d+)(?:\.(mlp|self_attn|attn|attention))?$")


def map_hookpoint(hookpoint: str, transcode: bool, sae_id: str) -> tuple[str, str | None]:
    """(input hook, output hook or None) for a sparsify hookpoint (a module name)."""
    m = _HOOKPOINT_RE.match(hookpoint)
    if not m:
        raise SAELoadError(f"SAE {sae_id!r}: cannot map sparsify hookpoint {hookpoint!r} to a hook. Supported: "
                           "[model.|transformer.|gpt_neox.](layers|h).<N>[.mlp|.self_attn|.attn|.attention]; "
                           "or set `hook:` in the SAE config.")
    layer, sub = int(m.group(1)), m.group(2)
    if sub is None:
        if transcode:
            return f"blocks.{layer}.hook_resid_pre", f"blocks.{layer}.hook_resid_post"
        return f"blocks.{layer}.hook_resid_post", None
    if sub == "mlp":
        if transcode:
            return f"blocks.{layer}.ln2.hook_normalized", f"blocks.{layer}.hook_mlp_out"
        return f"blocks.{layer}.hook_mlp_out", None
    if transcode:
        raise SAELoadError(f"SAE {sae_id!r}: attention transcoders ({hookpoint!r}) are not supported.")
    return f"blocks.{layer}.hook_attn_out", None


def _model_name(folder: Path, spec: SAESpec) -> str | None:
    run_cfg = folder.parent / "config.json"
    if not run_cfg.is_file() and spec.repo_id:
        run_cfg = fetch_optional(spec.repo_id, "config.json", spec.revision) or run_cfg
    if run_cfg.is_file():
        try:
            model = json.loads(run_cfg.read_text()).get("model")
            return model if isinstance(model, str) else None
        except (json.JSONDecodeError, UnicodeDecodeError, AttributeError):
            return None
    return None


@register_format("sparsify")
def load_sparsify(spec: SAESpec, env=None) -> LinearSAE:
    """Load one sparsify SAE or transcoder (a hookpoint folder), local or from the hub."""
    folder, source = resolve_folder(spec, "sparsify", required=[CFG_FILE, WEIGHTS_FILE])
    cfg = read_json(folder / CFG_FILE, spec.id, hint="A sparsify hookpoint folder holds cfg.json and sae.safetensors")
    activation = cfg.get("activation", "topk")        # sparsify's SparseCoderConfig default
    if activation != "topk":
        raise SAELoadError(f"SAE {spec.id!r}: sparsify activation {activation!r} is not supported; supported: topk.")
    state = read_safetensors(folder / WEIGHTS_FILE, spec.id)
    require(spec.id, state, ("encoder.weight", "encoder.bias", "W_dec", "b_dec"), WEIGHTS_FILE)
    tensors = {"W_enc": state["encoder.weight"].T.contiguous(), "b_enc": state["encoder.bias"],
               "W_dec": state["W_dec"], "b_dec": state["b_dec"]}
    if cfg.get("skip_connection") or "W_skip" in state:
        require(spec.id, state, ("W_skip",), WEIGHTS_FILE)
        tensors["W_skip"] = state["W_skip"].T.contiguous()
    transcode = bool(cfg.get("transcode", False))
    if spec.hook:
        hook, output_hook = spec.hook, spec.options.get("output_hook")
    else:
        hook, output_hook = map_hookpoint(spec.options.get("hookpoint") or folder.name, transcode, spec.id)
    if cfg.get("d_in") is not None and tensors["W_enc"].ndim == 2 and int(cfg["d_in"]) != tensors["W_enc"].shape[0]:
        raise SAELoadError(f"SAE {spec.id!r}: cfg says d_in={cfg['d_in']} but encoder.weight has "
                           f"d_in={tensors['W_enc'].shape[0]}.")
    metadata = SAEMetadata(
        sae_id=spec.id, hook=hook, output_hook=output_hook, architecture="topk", source=source,
        model=spec.model or _model_name(folder, spec), centred=bool(spec.centred), prepend_bos=True,
        extra={"sparsify_transcode": transcode, "multi_topk": bool(cfg.get("multi_topk", False))},
    )
    return build_sae("topk", tensors, metadata, hyper={"k": cfg.get("k")}, apply_b_dec_to_input=not transcode,
                     what=WEIGHTS_FILE)
