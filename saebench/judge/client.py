"""The LLM judge: any OpenAI-compatible chat-completions endpoint through the real `openai` client.

- Concurrency-limited async requests, timeouts, retry with exponential backoff on 429 / 5xx / connection
  errors; temperature 0 by default.
- Response cache on disk keyed by (endpoint, model, full messages, sampling params): a rerun with the
  same inputs makes no request and returns identical text.
- Accounting (requests, cached answers, prompt/completion tokens, estimated cost from configurable
  prices) and a budget (`max_requests`, `max_cost`): once spent, further uncached requests raise
  `BudgetExhausted`, which callers turn into "not scored" results.
- The API key is read from the environment variable named in the config, only when a request is made;
  it never enters the config, the cache, logs or results.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import os
import random
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from saebench.atomic import atomic_write_text
from saebench.checks import check_keys
from saebench.errors import ConfigError, SaeBenchError

log = logging.getLogger(__name__)


class BudgetExhausted(SaeBenchError):
    """The judge's request or cost budget is spent."""


class JudgeError(SaeBenchError):
    """The judge endpoint failed after all retries."""


@dataclass(frozen=True, kw_only=True)
class JudgeConfig:
    """`configs/judge/*.yaml`. `api_key_env` names the environment variable holding the key (null for
    servers that need none)."""

    base_url: str = "https://api.openai.com/v1"
    model: str = "gpt-4o-mini"
    api_key_env: str | None = "OPENAI_API_KEY"
    temperature: float = 0.0
    concurrency: int = 8
    timeout_s: float = 60.0
    max_retries: int = 5
    backoff_s: float = 1.0
    input_price_per_mtok: float = 0.0     # USD per million prompt tokens (for the cost estimate)
    output_price_per_mtok: float = 0.0
    max_requests: int | None = None
    max_cost: float | None = None

    def __post_init__(self) -> None:
        if self.concurrency < 1 or self.max_retries < 0 or self.timeout_s <= 0:
            raise ConfigError(f"judge: concurrency >= 1, max_retries >= 0 and timeout_s > 0 are required, got "
                              f"{self.concurrency}, {self.max_retries}, {self.timeout_s}.")
        if self.api_key_env is not None and not str(self.api_key_env).replace("_", "").isalnum():
            raise ConfigError(f"judge.api_key_env must be the NAME of an environment variable (e.g. OPENAI_API_KEY), "
                              f"not a key; got a value of length {len(str(self.api_key_env))}.")

    @classmethod
    def from_dict(cls, raw: dict[str, Any] | None) -> JudgeConfig:
        raw = dict(raw or {})
        hint = "Put the key in an environment variable and name it in api_key_env." if "api_key" in raw else ""
        check_keys(raw, cls.__dataclass_fields__, "the judge config", hint)
        return cls(**raw)

    def identity(self) -> dict[str, Any]:
        """What identifies the judge's answers (no secrets): endpoint and model."""
        return {"base_url": self.base_url, "model": self.model}


@dataclass
class Usage:
    requests: int = 0
    cached: int = 0
    failed_requests: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float = 0.0
    budget_stops: int = 0

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Judge:
    config: JudgeConfig
    cache_dir: Path | None
    usage: Usage = field(default_factory=Usage)

    def __post_init__(self) -> None:
        self.start_session()

    def start_session(self) -> None:
        """Fresh client and lock for the event loop about to run requests (each asyncio.run is a new loop)."""
        self._client = None
        self._lock = asyncio.Lock()

    # ----- cache -------------------------------------------------------------------------------
    def _key(self, messages: list[dict], max_tokens: int) -> str:
        payload = {**self.config.identity(), "messages": messages, "temperature": self.config.temperature,
                   "max_tokens": max_tokens}
        return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()

    def _path(self, key: str) -> Path | None:
        if self.cache_dir is None:
            return None
        return self.cache_dir / key[:2] / f"{key}.json"

    def _cached(self, key: str) -> dict | None:
        path = self._path(key)
        if path is None or not path.exists():
            return None
        try:
            return json.loads(path.read_text())
        except (OSError, json.JSONDecodeError):
            log.warning("ignoring unreadable judge cache entry %s", path)
            return None

    def _store(self, key: str, record: dict) -> None:
        path = self._path(key)
        if path is None:
            return
        atomic_write_text(path, json.dumps(record))

    # ----- requests ----------------------------------------------------------------------------
    def _client_or_make(self):
        if self._client is None:
            import openai

            key = "EMPTY"
            if self.config.api_key_env:
                key = os.environ.get(self.config.api_key_env, "")
                if not key:
                    raise ConfigError(f"The judge needs an API key in the environment variable "
                                      f"{self.config.api_key_env!r}, which is not set (or set judge.api_key_env: null "
                                      "for a server without keys).")
            self._client = openai.AsyncOpenAI(base_url=self.config.base_url, api_key=key, max_retries=0,
                                              timeout=self.config.timeout_s)
        return self._client

    def _check_budget(self) -> None:
        c = self.config
        if c.max_requests is not None and self.usage.requests >= c.max_requests:
            self.usage.budget_stops += 1
            raise BudgetExhausted(f"judge request budget spent ({self.usage.requests} of max_requests="
                                  f"{c.max_requests})")
        if c.max_cost is not None and self.usage.cost_usd >= c.max_cost:
            self.usage.budget_stops += 1
            raise BudgetExhausted(f"judge cost budget spent (${self.usage.cost_usd:.4f} of max_cost=${c.max_cost})")

    async def complete(self, messages: list[dict], max_tokens: int, semaphore: asyncio.Semaphore) -> str:
        """The judge's reply text (from the cache when the same request was answered before)."""
        key = self._key(messages, max_tokens)
        hit = self._cached(key)
        if hit is not None:
            self.usage.cached += 1
            return hit["text"]
        async with semaphore:
            async with self._lock:
                self._check_budget()
                self.usage.requests += 1        # reserved before sending, so concurrency cannot overspend
            text, usage = await self._send(messages, max_tokens)
        self.usage.prompt_tokens += usage[0]
        self.usage.completion_tokens += usage[1]
        self.usage.cost_usd += (usage[0] * self.config.input_price_per_mtok
                                + usage[1] * self.config.output_price_per_mtok) / 1e6
        self._store(key, {"text": text, "prompt_tokens": usage[0], "completion_tokens": usage[1],
                          **self.config.identity()})
        return text

    async def _send(self, messages: list[dict], max_tokens: int) -> tuple[str, tuple[int, int]]:
        import openai

        client = self._client_or_make()
        for attempt in range(self.config.max_retries + 1):
            try:
                resp = await client.chat.completions.create(model=self.config.model, messages=messages,
                                                            temperature=self.config.temperature,
                                                            max_tokens=max_tokens)
                text = resp.choices[0].message.content or ""
                u = resp.usage
                return text, ((u.prompt_tokens if u else 0), (u.completion_tokens if u else 0))
            except (openai.RateLimitError, openai.APIConnectionError, openai.APITimeoutError,
                    openai.InternalServerError) as e:
                retryable = e
            except openai.APIStatusError as e:
                if e.status_code < 500:
                    self.usage.failed_requests += 1
                    raise JudgeError(f"judge endpoint {self.config.base_url} refused the request: HTTP "
                                     f"{e.status_code} ({_short(e)})") from None
                retryable = e
            if attempt == self.config.max_retries:
                self.usage.failed_requests += 1
                raise JudgeError(f"judge endpoint {self.config.base_url} failed after {attempt + 1} attempts: "
                                 f"{type(retryable).__name__} ({_short(retryable)})") from None
            delay = self.config.backoff_s * (2 ** attempt) * (0.5 + random.random() / 2)
            log.info("judge: %s, retrying in %.1f s (attempt %d)", type(retryable).__name__, delay, attempt + 1)
            await asyncio.sleep(delay)
        raise AssertionError("unreachable")


def _short(e: Exception) -> str:
    text = str(e)
    return text if len(text) < 200 else text[:200] + "..."
