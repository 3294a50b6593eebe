"""Baseline and diagnostic SAEs, loadable like any other so every metric can be sanity-checked:

- `identity`: f = x, x_hat = x (perfect reconstruction, dense; FVU 0 and CE score 1 by construction);
- `pca`: the top principal directions of the hook's activations; dense, orthonormal decoder. Loading
  builds it unfitted (no LM pass, no corpus read); the runner fits it from the run's corpus through the
  services (`saebench.services.fits`, streaming float64 covariance, cached on disk) before it is used;
- `random`: an SAE of the same architecture, width and sparsity settings as `of` (or as given), with
  random unit decoder rows and a tied encoder, as at initialisation; with `k` it is a random TopK SAE of
  `of`'s width and decoder bias instead (a sparsity-matched control for an SAE whose L0 is about k);
- `permuted_decoder`: `of` with its decoder rows shuffled, so each latent fires as trained but writes
  another latent's direction.
- `synthetic_oracle` (synthetic models only): decoder = the true feature dictionary, tied encoder, TopK at
  the model's mean true L0 (or `k`): MCC 1 by construction; its detection F1 is what matched filtering
  reaches at that sparsity (under superposition a linear encoder cannot be a perfect detector; a trained
  encoder that cancels interference can beat it).
A trained SAE must beat `random` and `permuted_decoder` on every quality metric.
"""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass

import torch
from torch import nn

from saebench.errors import SAELoadError
from saebench.saes.architectures import IdentityActivationSAE, LinearSAE, register_architecture
from saebench.saes.build import build_sae
from saebench.saes.formats.registry import FORMATS, register_format
from saebench.saes.protocol import SAEMetadata
from saebench.saes.spec import SAESpec

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PCAFitRequest:
    """What a PCA control is fitted on: `n_tokens` corpus tokens in rows of `context_size` at its hook."""

    hook: str
    centred: bool
    n_tokens: int
    context_size: int

    def key_parts(self) -> dict:
        return {"hook": self.hook, "centred": self.centred, "n_tokens": self.n_tokens,
                "context_size": self.context_size}


@register_architecture("pca")
class PCASAE(IdentityActivationSAE):
    """f = (x - mean) @ V;  x_hat = f @ V.T + mean, with V the top principal directions.

    Built unfitted by loading (`fit_request` set, zero weights); `apply_fit` installs the statistics."""

    fit_request: PCAFitRequest | None = None

    def apply_fit(self, stats: dict[str, torch.Tensor]) -> None:
        """Install mean, components and eigenvalues from `saebench.services.fits.pca_statistics`."""
        d_sae = self.d_sae
        V = stats["components"][:d_sae].to(self.W_dec.dtype)           # [d_sae, d_in], rows orthonormal
        self.W_enc = nn.Parameter(V.T.contiguous().to(self.W_enc.device), requires_grad=False)
        self.W_dec = nn.Parameter(V.clone().to(self.W_dec.device), requires_grad=False)
        self.b_dec = nn.Parameter(stats["mean"].clone().to(self.b_dec.device, self.b_dec.dtype), requires_grad=False)
        eig = stats["eigenvalues"]
        self.metadata.extra["pca_explained_fraction"] = float(eig[:d_sae].sum() / eig.sum())
        self.fit_request = None


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
        if "k" in spec.options:   # sparsity-matched: TopK at the given k
            arch, hyper, extra_tensors = "topk", {"k": int(spec.options["k"])}, {}
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
    """An unfitted PCA control of the hook (widths from the model's config; the runner fits it)."""
    lm = _need_lm(spec, env, "know the hook width")
    hook = _hook(spec)
    n_tokens = int(spec.options.get("n_tokens", 65_536))
    context_size = int(spec.options.get("context_size", 128))
    d_in = lm.hook_width(hook)
    d_sae = int(spec.options.get("d_sae", d_in))
    if not 1 <= d_sae <= d_in:
        raise SAELoadError(f"SAE {spec.id!r}: pca d_sae must be in 1..d_in={d_in}, got {d_sae}.")
    md = _metadata(spec, hook, "pca", env, pca_n_tokens=n_tokens)
    sae = PCASAE(torch.zeros(d_in, d_sae), torch.zeros(d_sae, d_in), torch.zeros(d_sae), torch.zeros(d_in),
                 metadata=md, apply_b_dec_to_input=True)
    sae.fit_request = PCAFitRequest(hook, bool(spec.centred), n_tokens, context_size)
    return sae


@register_format("synthetic_oracle")
def synthetic_oracle(spec: SAESpec, env=None) -> LinearSAE:
    """TopK SAE on the true dictionary of the run's synthetic model (see the module docstring)."""
    lm = _need_lm(spec, env, "read its true features")
    model = getattr(lm, "model", None)
    if not getattr(lm, "is_synthetic", False):
        raise SAELoadError(f"SAE {spec.id!r}: synthetic_oracle needs a synthetic model (model=synthetic/<preset>); "
                           f"the run's model is {lm.name!r}.")
    k = spec.options.get("k")
    if k is None:
        _, a = model.sample(10_000, torch.Generator().manual_seed(0))
        k = max(1, round(float((a > 0).sum(1).float().mean())))
    D = model.D.float()
    tensors = {"W_enc": D.T.contiguous(), "W_dec": D.clone(), "b_enc": torch.zeros(len(D)),
               "b_dec": model.bias.float().clone()}
    md = _metadata(spec, spec.hook or "synthetic", "synthetic_oracle", env, k=int(k))
    return build_sae("topk", tensors, md, hyper={"k": int(k)}, apply_b_dec_to_input=True, what="synthetic oracle")
