"""Named SAE configs (`configs/sae/**.yaml`): what each selects, and glob selection of many at once."""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass

import yaml

from saebench.errors import ConfigError, did_you_mean
from saebench.paths import config_dir, config_options


@dataclass(frozen=True)
class SAEConfigInfo:
    name: str
    model: str | None
    corpus: str | None
    sae_ids: tuple[str, ...]
    formats: tuple[str, ...]
    description: str


def sae_config_info(name: str) -> SAEConfigInfo:
    """Read a config file without composing it (no interpolation): its model, corpus and SAE ids."""
    path = config_dir() / "sae" / f"{name}.yaml"
    text = path.read_text()
    data = yaml.safe_load(text) or {}
    model = corpus = None
    for entry in data.get("defaults") or []:
        if isinstance(entry, dict):
            for key, value in entry.items():
                if key.strip() == "override /model":
                    model = value
                elif key.strip() == "override /corpus":
                    corpus = value
    saes = data.get("saes") or {}
    items = saes.items() if isinstance(saes, dict) else ((s.get("id"), s) for s in saes)
    ids, formats = [], []
    for sae_id, spec in items:
        ids.append(str(sae_id))
        formats.append(str((spec or {}).get("format", "sae_lens")))
    comments = [ln.lstrip("# ").rstrip() for ln in text.splitlines()[1:] if ln.startswith("#")]
    return SAEConfigInfo(name, model, corpus, tuple(ids), tuple(sorted(set(formats))), " ".join(comments))


def expand_sae_selection(value: str) -> list[str]:
    """`sae=` value -> config names: a glob (`saebench_pythia160m/*`), a list `[a,b]`, or one name."""
    options = config_options("sae")
    names = [v.strip() for v in value.strip("[]").split(",") if v.strip()] if value.startswith("[") else [value]
    selected: list[str] = []
    for name in names:
        if any(ch in name for ch in "*?["):
            matches = [o for o in options if fnmatch.fnmatchcase(o, name)]
            if not matches:
                raise ConfigError(f"SAE config pattern {name!r} matches nothing. Available: {', '.join(options)}.")
            selected += [m for m in matches if m not in selected]
        elif name not in options:
            raise ConfigError(did_you_mean(name, options, "sae config"))
        elif name not in selected:
            selected.append(name)
    models = {n: sae_config_info(n).model for n in selected}
    if len(set(models.values())) > 1:
        raise ConfigError("The selected SAE configs need different models, so they cannot run together: "
                          + ", ".join(f"{n} -> {m}" for n, m in models.items())
                          + ". Select one model's SAEs per run (or use -m to sweep them as separate runs).")
    return selected
