"""The Anthropic client the classifier sends through: the SDK's retries with a ceiling on the
wait a ``retry-after`` may ask for (:class:`RetryWaitCap`), and the wording of API errors."""

from __future__ import annotations

import email.utils
import json
from collections.abc import Mapping
from typing import Any, Final

import anthropic

from triagehub.clock import SystemClock

_RETRYABLE_STATUSES: Final = frozenset({408, 409, 429})


def retry_after_seconds(headers: Mapping[str, str], *, now: float | None = None) -> float | None:
    """The wait a response asks for, read the way the SDK reads it.

    ``retry-after-ms`` first, then ``retry-after`` as (possibly fractional) seconds, then as an
    HTTP date. ``None`` when there is no usable header. Not the shared
    :func:`triagehub.actions.http.retry_after_s` on purpose: the cap must agree with the wait the
    SDK would sleep (``retry-after-ms`` first, a past date a negative wait, not 0).
    """
    lowered = {key.lower(): value for key, value in headers.items()}
    for name, scale in (("retry-after-ms", 1000.0), ("retry-after", 1.0)):
        raw = lowered.get(name)
        if raw is None:
            continue
        try:
            return float(raw) / scale
        except ValueError:
            if name == "retry-after-ms":
                continue
        parsed = email.utils.parsedate_tz(raw)
        if parsed is None:
            return None
        reference = SystemClock().timestamp() if now is None else now
        return float(email.utils.mktime_tz(parsed) - reference)
    return None


class RetryAfterTooLong(Exception):
    """Raised by :class:`RetryWaitCap` to stop the SDK's retry loop (private control flow)."""

    def __init__(self, status: int, wait_s: float, api_message: str) -> None:
        super().__init__(f"HTTP {status}: retry-after {wait_s:g}s")
        self.status = status
        self.wait_s = wait_s
        self.api_message = api_message


class RetryWaitCap(anthropic.Middleware):
    """Stop retrying when the server asks for a longer wait than we are willing to block for.

    The middleware runs once per HTTP attempt inside the SDK's retry loop and sees every response,
    4xx/5xx included. An exception that is not the SDK's propagates to the caller as-is, which
    ends the loop without the sleep.
    """

    def __init__(self, *, max_wait_s: float, max_retries: int) -> None:
        self.max_wait_s = max_wait_s
        self.max_retries = max_retries

    def handle(
        self, request: anthropic.APIRequest, call_next: anthropic.CallNext
    ) -> anthropic.APIResponse[Any]:
        response = call_next(request)
        status = response.status_code
        retry_left = request.retries_taken < request.options.get_max_retries(self.max_retries)
        retryable = status in _RETRYABLE_STATUSES or status >= 500
        if response.headers.get("x-should-retry") == "false":
            retryable = False
        if retry_left and retryable:
            wait_s = retry_after_seconds(response.headers)
            if wait_s is not None and wait_s > self.max_wait_s:
                http_response = response.http_response
                message = _api_message(http_response.content)
                http_response.close()
                raise RetryAfterTooLong(status, wait_s, message)
        return response


def _api_message(body: bytes) -> str:
    try:
        data = json.loads(body)
    except ValueError:
        return ""
    error = data.get("error") if isinstance(data, dict) else None
    message = error.get("message") if isinstance(error, dict) else None
    return message if isinstance(message, str) else ""


def describe_status_error(exc: anthropic.APIStatusError) -> str:
    kind = f" {exc.type}" if exc.type else ""
    message = f": {exc.api_message}" if exc.api_message else ""
    request_id = f" (request-id {exc.request_id})" if exc.request_id else ""
    return f"Anthropic API answered {exc.status_code}{kind}{message}{request_id}"


def anthropic_client(
    *,
    api_key: str,
    base_url: str | None,
    timeout_s: float,
    max_retries: int,
    max_retry_wait_s: float,
) -> anthropic.Anthropic:
    """The SDK's client, its retries capped by :class:`RetryWaitCap`.

    With an explicit ``api_key`` the SDK reads no credential from the environment or profiles.
    ``base_url=None`` means ``ANTHROPIC_BASE_URL`` if set, else the public API.
    """
    return anthropic.Anthropic(
        api_key=api_key,
        base_url=base_url,
        timeout=timeout_s,
        max_retries=max_retries,
        middleware=[RetryWaitCap(max_wait_s=max_retry_wait_s, max_retries=max_retries)],
    )
