"""Language-model adapters: hook points, reading, splicing, forward-from-hook."""

from saebench.models.adapter import ActivationSpace, LanguageModel
from saebench.models.hooks import HOOK_KINDS, HookPoint, parse_hook
from saebench.models.loading import load_language_model

__all__ = ["ActivationSpace", "HOOK_KINDS", "HookPoint", "LanguageModel", "load_language_model", "parse_hook"]
