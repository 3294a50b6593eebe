"""A synthetic model standing where the language model stands in a run (`model=synthetic/<preset>`).

It has one hook, `synthetic` (width d), no tokenizer and no layers: plugins that need a language model
are `skipped` on it with a reason, and the `ground_truth` plugin reads its sampler and dictionary.
Names: `synthetic:<preset>` (saebench's presets), `synthetic:<folder>` (a model saved by
`SyntheticModel.save`, or by SAE Lens), or `synthetic:sae_lens:<source>` (an SAE Lens model from a folder or
the hub; see `sae_lens_model.py`).
"""

from __future__ import annotations

import hashlib
import json
import logging
from pathlib import Path

import torch

from saebench.errors import ConfigError
from saebench.models.adapter import ActivationSpace
from saebench.synthetic.config import PRESETS, preset
from saebench.synthetic.model import SyntheticModel
from saebench.synthetic.sae_lens_model import is_sae_lens_folder, load_sae_lens_synthetic

log = logging.getLogger(__name__)
PREFIX = "synthetic:"
HOOK = "synthetic"
SAE_LENS_PREFIX = "sae_lens:"


def is_synthetic_name(name: str) -> bool:
    return str(name).startswith(PREFIX)


class SyntheticSource:
    """The run-facing face of a `SyntheticModel` (name, revision, hook width, activation space)."""

    is_synthetic = True
    tokenizer = None

    def __init__(self, model: SyntheticModel, name: str, device: torch.device | str = "cpu") -> None:
        self.model, self.name, self.device = model, name, torch.device(device)
        config = json.dumps(model.cfg.to_dict(), sort_keys=True, default=str).encode()
        self.revision = "cfg-" + hashlib.sha256(config + model.D.numpy().tobytes()).hexdigest()[:12]

    def hook_width(self, hook: str) -> int:
        if hook != HOOK:
            raise ConfigError(f"Hook {hook!r} does not exist on synthetic model {self.name!r}; its only hook is "
                              f"{HOOK!r}.")
        return self.model.cfg.d

    def activation_space(self, centred: bool = False) -> ActivationSpace:
        if centred:
            raise ConfigError(f"SAE is centred, but synthetic model {self.name!r} has no residual stream to centre.")
        return ActivationSpace(False)

    def special_token_ids(self) -> list[int]:
        return []


def load_synthetic(name: str, device: torch.device | str = "cpu") -> SyntheticSource:
    """`synthetic:<preset>` builds the preset (seeded); `synthetic:<folder>` loads a saved model (saebench's
    or SAE Lens's); `synthetic:sae_lens:<source>` loads an SAE Lens model from a folder or the hub."""
    what = name[len(PREFIX):]
    if what in PRESETS:
        model = SyntheticModel(preset(what))
    elif what.startswith(SAE_LENS_PREFIX):
        model = load_sae_lens_synthetic(what[len(SAE_LENS_PREFIX):])
    elif Path(what).expanduser().is_dir() and is_sae_lens_folder(what):
        model = load_sae_lens_synthetic(what)
    elif Path(what).expanduser().is_dir():
        model = SyntheticModel.load(Path(what).expanduser())
    else:
        raise ConfigError(f"Synthetic model {name!r}: {what!r} is neither a preset ({sorted(PRESETS)}), nor a folder "
                          f"saved by SyntheticModel.save or SAE Lens, nor '{SAE_LENS_PREFIX}<folder or hub repo>'.")
    log.info("synthetic model %s: %d features in d=%d", name, model.cfg.num_features, model.cfg.d)
    return SyntheticSource(model, name, device)
