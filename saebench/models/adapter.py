"""`LanguageModel`: a Hugging Face causal LM with TransformerLens-style hook points.

It can (a) read the activation at a hook, stopping the forward pass there; (b) run the model with the
activation at a hook replaced (splice); (c) for residual-stream hooks, continue a forward pass from a
given residual activation, skipping the layers before it, so that N SAEs on one hook cost one shared
prefix pass plus N suffix passes.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import torch
from torch import nn

from saebench.models.families import FamilyLayout, get_submodule, layout_for
from saebench.models.hooks import HookPoint, parse_hook

log = logging.getLogger(__name__)

Splice = Callable[[torch.Tensor], torch.Tensor]


class _StopForward(Exception):
    """Raised inside a hook to end a forward pass early once the activation was captured."""


def _hidden_from_inputs(args: tuple, kwargs: dict) -> torch.Tensor:
    return args[0] if args else kwargs["hidden_states"]


def _replace_hidden_in_inputs(args: tuple, kwargs: dict, new: torch.Tensor) -> tuple[tuple, dict]:
    if args:
        return (new, *args[1:]), kwargs
    return args, {**kwargs, "hidden_states": new}


def _first(output):
    return output[0] if isinstance(output, tuple) else output


def _replace_first(output, new: torch.Tensor):
    return (new, *output[1:]) if isinstance(output, tuple) else new


@torch.no_grad()
def _centres_its_input(norm: nn.Module, d_model: int, device: torch.device, dtype: torch.dtype) -> bool:
    x = torch.randn(4, d_model, generator=torch.Generator().manual_seed(0)).to(device=device, dtype=dtype)
    y, y_shifted = norm(x).float(), norm(x + 3.0).float()
    return bool((y - y_shifted).abs().max() <= 1e-2 * y.abs().max().clamp_min(1e-6))


@dataclass(frozen=True)
class ActivationSpace:
    """Maps model-space activations at a hook to the space an SAE was trained in, and back.

    `centred=True` reproduces TransformerLens's `center_writing_weights` on LayerNorm models: the
    residual stream (and every write to it) has zero mean over d_model. Going back adds the removed
    mean of the original activation, so an identity SAE leaves the model unchanged.
    """

    centred: bool = False

    def to_sae(self, x: torch.Tensor) -> torch.Tensor:
        return x - x.mean(-1, keepdim=True) if self.centred else x

    def to_model(self, y: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        return y + x.mean(-1, keepdim=True) if self.centred else y


class LanguageModel:
    """Wraps a `transformers` causal LM and its tokenizer; see the module docstring."""

    def __init__(self, model: nn.Module, tokenizer, name: str, revision: str | None = None) -> None:
        self.model = model.eval()
        self.tokenizer = tokenizer
        self.name = name
        self.revision = revision
        self.config = model.config
        self.layout: FamilyLayout = layout_for(model.config.model_type)
        self.layers: nn.ModuleList = get_submodule(model, self.layout.layers)  # type: ignore[assignment]
        self.final_norm = get_submodule(model, self.layout.final_norm)
        self._uses_layernorm: bool | None = None
        for p in self.model.parameters():
            p.requires_grad_(False)

    # ----- basic facts -------------------------------------------------------------------------
    @property
    def n_layers(self) -> int:
        return len(self.layers)

    @property
    def d_model(self) -> int:
        return int(self.config.hidden_size)

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    @property
    def dtype(self) -> torch.dtype:
        return next(self.model.parameters()).dtype

    @property
    def uses_layernorm(self) -> bool:
        """Whether the final norm centres its input (LayerNorm) or only rescales it (RMSNorm), decided from
        the module's behaviour, so a family's own LayerNorm class counts: a centring norm's output does
        not change when the same constant is added to every component of its input."""
        if self._uses_layernorm is None:
            self._uses_layernorm = _centres_its_input(self.final_norm, self.d_model, self.device, self.dtype)
        return self._uses_layernorm

    def hook(self, name: str) -> HookPoint:
        """Parse a hook name and check it exists in this model."""
        return parse_hook(name, self.n_layers)

    def hook_width(self, name: str) -> int:
        self.hook(name)
        return self.d_model

    def activation_space(self, centred: bool) -> ActivationSpace:
        """The SAE-space transform; centring only applies to LayerNorm models (as in TransformerLens)."""
        if centred and not self.uses_layernorm:
            log.warning("%s uses RMSNorm; TransformerLens does not centre its residual stream, so neither do we",
                        self.name)
            return ActivationSpace(False)
        return ActivationSpace(centred)

    def special_token_ids(self) -> list[int]:
        """BOS/EOS/PAD/UNK and every other special id of the tokenizer."""
        ids = set(getattr(self.tokenizer, "all_special_ids", []) or [])
        for attr in ("bos_token_id", "eos_token_id", "pad_token_id"):
            v = getattr(self.tokenizer, attr, None)
            if v is not None:
                ids.add(int(v))
        return sorted(ids)

    # ----- hook plumbing -----------------------------------------------------------------------
    def _module_and_mode(self, hp: HookPoint) -> tuple[nn.Module, str]:
        """Module to hook and whether the activation is its input ('pre') or output ('post')."""
        if hp.is_resid:
            p = hp.resid_position
            return (self.layers[p] if p < self.n_layers else self.final_norm), "pre"
        layer = self.layers[hp.layer]
        if hp.kind == "ln2.hook_normalized":
            return get_submodule(layer, self.layout.mlp), "pre"
        path = self.layout.attn_out if hp.kind == "hook_attn_out" else self.layout.mlp_out
        return get_submodule(layer, path), "post"

    @contextlib.contextmanager
    def _hooked(self, hp: HookPoint, fn: Callable[[torch.Tensor], torch.Tensor | None]) -> Iterator[None]:
        """Install `fn` at the hook; if it returns a tensor, that replaces the activation."""
        module, mode = self._module_and_mode(hp)
        if mode == "pre":

            def pre_hook(_mod, args, kwargs):
                new = fn(_hidden_from_inputs(args, kwargs))
                return None if new is None else _replace_hidden_in_inputs(args, kwargs, new)

            handle = module.register_forward_pre_hook(pre_hook, with_kwargs=True)
        else:

            def post_hook(_mod, _args, output):
                new = fn(_first(output))
                return None if new is None else _replace_first(output, new)

            handle = module.register_forward_hook(post_hook)
        try:
            yield
        finally:
            handle.remove()

    def _forward(self, tokens: torch.Tensor, attention_mask: torch.Tensor | None = None,
                 position_ids: torch.Tensor | None = None, keep: torch.Tensor | None = None) -> torch.Tensor:
        kwargs = {} if position_ids is None else {"position_ids": position_ids.to(self.device)}
        if keep is not None:        # unembed only these positions (transformers' `logits_to_keep` index form)
            kwargs["logits_to_keep"] = keep.to(self.device)
        out = self.model(input_ids=tokens, attention_mask=attention_mask, use_cache=False, **kwargs)
        return out.logits

    # ----- public operations -------------------------------------------------------------------
    @torch.no_grad()
    def activations(self, tokens: torch.Tensor, hook: str | list[str],
                    attention_mask: torch.Tensor | None = None, position_ids: torch.Tensor | None = None):
        """Activation at `hook` for `tokens` [B, L] -> [B, L, d_model]; the forward stops there.

        With a list of hooks, returns a list of activations (same order); the forward stops after the
        last of them has been reached.
        """
        hooks = [hook] if isinstance(hook, str) else list(hook)
        store: dict[str, torch.Tensor] = {}

        def grab(name: str) -> Callable[[torch.Tensor], None]:
            def fn(x: torch.Tensor) -> None:
                store[name] = x.detach()
                if len(store) == len(set(hooks)):
                    raise _StopForward
            return fn

        with contextlib.ExitStack() as stack:
            for name in dict.fromkeys(hooks):
                stack.enter_context(self._hooked(self.hook(name), grab(name)))
            with contextlib.suppress(_StopForward):
                self._forward(tokens.to(self.device), attention_mask, position_ids)
        out = [store[h] for h in hooks]
        return out[0] if isinstance(hook, str) else out

    @contextlib.contextmanager
    def capturing(self, hooks: list[str]) -> Iterator[dict[str, torch.Tensor]]:
        """Record the activations at `hooks` during any forward run inside the block (nothing replaced)."""
        store: dict[str, torch.Tensor] = {}

        def grab(name: str) -> Callable[[torch.Tensor], None]:
            def fn(x: torch.Tensor) -> None:
                store[name] = x.detach()
            return fn

        with contextlib.ExitStack() as stack:
            for name in dict.fromkeys(hooks):
                stack.enter_context(self._hooked(self.hook(name), grab(name)))
            yield store

    @contextlib.contextmanager
    def splicing(self, hook: str, fn: Splice) -> Iterator[None]:
        """Replace the activation at `hook` by `fn(x)` in any forward run inside the block (e.g. the prefill
        of `model.generate`; `fn` may return None to leave it)."""
        with self._hooked(self.hook(hook), fn):
            yield

    @torch.no_grad()
    def logits(self, tokens: torch.Tensor, hook: str | None = None, splice: Splice | None = None,
               capture: bool = False, attention_mask: torch.Tensor | None = None,
               position_ids: torch.Tensor | None = None, keep: torch.Tensor | None = None):
        """Logits [B, L, V]; with `splice`, the activation at `hook` is replaced by `splice(x)`.

        With `capture=True` returns `(logits, activation_at_hook)` (the activation before splicing). With
        `keep` (sorted positions [K]) only those positions are unembedded: logits [B, K, V].
        """
        return self._spliced_logits(tokens, hook, splice, capture, attention_mask, position_ids, keep)

    def _spliced_logits(self, tokens: torch.Tensor, hook: str | None, splice: Splice | None, capture: bool,
                        attention_mask: torch.Tensor | None, position_ids: torch.Tensor | None = None,
                        keep: torch.Tensor | None = None):
        if hook is None:
            if splice is not None or capture:
                raise ValueError("splice/capture need a hook name")
            return self._forward(tokens.to(self.device), attention_mask, position_ids, keep)
        hp = self.hook(hook)
        captured: list[torch.Tensor] = []

        def fn(x: torch.Tensor) -> torch.Tensor | None:
            if capture:
                captured.append(x.detach())
            return None if splice is None else splice(x)

        with self._hooked(hp, fn):
            logits = self._forward(tokens.to(self.device), attention_mask, position_ids, keep)
        return (logits, captured[0]) if capture else logits

    @torch.no_grad()
    def logits_from(self, tokens: torch.Tensor, hook: str, activation: torch.Tensor,
                    attention_mask: torch.Tensor | None = None, keep: torch.Tensor | None = None) -> torch.Tensor:
        """Logits when the activation at `hook` is `activation` [B, L, d] (only at positions `keep` if given).

        For residual hooks the layers before the hook are skipped (only embeddings run); other hooks
        fall back to a full spliced forward. Either way the result equals `logits(tokens, hook,
        splice=lambda _: activation)`.
        """
        return self.suffix_logits(tokens, hook, activation, attention_mask, keep=keep)

    def suffix_logits(self, tokens: torch.Tensor, hook: str, activation: torch.Tensor,
                      attention_mask: torch.Tensor | None = None,
                      position_ids: torch.Tensor | None = None, keep: torch.Tensor | None = None) -> torch.Tensor:
        """`logits_from` with gradients flowing into `activation` (the model's weights stay frozen): what an
        intervention trained through the layers after the hook needs (RAVEL's mask)."""
        hp = self.hook(hook)
        activation = activation.to(self.device)
        skipping = self._skipping_layers(hp.resid_position) if hp.is_resid else contextlib.nullcontext()
        with skipping:
            return self._spliced_logits(tokens, hook, lambda _x: activation, False, attention_mask, position_ids,
                                        keep)

    @contextlib.contextmanager
    def _skipping_layers(self, n: int) -> Iterator[None]:
        """Temporarily make layers[0:n] return their input unchanged (their output is replaced anyway)."""
        patched = []
        try:
            for layer in list(self.layers)[:n]:
                layer.forward = _passthrough  # type: ignore[method-assign]
                patched.append(layer)
            yield
        finally:
            for layer in patched:
                del layer.forward


def _passthrough(*args, **kwargs):
    # Decoder layers in transformers>=5 return the hidden-state tensor; older ones a tuple.
    hidden = _hidden_from_inputs(args, kwargs)
    return hidden if _LAYER_RETURNS_TENSOR else (hidden,)


def _layers_return_tensor() -> bool:
    import transformers

    return int(transformers.__version__.split(".")[0]) >= 5


_LAYER_RETURNS_TENSOR = _layers_return_tensor()
