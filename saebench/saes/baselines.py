"""Baseline and diagnostic SAEs, loadable like any other so every metric can be sanity-checked:

- `identity`: f = x, x_hat = x (perfect reconstruction, dense; FVU 0 and CE score 1 by construction);
- `pca`: the top principal directions of the hook's activations, fitted streaming on the run's corpus
  (float64 covariance) and cached on disk; dense, orthonormal decoder;
- `random`: an SAE of the same architecture, width and sparsity settings as `of` (or as given), with
  random unit decoder rows and a tied encoder, as at initialisation;
- `permuted_decoder`: `of` with its decoder rows shuffled, so each latent fires as trained but writes
  another latent's direction.
A trained SAE must beat `random` and `permuted_decoder` on every quality metric.
"""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file
from tqdm.auto import tqdm

from saebench.cache.activations import default_cache_dir
from saebench.cache.keys import cache_key
from saebench.errors import SAELoadError
from saebench.saes.architectures import IdentityActivationSAE, LinearSAE, register_architecture
from saebench.saes.build import build_sae
from saebench.saes.formats.registry import FORMATS, register_format
from saebench.saes.protocol import SAEMetadata
from saebench.saes.spec import SAESpec

log = logging.getLogger(__name__)


@register_architecture("pca")
class PCASAE(IdentityActivationSAE):
    """f = (x - mean) @ V;  x_hat = f @ V.T + mean, with V the top principal directions."""


def _need_lm(spec: SAESpec, env, what: str):
    if env is None or env.lm is None:
        raise SAELoadError(f"SAE {spec.id!r}: the {spec.format!r} baseline needs the run's model to {what}; "
                           "load it through `saebench run` (or pass LoadEnv(lm=...)).")
    return env.lm


def _hook(spec: SAESpec) -> str:
    if not spec.hook:
        raise SAELoadError(f"SAE {spec.id!r}: the {spec.format!r} baseline needs `hook:` (e.g. "
                           "blocks.2.hook_resid_post).")
    return spec.hook


def _metadata(spec: SAESpec, hook: str, label: str, env, **extra) -> SAEMetadata:
    model = spec.model or (env.lm.name if env is not None and env.lm is not None else None)
    return SAEMetadata(sae_id=spec.id, hook=hook, architecture=label, source=f"baseline:{spec.format}",
                       model=model, centred=bool(spec.centred), extra={"baseline": spec.format, **extra})


@register_format("identity")
def identity_baseline(spec: SAESpec, env=None) -> LinearSAE:
    """The identity map as an SAE (d_sae = d_in)."""
    hook = _hook(spec)
    d_in = spec.options.get("d_in") or _need_lm(spec, env, "know the hook width").hook_width(hook)
    eye = torch.eye(int(d_in))
    zeros = torch.zeros(int(d_in))
    return IdentityActivationSAE(eye, eye.clone(), zeros, zeros.clone(),
                                 metadata=_metadata(spec, hook, "identity", env))


def _load_of(spec: SAESpec, env) -> LinearSAE:
    of = spec.options.get("of")
    if not isinstance(of, dict):
        raise SAELoadError(f"SAE {spec.id!r}: the {spec.format!r} baseline needs options.of: the spec of the SAE "
                           "it is derived from (e.g. {format: sae_lens, path: ...}).")
    base_spec = SAESpec.from_dict({"id": f"{spec.id}/base", **of})
    base = FORMATS.get(base_spec.format)(base_spec, env)
    if not isinstance(base, LinearSAE):
        raise SAELoadError(f"SAE {spec.id!r}: baselines can only be derived from built-in architectures.")
    return base


def _generator(spec: SAESpec, env) -> torch.Generator:
    seed = int(spec.options.get("seed", env.seed if env is not None else 0))
    return torch.Generator().manual_seed(seed)


@register_format("random")
def random_baseline(spec: SAESpec, env=None) -> LinearSAE:
    """Random unit decoder rows, tied encoder, zero encoder bias; architecture and settings from `of`."""
    gen = _generator(spec, env)
    if "of" in spec.options:
        base = _load_of(spec, env)
        d_in, d_sae, hook = base.d_in, base.d_sae, spec.hook or base.metadata.hook
        arch, hyper = type(base).architecture, base.hyperparameters()
        b_dec = base.b_dec.detach().float().clone()
        extra_tensors = {"threshold": base.threshold.detach().float().clone()} if hasattr(base, "threshold") else {}
        if arch == "gated":
            arch = "relu"  # a random gate has no meaning; use the ReLU at initialisation
    else:
        hook = _hook(spec)
        d_in = int(spec.options.get("d_in") or _need_lm(spec, env, "know the hook width").hook_width(hook))
        d_sae = int(spec.options.get("d_sae", 4 * d_in))
        arch = spec.options.get("architecture", "relu")
        hyper = {"k": spec.options["k"]} if "k" in spec.options else {}
        b_dec, extra_tensors = torch.zeros(d_in), {}
        if arch not in ("relu", "topk"):
            raise SAELoadError(f"SAE {spec.id!r}: random baselines without `of` support architecture relu or "
                               f"topk, got {arch!r}.")
    W_dec = torch.randn(d_sae, d_in, generator=gen)
    W_dec /= W_dec.norm(dim=1, keepdim=True)
    tensors = {"W_enc": W_dec.T.contiguous(), "W_dec": W_dec, "b_enc": torch.zeros(d_sae), "b_dec": b_dec,
               **extra_tensors}
    md = _metadata(spec, hook, f"random_{arch}", env)
    return build_sae(arch, tensors, md, hyper=hyper, apply_b_dec_to_input=True, what="random init")


@register_format("permuted_decoder")
def permuted_decoder_baseline(spec: SAESpec, env=None) -> LinearSAE:
    """`of` with a seeded permutation of its decoder rows (encoder, biases and thresholds unchanged)."""
    base = _load_of(spec, env)
    perm = torch.randperm(base.d_sae, generator=_generator(spec, env))
    with torch.no_grad():
        base.W_dec.copy_(base.W_dec[perm])
    base.metadata = dataclasses.replace(
        base.metadata, sae_id=spec.id, hook=spec.hook or base.metadata.hook, source=f"baseline:{spec.format}",
        architecture=f"permuted_{base.metadata.architecture}", prefixes=None,
        extra={**base.metadata.extra, "baseline": spec.format, "permuted_from": base.metadata.source})
    return base


@register_format("pca")
def pca_baseline(spec: SAESpec, env=None) -> LinearSAE:
    """PCA of the hook's activations on the run's corpus (cached on disk by model, hook, data, budget)."""
    lm = _need_lm(spec, env, "collect activations")
    hook = _hook(spec)
    if env.corpus is None:
        raise SAELoadError(f"SAE {spec.id!r}: the pca baseline needs the run's corpus.")
    n_tokens = int(spec.options.get("n_tokens", 65_536))
    context_size = int(spec.options.get("context_size", 128))
    d_in = lm.hook_width(hook)
    d_sae = int(spec.options.get("d_sae", d_in))
    if not 1 <= d_sae <= d_in:
        raise SAELoadError(f"SAE {spec.id!r}: pca d_sae must be in 1..d_in={d_in}, got {d_sae}.")
    key = cache_key("pca", model=lm.name, revision=lm.revision, hook=hook, centred=bool(spec.centred),
                    corpus=env.corpus.to_dict(), n_tokens=n_tokens, context_size=context_size)
    cache_dir = Path(env.cache_dir or default_cache_dir()) / "baselines"
    path = cache_dir / f"pca-{key[:24]}.safetensors"
    if path.is_file():
        stats = load_file(str(path))
        log.info("pca baseline %s: reusing %s", spec.id, path)
    else:
        stats = fit_pca(lm, hook, env, n_tokens, context_size, bool(spec.centred))
        cache_dir.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        save_file(stats, str(tmp))
        tmp.replace(path)
    V = stats["components"][:d_sae]                      # [d_sae, d_in], rows orthonormal
    md = _metadata(spec, hook, "pca", env, pca_n_tokens=n_tokens,
                   pca_explained_fraction=float(stats["eigenvalues"][:d_sae].sum() / stats["eigenvalues"].sum()))
    return PCASAE(V.T.contiguous(), V.clone(), torch.zeros(d_sae), stats["mean"].clone(), metadata=md,
                  apply_b_dec_to_input=True)


@torch.no_grad()
def fit_pca(lm, hook: str, env, n_tokens: int, context_size: int, centred: bool) -> dict[str, torch.Tensor]:
    """Streaming mean and covariance (float64) over non-special tokens, then an eigendecomposition."""
    from saebench.data.corpus import iter_documents
    from saebench.data.tokens import pack_documents, special_mask

    n_rows = -(-n_tokens // context_size)
    tokens = pack_documents(iter_documents(env.corpus), lm.tokenizer, context_size, n_rows, True,
                            source=f"corpus {env.corpus.path!r}")
    keep_all = ~special_mask(tokens, lm.special_token_ids())
    space = lm.activation_space(centred)
    d = lm.hook_width(hook)
    total, outer, count = torch.zeros(d, dtype=torch.float64), torch.zeros(d, d, dtype=torch.float64), 0
    shift = None
    bs = max(1, env.batch_size)
    for start in tqdm(range(0, n_rows, bs), desc=f"pca {hook}", unit="batch", leave=False, disable=None):
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
