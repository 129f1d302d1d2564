"""The LLM classifier: a cache, a daily call budget and a rate-limit cool-down around one
Messages API call per failure (the contract is the package's docstring)."""

from __future__ import annotations

import json
import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator, MutableMapping
from datetime import UTC, date, datetime, timedelta
from typing import Final

import anthropic
from anthropic.types import MessageParam, ToolChoiceToolParam

from triagehub.actions.http import Closeable, scrub_secret
from triagehub.actions.llm.answer import (
    TOOL_NAME,
    InvalidAnswer,
    LLMOutcome,
    LLMStatus,
    LLMVerdict,
    verdict_from_message,
)
from triagehub.actions.llm.prompt import SYSTEM_PROMPT, LLMRequest, build_prompt, triage_tool
from triagehub.actions.llm.transport import (
    RetryAfterTooLong,
    anthropic_client,
    describe_status_error,
    retry_after_seconds,
)
from triagehub.clock import SystemClock

# The package's logger: records name ``triagehub.actions.llm``, as they always have.
log = logging.getLogger("triagehub.actions.llm")

# A current Sonnet: good judgement at a moderate price. ``claude-sonnet-4-5`` is listed as
# deprecated by the SDK (end of life 2026-11-30) and warns on every call.
DEFAULT_MODEL: Final = "claude-sonnet-5-5"
MAX_OUTPUT_TOKENS: Final = 1024
DEFAULT_CACHE_SIZE: Final = 1024

_LOG_LEVELS: Final[dict[str, int]] = {
    "ok": logging.INFO,
    "cached": logging.DEBUG,
    "skipped_disabled": logging.DEBUG,
    "skipped_budget": logging.INFO,
    "error": logging.WARNING,
    "invalid": logging.WARNING,
    "timeout": logging.WARNING,
    "rate_limited": logging.WARNING,
}


class VerdictLRU(MutableMapping[str, LLMVerdict]):
    """A small in-memory least-recently-used map from fingerprint to verdict."""

    def __init__(self, maxsize: int = DEFAULT_CACHE_SIZE) -> None:
        if maxsize < 1:
            raise ValueError(f"maxsize must be at least 1, got {maxsize}")
        self.maxsize = maxsize
        self._data: OrderedDict[str, LLMVerdict] = OrderedDict()

    def __getitem__(self, key: str) -> LLMVerdict:
        value = self._data[key]
        self._data.move_to_end(key)
        return value

    def __setitem__(self, key: str, value: LLMVerdict) -> None:
        self._data[key] = value
        self._data.move_to_end(key)
        while len(self._data) > self.maxsize:
            self._data.popitem(last=False)

    def __delitem__(self, key: str) -> None:
        del self._data[key]

    def __iter__(self) -> Iterator[str]:
        return iter(list(self._data))

    def __len__(self) -> int:
        return len(self._data)


def _utc_now() -> datetime:
    return SystemClock().now()


class LLMClassifier(Closeable):
    """Consults Claude for one failure at a time, with a cache, a daily budget and fallbacks.

    Thread-safe: the cache, the budget and the cool-down are guarded by a lock (the network call
    is not), so two threads may ask about the same new fingerprint at once; the budget is
    reserved before each call, so it is never overspent.
    """

    def __init__(
        self,
        *,
        api_key: str | None,
        model: str = DEFAULT_MODEL,
        base_url: str | None = None,
        timeout_s: float = 20.0,
        max_retries: int = 2,
        daily_budget: int = 200,
        clock: Callable[[], datetime] | None = None,
        cache: MutableMapping[str, LLMVerdict] | None = None,
        max_retry_wait_s: float = 30.0,
    ) -> None:
        if timeout_s <= 0:
            raise ValueError(f"timeout_s must be positive, got {timeout_s}")
        if max_retries < 0:
            raise ValueError(f"max_retries must be 0 or more, got {max_retries}")
        if daily_budget < 0:
            raise ValueError(f"daily_budget must be 0 or more, got {daily_budget}")
        if max_retry_wait_s < 0:
            raise ValueError(f"max_retry_wait_s must be 0 or more, got {max_retry_wait_s}")
        self.model = model
        self.timeout_s = timeout_s
        self.max_retries = max_retries
        self.daily_budget = daily_budget
        self.max_retry_wait_s = max_retry_wait_s
        self._api_key = api_key or None
        self._clock = clock or _utc_now
        self._cache: MutableMapping[str, LLMVerdict] = VerdictLRU() if cache is None else cache
        self._lock = threading.Lock()
        self._budget_day: date | None = None
        self._calls_today = 0
        self._cooldown_until: datetime | None = None
        self._client: anthropic.Anthropic | None = None
        if self._api_key is not None:
            self._client = anthropic_client(
                api_key=self._api_key,
                base_url=base_url,
                timeout_s=timeout_s,
                max_retries=max_retries,
                max_retry_wait_s=max_retry_wait_s,
            )

    # -- public surface ---------------------------------------------------------------------

    @property
    def enabled(self) -> bool:
        """Whether an API key was given (without one every call is ``skipped_disabled``)."""
        return self._client is not None

    @property
    def calls_today(self) -> int:
        """API calls made (or reserved) on the current UTC day."""
        with self._lock:
            self._roll_budget_day(self._now())
            return self._calls_today

    @property
    def budget_remaining(self) -> int:
        with self._lock:
            self._roll_budget_day(self._now())
            return max(0, self.daily_budget - self._calls_today)

    def cache_get(self, fingerprint: str) -> LLMVerdict | None:
        with self._lock:
            return self._cache.get(fingerprint)

    def cache_put(self, fingerprint: str, verdict: LLMVerdict) -> None:
        with self._lock:
            self._cache[fingerprint] = verdict

    def close(self) -> None:
        if self._client is not None:
            self._client.close()

    def classify(self, req: LLMRequest) -> LLMOutcome:
        """Ask about one failure; see the module docstring for the order of checks."""
        client = self._client
        if client is None:
            return self._outcome(
                req, None, "skipped_disabled", "no Anthropic API key configured (ANTHROPIC_API_KEY)"
            )
        refusal: tuple[LLMStatus, str] | None = None
        with self._lock:
            now = self._now()
            cached = self._cache.get(req.fingerprint)
            if cached is None:
                refusal = self._reserve_call(now)
        if cached is not None:
            return self._outcome(req, cached, "cached", f"verdict of {cached.model} cached")
        if refusal is not None:
            return self._outcome(req, None, *refusal)

        started = time.monotonic()
        outcome = self._call(client, req)
        if outcome.verdict is not None:
            with self._lock:
                self._cache[req.fingerprint] = outcome.verdict
        elapsed = time.monotonic() - started
        return self._outcome(req, outcome.verdict, outcome.status, outcome.detail, elapsed)

    # -- internals --------------------------------------------------------------------------

    def _now(self) -> datetime:
        now = self._clock()
        if now.tzinfo is None or now.utcoffset() is None:
            raise ValueError("the clock of LLMClassifier must return timezone-aware datetimes")
        return now.astimezone(UTC)

    def _roll_budget_day(self, now: datetime) -> None:
        today = now.date()
        if self._budget_day != today:
            self._budget_day = today
            self._calls_today = 0

    def _reserve_call(self, now: datetime) -> tuple[LLMStatus, str] | None:
        """Under the lock: refuse (status, detail) or count one call against today's budget."""
        if self._cooldown_until is not None:
            if now < self._cooldown_until:
                until = self._cooldown_until.isoformat(timespec="seconds")
                return "rate_limited", f"Anthropic API asked to wait; cooling down until {until}"
            self._cooldown_until = None
        self._roll_budget_day(now)
        if self._calls_today >= self.daily_budget:
            return (
                "skipped_budget",
                f"daily LLM budget of {self.daily_budget} calls spent for {now.date()} (UTC)",
            )
        self._calls_today += 1
        return None

    def _start_cooldown(self, wait_s: float) -> None:
        with self._lock:
            until = self._now() + timedelta(seconds=wait_s)
            if self._cooldown_until is None or until > self._cooldown_until:
                self._cooldown_until = until

    def _call(self, client: anthropic.Anthropic, req: LLMRequest) -> LLMOutcome:
        messages: list[MessageParam] = [{"role": "user", "content": build_prompt(req)}]
        tool_choice: ToolChoiceToolParam = {"type": "tool", "name": TOOL_NAME}
        try:
            message = client.messages.create(
                model=self.model,
                max_tokens=MAX_OUTPUT_TOKENS,
                system=SYSTEM_PROMPT,
                messages=messages,
                tools=[triage_tool()],
                tool_choice=tool_choice,
            )
        except RetryAfterTooLong as exc:
            self._start_cooldown(exc.wait_s)
            status: LLMStatus = "rate_limited" if exc.status in (429, 529) else "error"
            return LLMOutcome(
                None,
                status,
                self._scrub(
                    f"Anthropic API answered {exc.status} and asked to retry after "
                    f"{exc.wait_s:g}s (more than max_retry_wait_s={self.max_retry_wait_s:g}s)"
                    + (f": {exc.api_message}" if exc.api_message else "")
                ),
            )
        except anthropic.APITimeoutError:
            return LLMOutcome(
                None,
                "timeout",
                f"no answer from the Anthropic API within {self.timeout_s:g}s "
                f"(after {self.max_retries} retries)",
            )
        except (anthropic.RateLimitError, anthropic.OverloadedError) as exc:
            wait_s = retry_after_seconds(exc.response.headers)
            if wait_s is not None and wait_s > 0:
                self._start_cooldown(wait_s)
            return LLMOutcome(
                None,
                "rate_limited",
                self._scrub(f"{describe_status_error(exc)} (after {self.max_retries} retries)"),
            )
        except anthropic.APIStatusError as exc:
            return LLMOutcome(None, "error", self._scrub(describe_status_error(exc)))
        except anthropic.APIResponseValidationError as exc:
            return LLMOutcome(None, "invalid", self._scrub(f"unexpected answer shape: {exc}"))
        except anthropic.APIConnectionError as exc:
            cause = exc.__cause__
            reason = f"{type(cause).__name__}: {cause}" if cause is not None else exc.message
            return LLMOutcome(
                None, "error", self._scrub(f"could not reach the Anthropic API: {reason}")
            )
        except anthropic.APIError as exc:
            return LLMOutcome(
                None, "error", self._scrub(f"Anthropic API error {type(exc).__name__}: {exc}")
            )
        except json.JSONDecodeError as exc:
            return LLMOutcome(
                None, "invalid", f"the answer's body is not valid JSON ({exc.msg}, char {exc.pos})"
            )
        try:
            verdict = verdict_from_message(message)
        except InvalidAnswer as exc:
            return LLMOutcome(None, "invalid", self._scrub(str(exc)))
        return LLMOutcome(
            verdict, "ok", f"{verdict.model} answered with confidence {verdict.confidence:.2f}"
        )

    def _scrub(self, text: str) -> str:
        """Redact secrets, and the API key itself whatever it looks like, from a detail."""
        return scrub_secret(text, self._api_key)

    def _outcome(
        self,
        req: LLMRequest,
        verdict: LLMVerdict | None,
        status: LLMStatus,
        detail: str,
        elapsed_s: float | None = None,
    ) -> LLMOutcome:
        level = _LOG_LEVELS[status]
        log.log(
            level,
            "llm classify %s: %s (%s)",
            req.fingerprint,
            status,
            detail,
            extra={
                "fingerprint": req.fingerprint,
                "repository": req.repository,
                "llm_status": status,
                "llm_model": self.model,
                "elapsed_s": None if elapsed_s is None else round(elapsed_s, 3),
            },
        )
        return LLMOutcome(verdict=verdict, status=status, detail=detail)
