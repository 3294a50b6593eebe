"""The LLM judge: any OpenAI-compatible chat-completions endpoint through the real `openai` client.

- Concurrency-limited async requests, an optional rate limit (`requests_per_minute`: request starts, retries
  included, spaced at least 60 / rpm seconds apart in this process), timeouts, retry with exponential backoff
  on 429 / 5xx / connection errors; temperature 0 by default.
- Response cache on disk keyed by (endpoint, model, full messages, sampling params): a rerun with the
  same inputs makes no request and returns identical text. Only replies that parse are stored, so a
  malformed answer is never replayed as if it were one.
- Accounting (requests, cached answers, prompt/completion tokens, estimated cost from configurable
  prices) and a budget (`max_requests`, `max_cost`) that cannot be overshot: callers reserve a whole
  unit of work (`reserve`: e.g. one latent's explain + score requests) before sending anything, and
  every request reserves its worst-case cost (prompt UTF-8 bytes, an upper bound on BPE tokens, plus
  `max_tokens`) until its reply's real usage replaces it. What does not fit raises `BudgetExhausted`.
- A circuit breaker: `max_consecutive_failures` failed attempts in a row (timeouts, refused
  connections, 5xx, non-JSON bodies) trip it, and every later call raises `JudgeDown` at once.
- `check()`: key present, endpoint reachable, model listed — before any heavy work.
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
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from saebench.atomic import atomic_write_text
from saebench.checks import check_keys
from saebench.errors import ConfigError, SaeBenchError

log = logging.getLogger(__name__)

MESSAGE_OVERHEAD_TOKENS = 8      # chat-format tokens per message, on top of its content (generous)


class BudgetExhausted(SaeBenchError):
    """The judge's request or cost budget cannot cover the work asked for."""


class JudgeError(SaeBenchError):
    """The judge endpoint failed after all retries (or refused the request)."""


class JudgeDown(JudgeError):
    """The circuit breaker tripped: too many consecutive failures; no further requests are sent."""


@dataclass(frozen=True, kw_only=True)
class JudgeConfig:
    """`configs/judge/*.yaml`. `api_key_env` names the environment variable holding the key (null for
    servers that need none)."""

    base_url: str = "https://api.openai.com/v1"
    model: str = "gpt-4o-mini"
    api_key_env: str | None = "OPENAI_API_KEY"
    temperature: float = 0.0
    concurrency: int = 8
    requests_per_minute: float | None = None   # this process's request starts per minute (None: no limit)
    timeout_s: float = 60.0
    max_retries: int = 5
    backoff_s: float = 1.0
    input_price_per_mtok: float = 0.0     # USD per million prompt tokens (for the cost estimate)
    output_price_per_mtok: float = 0.0
    max_requests: int | None = None
    max_cost: float | None = None
    max_consecutive_failures: int = 8     # circuit breaker: failed attempts in a row before giving up
    deadline_s: float | None = 3600.0     # wall-clock limit on one unit's judge work (None: no limit)
    check: bool = True                    # check key, endpoint and model before the run's heavy work

    def __post_init__(self) -> None:
        if self.concurrency < 1 or self.max_retries < 0 or self.timeout_s <= 0:
            raise ConfigError(f"judge: concurrency >= 1, max_retries >= 0 and timeout_s > 0 are required, got "
                              f"{self.concurrency}, {self.max_retries}, {self.timeout_s}.")
        if self.requests_per_minute is not None and not self.requests_per_minute > 0:
            raise ConfigError(f"judge.requests_per_minute must be > 0 or null (no limit), got "
                              f"{self.requests_per_minute}.")
        if self.max_consecutive_failures < 1:
            raise ConfigError(f"judge.max_consecutive_failures must be >= 1, got {self.max_consecutive_failures}.")
        if self.deadline_s is not None and self.deadline_s <= 0:
            raise ConfigError(f"judge.deadline_s must be > 0 seconds or null (no limit), got {self.deadline_s}.")
        if self.max_requests is not None and self.max_requests < 1:
            raise ConfigError(f"judge.max_requests must be >= 1 or null (no limit), got {self.max_requests}.")
        if self.max_cost is not None and self.max_cost <= 0:
            raise ConfigError(f"judge.max_cost must be > 0 USD or null (no limit), got {self.max_cost}.")
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

    def api_key(self) -> str:
        """The key from the environment ('EMPTY' for servers without keys); a clear error when unset."""
        if not self.api_key_env:
            return "EMPTY"
        key = os.environ.get(self.api_key_env, "")
        if not key:
            raise ConfigError(f"The judge needs an API key in the environment variable {self.api_key_env!r}, which "
                              "is not set (or set judge.api_key_env: null for a server without keys).")
        return key

    def worst_case_cost(self, messages: list[dict], max_tokens: int) -> float:
        """An upper bound on one request's cost: every prompt byte a token (BPE tokens are >= 1 byte),
        plus chat-format overhead, plus `max_tokens` of completion."""
        prompt = sum(len(str(m.get("content", "")).encode()) + MESSAGE_OVERHEAD_TOKENS for m in messages)
        return (prompt * self.input_price_per_mtok + max_tokens * self.output_price_per_mtok) / 1e6


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
class Reservation:
    """Budget held for one unit of work (requests and USD), drawn on by its requests, returned on exit."""

    requests: int = 0
    cost: float = 0.0


@dataclass
class Judge:
    config: JudgeConfig
    cache_dir: Path | None
    usage: Usage = field(default_factory=Usage)

    def __post_init__(self) -> None:
        self.reserved_requests = 0
        self.reserved_cost = 0.0
        self.consecutive_failures = 0
        self.down_reason: str | None = None
        self._next_start = 0.0          # time.monotonic() before which no request may start (rate limit)
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

    def cached_answer(self, messages: list[dict], max_tokens: int,
                      parse: Callable[[str], Any] | None = None) -> tuple[bool, Any]:
        """(True, the parsed reply) when the cache answers this request with a reply that parses, else
        (False, None): an entry `parse` rejects (a ValueError) counts as absent and is asked again."""
        hit = self._cached(self._key(messages, max_tokens))
        if hit is None:
            return False, None
        try:
            return True, parse(hit["text"]) if parse else hit["text"]
        except ValueError:
            log.warning("judge cache entry for %s does not parse; asking again", self._key(messages, max_tokens)[:12])
            return False, None

    # ----- budget ------------------------------------------------------------------------------
    def _fits(self, requests: int, cost: float) -> str | None:
        """Why `requests` more requests costing at most `cost` do not fit the budget (None if they do)."""
        c = self.config
        held = self.usage.requests + self.reserved_requests
        if c.max_requests is not None and held + requests > c.max_requests:
            return (f"judge request budget: {self.usage.requests} sent + {self.reserved_requests} reserved + "
                    f"{requests} needed > max_requests={c.max_requests}")
        spent = self.usage.cost_usd + self.reserved_cost
        if c.max_cost is not None and spent + cost > c.max_cost:
            return (f"judge cost budget: ${self.usage.cost_usd:.4f} spent + ${self.reserved_cost:.4f} reserved + "
                    f"${cost:.4f} worst case > max_cost=${c.max_cost}")
        return None

    def reserve(self, requests: int, cost: float) -> Reservation:
        """Hold budget for a whole unit of work before any of its requests is sent (BudgetExhausted if it
        does not fit). Call `release` when the work ends, whatever happened."""
        why = self._fits(requests, cost)
        if why is not None:
            self.usage.budget_stops += 1
            raise BudgetExhausted(why)
        self.reserved_requests += requests
        self.reserved_cost += cost
        return Reservation(requests, cost)

    def release(self, r: Reservation) -> None:
        """Return what a reservation did not use."""
        self.reserved_requests -= r.requests
        self.reserved_cost -= r.cost
        r.requests, r.cost = 0, 0.0

    def _draw(self, r: Reservation, worst: float) -> None:
        """Take one request and its worst-case cost from `r`, topping it up from the budget if needed."""
        need_requests = 0 if r.requests >= 1 else 1
        need_cost = max(0.0, worst - r.cost)
        if need_requests or need_cost:
            extra = self.reserve(need_requests, need_cost)
            r.requests += extra.requests
            r.cost += extra.cost
        r.requests -= 1
        self.reserved_requests -= 1
        r.cost -= worst                   # stays in reserved_cost (in flight) until the reply settles it
        self.usage.requests += 1

    # ----- requests ----------------------------------------------------------------------------
    def _client_or_make(self):
        if self._client is None:
            import openai

            self._client = openai.AsyncOpenAI(base_url=self.config.base_url, api_key=self.config.api_key(),
                                              max_retries=0, timeout=self.config.timeout_s)
        return self._client

    async def complete(self, messages: list[dict], max_tokens: int, semaphore: asyncio.Semaphore,
                       parse: Callable[[str], Any] | None = None, reservation: Reservation | None = None) -> Any:
        """The judge's reply, parsed by `parse` when given (from the cache when the same request was
        answered before). A reply that `parse` rejects (a ValueError) raises it and is not cached; a cached
        entry that no longer parses is asked again."""
        found, value = self.cached_answer(messages, max_tokens, parse)
        if found:
            self.usage.cached += 1
            return value
        key = self._key(messages, max_tokens)
        own = reservation is None
        reservation = reservation or Reservation()
        worst = self.config.worst_case_cost(messages, max_tokens)
        try:
            async with semaphore:
                async with self._lock:
                    self._raise_if_down()
                    self._draw(reservation, worst)
                try:
                    text, usage = await self._send(messages, max_tokens)
                finally:
                    self.reserved_cost -= worst
        finally:
            if own:
                self.release(reservation)
        self.usage.prompt_tokens += usage[0]
        self.usage.completion_tokens += usage[1]
        actual = (usage[0] * self.config.input_price_per_mtok + usage[1] * self.config.output_price_per_mtok) / 1e6
        self.usage.cost_usd += actual if (usage[0] or usage[1]) else worst   # no usage reported: assume the worst
        value = parse(text) if parse else text          # raises before caching a malformed reply
        self._store(key, {"text": text, "prompt_tokens": usage[0], "completion_tokens": usage[1],
                          **self.config.identity()})
        return value

    def _raise_if_down(self) -> None:
        if self.down_reason is not None:
            raise JudgeDown(self.down_reason)

    def _failed_attempt(self, what: str) -> None:
        self.consecutive_failures += 1
        if self.consecutive_failures >= self.config.max_consecutive_failures and self.down_reason is None:
            self.down_reason = (f"judge endpoint {self.config.base_url} failed {self.consecutive_failures} times in a "
                                f"row (judge.max_consecutive_failures={self.config.max_consecutive_failures}); "
                                f"last: {what}")
            log.error("%s; no further requests are sent", self.down_reason)

    async def _send(self, messages: list[dict], max_tokens: int) -> tuple[str, tuple[int, int]]:
        import openai

        client = self._client_or_make()
        for attempt in range(self.config.max_retries + 1):
            self._raise_if_down()
            await self._pace()
            self._raise_if_down()
            try:
                resp = await client.chat.completions.create(model=self.config.model, messages=messages,
                                                            temperature=self.config.temperature,
                                                            max_tokens=max_tokens)
                text, usage = _reply(resp, self.config.base_url)
                self.consecutive_failures = 0
                return text, usage
            except (openai.RateLimitError, openai.APIConnectionError, openai.APITimeoutError,
                    openai.InternalServerError) as e:
                retryable = e
            except openai.APIStatusError as e:
                self.usage.failed_requests += 1
                self._failed_attempt(f"HTTP {e.status_code}")
                raise JudgeError(f"judge endpoint {self.config.base_url} refused the request: HTTP "
                                 f"{e.status_code} ({_short(e)})") from None
            except JudgeError as e:         # a body that is not a chat completion: not worth retrying
                self.usage.failed_requests += 1
                self._failed_attempt(str(e))
                raise
            if not isinstance(retryable, openai.RateLimitError):
                self._failed_attempt(f"{type(retryable).__name__} ({_short(retryable)})")
            if attempt == self.config.max_retries:
                self.usage.failed_requests += 1
                raise JudgeError(f"judge endpoint {self.config.base_url} failed after {attempt + 1} attempts: "
                                 f"{type(retryable).__name__} ({_short(retryable)})") from None
            delay = self.config.backoff_s * (2 ** attempt) * (0.5 + random.random() / 2)
            log.info("judge: %s, retrying in %.1f s (attempt %d)", type(retryable).__name__, delay, attempt + 1)
            await asyncio.sleep(delay)
        raise AssertionError("unreachable")

    async def _pace(self) -> None:
        """Wait for this request's slot under `requests_per_minute` (slots are handed out in call order; the
        event loop is single-threaded, so taking one needs no lock)."""
        rpm = self.config.requests_per_minute
        if not rpm:
            return
        now = time.monotonic()
        start = max(now, self._next_start)
        self._next_start = start + 60.0 / rpm
        if start > now:
            await asyncio.sleep(start - now)

    def check(self) -> None:
        """Key present, endpoint reachable, model listed (JudgeError / ConfigError otherwise). An endpoint
        without a /models route is accepted with a warning."""
        import openai

        c = self.config
        client = openai.OpenAI(base_url=c.base_url, api_key=c.api_key(), max_retries=0, timeout=min(c.timeout_s, 20))
        try:
            page = client.models.list()
        except openai.NotFoundError:
            log.warning("judge endpoint %s has no /models route; cannot check that it serves %r", c.base_url, c.model)
            return
        except openai.AuthenticationError as e:
            raise JudgeError(f"judge endpoint {c.base_url} rejected the key in ${c.api_key_env}: {_short(e)}") from None
        except (openai.APIConnectionError, openai.APITimeoutError) as e:
            raise JudgeError(f"judge endpoint {c.base_url} is unreachable ({type(e).__name__}: {_short(e)}); "
                             "start the server or fix judge.base_url (an OpenAI-compatible URL usually ends in "
                             "/v1).") from None
        except openai.APIStatusError as e:
            raise JudgeError(f"judge endpoint {c.base_url} answered /models with HTTP {e.status_code} "
                             f"({_short(e)})") from None
        finally:
            client.close()
        data = getattr(page, "data", None)
        if not isinstance(data, list):
            raise JudgeError(f"judge endpoint {c.base_url} answered /models with something that is not an "
                             f"OpenAI model list ({_short(repr(page))}); is judge.base_url right (usually ends in "
                             "/v1)?")
        served = sorted(str(getattr(m, "id", m)) for m in data)
        if served and c.model not in served:
            raise JudgeError(f"judge model {c.model!r} is not served by {c.base_url}; it serves: "
                             f"{', '.join(served[:20])}{' ...' if len(served) > 20 else ''}.")


def _reply(resp, base_url: str) -> tuple[str, tuple[int, int]]:
    """Text and (prompt, completion) tokens of a chat completion; a clear error for any other body
    (an HTML page from a proxy, a bare string, JSON without choices)."""
    choices = getattr(resp, "choices", None)
    if not choices:
        raise JudgeError(f"judge endpoint {base_url} returned a body that is not a chat completion "
                         f"({_short(repr(resp))}); is judge.base_url right (an OpenAI-compatible URL usually ends in "
                         "/v1)?")
    message = getattr(choices[0], "message", None)
    text = getattr(message, "content", None) or ""
    u = getattr(resp, "usage", None)
    prompt = (getattr(u, "prompt_tokens", 0) or 0) if u else 0
    completion = (getattr(u, "completion_tokens", 0) or 0) if u else 0
    return text, (int(prompt), int(completion))


def _short(e: object) -> str:
    text = str(e)
    return text if len(text) < 200 else text[:200] + "..."
