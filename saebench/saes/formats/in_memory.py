"""SAE objects a Python user already holds (`saebench.evaluate(saes={"id": module})`): saebench's own
SAEs, SAEBench `custom_saes`, SAE Lens `SAE` objects, or any module with encode / decode / W_dec.

`saebench.evaluate` registers each object under a key and passes a spec `{format: in_memory, options:
{key: ...}}` to the runner, which loads it like any other format (the object is moved to the run's
device and dtype). The hook comes from the spec, else from the object's own config (`cfg.hook_name`,
or `cfg.metadata.hook_name` in SAE Lens 6).
"""

from __future__ import annotations

import dataclasses

from torch import nn

from saebench.errors import SAELoadError
from saebench.saes.custom import ModuleSAE
from saebench.saes.formats.registry import register_format
from saebench.saes.protocol import SAEFacts, SAEMetadata
from saebench.saes.spec import SAESpec

_OBJECTS: dict[str, nn.Module] = {}


def register_object(key: str, module: nn.Module) -> None:
    """Make `module` loadable as `{format: in_memory, options: {key: key}}` in this process."""
    if not isinstance(module, nn.Module):
        raise SAELoadError(f"SAE {key!r}: an in-memory SAE must be a torch.nn.Module with encode, decode and "
                           f"W_dec; got {type(module).__name__}.")
    _OBJECTS[key] = module


def object_hook(module: nn.Module) -> str | None:
    """The hook an SAE object names in its own config, if any."""
    cfg = getattr(module, "cfg", None)
    for holder in (cfg, getattr(cfg, "metadata", None)):
        hook = getattr(holder, "hook_name", None)
        if isinstance(hook, str) and hook:
            return hook
    return None


@register_format("in_memory")
def load_in_memory(spec: SAESpec, env=None):
    """The registered object, as an SAE of the protocol with this spec's id (and hook)."""
    key = spec.options.get("key")
    if key not in _OBJECTS:
        raise SAELoadError(f"SAE {spec.id!r}: no in-memory SAE registered under key {key!r}; in-memory SAEs are "
                           "passed to saebench.evaluate(saes=...) in the same process.")
    module = _OBJECTS[key]
    if isinstance(module, SAEFacts):           # one of saebench's own SAE classes
        md = module.metadata
        module.metadata = dataclasses.replace(md, sae_id=spec.id, hook=spec.hook or md.hook)
        return module
    hook = spec.hook or object_hook(module)
    if not hook:
        raise SAELoadError(f"SAE {spec.id!r}: the {type(module).__name__} object names no hook; pass it as "
                           "{'sae': obj, 'hook': 'blocks.L.hook_resid_post'}.")
    cfg = getattr(module, "cfg", None)
    architecture = getattr(cfg, "architecture", None)
    architecture = str((architecture() if callable(architecture) else architecture) or type(module).__name__)
    md = SAEMetadata(sae_id=spec.id, hook=hook, architecture=architecture,
                     source=f"in_memory:{type(module).__module__}.{type(module).__qualname__}", model=spec.model,
                     centred=bool(spec.centred))
    return ModuleSAE(module, md)
