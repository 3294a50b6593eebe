"""Load a Hugging Face causal LM and tokenizer (hub id or local folder) into a `LanguageModel`."""

from __future__ import annotations

import logging
from pathlib import Path

import torch

from saebench.errors import ModelLoadError
from saebench.models.adapter import LanguageModel
from saebench.models.identity import model_identity
from saebench.torch_utils import resolve_dtype

log = logging.getLogger(__name__)


def load_language_model(name: str, revision: str | None = None, device: torch.device | str = "cpu",
                        dtype: str | torch.dtype = "float32", trust_remote_code: bool = False) -> LanguageModel:
    """Load `name` (hub id like 'google/gemma-2-2b' or a local folder) on `device` in `dtype`."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    torch_dtype = resolve_dtype(dtype)
    is_local = Path(name).expanduser().exists()
    if not is_local and (name.startswith((".", "/", "~")) or name.count("/") > 1):
        raise ModelLoadError(f"Model folder {name!r} does not exist (and it is not a hub id like 'org/name').")
    try:
        model = AutoModelForCausalLM.from_pretrained(
            name, revision=revision, dtype=torch_dtype, trust_remote_code=trust_remote_code
        )
        tokenizer = AutoTokenizer.from_pretrained(name, revision=revision, trust_remote_code=trust_remote_code)
    except OSError as e:
        where = "local folder" if is_local else "Hugging Face hub id"
        raise ModelLoadError(f"Could not load model {name!r} ({where}, revision={revision!r}): {e}") from e
    model.to(device)
    resolved_revision = revision or getattr(model.config, "_commit_hash", None)
    log.info("loaded %s (%s, %s layers, d_model=%d) on %s as %s", name, model.config.model_type,
             model.config.num_hidden_layers, model.config.hidden_size, device, torch_dtype)
    if is_local and revision:
        log.warning("model %s is a local folder: revision=%r is ignored (a folder is identified by its content)",
                    name, revision)
    ident, ident_revision = model_identity(name, resolved_revision)   # a local folder: its name + content hash
    return LanguageModel(model, tokenizer, name=ident, revision=ident_revision)
