"""Data-fitted controls (the PCA baseline): fitted from the run's corpus through the same services and
disk cache as plugins, never inside SAE loading.

`fit_controls` fits every SAE of a chunk that carries a `fit_request`; the statistics are keyed by
(model, revision, hook, centring, corpus, budget), computed once per run and stored on disk.
"""

from __future__ import annotations

import logging

import torch
from safetensors.torch import load_file, save_file

from saebench.atomic import atomic_write
from saebench.cache.keys import cache_key
from saebench.data.tokens import special_mask
from saebench.errors import SAELoadError
from saebench.progress import progress
from saebench.saes.baselines import PCASAE

log = logging.getLogger(__name__)


def needs_fit(sae) -> bool:
    """A data-fitted control that has not been fitted yet."""
    return isinstance(sae, PCASAE) and sae.fit_request is not None


def fit_key(sae, lm, services) -> str:
    """The key of a control's fit: its request, the model, and the corpus it is fitted on."""
    req = sae.fit_request
    corpus = None if services.tokens is None else services.tokens.corpus.identity()
    return cache_key("pca", model=lm.name, revision=lm.revision, hook=req.hook, centred=req.centred, corpus=corpus,
                     n_tokens=req.n_tokens, context_size=req.context_size)


def fit_controls(saes, lm, services, batch_size: int) -> None:
    """Fit every unfitted control in `saes` (in place)."""
    for sae in saes:
        if not needs_fit(sae):
            continue
        if services.tokens is None:
            raise SAELoadError(f"SAE {sae.metadata.sae_id!r}: the pca baseline is fitted on the run's corpus, and "
                               "this run has none.")
        key = fit_key(sae, lm, services)
        stats = services.memo.get_or_compute(key, lambda sae=sae, key=key: _stored_or_fitted(sae, lm, services,
                                                                                              batch_size, key))
        sae.apply_fit(stats)


def _stored_or_fitted(sae, lm, services, batch_size: int, key: str) -> dict[str, torch.Tensor]:
    path = services.root / "baselines" / f"pca-{key[:24]}.safetensors"
    if path.is_file():
        log.info("pca baseline %s: reusing %s", sae.metadata.sae_id, path)
        return load_file(str(path))
    req = sae.fit_request
    tokens = services.tokens.rows(-(-req.n_tokens // req.context_size), req.context_size, True)
    stats = pca_statistics(lm, req.hook, tokens, lm.activation_space(req.centred), batch_size)
    atomic_write(path, lambda tmp: save_file(stats, str(tmp)))
    return stats


@torch.no_grad()
def pca_statistics(lm, hook: str, tokens: torch.Tensor, space, batch_size: int) -> dict[str, torch.Tensor]:
    """Streaming mean and covariance (float64) over non-special tokens, then an eigendecomposition."""
    keep_all = ~special_mask(tokens, lm.special_token_ids())
    d = lm.hook_width(hook)
    total, outer, count = torch.zeros(d, dtype=torch.float64), torch.zeros(d, d, dtype=torch.float64), 0
    shift = None
    bs = max(1, batch_size)
    for start in progress(range(0, len(tokens), bs), desc=f"pca {hook}", unit="batch"):
        batch = tokens[start:start + bs]
        x = space.to_sae(lm.activations(batch, hook)).double().cpu()[keep_all[start:start + bs]]
        if shift is None:
            shift = x.mean(0)  # shifted sums keep the covariance accurate when the mean is large
        x = x - shift
        total += x.sum(0)
        outer += x.T @ x
        count += x.shape[0]
    if count < 2:
        raise SAELoadError(f"pca baseline on {hook}: only {count} usable tokens; raise options.n_tokens.")
    mean_shifted = total / count
    cov = (outer - count * torch.outer(mean_shifted, mean_shifted)) / (count - 1)
    eigenvalues, vectors = torch.linalg.eigh(cov)
    order = torch.argsort(eigenvalues, descending=True)
    return {"mean": (mean_shifted + shift).float(), "components": vectors[:, order].T.contiguous().float(),
            "eigenvalues": eigenvalues[order].clamp_min(0).float(), "n_tokens": torch.tensor(count)}
