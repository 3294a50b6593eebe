"""A plain `torch.nn.Module` from the user's own code: `options: {class: 'pkg.module:ClassName', kwargs: {...},
state_dict: path/to/weights.(pt|safetensors)}`; `hook:` is required (a module carries no metadata)."""

from __future__ import annotations

import importlib
from pathlib import Path

from saebench.errors import SAELoadError
from saebench.saes.custom import ModuleSAE
from saebench.saes.formats.files import read_safetensors, read_torch_state
from saebench.saes.formats.registry import register_format
from saebench.saes.protocol import SAEMetadata
from saebench.saes.spec import SAESpec


def import_class(target: str, sae_id: str) -> type:
    """`pkg.module:ClassName` -> the class, with errors that say which part failed."""
    module_name, sep, class_name = str(target).partition(":")
    if not sep or not module_name or not class_name:
        raise SAELoadError(f"SAE {sae_id!r}: options.class must look like 'package.module:ClassName', "
                           f"got {target!r}.")
    try:
        module = importlib.import_module(module_name)
    except ImportError as e:
        raise SAELoadError(f"SAE {sae_id!r}: cannot import module {module_name!r} ({e}); is it installed or on "
                           "PYTHONPATH?") from e
    cls = getattr(module, class_name, None)
    if not isinstance(cls, type):
        available = sorted(n for n, v in vars(module).items() if isinstance(v, type) and not n.startswith("_"))
        raise SAELoadError(f"SAE {sae_id!r}: module {module_name!r} has no class {class_name!r}; classes there: "
                           f"{available}.")
    return cls


@register_format("module")
def load_module(spec: SAESpec, env=None) -> ModuleSAE:
    """Instantiate the user's class with `kwargs`, load `state_dict` if given, wrap it in the protocol."""
    opts = spec.options
    if "class" not in opts:
        raise SAELoadError(f"SAE {spec.id!r}: format 'module' needs options.class ('package.module:ClassName').")
    if not spec.hook:
        raise SAELoadError(f"SAE {spec.id!r}: format 'module' needs `hook:` (e.g. blocks.3.hook_resid_post).")
    cls = import_class(opts["class"], spec.id)
    try:
        module = cls(**dict(opts.get("kwargs") or {}))
    except TypeError as e:
        raise SAELoadError(f"SAE {spec.id!r}: {opts['class']}(**kwargs) failed: {e}") from e
    source = f"module:{opts['class']}"
    if opts.get("state_dict"):
        path = Path(opts["state_dict"]).expanduser()
        state = read_safetensors(path, spec.id) if path.suffix == ".safetensors" else read_torch_state(path, spec.id)
        result = module.load_state_dict(state, strict=False)
        if result.missing_keys or result.unexpected_keys:
            raise SAELoadError(f"SAE {spec.id!r}: state dict {str(path)!r} does not fit {opts['class']}: missing "
                               f"keys {list(result.missing_keys)}, unexpected keys {list(result.unexpected_keys)}.")
        source += f"@{path}"
    metadata = SAEMetadata(sae_id=spec.id, hook=spec.hook, output_hook=opts.get("output_hook"),
                           architecture=str(opts.get("architecture", cls.__name__)), source=source,
                           model=spec.model, centred=bool(spec.centred))
    return ModuleSAE(module.eval(), metadata)
