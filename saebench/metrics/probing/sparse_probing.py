"""`sparse_probing`: how well k SAE latents (chosen by class mean difference) classify labelled text.

Per dataset and seed: one-vs-rest problems per class (train / validation / test rows); LM baselines on
the pooled LM activations (a full L2 logistic probe with C chosen on validation, and top-k probes on the
k dimensions with the largest train mean difference); per SAE the same on mean-pooled latents. The LM
baselines and activations are computed once per (model, hook, data, seed) and shared by every SAE.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

import torch

from saebench.errors import ConfigError
from saebench.metrics.api import Details, EvalContext, MetricInfo, MetricValue, SAEResult
from saebench.metrics.numerics.ablation import pooled_latents
from saebench.metrics.numerics.aggregate import subset_rows, with_seed_aggregates
from saebench.metrics.numerics.probes import fit_logistic
from saebench.metrics.probing.common import PROBING_NEEDS, ProbingParams, dataset_splits, pooled_lm
from saebench.metrics.probing.sampling import ProbeProblems, one_vs_rest
from saebench.metrics.registry import register_plugin

SPARSE_PROBING_METRICS = [
    MetricInfo(name="sae_top_k_accuracy", higher_is_better=True, headline=True, headline_k=1,
               description="Test accuracy of an L2 logistic probe (C=1) on the k SAE latents with the largest "
                           "train mean difference between the classes (k in the `k` column); mean over "
                           "one-vs-rest classes, then datasets."),
    MetricInfo(name="llm_top_k_accuracy", higher_is_better=True,
               description="The same on the k LM activation dimensions with the largest mean difference."),
    MetricInfo(name="sae_accuracy", higher_is_better=True,
               description="Test accuracy of a full L2 logistic probe on all SAE latents (C chosen on validation)."),
    MetricInfo(name="llm_accuracy", higher_is_better=True,
               description="Test accuracy of a full L2 logistic probe on the LM activations (C on validation)."),
]


@dataclass(frozen=True, kw_only=True)
class SparseProbingParams(ProbingParams):
    datasets: list = field(default_factory=lambda: ["bias_in_bios_set1", "bias_in_bios_set2", "bias_in_bios_set3",
                                                    "amazon_reviews", "amazon_sentiment", "github_code",
                                                    "ag_news", "europarl"])
    k_values: list[int] = field(default_factory=lambda: [1, 2, 5])
    topk_C: float = 1.0                  # scikit-learn's default, as in SAEBench
    full_probe: bool = True              # also fit full-width probes (llm_accuracy, sae_accuracy)
    full_probe_Cs: list[float] = field(default_factory=lambda: [0.001, 0.01, 0.1, 1.0, 10.0])

    def __post_init__(self) -> None:
        super().__post_init__()
        if not self.k_values or any(k < 1 for k in self.k_values):
            raise ConfigError(f"k_values must be positive integers, got {self.k_values!r}.")
        if self.full_probe and not self.full_probe_Cs:
            raise ConfigError("full_probe_Cs is empty; give at least one C or set full_probe=false.")

    @property
    def needs_validation(self) -> str:
        return "the full-width probe chooses C on validation (set full_probe=false)" if self.full_probe else ""


def top_k_by_mean_difference(X: torch.Tensor, rows: torch.Tensor, y: torch.Tensor, k: int) -> torch.Tensor:
    """Per problem, the k features with the largest |mean(pos) - mean(neg)| over its rows -> [P, k]."""
    Xr = X[rows]                                                     # [P, n, d]
    pos = y[..., None]
    diff = (Xr * pos).sum(1) / pos.sum(1) - (Xr * (1 - pos)).sum(1) / (1 - pos).sum(1)
    return diff.abs().topk(min(k, X.shape[-1]), dim=-1).indices


def top_k_accuracies(X: torch.Tensor, problems: ProbeProblems, k_values: list[int], C: float
                     ) -> dict[int, tuple[torch.Tensor, torch.Tensor]]:
    """k -> (test accuracy [P], selected features [P, k])."""
    dev = X.device
    rows, y = problems.rows["train"].to(dev), problems.labels["train"].to(dev)
    trow, ty = problems.rows["test"].to(dev), problems.labels["test"].to(dev)
    out = {}
    for k in k_values:
        keep = top_k_by_mean_difference(X, rows, y, k)                # [P, k]
        Xk = X[:, keep].permute(1, 0, 2).contiguous()                 # [P, N, k]
        probes = fit_logistic(Xk, rows, y, C=C)
        out[k] = (probes.accuracy(Xk, trow, ty), keep)
    return out


def full_probe_accuracy(X: torch.Tensor, problems: ProbeProblems, Cs: list[float]) -> tuple[torch.Tensor, list]:
    """Full-width probes: every C in `Cs` is fit on train at once; each problem keeps the C with the best
    validation accuracy (the smallest C on ties); returns (test accuracy [P], chosen C per problem)."""
    dev = X.device
    P = len(problems.names)
    reps = len(Cs)
    rows = problems.rows["train"].to(dev).repeat(reps, 1)
    y = problems.labels["train"].to(dev).repeat(reps, 1)
    C = torch.tensor(Cs, device=dev).repeat_interleave(P)
    probes = fit_logistic(X, rows, y, C=C)
    val = probes.accuracy(X, problems.rows["val"].to(dev).repeat(reps, 1),
                          problems.labels["val"].to(dev).repeat(reps, 1)).view(reps, P)
    best = val.argmax(0)                                              # first max = smallest C
    test = probes.accuracy(X, problems.rows["test"].to(dev).repeat(reps, 1),
                           problems.labels["test"].to(dev).repeat(reps, 1)).view(reps, P)
    return test[best, torch.arange(P, device=dev)], [Cs[int(i)] for i in best]


@dataclass
class _Prepared:
    dataset: str
    seed: int
    problems: ProbeProblems
    acts: object
    llm: dict[str, dict[int | None, list[float]]]   # metric -> k -> per-class accuracy


def _prepare(ctx: EvalContext, params: SparseProbingParams, spec, seed: int) -> _Prepared:
    splits, rng = dataset_splits(ctx, spec, params, seed)
    problems = one_vs_rest(splits, spec.class_names, params.sizes(), rng, spec.name)
    acts, X = pooled_lm(ctx, problems, params, spec.name)
    llm: dict[str, dict] = {"llm_top_k_accuracy": {}}
    for k, (acc, _) in top_k_accuracies(X, problems, params.k_values, params.topk_C).items():
        llm["llm_top_k_accuracy"][k] = acc.tolist()
    if params.full_probe:
        acc, _ = full_probe_accuracy(X, problems, params.full_probe_Cs)
        llm["llm_accuracy"] = {None: acc.tolist()}
    return _Prepared(spec.name, seed, problems, acts, llm)


@register_plugin("sparse_probing", version="1.0.0", metrics=SPARSE_PROBING_METRICS, params=SparseProbingParams,
                 needs=PROBING_NEEDS,
                 description="k-sparse probes on SAE latents vs the LM, one-vs-rest over labelled datasets.")
@torch.no_grad()
def evaluate_sparse_probing(ctx: EvalContext, params: SparseProbingParams) -> Iterator[SAEResult]:
    prepared: list[_Prepared] = []
    for seed in params.seeds:
        for spec in params.specs():
            prepared.append(ctx.shared("sparse_probing_llm", lambda spec=spec, seed=seed: _prepare(ctx, params, spec,
                                                                                                       seed),
                                       spec=spec.to_dict(), seed=seed, params=repr(params)))
    for sae in ctx.saes:
        per_seed: dict[int, list[MetricValue]] = {}
        detail_rows: list[tuple[str, dict[str, float]]] = []
        for seed in params.seeds:
            results = {}
            for prep in [p for p in prepared if p.seed == seed]:
                latents = pooled_latents(sae, ctx.space, prep.acts, ctx.device, params.max_tokens_per_batch)
                F = latents.mean
                topk = top_k_accuracies(F, prep.problems, params.k_values, params.topk_C)
                sae_acc: dict[str, dict] = {"sae_top_k_accuracy": {k: a.tolist() for k, (a, _) in topk.items()}}
                first_k = min(params.k_values)
                best_latent = topk[first_k][1][:, 0].tolist()   # the latent with the largest mean difference
                if params.full_probe:
                    sae_acc["sae_accuracy"] = {None: full_probe_accuracy(F, prep.problems,
                                                                         params.full_probe_Cs)[0].tolist()}
                results[prep.dataset] = {**prep.llm, **sae_acc}
                for c, name in enumerate(prep.problems.names):
                    cols = {"seed": float(seed), "sae_best_latent": float(best_latent[c])}
                    for metric, by_k in results[prep.dataset].items():
                        for k, accs in by_k.items():
                            cols[metric.replace("_k_", f"_{k}_") if k is not None else metric] = accs[c]
                    detail_rows.append((f"{prep.dataset}/{name}", cols))
            per_seed[seed] = _summarise(results)
        yield SAEResult(sae.metadata.sae_id, with_seed_aggregates(per_seed),
                        [Details.from_rows("per_class", detail_rows)])


def _summarise(results: dict[str, dict[str, dict]]) -> list[MetricValue]:
    """Mean over classes per dataset (subset=dataset) and over datasets (subset=None)."""
    return subset_rows({dataset: {(metric, k): accs for metric, by_k in metrics.items() for k, accs in by_k.items()}
                        for dataset, metrics in results.items()})
