"""Notifications about issue events, delivered to Slack through the outbox (job kind ``notify``).

:func:`enqueue_notification` writes one outbox row per issue event, in the caller's transaction,
with the idempotency key ``notify:{issue_id}:{event_id or reason}`` (so an event notifies once,
ever). The worker delivers it with :func:`deliver_notification`, to the first channel configured
in the environment:

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

Every delivery is a Block Kit message (a header, then a section with the text and the summary
fields: repository, category, priority, occurrences, first and last seen, a link) and carries
the job key as ``Idempotency-Key``: the outbox delivers at least once, a receiver that honours
the key makes it exactly once.

Secrets: the bot token and the webhook URL (itself a secret) are never stored or logged. Every
text stored with a notification goes through :func:`~triagehub.core.redact.redact`, and every
error message, and the ``httpx`` request log, have the two secrets replaced by ``[REDACTED]``.

:func:`agent_notification_text` builds the message that hands an issue to an AI agent (the
configured handle, ``@claude`` by default: ``TRIAGEHUB_AGENT_HANDLE``): the failure summary by
category, resolution suggestions, the affected repositories and commits, links. For now it is
sent as a Slack notification (:func:`enqueue_agent_notification`).
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import socket
import ssl
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Final, Literal

import httpx
from pydantic import SecretStr
from sqlalchemy import Engine, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from triagehub import __version__
from triagehub.actions.http import describe, retry_after_s
from triagehub.clock import Clock, SystemClock
from triagehub.core.redact import REDACTED, redact
from triagehub.engine.jobs import (
    DONE,
    PENDING,
    RUNNING,
    Deferred,
    Job,
    JobContext,
    Outcome,
    Recording,
    enqueue,
    job_handler,
)
from triagehub.errors import ExternalServiceError
from triagehub.store import tables as t

log = logging.getLogger(__name__)

NOTIFY: Final = "notify"
NOTIFY_THREAD: Final = "notify_thread"
NO_CHANNEL: Final = "no channel configured"
SLACK_API_URL_ENV: Final = "TRIAGEHUB_SLACK_API_URL"
DEFAULT_SLACK_API_URL: Final = "https://slack.com/api"
AGENT_HANDLE_ENV: Final = "TRIAGEHUB_AGENT_HANDLE"
DEFAULT_AGENT_HANDLE: Final = "@claude"
SERVICE: Final = "slack"
MAX_KEY: Final = 200  # the jobs.key column
# chat.postMessage errors worth retrying (answered with HTTP 200 and ok=false).
TRANSIENT_ERRORS: Final = frozenset(
    {"ratelimited", "internal_error", "fatal_error", "service_unavailable", "request_timeout"}
)
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


# -- writing a notification ---------------------------------------------------------------------


def notification_key(
    issue_id: int, *, event_id: int | None = None, reason: str | None = None
) -> str:
    """``notify:{issue_id}:{event_id or reason}`` (a long reason is replaced by its digest)."""
    if event_id is None and not reason:
        raise ValueError("a notification needs an event_id or a reason (its idempotency key)")
    key = f"notify:{issue_id}:{event_id if event_id is not None else reason}"
    if len(key) > MAX_KEY:
        digest = hashlib.sha256(str(reason).encode()).hexdigest()
        key = f"notify:{issue_id}:sha256:{digest}"
    return key


def enqueue_notification(
    session: Session,
    *,
    issue_id: int,
    event: str,
    text: str,
    repository: str,
    category: str,
    priority: str,
    occurrences: int,
    first_seen: datetime,
    last_seen: datetime,
    link: str | None = None,
    title: str | None = None,
    event_id: int | None = None,
    reason: str | None = None,
    now: datetime,
    channel: str | None = None,
) -> bool:
    """Write the notification of an issue event in the caller's transaction; ``False`` when it
    was written before (same issue and ``event_id``, or same ``reason``). ``channel``: the Slack
    channel of the routing table (bot mode; an incoming webhook posts to its own channel)."""
    data: dict[str, Any] = {
        "issue_id": issue_id,
        "event": event,
        "event_id": event_id,
        "text": redact(text),
        "summary": {
            "title": redact(title) if title else None,
            "repository": repository,
            "category": category,
            "priority": priority,
            "occurrences": occurrences,
            "first_seen": first_seen.astimezone(UTC).isoformat(),
            "last_seen": last_seen.astimezone(UTC).isoformat(),
            "link": redact(link) if link else None,
        },
    }
    if channel:
        data["channel"] = channel
    key = notification_key(issue_id, event_id=event_id, reason=reason)
    return enqueue(session, kind=NOTIFY, key=key, data=data, now=now)


# -- the Block Kit message ----------------------------------------------------------------------


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _when(value: object) -> str:
    if not isinstance(value, str):
        return "-"
    try:
        return datetime.fromisoformat(value).astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")
    except ValueError:
        return value


_URL = re.compile(r"https?://[^\s<>|]+")


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
        {"type": "mrkdwn", "text": _clip(f"*{name}*\n{_escape(value)}", 2000)}
        for name, value in fields
    ]
    if isinstance(link, str) and link:
        shown = f"<{link}|Issue #{issue_id}>" if _URL.fullmatch(link) else _escape(link)
        rendered.append({"type": "mrkdwn", "text": _clip(f"*Link*\n{shown}", 2000)})
    return {
        "text": _clip(_escape(f"{label}: {title}"), 3000),
        "blocks": [
            {
                "type": "header",
                "text": {"type": "plain_text", "text": _clip(f"{label}: {title}", 150)},
            },
            {
                "type": "section",
                "text": {"type": "mrkdwn", "text": _clip(_escape(text), 3000)},
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
        for secret in sorted(self.secrets, key=len, reverse=True):
            text = text.replace(secret, REDACTED)
        return redact(text)

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


class SlackSender:
    """Posts Block Kit messages to an incoming webhook or with ``chat.postMessage``.

    Every failure is an :class:`~triagehub.errors.ExternalServiceError` (``service="slack"``):
    ``status`` is the HTTP status (``None`` when no answer came, or for a transient
    ``chat.postMessage`` error), ``retry_after`` the answer's ``Retry-After``; its message has
    the secrets removed."""

    def __init__(self, config: SlackConfig, *, clock: Clock | None = None) -> None:
        self.config = config
        self._clock = clock or SystemClock()
        _SCRUBBER.add(config.secrets())
        self._http = httpx.Client(
            timeout=httpx.Timeout(config.timeout_s),
            follow_redirects=False,
            verify=_ssl_context(),
            headers={
                "User-Agent": f"triagehub/{__version__}",
                "X-Triagehub-Worker": f"{socket.gethostname()}:{os.getpid()}",
            },
        )

    def close(self) -> None:
        self._http.close()

    def __repr__(self) -> str:
        return f"SlackSender(mode={self.config.mode!r}, api_url={self.config.api_url!r})"

    def _scrub(self, text: str) -> str:
        for secret in self.config.secrets():
            text = text.replace(secret, REDACTED)
        return redact(text)

    def _post(
        self, url: str, body: Mapping[str, Any], headers: Mapping[str, str], where: str
    ) -> httpx.Response:
        try:
            response = self._http.post(url, json=body, headers=dict(headers))
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
        self._post(url, message, {"Idempotency-Key": key}, "POST incoming webhook")

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
        if self.config.bot_token is None or not self.config.channel:
            raise ExternalServiceError(SERVICE, None, "SLACK_BOT_TOKEN or SLACK_CHANNEL not set")
        target = channel or self.config.channel
        body: dict[str, Any] = {
            "channel": target,
            **message,
            "unfurl_links": False,
            "unfurl_media": False,
        }
        if thread_ts:
            body["thread_ts"] = thread_ts
        headers = {
            "Authorization": f"Bearer {self.config.bot_token.get_secret_value()}",
            "Idempotency-Key": key,
        }
        where = "POST chat.postMessage"
        response = self._post(f"{self.config.api_url}/chat.postMessage", body, headers, where)
        try:
            answer = response.json()
        except ValueError:
            raise ExternalServiceError(SERVICE, None, f"{where}: the answer is not JSON") from None
        if not isinstance(answer, dict) or not answer.get("ok"):
            error = str(answer.get("error") if isinstance(answer, dict) else "malformed answer")
            status = None if error in TRANSIENT_ERRORS else response.status_code
            raise ExternalServiceError(SERVICE, status, self._scrub(f"{where}: {error}"))
        ts, channel = answer.get("ts"), answer.get("channel")
        if not isinstance(ts, str) or not ts:
            raise ExternalServiceError(SERVICE, None, f"{where}: the answer has no ts")
        return (channel if isinstance(channel, str) else target), ts


# -- the job kind -------------------------------------------------------------------------------


def _config(ctx: JobContext) -> SlackConfig:
    config = ctx.cache.get("slack_config")
    if not isinstance(config, SlackConfig):
        config = ctx.cache["slack_config"] = SlackConfig.from_env()
    return config


def _sender(ctx: JobContext, config: SlackConfig) -> SlackSender:
    sender = ctx.cache.get("slack_sender")
    if not isinstance(sender, SlackSender):
        sender = ctx.cache["slack_sender"] = SlackSender(config, clock=ctx.clock)
        ctx.resources.callback(sender.close)
    return sender


def _thread_key(issue_id: int) -> str:
    return f"{NOTIFY_THREAD}:{issue_id}"


def _stored_thread(engine: Engine, issue_id: int, channel: str | None) -> str | None:
    with Session(engine) as session:
        data = session.execute(
            select(t.jobs.c.data).where(t.jobs.c.key == _thread_key(issue_id))
        ).scalar()
    if isinstance(data, dict) and data.get("channel") == channel:
        ts = data.get("ts")
        return ts if isinstance(ts, str) else None
    return None


def _earlier_waiting(engine: Engine, job: Job, now: datetime) -> float | None:
    """Seconds to wait when an earlier message of the same issue is not sent yet (it must be
    the thread's parent), else ``None``."""
    jobs = t.jobs
    with Session(engine) as session:
        due = session.execute(
            select(jobs.c.next_try_at)
            .where(
                jobs.c.kind == NOTIFY,
                jobs.c.key.like(f"notify:{int(job.data['issue_id'])}:%"),
                jobs.c.id < job.id,
                jobs.c.status.in_((PENDING, RUNNING)),
            )
            .order_by(jobs.c.id)
            .limit(1)
        ).scalar()
    if not isinstance(due, datetime):
        return None
    return min(max((due - now).total_seconds(), 2.0), 60.0)


def _remember_thread(
    rec: Recording, issue_id: int, channel: str | None, channel_id: str, ts: str
) -> None:
    data = {"issue_id": issue_id, "channel": channel, "channel_id": channel_id, "ts": ts}
    key = _thread_key(issue_id)
    jobs = t.jobs
    exists = rec.session.execute(select(jobs.c.id).where(jobs.c.key == key)).scalar()
    if exists is not None:  # the channel changed: the new parent is the thread now
        rec.session.execute(
            update(jobs).where(jobs.c.id == exists).values(data=data, updated_at=rec.now)
        )
        return
    dialect = rec.session.get_bind().dialect.name
    upsert = pg_insert if dialect == "postgresql" else sqlite_insert
    rec.session.execute(
        upsert(jobs)
        .values(
            kind=NOTIFY_THREAD,
            key=key,
            data=data,
            status=DONE,
            attempts=0,
            next_try_at=rec.now,
            created_at=rec.now,
            updated_at=rec.now,
        )
        .on_conflict_do_nothing(index_elements=["key"])
    )


@job_handler(NOTIFY)
def deliver_notification(job: Job, ctx: JobContext) -> Outcome:
    """Send one ``notify`` row (see the module docstring)."""
    config = _config(ctx)
    message = slack_message(job.data)
    if config.mode == "log":
        log.info(  # said once at start-up (`serve`: "integrations off"); per message: info
            "notification %s not sent (%s: set SLACK_WEBHOOK_URL, or SLACK_BOT_TOKEN and "
            "SLACK_CHANNEL): %s",
            job.key,
            NO_CHANNEL,
            redact(str(job.data.get("text", ""))),
            extra={"job": job.key},
        )
        return Outcome(result={"via": "log", "note": NO_CHANNEL})
    sender = _sender(ctx, config)
    if config.mode == "webhook":
        sender.post_webhook(job.key, message)
        return Outcome(result={"via": "slack_webhook"})
    issue_id = int(job.data["issue_id"])
    routed = job.data.get("channel")
    channel = routed if isinstance(routed, str) and routed else config.channel
    threads: dict[tuple[int, str | None], str] = ctx.cache.setdefault("slack_threads", {})
    parent = threads.get((issue_id, channel)) or _stored_thread(ctx.engine, issue_id, channel)
    if parent is None:
        wait = _earlier_waiting(ctx.engine, job, ctx.clock.now())
        if wait is not None:
            raise Deferred(wait, f"an earlier message of issue {issue_id} (the thread) is not sent")
    channel_id, ts = sender.post_message(job.key, message, thread_ts=parent, channel=channel)
    result = {"via": "slack_bot", "channel": channel_id, "ts": ts, "thread_ts": parent}
    if parent is not None:
        return Outcome(result=result)
    threads[(issue_id, channel)] = ts
    return Outcome(
        result=result,
        record=lambda rec: _remember_thread(rec, issue_id, channel, channel_id, ts),
    )


# -- the agent notification ---------------------------------------------------------------------

_HANDLE = re.compile(r"@[A-Za-z0-9][A-Za-z0-9_.\-]*(?:/[A-Za-z0-9][A-Za-z0-9_.\-]*)?")

CATEGORY_SUMMARIES: Final = {
    "transient_failure": "a transient failure (network, a flaky service or runner): it usually "
    "passes on a re-run, but it keeps coming back",
    "code_fix_required": "a failure that needs a change in the code or in its tests",
    "data_quality_issue": "a data quality failure: a dbt test or freshness check found bad, "
    "missing or late data",
    "infrastructure_issue": "an infrastructure failure: runners, services, credentials or "
    "dependencies the pipeline needs",
    "false_positive": "a reported failure that looks like a false positive: the check itself "
    "may be wrong",
    "pending_classification": "a failure not classified yet",
}
CATEGORY_SUGGESTIONS: Final[Mapping[str, tuple[str, ...]]] = {
    "transient_failure": (
        "Re-run the failed jobs; if the check fails again on the same commit, treat it as "
        "flaky and find the race or the unstable dependency.",
        "Add a retry with backoff (or a longer timeout) around the network call that failed.",
        "Check the provider's status page for an incident at the time of the failures.",
    ),
    "code_fix_required": (
        "Reproduce it locally with the failing check, from the first failing commit.",
        "Read the diff between the last passing and the first failing commit.",
        "Fix the code (or the test, if the new behaviour is intended) and add a regression test.",
    ),
    "data_quality_issue": (
        "Look at the failing rows (dbt: `dbt test --select <node> --store-failures`).",
        "Check the upstream sources for late, duplicated or malformed data.",
        "Fix the model or the source; change the test's expectation only if the data contract "
        "changed.",
    ),
    "infrastructure_issue": (
        "Check runner capacity, disk space, credentials and the services the job talks to.",
        "Look for the same error in other repositories: a shared cause fixes them all.",
        "Pin and cache dependencies whose download or install failed.",
    ),
    "false_positive": (
        "Check whether the check is wrong or too strict for what it tests.",
        "Fix or quarantine the check, and record why.",
    ),
}
KIND_SUGGESTIONS: Final[Mapping[str, str]] = {
    "lint": "Run the linter locally and commit the fixes.",
    "format": "Run the formatter locally and commit the result.",
    "dependency": "Check the lock file and the package registry for the failing dependency.",
    "timeout": "Compare the duration with recent passing runs before raising a timeout.",
    "compilation": "Run `dbt parse` / `dbt compile` locally to see the first error.",
    "schema": "Compare the model's columns with the warehouse (a renamed or dropped column?).",
    "freshness": "Check the loader's schedule and the last load time of the source.",
}


def normalize_handle(handle: str) -> str:
    """``claude`` -> ``@claude``; a handle must look like ``@name`` or ``@org/team``."""
    value = handle.strip()
    if not value.startswith("@"):
        value = "@" + value
    if not _HANDLE.fullmatch(value):
        raise ValueError(f"not a mention handle: {handle!r} (expected e.g. @claude or @copilot)")
    return value


def agent_handle_from_env(environ: Mapping[str, str] | None = None) -> str:
    env = os.environ if environ is None else environ
    return normalize_handle(env.get(AGENT_HANDLE_ENV, "").strip() or DEFAULT_AGENT_HANDLE)


@dataclass(frozen=True)
class AgentIssue:
    """What the agent is told about an issue."""

    issue_id: int
    title: str
    repository: str
    category: str
    kind: str
    priority: str
    message: str
    occurrences: int
    first_seen: datetime
    last_seen: datetime
    link: str | None = None
    repositories: Sequence[str] = ()
    commits: Sequence[str] = ()  # "owner/name@sha" or a bare sha
    checks: Sequence[str] = ()
    links: Sequence[str] = ()  # evidence: runs, logs, traces
    rationale: str = ""
    extra: Mapping[str, str] = field(default_factory=dict)


def _listed(items: Sequence[str], limit: int) -> str:
    shown = ", ".join(items[:limit])
    return shown + (f" and {len(items) - limit} more" if len(items) > limit else "")


def _short_commit(commit: str) -> str:
    repo, sep, sha = commit.rpartition("@")
    if re.fullmatch(r"[0-9a-f]{13,64}", sha):
        sha = sha[:12]
    return f"{repo}{sep}{sha}"


def agent_notification_text(issue: AgentIssue, handle: str) -> str:
    """The message handing an issue to an AI agent (see the module docstring)."""
    mention = normalize_handle(handle)
    when = f"{issue.first_seen.astimezone(UTC):%Y-%m-%d %H:%M} UTC"
    last = f"{issue.last_seen.astimezone(UTC):%Y-%m-%d %H:%M} UTC"
    summary = CATEGORY_SUMMARIES.get(issue.category, f"a {issue.category} failure")
    lines = [
        f"{mention} please take triagehub issue #{issue.issue_id}: {issue.title}",
        "",
        f"*Failure summary* ({issue.category}, {issue.kind}, priority {issue.priority}): "
        f"{summary}. {issue.occurrences} occurrence(s) since {when}, last {last}.",
    ]
    excerpt = "\n".join(issue.message.strip().splitlines()[:12])
    if excerpt:
        lines += ["```", _clip(excerpt, 1500).replace("```", "'''"), "```"]
    if issue.rationale:
        lines.append(f"Why: {issue.rationale}")
    suggestions = list(CATEGORY_SUGGESTIONS.get(issue.category, ()))
    if issue.kind in KIND_SUGGESTIONS:
        suggestions.insert(0, KIND_SUGGESTIONS[issue.kind])
    if not suggestions:
        suggestions = ["Read the error and the log excerpt, then classify the failure."]
    lines += ["", "*Suggested resolution*", *(f"• {s}" for s in suggestions)]
    repositories = list(dict.fromkeys([issue.repository, *issue.repositories]))
    lines += ["", f"*Affected repositories*: {_listed(repositories, 10)}"]
    if issue.commits:
        commits = [_short_commit(c) for c in dict.fromkeys(issue.commits)]
        lines.append(f"*Commits*: {_listed(commits, 10)}")
    if issue.checks:
        lines.append(f"*Checks*: {_listed(list(issue.checks), 10)}")
    links = [link for link in (issue.link, *issue.links) if link]
    if links:
        lines += ["*Links*:", *(f"• {link}" for link in dict.fromkeys(links))]
    for name, value in issue.extra.items():
        lines.append(f"*{name}*: {value}")
    return redact("\n".join(lines))


def enqueue_issue_notification(
    session: Session,
    row: Mapping[str, Any],
    *,
    event: str,
    text: str,
    reason: str,
    now: datetime,
    channel: str | None = None,
    priority: str | None = None,
) -> bool:
    """``enqueue_notification`` for an issue row (``issues`` joined with its repository's
    ``name`` as ``repository``; ``github_url`` when the row has one)."""
    return enqueue_notification(
        session,
        issue_id=row["id"],
        event=event,
        text=text,
        title=row["title"],
        repository=row["repository"],
        category=row["category"],
        priority=priority or row["priority"],
        occurrences=row["occurrences"],
        first_seen=row["first_seen"],
        last_seen=row["last_seen"],
        link=row.get("github_url"),
        reason=reason,
        channel=channel,
        now=now,
    )


def enqueue_agent_notification(
    session: Session,
    *,
    issue: AgentIssue,
    handle: str,
    now: datetime,
    reason: str | None = None,
) -> bool:
    """Queue the agent notification of an issue as a Slack message (once per issue and handle,
    unless another ``reason`` is given, e.g. ``agent:@claude:regressed``)."""
    mention = normalize_handle(handle)
    return enqueue_notification(
        session,
        issue_id=issue.issue_id,
        event="agent_mention",
        text=agent_notification_text(issue, mention),
        repository=issue.repository,
        category=issue.category,
        priority=issue.priority,
        occurrences=issue.occurrences,
        first_seen=issue.first_seen,
        last_seen=issue.last_seen,
        link=issue.link,
        title=issue.title,
        reason=reason or f"agent:{mention}",
        now=now,
    )


__all__ = [
    "AGENT_HANDLE_ENV",
    "DEFAULT_AGENT_HANDLE",
    "NOTIFY",
    "NOTIFY_THREAD",
    "NO_CHANNEL",
    "AgentIssue",
    "SlackConfig",
    "SlackSender",
    "agent_handle_from_env",
    "agent_notification_text",
    "deliver_notification",
    "enqueue_agent_notification",
    "enqueue_notification",
    "normalize_handle",
    "notification_key",
    "slack_message",
]
