"""Reading SAE files: locate a folder (local or hub), and parse JSON, safetensors, torch and npz files
with errors that name the SAE, the file and what was expected."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file

from saebench.errors import SAELoadError
from saebench.paths import portable_path
from saebench.saes.formats.hub import fetch_files, fetch_optional
from saebench.saes.spec import SAESpec


def resolve_folder(spec: SAESpec, fmt: str, required: list[str], optional: list[str] = ()) -> tuple[Path, str]:
    """The local folder holding `required` files (downloading them from the hub if needed) and a source
    string for provenance. `spec.path` (a local folder) takes precedence over `spec.repo_id`."""
    if spec.path:
        folder = Path(spec.path).expanduser()
        if not folder.is_dir():
            raise SAELoadError(f"SAE {spec.id!r}: folder {str(folder)!r} does not exist.")
        for name in required:
            if not (folder / name).is_file():
                present = sorted(p.name for p in folder.iterdir())
                raise SAELoadError(f"SAE {spec.id!r}: {str(folder / name)!r} is missing; a {fmt} SAE folder "
                                   f"holds {required}; found {present}.")
        return folder, f"{fmt}:{portable_path(str(folder))}"      # a bundled SAE: the same in every checkout
    prefix = f"{spec.folder.strip('/')}/" if spec.folder else ""
    paths = fetch_files(spec.repo_id, [prefix + n for n in required], revision=spec.revision)
    for name in optional:
        fetch_optional(spec.repo_id, prefix + name, revision=spec.revision)
    return paths[0].parent, f"{fmt}:hf://{spec.repo_id}/{prefix}@{spec.revision or 'main'}"


def read_json(path: Path, sae_id: str, hint: str = "") -> dict[str, Any]:
    """A JSON object from `path`, or an error naming the file."""
    if not path.is_file():
        present = sorted(p.name for p in path.parent.iterdir()) if path.parent.is_dir() else []
        raise SAELoadError(f"SAE {sae_id!r}: {str(path)!r} is missing. {hint}; found {present}.")
    try:
        data = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise SAELoadError(f"SAE {sae_id!r}: {str(path)!r} is not valid JSON ({e}).") from e
    if not isinstance(data, dict):
        raise SAELoadError(f"SAE {sae_id!r}: {str(path)!r} must hold a JSON object, got {type(data).__name__}.")
    return data


def read_safetensors(path: Path, sae_id: str) -> dict[str, torch.Tensor]:
    """All tensors of a safetensors file."""
    if not path.is_file():
        raise SAELoadError(f"SAE {sae_id!r}: weight file {str(path)!r} is missing.")
    try:
        return load_file(str(path))
    except (SafetensorError, OSError, ValueError, RuntimeError) as e:
        raise SAELoadError(f"SAE {sae_id!r}: weight file {str(path)!r} is corrupt or not safetensors ({e}).") from e


def read_torch_state(path: Path, sae_id: str) -> dict[str, torch.Tensor]:
    """A state dict saved with torch.save, loaded with weights_only=True (no pickled code runs)."""
    if not path.is_file():
        raise SAELoadError(f"SAE {sae_id!r}: weight file {str(path)!r} is missing.")
    try:
        state = torch.load(path, weights_only=True, map_location="cpu")
    except Exception as e:  # torch raises UnpicklingError, RuntimeError, EOFError, zipfile errors...
        raise SAELoadError(f"SAE {sae_id!r}: {str(path)!r} is not a readable torch state dict ({type(e).__name__}: "
                           f"{e}). Files are loaded with weights_only=True; re-save the state_dict() of the "
                           "module, not the module object.") from e
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise SAELoadError(f"SAE {sae_id!r}: {str(path)!r} must hold a dict of tensors (a state_dict), got "
                           f"{type(state).__name__}.")
    return state


def read_npz(path: Path, sae_id: str) -> dict[str, torch.Tensor]:
    """Arrays of an .npz file as tensors (allow_pickle=False)."""
    import numpy as np

    if not path.is_file():
        raise SAELoadError(f"SAE {sae_id!r}: weight file {str(path)!r} is missing.")
    try:
        with np.load(str(path), allow_pickle=False) as data:
            return {k: torch.from_numpy(np.array(data[k])) for k in data.files}
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as e:
        raise SAELoadError(f"SAE {sae_id!r}: {str(path)!r} is corrupt or not an .npz archive ({e}).") from e
