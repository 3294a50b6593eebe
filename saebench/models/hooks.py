"""Hook-point names (TransformerLens / SAE Lens style) and their parsing."""

from __future__ import annotations

import re
from dataclasses import dataclass

from saebench.errors import ConfigError

HOOK_KINDS = ("hook_resid_pre", "hook_resid_post", "hook_attn_out", "hook_mlp_out", "ln2.hook_normalized")
RESID_KINDS = ("hook_resid_pre", "hook_resid_post")
_HOOK_RE = re.compile(r"^blocks\.(\d+)\.([\w.]+)$")
# `ln2.hook_normalized` is the MLP's input (after the pre-MLP norm): where MLP transcoders read.


@dataclass(frozen=True)
class HookPoint:
    """A parsed hook name such as ``blocks.3.hook_resid_post``."""

    layer: int
    kind: str

    @property
    def name(self) -> str:
        return f"blocks.{self.layer}.{self.kind}"

    @property
    def is_resid(self) -> bool:
        return self.kind in RESID_KINDS

    @property
    def resid_position(self) -> int:
        """Index into the residual stream: input of layer p (p = n_layers is the final-norm input)."""
        if self.kind == "hook_resid_pre":
            return self.layer
        if self.kind == "hook_resid_post":
            return self.layer + 1
        raise ValueError(f"{self.name} is not a residual-stream hook")


def parse_hook(name: str, n_layers: int | None = None) -> HookPoint:
    """Parse and validate a hook name; errors list the valid forms and layer range."""
    if not isinstance(name, str):
        raise ConfigError(f"Hook name must be a string, got {name!r}.")
    m = _HOOK_RE.match(name.strip())
    valid = "blocks.<layer>.{" + "|".join(HOOK_KINDS) + "}"
    if not m:
        raise ConfigError(f"Unknown hook {name!r}. Valid hook names look like {valid}.")
    layer, kind = int(m.group(1)), m.group(2)
    if kind not in HOOK_KINDS:
        raise ConfigError(f"Unknown hook kind {kind!r} in {name!r}. Valid kinds: {', '.join(HOOK_KINDS)}.")
    if n_layers is not None and not 0 <= layer < n_layers:
        raise ConfigError(
            f"Hook {name!r} refers to layer {layer}, but the model has {n_layers} layers "
            f"(valid layers: 0..{n_layers - 1})."
        )
    return HookPoint(layer=layer, kind=kind)
