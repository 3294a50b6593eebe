"""`SAESpec`: how a config names one SAE to load (format + local path or hub location)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field, fields
from typing import Any

from saebench.checks import check_keys
from saebench.errors import ConfigError

# Formats that read files; the others (baselines, plain modules) are built from options.
NEEDS_LOCATION = ("sae_lens", "gemma_scope", "dictionary_learning", "sparsify", "llama_scope")


@dataclass(frozen=True, kw_only=True)
class SAESpec:
    """One SAE as written in `configs/sae/*.yaml` under `saes:`."""

    id: str                          # unique name used in results (sae_id)
    format: str = "sae_lens"         # registered file format
    path: str | None = None          # local folder (takes precedence over the hub)
    repo_id: str | None = None       # Hugging Face hub repository
    folder: str | None = None        # folder inside the repository
    revision: str | None = None
    hook: str | None = None          # override the hook named in the SAE's own config
    centred: bool | None = None      # override: SAE was trained on a TransformerLens-centred stream
    model: str | None = None         # the model the SAE was trained on, when its file names it differently
    fold_decoder_norms: bool = True  # rescale latents so W_dec rows are unit-norm (function unchanged)
    prefixes: Any = None             # Matryoshka: 'all' or a list of prefix sizes, each evaluated as an SAE
    options: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> SAESpec:
        check_keys(d, [f.name for f in fields(cls)], f"SAE spec {d!r}")
        if not d.get("id"):
            raise ConfigError(f"SAE spec {d!r} has no 'id'. Every SAE needs a unique id, e.g. 'release/name'.")
        if d.get("format", "sae_lens") in NEEDS_LOCATION and not d.get("path") and not d.get("repo_id"):
            raise ConfigError(f"SAE {d['id']!r} needs either 'path' (local folder) or 'repo_id' (hub).")
        return cls(**{k: (dict(v) if k == "options" else v) for k, v in d.items()})

    def with_folder(self, folder: str) -> SAESpec:
        return dataclasses.replace(self, folder=folder)
