"""SAE file formats. Each registers a loader `(spec) -> SAE` under its format name."""

from saebench.saes.formats import sae_lens as _sae_lens  # noqa: F401  (registers 'sae_lens')
from saebench.saes.formats.registry import FORMATS, register_format

__all__ = ["FORMATS", "register_format"]
