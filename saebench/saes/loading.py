"""Load SAEs named by config specs through the format registry, fold decoder norms, expand Matryoshka
prefixes, and check them against a model."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from saebench.errors import IncompatibleSAEError, SAELoadError
from saebench.saes.architectures import LinearSAE
from saebench.saes.folding import decoder_norm_deviation, fold_decoder_norms, unit_norm_tolerance
from saebench.saes.formats import FORMATS
from saebench.saes.spec import SAESpec
from saebench.saes.validation import check_finite

log = logging.getLogger(__name__)


class LoadEnv:
    """What baselines need beyond a spec: the model (hook widths only; loading runs no LM pass and reads
    no corpus) and the run's seed. `lm_factory` loads the model on first use, so a run whose units are
    all present never loads it."""

    def __init__(self, lm: Any = None, seed: int = 0, lm_factory: Callable[[], Any] | None = None) -> None:
        self._lm = lm
        self._factory = lm_factory
        self.seed = seed

    @property
    def lm(self) -> Any:
        """The run's saebench.models.LanguageModel (loaded now if it was not yet)."""
        if self._lm is None and self._factory is not None:
            self._lm = self._factory()
        return self._lm


def load_sae(spec: SAESpec | dict, device: torch.device | str = "cpu", dtype: torch.dtype = torch.float32,
             env: LoadEnv | None = None) -> nn.Module:
    """Load one SAE (any registered format), check its weights, fold its decoder norms, move it to
    `device` in `dtype`."""
    spec = spec if isinstance(spec, SAESpec) else SAESpec.from_dict(spec)
    sae = FORMATS.get(spec.format)(spec, env or LoadEnv())
    check_finite(spec.id, list(sae.named_parameters()) + list(sae.named_buffers()))
    if sae.W_dec.dtype in (torch.float16, torch.bfloat16):
        sae = sae.to(dtype=torch.float32)   # fold and check at full precision; cast to the run dtype last
    if isinstance(sae, LinearSAE) and spec.fold_decoder_norms:
        fold_decoder_norms(sae)
    deviation = decoder_norm_deviation(sae) if hasattr(sae, "W_dec") else 0.0
    if deviation > unit_norm_tolerance(sae.W_dec.dtype):
        sae.metadata.extra["decoder_norm_max_deviation"] = round(deviation, 6)
        log.warning("SAE %s: decoder rows are not unit-norm (max deviation %.3g) and were not folded; metrics "
                    "that read W_dec directly assume unit rows", spec.id, deviation)
    return sae.to(device=device, dtype=dtype)


def expand_prefixes(sae: nn.Module, which: Any) -> list[nn.Module]:
    """Matryoshka SAEs: the nested SAEs for `which` ('all' = every group end, or a list of sizes);
    the full SAE is always included (as its own id). Other SAEs: `[sae]`."""
    if which is None:
        return [sae]
    md = sae.metadata
    if which == "all":
        if not md.prefixes:
            raise SAELoadError(f"SAE {md.sae_id!r}: prefixes='all' needs a Matryoshka SAE (with group sizes); "
                               f"this is a {md.architecture!r} SAE. Give explicit sizes instead, e.g. [256, 1024].")
        sizes = list(md.prefixes)
    elif isinstance(which, (list, tuple)) and all(isinstance(m, int) for m in which):
        sizes = sorted(set(which))
    else:
        raise SAELoadError(f"SAE {md.sae_id!r}: prefixes must be 'all' or a list of ints, got {which!r}.")
    bad = [m for m in sizes if not 1 <= m <= sae.d_sae]
    if bad:
        raise SAELoadError(f"SAE {md.sae_id!r}: prefix sizes {bad} are out of range 1..d_sae={sae.d_sae}.")
    return [sae.prefix(m) for m in sizes if m < sae.d_sae] + [sae]


_ALIASES = {"gpt2-small": "gpt2"}


def canonical_model_name(name: str | None) -> str:
    """Compare model names without their hub organisation and case ('google/gemma-2-2b' == 'gemma-2-2b')."""
    base = re.split(r"[/\\]", str(name or "").strip().rstrip("/\\"))[-1].lower()
    return _ALIASES.get(base, base)


def check_compatible(sae: nn.Module, lm) -> None:
    """Raise `IncompatibleSAEError` if a hook is absent from `lm` or a width differs; warn (and record)
    when the SAE's stated model differs from `lm` (set `model:` in the SAE spec to declare an alias)."""
    md = sae.metadata
    for hook, width, what in ((md.hook, sae.d_in, "d_in"), (md.output_hook, sae.d_out, "d_out")):
        if hook is None:
            continue
        try:
            actual = lm.hook_width(hook)
        except Exception as e:
            raise IncompatibleSAEError(f"SAE {md.sae_id!r}: {e}") from e
        if width != actual:
            raise IncompatibleSAEError(
                f"SAE {md.sae_id!r} has {what}={width}, but hook {hook!r} of model {lm.name!r} has width "
                f"{actual}. The SAE was trained on a different model (its file says model={md.model!r}).")
    if md.model and canonical_model_name(md.model) != canonical_model_name(lm.name):
        note = (f"SAE {md.sae_id!r} says it was trained on model {md.model!r}, but the run uses {lm.name!r}. "
                "The widths agree, so it will be evaluated; if the names are aliases, set `model:` in the SAE "
                "spec to the run's model to silence this.")
        log.warning(note)
        md.extra["model_mismatch"] = f"{md.model} != {lm.name}"
