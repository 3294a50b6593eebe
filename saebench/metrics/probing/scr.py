"""`scr`: spurious correlation removal (SAEBench's SHIFT-style metric), with exact closed-form ablation.

For a class pair (a, b) and a spurious attribute (s+, s-), three probes are trained on pooled LM
activations with the SCR recipe (see `sampling.scr_quadrants`): `spurious` (s+ vs s-), `class` (a vs b)
and `biased` (a&s+ vs b&s-). Latents are ranked per probe by node effect on its training rows,
`|(mean_pos f_i - mean_neg f_i) * (W_dec[i] . w)|`, and the top N are ablated.

  dir1: ablate the `spurious` probe's top-N latents; the biased probe's accuracy on `class` test data
        moves from A_orig to A_abl; the `class` probe's clean accuracy there is the oracle A_oracle.
  dir2: the same with the roles of `class` and `spurious` exchanged.
  scr_dirD(N) = (A_abl - A_orig) / (A_oracle - A_orig), undefined (NaN) when A_oracle - A_orig < min_gap.

Direction rule (explicit): the reported `scr` uses the direction whose *evaluation data the biased probe
does worse on* before ablation: dir1 when acc(biased on class data) < acc(biased on spurious data) (the
biased probe leans on the spurious attribute, so removing it should recover the class), dir2 when it is
greater, and NaN on an exact tie (SAEBench leaves the key missing). The chosen direction is in the details.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

import torch

from saebench.errors import ConfigError
from saebench.metrics.api import Details, EvalContext, MetricInfo, MetricValue, SAEResult
from saebench.metrics.numerics.ablation import ablated_logits, node_effects, ranked_latents
from saebench.metrics.numerics.aggregate import subset_rows, with_seed_aggregates
from saebench.metrics.numerics.probes import LinearProbes, accuracy_from_logits
from saebench.metrics.probing.common import (
    ABLATABLE,
    CONTESTED,
    PROBING_NEEDS,
    RecipeProbingParams,
    RecipeSetup,
    ablation_inputs,
    dataset_splits,
    train_recipe_setup,
)
from saebench.metrics.probing.sampling import SCR_PROBES, scr_quadrants
from saebench.metrics.registry import register_plugin

SPURIOUS, CLASS, BIASED = (SCR_PROBES.index(p) for p in SCR_PROBES)

SCR_METRICS = [
    MetricInfo(name="scr", higher_is_better=True, headline=True, headline_k=20,
               description="Normalised spurious-correlation removal after ablating the top N latents (N in `k`), "
                           "in the direction chosen by the explicit rule (plugin README); 1 = the biased probe "
                           "reaches the oracle, 0 = no change. " + CONTESTED),
    MetricInfo(name="scr_dir1", higher_is_better=True,
               description="SCR when ablating the spurious-attribute probe's latents, evaluated on class data. "
                           + CONTESTED),
    MetricInfo(name="scr_dir2", higher_is_better=True,
               description="SCR when ablating the class probe's latents, evaluated on spurious-attribute data. "
                           + CONTESTED),
]


@dataclass(frozen=True, kw_only=True)
class SCRParams(RecipeProbingParams):
    datasets: list = field(default_factory=lambda: ["bias_in_bios_scr", "amazon_reviews_scr"])
    pairs: dict[str, list[list[str]]] = field(default_factory=dict)   # dataset -> pairs (default: its scr_pairs)
    min_gap: float = 0.001     # A_oracle - A_orig below this leaves the score undefined

    def __post_init__(self) -> None:
        super().__post_init__()
        for spec in self.specs():
            if spec.spurious is None:
                raise ConfigError(f"SCR dataset {spec.name!r} has no spurious attribute (`spurious:` column).")
            if not self.pairs_for(spec):
                raise ConfigError(f"SCR dataset {spec.name!r} has no class pairs; set `scr_pairs` in its "
                                  "definition or `pairs.<dataset>` in the task.")

    def pairs_for(self, spec) -> list[tuple[str, str]]:
        pairs = self.pairs.get(spec.name) or spec.scr_pairs
        for p in pairs:
            if len(p) != 2 or any(c not in spec.class_names for c in p):
                raise ConfigError(f"SCR pair {p!r} of {spec.name!r} must name two of its classes {spec.class_names}.")
        return [(p[0], p[1]) for p in pairs]


@dataclass
class SCRSetup(RecipeSetup):
    """The recipe setup of one (dataset, pair, seed) plus the clean accuracies of every probe on every
    problem's test data (`<probe>_on_<data>`)."""

    clean_acc: dict[str, float] = field(default_factory=dict)


def prepare_scr(ctx: EvalContext, params: SCRParams, spec, pair, seed: int) -> SCRSetup:
    splits, rng = dataset_splits(ctx, spec, params, seed, strata=("label", "spurious"))  # every quadrant
    problems = scr_quadrants(splits, pair, tuple(spec.spurious_names), params.sizes(), rng, spec.name)
    base = train_recipe_setup(ctx, problems, params, seed, f"{spec.name}:{pair[0]}/{pair[1]}")
    X = base.acts.pooled.to(ctx.device)
    clean = {}
    for probe in range(3):
        for data in range(3):
            logits = _probe_logits(base.probes, X, probe, problems.rows["test"][data].to(X.device))
            clean[f"{SCR_PROBES[probe]}_on_{SCR_PROBES[data]}"] = float(
                accuracy_from_logits(logits, problems.labels["test"][data].to(X.device)))
    return SCRSetup(**vars(base), clean_acc=clean)


def _probe_logits(probes: LinearProbes, X: torch.Tensor, probe: int, rows: torch.Tensor) -> torch.Tensor:
    return X[rows] @ probes.W[probe] + probes.b[probe]


def scr_scores(setup: SCRSetup, F_mean: torch.Tensor, F_abl: torch.Tensor, v: torch.Tensor, X: torch.Tensor,
               n_values: list[int], min_gap: float) -> tuple[list[dict], dict]:
    """Per N: scr_dir1, scr_dir2, scr; plus the details of this (dataset, pair, seed)."""
    dev = X.device
    pr = setup.problems
    c = setup.clean_acc
    out, info = [], {}
    for d, (ablated, data) in enumerate(((SPURIOUS, CLASS), (CLASS, SPURIOUS)), start=1):
        effect = node_effects(F_mean, pr.rows["train"][ablated].to(dev), pr.labels["train"][ablated].to(dev),
                              v[ablated], signed=False)
        ranked = ranked_latents(effect, max(n_values))
        rows, y = pr.rows["test"][data].to(dev), pr.labels["test"][data].to(dev)
        logits = _probe_logits(setup.probes, X, BIASED, rows)
        abl = ablated_logits(logits, F_abl[rows], v[BIASED], ranked, n_values)
        acc_abl = accuracy_from_logits(abl, y[None, :]).tolist()
        oracle = c[f"{SCR_PROBES[data]}_on_{SCR_PROBES[data]}"]
        orig = c[f"biased_on_{SCR_PROBES[data]}"]
        gap = oracle - orig
        info[f"dir{d}_oracle"], info[f"dir{d}_orig"], info[f"dir{d}_n_ranked"] = oracle, orig, float(len(ranked))
        for i, _ in enumerate(n_values):
            info[f"dir{d}_abl_{n_values[i]}"] = acc_abl[i]
        out.append([(a - orig) / gap if gap >= min_gap else float("nan") for a in acc_abl])
    b_class, b_spur = c["biased_on_class"], c["biased_on_spurious"]
    direction = 1 if b_class < b_spur else (2 if b_class > b_spur else 0)
    info["direction"] = float(direction)
    rows = []
    for i, n in enumerate(n_values):
        chosen = out[direction - 1][i] if direction else float("nan")
        rows.append({"k": n, "scr_dir1": out[0][i], "scr_dir2": out[1][i], "scr": chosen})
    return rows, info


@register_plugin("scr", version="1.1.0", metrics=SCR_METRICS, params=SCRParams, needs=PROBING_NEEDS,
                 applies_to=ABLATABLE,
                 description="Spurious correlation removal by ablating probe-attributed SAE latents (contested).")
@torch.no_grad()
def evaluate_scr(ctx: EvalContext, params: SCRParams) -> Iterator[SAEResult]:
    setups: list[SCRSetup] = []
    for seed in params.seeds:
        for spec in params.specs():
            for pair in params.pairs_for(spec):
                setups.append(ctx.shared(
                    "scr_setup", lambda spec=spec, pair=pair, seed=seed: prepare_scr(ctx, params, spec, pair, seed),
                    spec=spec.to_dict(), pair=pair, seed=seed, params=repr(params)))
    for sae in ctx.saes:
        per_seed: dict[int, list[MetricValue]] = {}
        details: list[tuple[str, dict]] = []
        for seed in params.seeds:
            per_run: dict[str, list[dict]] = {}
            for setup in (s for s in setups if s.seed == seed):
                X, lat, v = ablation_inputs(ctx, sae, setup, params)
                rows, info = scr_scores(setup, lat.mean, lat.ablation, v, X, params.n_values, params.min_gap)
                per_run[setup.label] = rows
                details.append((setup.label, {"seed": float(seed), **setup.clean_acc, **info}))
            per_seed[seed] = _summarise(per_run, params.n_values)
        yield SAEResult(sae.metadata.sae_id, with_seed_aggregates(per_seed), [Details.from_rows("per_pair", details)])


def _summarise(per_run: dict[str, list[dict]], n_values: list[int]) -> list[MetricValue]:
    """One row per (dataset:pair) subset and N, and the mean over subsets."""
    return subset_rows({label: {(metric, n): [rows[i][metric]] for metric in ("scr", "scr_dir1", "scr_dir2")
                                for i, n in enumerate(n_values)} for label, rows in per_run.items()})
