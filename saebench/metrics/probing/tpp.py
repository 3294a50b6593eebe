"""`tpp`: targeted probe perturbation, with exact closed-form ablation and fixed negatives.

Per dataset and seed: one-vs-rest probes per class (SCR recipe). Per class i, latents are ranked by
`clamp(mean_pos f - mean_neg f, min=0) * (W_dec . w_i)` on i's training rows (only positive effects are
ranked; SAEBench's topk could pick negative ones). Ablating the top N:
  intended_i   = A_clean[i] - A_abl_i[i]
  unintended_i = mean_{j != i} (A_clean[j] - A_abl_i[j])
  tpp_i        = intended_i - unintended_i
Clean and ablated accuracies are measured on the same test rows (SAEBench redraws the negatives).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np
import torch

from saebench.metrics.api import Details, EvalContext, MetricInfo, MetricValue, SAEResult
from saebench.metrics.numerics.ablation import ablated_logits, node_effects, ranked_latents
from saebench.metrics.numerics.aggregate import subset_rows, with_seed_aggregates
from saebench.metrics.numerics.probes import accuracy_from_logits
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
from saebench.metrics.probing.sampling import one_vs_rest
from saebench.metrics.registry import register_plugin

TPP_METRICS = [
    MetricInfo(name="tpp", higher_is_better=True, headline=True, headline_k=20,
               description="Intended minus unintended accuracy drop when ablating a class's top N latents (N in "
                           "`k`); mean over classes, then datasets. " + CONTESTED),
    MetricInfo(name="tpp_intended", higher_is_better=True,
               description="Accuracy drop of the targeted class's probe. " + CONTESTED),
    MetricInfo(name="tpp_unintended", higher_is_better=False,
               description="Mean accuracy drop of the other classes' probes. " + CONTESTED),
]


@dataclass(frozen=True, kw_only=True)
class TPPParams(RecipeProbingParams):
    datasets: list = field(default_factory=lambda: ["bias_in_bios_set1", "amazon_reviews"])


@dataclass
class TPPSetup(RecipeSetup):
    """The recipe setup of one (dataset, seed) plus each probe's clean accuracy [P] on its test rows."""

    clean_acc: torch.Tensor = field(default_factory=lambda: torch.zeros(0))

    @property
    def dataset(self) -> str:
        return self.label


def prepare_tpp(ctx: EvalContext, params: TPPParams, spec, seed: int) -> TPPSetup:
    splits, rng = dataset_splits(ctx, spec, params, seed)
    problems = one_vs_rest(splits, spec.class_names, params.sizes(), rng, spec.name)
    base = train_recipe_setup(ctx, problems, params, seed, spec.name)
    X = base.acts.pooled.to(ctx.device)
    clean = base.probes.accuracy(X, problems.rows["test"].to(X.device), problems.labels["test"].to(X.device))
    return TPPSetup(**vars(base), clean_acc=clean)


def tpp_scores(setup: TPPSetup, F_mean: torch.Tensor, F_abl: torch.Tensor, v: torch.Tensor, X: torch.Tensor,
               n_values: list[int]) -> dict[str, np.ndarray]:
    """Per class i and N: intended, unintended, total -> arrays [P, len(n_values)] (+ n_ranked [P])."""
    dev = X.device
    pr = setup.problems
    P = len(pr.names)
    test_rows, test_y = pr.rows["test"].to(dev), pr.labels["test"].to(dev)
    logits = setup.probes.logits(X, test_rows)                                     # [P, n]
    drop = torch.zeros(P, P, len(n_values), device=dev)                            # [ablated i, probe j, N]
    n_ranked = []
    for i in range(P):
        effect = node_effects(F_mean, pr.rows["train"][i].to(dev), pr.labels["train"][i].to(dev), v[i], signed=True)
        ranked = ranked_latents(effect, max(n_values))
        n_ranked.append(len(ranked))
        for j in range(P):
            abl = ablated_logits(logits[j], F_abl[test_rows[j]], v[j], ranked, n_values)
            drop[i, j] = setup.clean_acc[j] - accuracy_from_logits(abl, test_y[j][None, :])
    intended = drop[torch.arange(P), torch.arange(P)]                              # [P, N]
    off = ~torch.eye(P, dtype=torch.bool, device=dev)
    unintended = (drop * off[..., None]).sum(1) / max(P - 1, 1)
    return {"tpp_intended": intended.cpu().numpy(), "tpp_unintended": unintended.cpu().numpy(),
            "tpp": (intended - unintended).cpu().numpy(), "n_ranked": np.array(n_ranked, dtype=float)}


@register_plugin("tpp", version="1.0.0", metrics=TPP_METRICS, params=TPPParams, needs=PROBING_NEEDS,
                 applies_to=ABLATABLE,
                 description="Targeted probe perturbation: class-specific accuracy drop from latent ablation "
                             "(contested).")
@torch.no_grad()
def evaluate_tpp(ctx: EvalContext, params: TPPParams) -> Iterator[SAEResult]:
    setups: list[TPPSetup] = []
    for seed in params.seeds:
        for spec in params.specs():
            setups.append(ctx.shared("tpp_setup", lambda spec=spec, seed=seed: prepare_tpp(ctx, params, spec, seed),
                                     spec=spec.to_dict(), seed=seed, params=repr(params)))
    for sae in ctx.saes:
        per_seed: dict[int, list[MetricValue]] = {}
        detail_rows: list[tuple[str, dict[str, float]]] = []
        for seed in params.seeds:
            per_dataset: dict[str, dict[tuple[str, int], list[float]]] = {}
            for setup in (s for s in setups if s.seed == seed):
                X, lat, v = ablation_inputs(ctx, sae, setup, params)
                scores = tpp_scores(setup, lat.mean, lat.ablation, v, X, params.n_values)
                per_dataset[setup.dataset] = {(metric, n): scores[metric][:, t].tolist()
                                              for metric in ("tpp", "tpp_intended", "tpp_unintended")
                                              for t, n in enumerate(params.n_values)}
                for i, name in enumerate(setup.problems.names):
                    c = {"seed": float(seed), "clean_accuracy": float(setup.clean_acc[i]),
                         "n_ranked": scores["n_ranked"][i]}
                    for metric in ("tpp", "tpp_intended", "tpp_unintended"):
                        c.update({f"{metric}_{n}": float(scores[metric][i, t]) for t, n in enumerate(params.n_values)})
                    detail_rows.append((f"{setup.dataset}/{name}", c))
            per_seed[seed] = subset_rows(per_dataset)
        yield SAEResult(sae.metadata.sae_id, with_seed_aggregates(per_seed),
                        [Details.from_rows("per_class", detail_rows)])
