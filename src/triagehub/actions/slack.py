"""Slack: the channels, the Block Kit message and the sender.

The worker delivers each ``notify`` row (written by :mod:`triagehub.engine.notify`) with
:func:`triagehub.engine.slack_delivery.deliver_notification`, to the first channel configured in
the environment:

1. ``SLACK_BOT_TOKEN`` + ``SLACK_CHANNEL``: ``chat.postMessage`` on the Web API
   (``TRIAGEHUB_SLACK_API_URL``, default ``https://slack.com/api``). The first message about an
   issue is the parent; later ones are threaded under it (``thread_ts``). The parent's ``ts`` is
   remembered in a ``notify_thread:{issue_id}`` row of the jobs table (status ``done``). Messages
   of one issue are sent in order: while there is no parent yet and an earlier message of the
   issue is still waiting (a retry), the later ones wait too.
2. ``SLACK_WEBHOOK_URL``: an incoming webhook, one message per event.
3. Neither: the message goes to the log (a warning) and the row is recorded as delivered with
   ``result = {"via": "log", "note": "no channel configured"}``, which ``triagehub outbox``
   shows: never lost silently.

An investigation brief is a reply in that thread (:mod:`triagehub.engine.brief_slack`), edited
by later briefs with ``chat.update`` (:meth:`SlackSender.update_message`: ``False`` when Slack no
longer has the message) and found again after a crash by its message metadata in
``conversations.replies`` (:meth:`SlackSender.find_in_thread`).

Every delivery is a Block Kit message (a header, then a section with the text and the summary
fields: repository, category, priority, occurrences, first and last seen, a link) and carries
the job key as ``Idempotency-Key``: the outbox delivers at least once, a receiver that honours
the key makes it exactly once.

Secrets: the bot token and the webhook URL (itself a secret) are never stored or logged. Every
error message, and the ``httpx`` request log, have the two secrets replaced by ``[REDACTED]``.
"""

from __future__ import annotations

import logging
import os
import re
import socket
import ssl
import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final, Literal

import httpx
from pydantic import SecretStr

from triagehub import __version__
from triagehub.actions.http import HttpClient, describe, new_http_client, retry_after_s
from triagehub.clock import Clock, SystemClock
from triagehub.core.redact import REDACTED, redact
from triagehub.errors import ExternalServiceError

# The notify job's records keep the logger name they have always had (``triagehub.engine.notify``,
# which operators and the outbox's tests listen to), now that the delivery lives here.
log = logging.getLogger("triagehub.engine.notify")

NOTIFY: Final = "notify"
NOTIFY_THREAD: Final = "notify_thread"
NO_CHANNEL: Final = "no channel configured"
SLACK_API_URL_ENV: Final = "TRIAGEHUB_SLACK_API_URL"
DEFAULT_SLACK_API_URL: Final = "https://slack.com/api"
SERVICE: Final = "slack"
# chat.postMessage errors worth retrying (answered with HTTP 200 and ok=false).
TRANSIENT_ERRORS: Final = frozenset(
    {"ratelimited", "internal_error", "fatal_error", "service_unavailable", "request_timeout"}
)
# chat.update errors that mean "this message is no more": a new one is posted instead.
GONE_ERRORS: Final = frozenset({"message_not_found", "cant_update_message"})
MAX_REPLY_PAGES: Final = 10  # conversations.replies pages read looking for one message
EVENT_LABELS: Final = {
    "created": "New issue",
    "occurred": "Failing again",
    "regressed": "Regressed",
    "escalated": "Escalated",
    "resolved": "Resolved",
    "auto_resolved": "Auto-resolved",
    "reopened": "Reopened",
    "assigned": "Assigned",
    "agent_mention": "For the agent",
}


# -- configuration ------------------------------------------------------------------------------


@dataclass(frozen=True)
class SlackConfig:
    """Where notifications go (from the environment: see the module docstring)."""

    webhook_url: SecretStr | None = None
    bot_token: SecretStr | None = None
    channel: str | None = None
    api_url: str = DEFAULT_SLACK_API_URL
    timeout_s: float = 10.0

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> SlackConfig:
        env = os.environ if environ is None else environ

        def secret(name: str) -> SecretStr | None:
            value = env.get(name, "").strip()
            return SecretStr(value) if value else None

        return cls(
            webhook_url=secret("SLACK_WEBHOOK_URL"),
            bot_token=secret("SLACK_BOT_TOKEN"),
            channel=env.get("SLACK_CHANNEL", "").strip() or None,
            api_url=(env.get(SLACK_API_URL_ENV, "").strip() or DEFAULT_SLACK_API_URL).rstrip("/"),
        )

    @property
    def mode(self) -> Literal["bot", "webhook", "log"]:
        if self.bot_token is not None and self.channel:
            return "bot"
        if self.webhook_url is not None:
            return "webhook"
        return "log"

    def secrets(self) -> list[str]:
        return [s.get_secret_value() for s in (self.webhook_url, self.bot_token) if s is not None]


# -- the Block Kit message ----------------------------------------------------------------------


def escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _when(value: object) -> str:
    if not isinstance(value, str):
        return "-"
    try:
        return datetime.fromisoformat(value).astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")
    except ValueError:
        return value


_URL = re.compile(r"https?://[^\s<>|]+")


def slack_link(url: str, text: str) -> str:
    """``<url|text>`` for an http(s) URL Slack can link, else the escaped URL as text."""
    return f"<{url}|{escape(text)}>" if _URL.fullmatch(url) else escape(url)


def slack_message(data: Mapping[str, Any]) -> dict[str, Any]:
    """The Block Kit message of a ``notify`` row's data: ``{"text": fallback, "blocks": [...]}``."""
    summary: Mapping[str, Any] = data.get("summary") or {}
    issue_id = data.get("issue_id")
    event = str(data.get("event") or "update")
    label = EVENT_LABELS.get(event, event.replace("_", " ").capitalize())
    title = str(summary.get("title") or f"issue #{issue_id}")
    text = str(data.get("text") or title)
    link = summary.get("link")
    fields = [
        ("Repository", str(summary.get("repository") or "-")),
        ("Category", str(summary.get("category") or "-")),
        ("Priority", str(summary.get("priority") or "-")),
        ("Occurrences", str(summary.get("occurrences") if "occurrences" in summary else "-")),
        ("First seen", _when(summary.get("first_seen"))),
        ("Last seen", _when(summary.get("last_seen"))),
    ]
    rendered = [
        {"type": "mrkdwn", "text": clip(f"*{name}*\n{escape(value)}", 2000)}
        for name, value in fields
    ]
    if isinstance(link, str) and link:
        shown = slack_link(link, f"Issue #{issue_id}")
        rendered.append({"type": "mrkdwn", "text": clip(f"*Link*\n{shown}", 2000)})
    return {
        "text": clip(escape(f"{label}: {title}"), 3000),
        "blocks": [
            {
                "type": "header",
                "text": {"type": "plain_text", "text": clip(f"{label}: {title}", 150)},
            },
            {
                "type": "section",
                "text": {"type": "mrkdwn", "text": clip(escape(text), 3000)},
                "fields": rendered,
            },
        ],
    }


# -- sending to Slack ---------------------------------------------------------------------------


class _LogScrubber(logging.Filter):
    """Removes the Slack secrets from ``httpx``'s request log (it logs each URL at INFO, and an
    incoming webhook's URL is a secret)."""

    def __init__(self) -> None:
        super().__init__()
        self._lock = threading.Lock()
        self.secrets: set[str] = set()

    def add(self, secrets: Sequence[str]) -> None:
        with self._lock:
            self.secrets.update(s for s in secrets if s)

    def scrub(self, text: str) -> str:
        return _scrub(text, self.secrets)

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        clean = self.scrub(message)
        if clean != message:
            record.msg, record.args = clean, None
        return True


_SCRUBBER = _LogScrubber()
logging.getLogger("httpx").addFilter(_SCRUBBER)
_SSL: list[ssl.SSLContext] = []  # one per process: loading the CA bundle takes ~20 ms


def _ssl_context() -> ssl.SSLContext:
    if not _SSL:
        _SSL.append(httpx.create_ssl_context())
    return _SSL[0]


def _scrub(text: str, secrets: Iterable[str]) -> str:
    """``text`` with the secrets (the longest first) replaced by ``[REDACTED]``, then redacted:
    replaced first, since an incoming webhook's URL may be partly redacted by the patterns."""
    for secret in sorted(secrets, key=len, reverse=True):
        text = text.replace(secret, REDACTED)
    return redact(text)


class SlackSender(HttpClient):
    """Posts Block Kit messages to an incoming webhook or with ``chat.postMessage``.

    Every failure is an :class:`~triagehub.errors.ExternalServiceError` (``service="slack"``):
    ``status`` is the HTTP status (``None`` when no answer came, or for a transient
    ``chat.postMessage`` error), ``retry_after`` the answer's ``Retry-After``; its message has
    the secrets removed."""

    def __init__(self, config: SlackConfig, *, clock: Clock | None = None) -> None:
        self.config = config
        self._clock = clock or SystemClock()
        _SCRUBBER.add(config.secrets())
        headers = {
            "User-Agent": f"triagehub/{__version__}",
            "X-Triagehub-Worker": f"{socket.gethostname()}:{os.getpid()}",
        }
        self._http = new_http_client(config.timeout_s, headers, verify=_ssl_context())

    def __repr__(self) -> str:
        return f"SlackSender(mode={self.config.mode!r}, api_url={self.config.api_url!r})"

    def _scrub(self, text: str) -> str:
        return _scrub(text, self.config.secrets())

    def _send(
        self,
        method: str,
        url: str,
        headers: Mapping[str, str],
        where: str,
        *,
        body: Mapping[str, Any] | None = None,
        params: Mapping[str, str] | None = None,
    ) -> httpx.Response:
        try:
            response = self._http.request(
                method, url, json=body, params=params, headers=dict(headers)
            )
        except httpx.HTTPError as exc:
            raise ExternalServiceError(
                SERVICE, None, self._scrub(f"{where}: {describe(exc)}")
            ) from None
        if not response.is_success:
            asked = retry_after_s(
                response.headers.get("retry-after"), self._clock.now().timestamp()
            )
            detail = response.text[:500].strip() or response.reason_phrase
            raise ExternalServiceError(
                SERVICE, response.status_code, self._scrub(f"{where}: {detail}"), asked
            )
        return response

    def post_webhook(self, key: str, message: Mapping[str, Any]) -> None:
        """One message to the incoming webhook (``key``: the idempotency key)."""
        if self.config.webhook_url is None:
            raise ExternalServiceError(SERVICE, None, "SLACK_WEBHOOK_URL is not set")
        url = self.config.webhook_url.get_secret_value()
        self._send("POST", url, {"Idempotency-Key": key}, "POST incoming webhook", body=message)

    def _web_api(
        self,
        name: str,
        key: str | None,
        *,
        body: Mapping[str, Any] | None = None,
        params: Mapping[str, str] | None = None,
    ) -> dict[str, Any]:
        """Call the Web API method ``name`` with the bot token (a ``POST`` of ``body``, or a
        ``GET`` with ``params``); its answer when ``ok``, else a :class:`SlackApiError`."""
        if self.config.bot_token is None or not self.config.channel:
            raise ExternalServiceError(SERVICE, None, "SLACK_BOT_TOKEN or SLACK_CHANNEL not set")
        headers = {"Authorization": f"Bearer {self.config.bot_token.get_secret_value()}"}
        if key is not None:
            headers["Idempotency-Key"] = key
        verb = "GET" if body is None else "POST"
        where = f"{verb} {name}"
        url = f"{self.config.api_url}/{name}"
        response = self._send(verb, url, headers, where, body=body, params=params)
        try:
            answer = response.json()
        except ValueError:
            raise ExternalServiceError(SERVICE, None, f"{where}: the answer is not JSON") from None
        if not isinstance(answer, dict) or not answer.get("ok"):
            error = str(answer.get("error") if isinstance(answer, dict) else "malformed answer")
            status = None if error in TRANSIENT_ERRORS else response.status_code
            raise SlackApiError(error, status, self._scrub(f"{where}: {error}"))
        return answer

    def post_message(
        self,
        key: str,
        message: Mapping[str, Any],
        *,
        thread_ts: str | None = None,
        channel: str | None = None,
    ) -> tuple[str, str]:
        """``chat.postMessage`` to ``channel`` or the configured one (in a thread when
        ``thread_ts``); return the channel id and the message's ``ts``."""
        target = channel or self.config.channel or ""
        body: dict[str, Any] = {
            "channel": target,
            **message,
            "unfurl_links": False,
            "unfurl_media": False,
        }
        if thread_ts:
            body["thread_ts"] = thread_ts
        answer = self._web_api("chat.postMessage", key, body=body)
        return _posted(answer, target, "POST chat.postMessage")

    def update_message(self, key: str, channel: str, ts: str, message: Mapping[str, Any]) -> bool:
        """``chat.update`` of the message ``ts`` in ``channel`` (an id); ``False`` when Slack no
        longer has it (deleted) or it cannot be edited, so that the caller posts a new one."""
        body = {"channel": channel, "ts": ts, **message}
        try:
            self._web_api("chat.update", key, body=body)
        except SlackApiError as exc:
            if exc.error in GONE_ERRORS:
                return False
            raise
        return True

    def find_in_thread(
        self, channel: str, thread_ts: str, event_type: str, **payload: Any
    ) -> str | None:
        """The ``ts`` of a message of the thread carrying this metadata (``event_type`` and the
        ``payload`` entries), read with ``conversations.replies`` (needs the ``*:history``
        scope), or ``None``."""
        params = {
            "channel": channel,
            "ts": thread_ts,
            "include_all_metadata": "true",
            "limit": "200",
        }
        cursor = ""
        for _ in range(MAX_REPLY_PAGES):
            answer = self._web_api(
                "conversations.replies", None, params={**params, "cursor": cursor}
            )
            for message in answer.get("messages") or []:
                meta = message.get("metadata") if isinstance(message, dict) else None
                if not isinstance(meta, dict) or meta.get("event_type") != event_type:
                    continue
                found = meta.get("event_payload") or {}
                if all(found.get(k) == v for k, v in payload.items()):
                    ts = message.get("ts")
                    return ts if isinstance(ts, str) else None
            cursor = str((answer.get("response_metadata") or {}).get("next_cursor") or "")
            if not cursor:
                break
        return None


class SlackApiError(ExternalServiceError):
    """A Web API answer ``ok: false``; ``error`` is Slack's error code."""

    def __init__(self, error: str, status: int | None, reason: str) -> None:
        self.error = error
        super().__init__(SERVICE, status, reason)


def _posted(answer: Mapping[str, Any], target: str, where: str) -> tuple[str, str]:
    ts, channel = answer.get("ts"), answer.get("channel")
    if not isinstance(ts, str) or not ts:
        raise ExternalServiceError(SERVICE, None, f"{where}: the answer has no ts")
    return (channel if isinstance(channel, str) else target), ts
