"""The LLM judge, a framework service: OpenAI-compatible client, retries, response cache, budget,
circuit breaker.

Plugins that declare `needs=Needs(judge=True)` receive one `Judge` per run as `ctx.judge`; they never
build clients, read API keys or open caches themselves."""

from saebench.judge.client import (
    BudgetExhausted,
    Judge,
    JudgeConfig,
    JudgeDown,
    JudgeError,
    Reservation,
    Usage,
)

__all__ = ["BudgetExhausted", "Judge", "JudgeConfig", "JudgeDown", "JudgeError", "Reservation", "Usage"]
