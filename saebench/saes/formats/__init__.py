"""SAE file formats. Each registers a loader `(spec, env) -> SAE` under its format name."""

from saebench.saes.formats import dictionary_learning as _dictionary_learning  # noqa: F401
from saebench.saes.formats import gemma_scope as _gemma_scope  # noqa: F401
from saebench.saes.formats import in_memory as _in_memory  # noqa: F401
from saebench.saes.formats import llama_scope as _llama_scope  # noqa: F401
from saebench.saes.formats import module as _module  # noqa: F401
from saebench.saes.formats import sae_lens as _sae_lens  # noqa: F401
from saebench.saes.formats import sparsify as _sparsify  # noqa: F401
from saebench.saes.formats.registry import FORMATS, register_format

__all__ = ["FORMATS", "register_format"]
