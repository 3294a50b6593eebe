"""Gemma Scope (Google DeepMind): JumpReLU SAEs stored as `params.npz` with
`W_enc [d_in, d_sae], W_dec [d_sae, d_in], b_enc, b_dec, threshold`.

Addressed the way users name them: `repo_id: google/gemma-scope-2b-pt-res` and
`folder: layer_12/width_16k/average_l0_82`, or the `canonical` alias (`layer_12/width_16k/canonical`),
which resolves to the release's canonical L0 for that layer and width.
"""

from __future__ import annotations

import re

from saebench.errors import SAELoadError
from saebench.saes.architectures import LinearSAE
from saebench.saes.build import build_sae
from saebench.saes.formats.files import read_npz, resolve_folder
from saebench.saes.formats.registry import register_format
from saebench.saes.protocol import SAEMetadata
from saebench.saes.spec import SAESpec

PARAMS_FILE = "params.npz"
_REPO_RE = re.compile(r"gemma-scope-(\d+b)-(pt|it)-(res|mlp|att|transcoders)")
_FOLDER_RE = re.compile(r"layer_(\d+)/width_(\w+)/(average_l0_\d+|canonical)")
# Canonical L0 per (model size, site, layer, width), as published with the release (SAE Lens's
# `gemma-scope-*-canonical` releases). Extend as needed; other entries can always be named explicitly.
CANONICAL_L0 = {
    ("2b", "res", 12, "16k"): 82,
    ("2b", "res", 12, "65k"): 72,
}
MODELS = {"2b": "google/gemma-2-2b", "9b": "google/gemma-2-9b", "27b": "google/gemma-2-27b"}


def resolve_canonical(sae_id: str, repo_id: str | None, folder: str) -> str:
    """Replace a trailing `canonical` with `average_l0_<N>` from CANONICAL_L0."""
    m = _FOLDER_RE.search(folder)
    if not m or m.group(3) != "canonical":
        return folder
    r = _REPO_RE.search(repo_id or "")
    key = (r.group(1) if r else "?", r.group(3) if r else "?", int(m.group(1)), m.group(2))
    if key not in CANONICAL_L0:
        known = ", ".join(f"{s}-{site} layer_{layer}/width_{w}" for s, site, layer, w in sorted(CANONICAL_L0))
        raise SAELoadError(f"SAE {sae_id!r}: no canonical L0 is recorded for {key}. Known canonical entries: "
                           f"{known}. Name the SAE explicitly, e.g. layer_{key[2]}/width_{key[3]}/average_l0_<N>.")
    return folder[: m.start(3)] + f"average_l0_{CANONICAL_L0[key]}" + folder[m.end(3):]


def _hooks(spec: SAESpec, site: str, layer: int | None) -> tuple[str, str | None]:
    if spec.hook:
        return spec.hook, spec.options.get("output_hook")
    if layer is None:
        raise SAELoadError(f"SAE {spec.id!r}: cannot tell the layer from {spec.path or spec.folder!r} (expected "
                           "'layer_<N>/...'); set `hook:` in the SAE config.")
    if site == "res":
        return f"blocks.{layer}.hook_resid_post", None
    if site == "mlp":
        return f"blocks.{layer}.hook_mlp_out", None
    if site == "transcoders":
        return f"blocks.{layer}.ln2.hook_normalized", f"blocks.{layer}.hook_mlp_out"
    raise SAELoadError(f"SAE {spec.id!r}: Gemma Scope {site!r} SAEs read attention hook_z, which saebench does "
                       "not support yet; supported sites: res, mlp, transcoders.")


@register_format("gemma_scope")
def load_gemma_scope(spec: SAESpec, env=None) -> LinearSAE:
    """Load a Gemma Scope JumpReLU SAE (or transcoder) from a local folder or the hub."""
    if spec.folder:
        spec = spec.with_folder(resolve_canonical(spec.id, spec.repo_id, spec.folder))
    folder, source = resolve_folder(spec, "gemma_scope", required=[PARAMS_FILE])
    tensors = read_npz(folder / PARAMS_FILE, spec.id)
    where = f"{spec.repo_id or ''}/{spec.folder or spec.path}"
    repo = _REPO_RE.search(spec.repo_id or "") or _REPO_RE.search(str(spec.path or ""))
    size, site = (repo.group(1), repo.group(3)) if repo else (None, spec.options.get("site", "res"))
    layer_m = re.search(r"layer_(\d+)", where)
    hook, output_hook = _hooks(spec, site, int(layer_m.group(1)) if layer_m else None)
    l0 = re.search(r"average_l0_(\d+)", where)
    metadata = SAEMetadata(
        sae_id=spec.id, hook=hook, output_hook=output_hook, architecture="jumprelu", source=source,
        model=spec.model or MODELS.get(size or ""), centred=bool(spec.centred), prepend_bos=True, context_size=1024,
        extra={"gemma_scope_average_l0": int(l0.group(1))} if l0 else {},
    )
    return build_sae("jumprelu", tensors, metadata, what=PARAMS_FILE)
