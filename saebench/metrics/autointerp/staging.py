"""Staged auto-interp work: what the judge needs for one SAE, saved after the device pass.

Sampling (the LM pass, the SAE's encode, the windows) is the only device work of auto-interp; everything the
judge then needs is text. `SAEMaterial` holds it: per sampled live latent the rendered generation prompt,
the detection and fuzzing excerpts and their truth, in the order the random draws made them. Saved under the
run's cache (`<cache>/autointerp/<key>.json`, atomic), keyed by everything that determines it: model,
revision, hook, the corpus rows (their hash), the sampling parameters and the SAE's weight fingerprint.

So the judge work can run later and elsewhere (`judge_stage=judge`: a CPU judge pool in a sweep, with its own
concurrency and rate limit), and a rerun of a `partial` unit (budget or deadline) skips the device pass.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
from dataclasses import dataclass, field
from pathlib import Path

import torch

from saebench.atomic import atomic_write_text
from saebench.cache import cache_key
from saebench.saes.fingerprint import sae_fingerprint

log = logging.getLogger(__name__)

FORMAT = 1
SAMPLING_FIELDS = ("n_latents", "n_tokens", "context_size", "prepend_bos", "buffer", "dead_threshold",
                   "act_threshold_frac", "n_top_generation", "n_iw_generation", "n_top_scoring", "n_iw_scoring",
                   "n_random_scoring", "seed")


@dataclass
class LatentMaterial:
    """One latent's judge inputs: prompts and excerpts as text, and the truth its replies are scored against."""

    latent: int
    density: float
    generation: list[dict] = field(default_factory=list)      # chat messages ([] when it has no examples)
    detection_texts: list[str] = field(default_factory=list)
    example: str = ""                                          # the "e.g. 1, 4, 7" of the scoring prompts
    active: list[bool] = field(default_factory=list)           # per detection excerpt: does the latent fire
    fuzzing_texts: list[str] = field(default_factory=list)
    fuzzing_truth: list[bool] = field(default_factory=list)    # per fuzzing excerpt: marked where it fires

    @property
    def has_examples(self) -> bool:
        return bool(self.generation)


@dataclass
class SAEMaterial:
    """An SAE's staged auto-interp work: its dead fraction and its sampled live latents."""

    sae_id: str
    frac_dead: float
    latents: list[LatentMaterial]

    def to_json(self) -> str:
        return json.dumps({"format": FORMAT, **dataclasses.asdict(self)})

    @classmethod
    def from_json(cls, text: str) -> SAEMaterial:
        raw = json.loads(text)
        if raw.pop("format", None) != FORMAT:
            raise ValueError("staged auto-interp material of another format")
        return cls(sae_id=raw["sae_id"], frac_dead=raw["frac_dead"],
                   latents=[LatentMaterial(**r) for r in raw["latents"]])


def rows_digest(tokens: torch.Tensor) -> str:
    """A hash of the corpus rows (the exact token ids the sampling read)."""
    return hashlib.blake2b(tokens.to(torch.int64).cpu().numpy().tobytes(), digest_size=12).hexdigest()


def material_key(lm, hook: str, rows: str, params, sae) -> str:
    """The staged material's key: model, revision, hook, corpus rows, sampling parameters, SAE weights."""
    sampling = {f: getattr(params, f) for f in SAMPLING_FIELDS}
    return cache_key("autointerp_material", model=lm.name, revision=lm.revision, hook=hook, rows=rows,
                     sampling=sampling, sae=sae_fingerprint(sae))


class MaterialStore:
    """Staged material on disk under `<root>/autointerp/`; unreadable entries count as absent."""

    def __init__(self, root: Path) -> None:
        self.folder = Path(root) / "autointerp"

    def path(self, key: str) -> Path:
        return self.folder / f"{key}.json"

    def load(self, key: str) -> SAEMaterial | None:
        path = self.path(key)
        if not path.is_file():
            return None
        try:
            return SAEMaterial.from_json(path.read_text())
        except (OSError, ValueError, KeyError, TypeError) as e:
            log.warning("staged auto-interp material %s is unreadable (%s); sampling again", path.name, e)
            return None

    def save(self, key: str, material: SAEMaterial) -> Path:
        self.folder.mkdir(parents=True, exist_ok=True)
        return atomic_write_text(self.path(key), material.to_json())
