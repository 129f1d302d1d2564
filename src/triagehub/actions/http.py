"""The HTTP client set-up, retries, backoff and ``Retry-After`` reading the API clients share.

What the clients of outside services (:class:`~triagehub.actions.github.GitHubClient`,
:class:`~triagehub.actions.dbt_cloud.DbtCloudClient`, :class:`~triagehub.actions.slack.SlackSender`,
:class:`~triagehub.actions.llm.LLMClassifier`) have in common lives here: the ``with`` block and
``close()`` (:class:`Closeable`, :class:`HttpClient`), the ``httpx.Client`` they send with
(:func:`new_http_client`), the check of a base URL, the scrubbing of secrets from messages,
reading an error answer, parsing a JSON answer and streaming a download under a size limit.

:class:`Retrier` is the one retry loop of :class:`~triagehub.actions.github.GitHubClient` and
:class:`~triagehub.actions.dbt_cloud.DbtCloudClient`. For one request, at most ``max_retries``
times after the first attempt, it retries:

* an answer the client's ``rate_limit_wait`` hook says is a rate limit: after the wait it gives;
* 429 and 5xx answers: after ``Retry-After`` when the answer has one (delta-seconds or an HTTP
  date), else after an exponential backoff with jitter (``backoff_base_s`` x 2^attempt x a random
  factor in [0.5, 1], at most ``max_wait_s``);
* connection errors and timeouts (no answer at all): after the same backoff.

A wait longer than ``max_wait_s`` is not slept: the error is raised at once with ``retry_after``
set, so that a worker can put the job back for later. Every other answer >= 400 is raised at
once. Errors are :class:`~triagehub.errors.ExternalServiceError` (``status`` ``None`` when no
answer came) whose message went through the client's ``scrub`` (which removes its credentials);
retry log records go through it too.

Time comes from an injected :class:`~triagehub.clock.Clock` and waits go through an injected
``sleep``, so that tests neither read the wall clock nor wait.
"""

from __future__ import annotations

import email.utils
import json
import logging
import math
import random
import ssl
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from datetime import UTC
from pathlib import Path
from types import TracebackType
from typing import IO, Any, Final, Self

import httpx

from triagehub.clock import Clock, SystemClock
from triagehub.core.redact import REDACTED, redact
from triagehub.errors import ExternalServiceError

MAX_ERROR_BODY_BYTES: Final = 64 * 1024
MAX_REASON_CHARS: Final = 500  # the service's message kept in an error
CHUNK_BYTES: Final = 64 * 1024  # what a streamed download reads at a time

ErrorMessage = Callable[[httpx.Response], str]
"""Reads a service's message out of an error answer (and closes the response)."""
RateLimitWait = Callable[[httpx.Response, str], float | None]
"""How long a rate-limit answer asks to wait (given the answer and its message), or ``None``."""


class Closeable(ABC):
    """A client used as a context manager: ``close()`` runs at the end of the ``with`` block."""

    @abstractmethod
    def close(self) -> None:
        """Release what the client holds (its connections)."""

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


class HttpClient(Closeable):
    """What the API clients share: an ``httpx.Client`` in ``_http``, closed by ``close()`` or at
    the end of a ``with`` block."""

    _http: httpx.Client

    def close(self) -> None:
        self._http.close()


def new_http_client(
    timeout_s: float, headers: Mapping[str, str], *, verify: ssl.SSLContext | bool = True
) -> httpx.Client:
    """The ``httpx.Client`` of an API client: ``timeout_s`` bounds each network operation
    (connect, each read), redirects are not followed unless a request asks."""
    return httpx.Client(
        timeout=httpx.Timeout(timeout_s),
        headers=dict(headers),
        follow_redirects=False,
        verify=verify,
    )


def check_base_url(url: str, what: str) -> httpx.URL:
    """``url`` without a trailing ``/``; ``ValueError`` naming ``what`` unless it is http(s)."""
    base = httpx.URL(url.rstrip("/"))
    if base.scheme not in ("http", "https") or not base.host:
        raise ValueError(f"{what} must be an http(s) URL, got {url!r}")
    return base


def scrub_secret(text: str, secret: str | None) -> str:
    """``text`` through :func:`~triagehub.core.redact.redact`, then with ``secret`` (a token,
    whatever it looks like) replaced by ``[REDACTED]``."""
    text = redact(text)
    if secret:
        text = text.replace(secret, REDACTED)
    return text


def positive_id(value: int, what: str) -> int:
    """``value`` when it is a positive ``int`` (not a ``bool``), else ``ValueError``."""
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ValueError(f"{what} must be a positive integer, got {value!r}")
    return value


class Retrier:
    """The retry loop and its waits (see the module docstring) for one client of one service.

    ``scrub`` is applied to every message that leaves (exceptions, log records); ``logger`` is
    the client's own, so retry records name the client's module.
    """

    def __init__(
        self,
        service: str,
        *,
        max_retries: int,
        max_wait_s: float,
        backoff_base_s: float,
        clock: Clock | None,
        sleep: Callable[[float], None],
        rng: random.Random | None,
        scrub: Callable[[str], str],
        logger: logging.Logger,
    ) -> None:
        if max_retries < 0:
            raise ValueError(f"max_retries must be >= 0, got {max_retries}")
        if max_wait_s < 0 or backoff_base_s < 0:
            raise ValueError("max_wait_s and backoff_base_s must be >= 0")
        self.service = service
        self.max_retries = max_retries
        self.max_wait_s = max_wait_s
        self.backoff_base_s = backoff_base_s
        self._clock = clock if clock is not None else SystemClock()
        self._sleep = sleep
        self._rng = rng if rng is not None else random.Random()
        self._scrub = scrub
        self._log = logger

    def without_retries(self) -> Retrier:
        """A retrier of the same service, clock and waits that sends once (``max_retries=0``):
        for requests that are not idempotent. A rate-limit answer still says how long to wait."""
        return Retrier(
            self.service,
            max_retries=0,
            max_wait_s=self.max_wait_s,
            backoff_base_s=self.backoff_base_s,
            clock=self._clock,
            sleep=self._sleep,
            rng=random.Random(0),
            scrub=self._scrub,
            logger=self._log,
        )

    def now(self) -> float:
        """The injected clock's time, in epoch seconds."""
        return self._clock.now().timestamp()

    def backoff(self, attempt: int) -> float:
        """Exponential backoff with jitter for the retry after attempt ``attempt`` (from 0)."""
        ceiling = min(self.max_wait_s, self.backoff_base_s * 2.0**attempt)
        return ceiling * self._rng.uniform(0.5, 1.0)

    def send(
        self,
        http: httpx.Client,
        method: str,
        url: str,
        headers: Mapping[str, str],
        *,
        where: str,
        error_message: ErrorMessage,
        rate_limit_wait: RateLimitWait | None = None,
        stream: bool = False,
        follow_redirects: bool = False,
        content: bytes | None = None,
    ) -> httpx.Response:
        """Send with retries; return a response whose status is below 400 (or raise).

        ``where`` names the request in messages (``GET /path``: never a signed query string);
        ``content`` is the request body (sent again, unchanged, on each attempt).
        """
        attempt = 0
        while True:
            request = http.build_request(method, url, headers=headers, content=content)
            try:
                response = http.send(request, stream=stream, follow_redirects=follow_redirects)
            except httpx.TransportError as exc:
                reason = f"{method} {where}: {describe(exc)}"
                self.wait_or_raise(attempt, None, reason, self.backoff(attempt), False, exc)
                attempt += 1
                continue
            status = response.status_code
            if status < 400:
                return response
            message = error_message(response)
            reason = f"{method} {where}: {message}"
            rate_wait = rate_limit_wait(response, message) if rate_limit_wait else None
            if rate_wait is not None:
                self.wait_or_raise(attempt, status, reason, rate_wait, True, None)
            elif status >= 500 or status == 429:
                asked = retry_after_s(response.headers.get("retry-after"), self.now())
                wait = asked if asked is not None else self.backoff(attempt)
                self.wait_or_raise(attempt, status, reason, wait, asked is not None, None)
            else:
                raise ExternalServiceError(self.service, status, self._scrub(reason))
            attempt += 1

    def wait_or_raise(
        self,
        attempt: int,
        status: int | None,
        reason: str,
        wait_s: float,
        told_to_wait: bool,
        cause: BaseException | None,
    ) -> None:
        """Sleep ``wait_s`` before the next attempt, or raise when retrying must stop."""
        retry_after = wait_s if told_to_wait else None
        if attempt >= self.max_retries:
            tries = f"{attempt + 1} attempt" + ("s" if attempt else "")
            error = ExternalServiceError(
                self.service, status, self._scrub(f"{reason} (gave up after {tries})"), retry_after
            )
            raise error from cause
        if wait_s > self.max_wait_s:
            error = ExternalServiceError(
                self.service,
                status,
                self._scrub(
                    f"{reason} (asked to wait {wait_s:.0f} s, more than max_wait_s="
                    f"{self.max_wait_s:.0f})"
                ),
                wait_s,
            )
            raise error from cause
        self._log.warning(
            "%s request failed, retrying in %.1f s: %s",
            self.service,
            wait_s,
            self._scrub(reason),
            extra={
                "service": self.service,
                "status": status,
                "attempt": attempt + 1,
                "wait_s": wait_s,
            },
        )
        self._sleep(wait_s)


def read_error_text(response: httpx.Response, limit: int = MAX_ERROR_BODY_BYTES) -> str:
    """The start of an error answer's body (at most ``limit`` bytes); the response is closed."""
    try:
        raw = bytearray()
        for chunk in response.iter_bytes():
            raw += chunk
            if len(raw) >= limit:
                break
    except httpx.HTTPError:
        raw = bytearray()
    finally:
        response.close()
    return raw[:limit].decode("utf-8", errors="replace")


def read_error_message(response: httpx.Response, from_body: Callable[[str], str]) -> str:
    """The service's message in an error answer (``from_body`` reads it out of the body's start,
    else the reason phrase), at most ``MAX_REASON_CHARS``; the response is closed."""
    text = read_error_text(response)
    message = from_body(text) or response.reason_phrase or "no message"
    return message[:MAX_REASON_CHARS]


def error_body(text: str) -> dict[str, Any] | str:
    """An error answer's JSON object; else the message to show: the text with its whitespace
    squeezed (at most 200 characters) when it is not JSON, ``""`` for JSON that is no object."""
    try:
        body: object = json.loads(text)
    except ValueError:
        return " ".join(text.split())[:200]
    return body if isinstance(body, dict) else ""


def parse_json(
    raw: bytes, service: str, status: int, what: str, scrub: Callable[[str], str] = str
) -> object:
    """An answer's JSON; ``ExternalServiceError`` (``what``: ``GET /path``) when it is not JSON."""
    try:
        parsed: object = json.loads(raw)
    except ValueError as exc:
        raise ExternalServiceError(
            service, status, scrub(f"{what}: answer is not JSON ({exc})")
        ) from exc
    return parsed


def parse_json_object(
    raw: bytes, service: str, status: int, what: str, scrub: Callable[[str], str] = str
) -> dict[str, Any]:
    """Like :func:`parse_json`, for an answer that must be a JSON object."""
    parsed = parse_json(raw, service, status, what, scrub)
    if not isinstance(parsed, dict):
        raise ExternalServiceError(
            service,
            status,
            scrub(f"{what}: expected a JSON object, got {type(parsed).__name__}"),
        )
    return parsed


def copy_capped(
    response: httpx.Response,
    dest: IO[bytes] | Path,
    max_bytes: int,
    too_large: Callable[[int | None], Exception],
) -> int:
    """Stream a response's body into ``dest`` (a binary file, or a path opened only once the
    declared length is known to fit); return the bytes written.

    ``too_large(declared)`` is raised when the body is larger than ``max_bytes``: at once when
    ``Content-Length`` says so (``declared`` the length), else as soon as more arrives
    (``declared`` ``None``; ``dest`` then holds a partial body). Transport errors propagate.
    """
    declared = int_or_none(response.headers.get("content-length"))
    if declared is not None and declared > max_bytes:
        raise too_large(declared)
    if isinstance(dest, Path):
        with dest.open("wb") as fh:
            return copy_capped(response, fh, max_bytes, too_large)
    written = 0
    for chunk in response.iter_bytes(CHUNK_BYTES):
        if written + len(chunk) > max_bytes:
            raise too_large(None)
        dest.write(chunk)
        written += len(chunk)
    return written


def int_or_none(value: str | None) -> int | None:
    """A non-negative integer from a header value (digits only), or ``None``."""
    if value is None or not value.strip().isdigit():
        return None
    return int(value)


def retry_after_s(value: str | None, now: float) -> float | None:
    """``Retry-After`` in seconds: delta-seconds or an HTTP date (``None`` if absent/invalid)."""
    if value is None:
        return None
    seconds = float_or_none(value)
    if seconds is not None:
        return max(seconds, 0.0)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(when.timestamp() - now, 0.0)


def float_or_none(value: str | None) -> float | None:
    """A finite number from a header value, or ``None``."""
    if value is None:
        return None
    try:
        number = float(value.strip())
    except ValueError:
        return None
    return number if math.isfinite(number) else None


def describe(exc: BaseException) -> str:
    """``TypeName: detail`` of a transport error, for messages."""
    detail = str(exc)
    return f"{type(exc).__name__}: {detail}" if detail else type(exc).__name__


def url_for_message(url: str, *, with_host: bool = False) -> str:
    """A URL for messages: its path (with the host if asked), never its query string.

    The query of a signed storage URL is its signature; API queries are dropped for brevity.
    """
    parsed = httpx.URL(url)
    if with_host:
        return f"{parsed.scheme}://{parsed.netloc.decode('ascii')}{parsed.path}"
    return parsed.path
