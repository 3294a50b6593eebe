"""The `ravel` task's parameters and the two definitions it can compute (plugin README)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from saebench.errors import ConfigError
from saebench.metrics.ravel.data import SPLITS
from saebench.metrics.ravel.mdbm import MaskTraining
from saebench.metrics.ravel.probe import ProbeSelection
from saebench.paths import asset

DEFINITIONS = ("heldout", "saebench")
SELECTIONS = ("mdbm", "probe")
ASSET_PREFIX = "asset:"


def _default_classes() -> dict[str, list[str]]:
    return {"city": ["Country", "Continent", "Language"],
            "nobel_prize_winner": ["Country of Birth", "Field", "Gender"]}


@dataclass(frozen=True, kw_only=True)
class RavelParams:
    """- `source`: null = the vendored RAVEL release; a folder in RAVEL's format; or `asset:<path>` for data
      bundled with saebench (e.g. `asset:organisms/orgllama/ravel`), so the params hash is path-independent.
    - `definitions`: `heldout` (the headline: masks trained on RAVEL's train entities and templates, scored on
      its test ones, each pair in its own bucket) and/or `saebench` (SAEBench's 70/30 cut of one pair pool and
      its bucketing, under SAEBench's metric names).
    - `batch_size`: pairs per optimiser step (SAEBench's `llm_batch_size`: 8 for Gemma-2-2B, 64 for
      Pythia-160M in its scripts); `micro_batch_size` only bounds memory, the result does not depend on it.
    """

    classes: dict[str, list[str]] = field(default_factory=_default_classes)
    source: str | None = None
    definitions: list[str] = field(default_factory=lambda: list(DEFINITIONS))
    selection: str = "mdbm"
    seeds: list[int] = field(default_factory=lambda: [42])
    n_generated_tokens: int = 6
    top_n_entities: int = 500
    prepend_bos: bool = True
    # pairs: `saebench` cuts n_pairs_per_attribute cause + as many isolation pairs 70/30 (train_fraction);
    # `heldout` draws the same numbers, the training share from train_splits and the rest from eval_splits
    n_pairs_per_attribute: int = 5000
    train_fraction: float = 0.7
    train_splits: list[str] = field(default_factory=lambda: ["train"])
    eval_splits: list[str] = field(default_factory=lambda: ["test"])
    min_prompts: int = 20          # coverage floor: known prompts per attribute (per split used); below it the
                                   # unit is a recorded skip naming the coverage
    # mask training (mdbm)
    lr: float = 1e-3
    epochs: int = 2
    batch_size: int = 16
    micro_batch_size: int = 16
    temperature_start: float = 1.0
    temperature_end: float = 1e-4
    add_error: bool = False
    # probe selection
    probe_l1: float = 0.01
    probe_steps: int = 500
    probe_max_latents: int | None = None
    generation_batch_size: int = 64

    def __post_init__(self) -> None:
        if not self.classes or any(not attrs for attrs in self.classes.values()):
            raise ConfigError(f"task.ravel.classes must map entity classes to non-empty attribute lists, got "
                              f"{self.classes!r}.")
        bad = [d for d in self.definitions if d not in DEFINITIONS]
        if not self.definitions or bad or len(set(self.definitions)) != len(self.definitions):
            raise ConfigError(f"task.ravel.definitions must be distinct names among {list(DEFINITIONS)}, got "
                              f"{self.definitions!r}.")
        if self.selection not in SELECTIONS:
            raise ConfigError(f"task.ravel.selection must be one of {list(SELECTIONS)}, got {self.selection!r}.")
        if not self.seeds or len(set(self.seeds)) != len(self.seeds):
            raise ConfigError(f"task.ravel.seeds must be a non-empty list of distinct integers, got {self.seeds!r}.")
        for name in ("train_splits", "eval_splits"):
            splits = getattr(self, name)
            if not splits or any(s not in SPLITS for s in splits):
                raise ConfigError(f"task.ravel.{name} must be a non-empty list among {list(SPLITS)}, got {splits!r}.")
        if set(self.train_splits) & set(self.eval_splits):
            raise ConfigError(f"task.ravel.train_splits {self.train_splits} and eval_splits {self.eval_splits} "
                              "overlap; the held-out definition scores on entities and templates it never trained on.")
        if not 0 < self.train_fraction < 1:
            raise ConfigError(f"task.ravel.train_fraction must be in (0, 1), got {self.train_fraction}.")
        for name in ("n_pairs_per_attribute", "n_generated_tokens", "top_n_entities", "min_prompts", "epochs",
                     "generation_batch_size"):
            if getattr(self, name) < 1:
                raise ConfigError(f"task.ravel.{name} must be >= 1, got {getattr(self, name)}.")
        self.mask_training(0)        # validates the batch and temperature settings
        self.probe()

    def mask_training(self, seed: int) -> MaskTraining:
        return MaskTraining(epochs=self.epochs, lr=self.lr, batch_size=self.batch_size,
                            micro_batch_size=self.micro_batch_size, temperature_start=self.temperature_start,
                            temperature_end=self.temperature_end, add_error=self.add_error, seed=seed)

    def probe(self) -> ProbeSelection:
        return ProbeSelection(l1=self.probe_l1, steps=self.probe_steps, max_latents=self.probe_max_latents)

    def data_folder(self) -> Path | None:
        """Where the RAVEL files are (None: the vendored release)."""
        if self.source is None:
            return None
        if self.source.startswith(ASSET_PREFIX):
            return Path(asset(self.source.removeprefix(ASSET_PREFIX)))
        return Path(self.source).expanduser()

    def missing_files(self) -> list[str]:
        """The data folder, when named and absent (checked before the model loads)."""
        folder = self.data_folder()
        return [] if folder is None or folder.is_dir() else [f"task.ravel.source folder {str(folder)!r} does not exist"]
