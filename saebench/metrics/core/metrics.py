"""The metrics the core plugin declares (name, direction, description, headline).

A metric under a SAEBench name has SAEBench's definition on identical inputs (tests/parity); where
SAEBench's definition has a known bug, our corrected value carries its own name (`*_centred`,
`*_per_element`, `*_abs`)."""

from __future__ import annotations

from saebench.metrics.api import MetricInfo

CORE_METRICS = [
    MetricInfo(name="mse_per_element", higher_is_better=False,
               description="Mean squared error per element: sum ||x - x_hat||^2 / (tokens * d_in)."),
    MetricInfo(name="mse", higher_is_better=False,
               description="SAEBench's mse: mean over tokens of ||x - x_hat||^2 / (kept tokens in its batch of "
                           "reference_batch_rows rows); depends on that batch size (its [BUG?]); see mse_per_element."),
    MetricInfo(name="fvu", higher_is_better=False, headline=True,
               description="Fraction of variance unexplained, centred: sum ||x - x_hat||^2 / sum ||x - mean(x)||^2."),
    MetricInfo(name="explained_variance_centred", higher_is_better=True, description="1 - fvu (centred)."),
    MetricInfo(name="explained_variance", higher_is_better=True,
               description="SAEBench's explained_variance as implemented: 1 - mean_b E||x - x_hat||^2 / (S - (S/d)^2), "
                           "S = mean_b E||x||^2 over its batches; ~uncentred, inflated by a large mean (its "
                           "[BUG?]); see explained_variance_centred."),
    MetricInfo(name="cossim", higher_is_better=True,
               description="Mean cosine similarity of x and x_hat per token (0 when either is a zero vector)."),
    MetricInfo(name="l2_norm_in", higher_is_better=None, description="Mean ||x|| per token."),
    MetricInfo(name="l2_norm_out", higher_is_better=None, description="Mean ||x_hat|| per token."),
    MetricInfo(name="l2_ratio", higher_is_better=None,
               description="Mean ||x_hat|| / ||x|| per token; below 1 means shrinkage."),
    MetricInfo(name="relative_reconstruction_bias", higher_is_better=None,
               description="Mean over SAEBench's batches of sum ||x_hat||^2 / sum <x, x_hat>; 1 is unbiased, below 1 "
                           "shrinks."),
    MetricInfo(name="l0", higher_is_better=None, headline=True,
               description="Mean number of non-zero latents per token (f != 0)."),
    MetricInfo(name="l1", higher_is_better=None,
               description="Mean sum of f per token (SAEBench's signed sum; equals l1_abs for non-negative codes)."),
    MetricInfo(name="l1_abs", higher_is_better=None, description="Mean sum of |f| per token."),
    MetricInfo(name="frac_alive", higher_is_better=True,
               description="Fraction of latents that fire on at least one evaluated token."),
    MetricInfo(name="frac_dead", higher_is_better=False,
               description="Fraction of latents that never fire on the evaluated tokens."),
    MetricInfo(name="freq_over_1_percent", higher_is_better=None,
               description="Fraction of latents firing on more than 1% of tokens."),
    MetricInfo(name="freq_over_10_percent", higher_is_better=False,
               description="Fraction of latents firing on more than 10% of tokens (dense latents)."),
    MetricInfo(name="ce_loss_without_sae", higher_is_better=None,
               description="Next-token cross-entropy of the unmodified model (nats)."),
    MetricInfo(name="ce_loss_with_sae", higher_is_better=False,
               description="Cross-entropy with the SAE reconstruction spliced in at its hook."),
    MetricInfo(name="ce_loss_with_ablation", higher_is_better=None,
               description="Cross-entropy with the hook activation zero-ablated at every position (BOS included)."),
    MetricInfo(name="ce_loss_increase", higher_is_better=False, headline=True,
               description="ce_loss_with_sae - ce_loss_without_sae (stderr paired by sequence)."),
    MetricInfo(name="ce_loss_score", higher_is_better=True, headline=True,
               description="Loss recovered: (CE_ablation - CE_sae) / (CE_ablation - CE_clean)."),
    MetricInfo(name="kl_div_with_sae", higher_is_better=False,
               description="Mean KL(clean || with SAE) of next-token distributions."),
    MetricInfo(name="kl_div_with_ablation", higher_is_better=None,
               description="Mean KL(clean || zero-ablated at every position)."),
    MetricInfo(name="kl_div_score", higher_is_better=True, headline=True,
               description="(KL_ablation - KL_sae) / KL_ablation."),
]
