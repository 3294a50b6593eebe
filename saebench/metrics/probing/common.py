"""What the probing plugins share: parameters, dataset splits, LM activations, the recipe setup."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from saebench.cache import SequenceActivations
from saebench.data.labelled import LabelledDatasetSpec
from saebench.data.tasks import dataset_spec
from saebench.errors import ConfigError, SaeBenchError
from saebench.metrics.api import EvalContext, Needs
from saebench.metrics.applicability import affine_decoder, all_of, reconstructs_its_input
from saebench.metrics.numerics.ablation import decoder_logit_weights, pooled_latents
from saebench.metrics.numerics.probes import LinearProbes, RecipeParams, train_recipe_probes
from saebench.metrics.probing.sampling import ProbeProblems, split_train_val

# What every probing plugin declares: labelled datasets and the shared activation cache (no corpus).
PROBING_NEEDS = Needs(datasets=True, activations=True)
# SCR/TPP ablate latents with the closed form: affine decoders that write to the probed hook.
ABLATABLE = all_of(reconstructs_its_input, affine_decoder)

CONTESTED = ("Contested: an independent 2026 audit found SCR and TPP unreliable at canonical settings; read "
             "them with their seed-to-seed spread (stderr over `seeds`).")


@dataclass(frozen=True, kw_only=True)
class ProbingParams:
    """Parameters every probing plugin takes."""

    datasets: list[Any] = field(default_factory=list)            # names in tasks/probing, or {name:, ...}
    dataset_overrides: dict[str, dict[str, Any]] = field(default_factory=dict)  # name -> fields (e.g. path)
    train_size: int = 4000
    test_size: int = 1000
    val_fraction: float = 0.2           # of the dataset's training rows, for probe selection (0: none)
    context_length: int = 128
    prepend_bos: bool = True
    seeds: list[int] = field(default_factory=lambda: [42])
    max_tokens_per_batch: int = 16384   # SAE encoding batch (tokens)

    def __post_init__(self) -> None:
        if not self.datasets:
            raise ConfigError("`datasets` is empty; name at least one dataset of tasks/probing "
                              "(`saebench list datasets`).")
        if not self.seeds or len(set(self.seeds)) != len(self.seeds):
            raise ConfigError(f"`seeds` must be a non-empty list of distinct integers, got {self.seeds!r}.")
        if not 0 <= self.val_fraction < 1:
            raise ConfigError(f"val_fraction must be in [0, 1), got {self.val_fraction}.")
        if self.val_fraction == 0 and self.needs_validation:
            raise ConfigError(f"val_fraction=0 leaves no validation rows, but this task selects probes on them "
                              f"({self.needs_validation}); use val_fraction > 0.")
        if self.train_size < 4 or self.test_size < 4:
            raise ConfigError(f"train_size and test_size must be >= 4, got {self.train_size}, {self.test_size}.")
        if self.context_length < 2:
            raise ConfigError(f"context_length must be >= 2, got {self.context_length}.")
        for entry in self.datasets:  # unknown names / keys fail before any model is loaded
            dataset_spec(entry, self.dataset_overrides)

    @property
    def needs_validation(self) -> str:
        """Why this task needs validation rows ('' when it does not)."""
        return ""

    def missing_files(self) -> list[str]:
        """Local dataset files named by the datasets that do not exist (checked before the model loads)."""
        from saebench.data.labelled import resolve_path

        missing = []
        for spec in self.specs():
            for what, path in (("path", spec.path), ("test_path", spec.test_path)):
                try:
                    exists = path is None or resolve_path(path).exists()
                except SaeBenchError:        # an unknown bundled asset
                    exists = False
                if not exists:
                    missing.append(f"dataset {spec.name!r} {what} {path!r} does not exist")
        return missing

    def specs(self) -> list[LabelledDatasetSpec]:
        return [dataset_spec(e, self.dataset_overrides) for e in self.datasets]

    def sizes(self) -> dict[str, int]:
        """Rows per split and problem; no 'val' entry when val_fraction is 0."""
        sizes = {"train": self.train_size, "test": self.test_size}
        if self.val_fraction > 0:
            sizes["val"] = max(4, int(round(self.train_size * self.val_fraction)))
        return sizes


@dataclass(frozen=True, kw_only=True)
class RecipeProbingParams(ProbingParams):
    """SCR/TPP: the probe recipe and the ablation sizes N."""

    n_values: list[int] = field(default_factory=lambda: [2, 5, 10, 20, 50, 100, 500])
    probe_epochs: int = 20
    probe_batch_size: int = 16
    probe_lr: float = 1e-3
    probe_l1_penalty: float = 1e-3

    def __post_init__(self) -> None:
        super().__post_init__()
        if not self.n_values or any(n < 1 for n in self.n_values):
            raise ConfigError(f"n_values must be positive integers, got {self.n_values!r}.")

    @property
    def needs_validation(self) -> str:
        return "the recipe probes keep their best epoch on validation"

    def recipe(self) -> RecipeParams:
        return RecipeParams(epochs=self.probe_epochs, batch_size=self.probe_batch_size, lr=self.probe_lr,
                            l1_penalty=self.probe_l1_penalty)


def dataset_splits(ctx: EvalContext, spec: LabelledDatasetSpec, params: ProbingParams, seed: int,
                   strata: tuple[str, ...] = ("label",)):
    """The dataset's train / validation / test rows for `seed` (validation carved out of train, stratified
    by the `strata` columns; none when val_fraction is 0, and then every training row trains the probes)."""
    data = ctx.datasets.load(spec, seed)
    rng = np.random.default_rng(seed)
    if params.val_fraction == 0:
        return {"train": data.train, "test": data.test}, rng
    train, val = split_train_val(data.train, params.val_fraction, rng, strata)
    return {"train": train, "val": val, "test": data.test}, rng


def pooled_lm(ctx: EvalContext, problems: ProbeProblems, params: ProbingParams, dataset: str):
    """The texts' LM activations (shared cache) and their pooled form on the device."""
    acts = ctx.text_activations(problems.texts, params.context_length, params.prepend_bos, dataset)
    return acts, acts.pooled.to(ctx.device)


def generator(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(int(seed))


@dataclass
class RecipeSetup:
    """SAE-independent work of one SCR/TPP run (dataset [, pair], seed): the probe problems, the texts' LM
    activations and the recipe probes trained on them."""

    label: str
    seed: int
    problems: ProbeProblems
    acts: SequenceActivations
    probes: LinearProbes


def train_recipe_setup(ctx: EvalContext, problems: ProbeProblems, params: RecipeProbingParams, seed: int,
                       label: str) -> RecipeSetup:
    """LM activations of the problems' texts and recipe probes (epoch chosen on validation)."""
    acts, X = pooled_lm(ctx, problems, params, label)
    dev = X.device
    probes = train_recipe_probes(X, problems.rows["train"].to(dev), problems.labels["train"].to(dev),
                                 problems.rows["val"].to(dev), problems.labels["val"].to(dev), params.recipe(),
                                 generator(seed))
    return RecipeSetup(label, seed, problems, acts, probes)


def ablation_inputs(ctx: EvalContext, sae, setup: RecipeSetup, params: ProbingParams):
    """Per SAE: pooled LM activations [N, d], pooled latents, and `W_dec @ w` [P, d_sae] per probe."""
    X = setup.acts.pooled.to(ctx.device)
    latents = pooled_latents(sae, ctx.space, setup.acts, ctx.device, params.max_tokens_per_batch)
    return X, latents, decoder_logit_weights(sae, setup.probes.W)
