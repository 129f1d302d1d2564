"""Notifications about issue events: writing them to the outbox, and the agent's message.

:func:`enqueue_notification` writes one outbox row per issue event, in the caller's transaction,
with the idempotency key ``notify:{issue_id}:{event_id or reason}`` (so an event notifies once,
ever). The worker delivers it to Slack (:mod:`triagehub.actions.slack`, job kind ``notify``;
its names are re-exported here). Every text stored with a notification goes through
:func:`~triagehub.core.redact.redact`.

:func:`agent_notification_text` builds the message that hands an issue to an AI agent (the
configured handle, ``@claude`` by default: ``TRIAGEHUB_AGENT_HANDLE``): the failure summary by
category, resolution suggestions, the affected repositories and commits, links. For now it is
sent as a Slack notification (:func:`enqueue_agent_notification`).
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Final

from sqlalchemy.orm import Session

from triagehub.actions.slack import (
    NO_CHANNEL,
    NOTIFY,
    NOTIFY_THREAD,
    SlackConfig,
    SlackSender,
    clip,
    slack_message,
)
from triagehub.core.redact import redact
from triagehub.engine.jobs import enqueue
from triagehub.engine.slack_delivery import deliver_notification, slack_config, slack_sender

AGENT_HANDLE_ENV: Final = "TRIAGEHUB_AGENT_HANDLE"
DEFAULT_AGENT_HANDLE: Final = "@claude"
MAX_KEY: Final = 200  # the jobs.key column


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
    data = _data(
        issue_id,
        event,
        event_id,
        text,
        title,
        repository,
        category,
        priority,
        occurrences,
        first_seen,
        last_seen,
        link,
        channel,
    )
    key = notification_key(issue_id, event_id=event_id, reason=reason)
    return enqueue(session, kind=NOTIFY, key=key, data=data, now=now)


def _data(
    issue_id: int,
    event: str,
    event_id: int | None,
    text: str,
    title: str | None,
    repository: str,
    category: str,
    priority: str,
    occurrences: int,
    first_seen: datetime,
    last_seen: datetime,
    link: str | None,
    channel: str | None,
) -> dict[str, Any]:
    """A notification job's data (its texts redacted)."""
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
    return data


def notification_data(
    row: Mapping[str, Any], *, event: str, text: str, channel: str | None = None
) -> dict[str, Any]:
    """The data :func:`enqueue_issue_notification` writes for an issue row (for a caller that
    writes many notifications in one statement, under :func:`notification_key`)."""
    return _data(
        row["id"],
        event,
        None,
        text,
        row["title"],
        row["repository"],
        row["category"],
        row["priority"],
        row["occurrences"],
        row["first_seen"],
        row["last_seen"],
        row.get("github_url"),
        channel,
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
        lines += ["```", clip(excerpt, 1500).replace("```", "'''"), "```"]
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
    "slack_config",
    "slack_message",
    "slack_sender",
]
