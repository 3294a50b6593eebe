"""The `ground_truth` plugin: how well does an SAE recover the known features of a synthetic model?

Runs only on a synthetic model (`model=synthetic/<preset>`, `needs.synthetic`); every SAE of the group is
evaluated on the same sample stream (`evaluate.py`), with SAE Lens's definitions (`measures.py`).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from saebench.errors import ConfigError
from saebench.metrics.api import Details, EvalContext, MetricInfo, MetricValue, Needs, SAEResult
from saebench.metrics.ground_truth.evaluate import ground_truth_values
from saebench.metrics.ground_truth.measures import EXACT_MATCHING_LIMIT
from saebench.metrics.registry import register_plugin

GROUND_TRUTH_METRICS = [
    MetricInfo(name="mcc", higher_is_better=True, headline=True,
               description="Mean |cos| of decoder rows and true features under the optimal one-to-one matching "
                           "(Hungarian; greedy above exact_matching_limit, see matching_exact)."),
    MetricInfo(name="f1", higher_is_better=True, headline=True,
               description="Mean over latents of the F1 of 'latent fires' as a detector of its best-matching true "
                           "feature's firing (SAE Lens's classification/f1_score)."),
    MetricInfo(name="precision", higher_is_better=True, description="Mean per-latent detection precision."),
    MetricInfo(name="recall", higher_is_better=True, description="Mean per-latent detection recall."),
    MetricInfo(name="accuracy", higher_is_better=True, description="Mean per-latent detection accuracy."),
    MetricInfo(name="uniqueness", higher_is_better=True,
               description="Distinct best-matching true features / latents (1 = every latent tracks its own)."),
    MetricInfo(name="explained_variance", higher_is_better=True,
               description="1 - E|x - x_hat|^2 / (E|x|^2 - |E x|^2) on the samples (SAE Lens's definition)."),
    MetricInfo(name="hierarchy_absorption", higher_is_better=False,
               description="Over (parent, child) pairs of the hierarchy, the fraction of co-firing samples where the "
                           "parent's latent is silent and the child's latent fires carrying the parent (|cos| >= "
                           "0.1); NaN without a hierarchy (README)."),
    MetricInfo(name="hedging", higher_is_better=False,
               description="Mean over parents of how much of the parent latent's decoder lies in its children's "
                           "span beyond the parent direction (0 = pure, 1 = all children); NaN without a hierarchy."),
    MetricInfo(name="shrinkage", higher_is_better=None,
               description="Mean |x_hat| / |x| (1 = no shrinkage)."),
    MetricInfo(name="l0", higher_is_better=None, description="Mean number of non-zero latents per sample."),
    MetricInfo(name="true_l0", higher_is_better=None, description="Mean number of firing true features."),
    MetricInfo(name="dead_latents", higher_is_better=None, description="Latents that never fired on the samples."),
    MetricInfo(name="matching_exact", higher_is_better=None,
               description="1 when mcc used the exact Hungarian matching, 0 when the greedy approximation."),
]


@dataclass(frozen=True, kw_only=True)
class GroundTruthParams:
    n_samples: int = 100_000
    batch_size: int = 8192
    seed: int = 0
    exact_matching_limit: int = EXACT_MATCHING_LIMIT

    def __post_init__(self) -> None:
        if self.n_samples < 1 or self.batch_size < 1:
            raise ConfigError(f"task.ground_truth.n_samples and batch_size must be >= 1, got {self.n_samples}, "
                              f"{self.batch_size}.")
        if self.exact_matching_limit < 1:
            raise ConfigError(f"task.ground_truth.exact_matching_limit must be >= 1, got {self.exact_matching_limit}.")


@register_plugin("ground_truth", version="1.0.0", metrics=GROUND_TRUTH_METRICS, params=GroundTruthParams,
                 needs=Needs(synthetic=True),
                 description="Recovery of a synthetic model's known features: MCC, per-latent detection F1, "
                             "uniqueness, explained variance (SynthSAEBench's measures).")
def evaluate_ground_truth(ctx: EvalContext, params: GroundTruthParams) -> Iterator[SAEResult]:
    model = ctx.lm.model
    values = ground_truth_values(model, list(ctx.saes), params.n_samples, params.batch_size, params.seed,
                                 params.exact_matching_limit)
    for sae, v in zip(ctx.saes, values, strict=True):
        metrics = [MetricValue(metric=m.name, value=float(v[m.name]) if m.name in v else np.nan,
                               n=params.n_samples)
                   for m in GROUND_TRUTH_METRICS if m.name != "matching_exact"]
        metrics.append(MetricValue(metric="matching_exact", value=float(v["matching"] == "hungarian")))
        yield SAEResult(sae.metadata.sae_id, metrics, [Details("summary", np.arange(1), {
            "d_sae": np.array([float(sae.d_sae)]), "num_features": np.array([float(model.cfg.num_features)])})])
