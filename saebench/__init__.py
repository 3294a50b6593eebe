"""saebench: evaluate sparse autoencoders on language-model activations."""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__", "evaluate"]


def __getattr__(name: str):
    """`saebench.evaluate` is imported on first use, so `import saebench.results` stays torch-free."""
    if name == "evaluate":
        from saebench.api import evaluate

        return evaluate
    raise AttributeError(f"module 'saebench' has no attribute {name!r}")
