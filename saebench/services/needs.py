"""`Needs`: what a plugin declares it uses beyond its own parameters. The runner provides exactly that."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, kw_only=True)
class Needs:
    """A plugin's typed declaration of run-level services.

    - `corpus`: the run's text corpus as packed token rows (`ctx.tokens`); the corpus spec enters the
      plugin's params hash, so changing the corpus recomputes only plugins that read it.
    - `datasets`: labelled datasets loaded by spec (`ctx.datasets.load`); which datasets is in the params.
    - `activations`: the shared, content-addressed activation cache of texts (`ctx.activations`).
    - `judge`: the LLM judge (`ctx.judge`); its identity (endpoint, model, temperature) enters the hash.
    - `synthetic`: the plugin runs on a synthetic model with known features (`ctx.lm.model`, a
      `SyntheticModel`) and only there; every other plugin needs a language model. The runner records a
      `skipped` row with the reason when the run's model is the wrong kind.
    """

    corpus: bool = False
    datasets: bool = False
    activations: bool = False
    judge: bool = False
    synthetic: bool = False

    def names(self) -> list[str]:
        return [n for n in ("corpus", "datasets", "activations", "judge", "synthetic") if getattr(self, n)]
