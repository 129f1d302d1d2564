"""The comments triagehub posts on GitHub issues (timeline events, the agent notification) and
their markers, which it reads back so that no comment is posted twice."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from triagehub.core.redact import redact
from triagehub.engine.sync.markdown import BODY_MARKER, COMMENT_MARKER_PREFIX, inline


@dataclass(frozen=True)
class TimelineEntry:
    """A timeline event worth a comment."""

    id: int
    kind: str
    at: datetime
    actor: str
    data: Mapping[str, Any]


_STATE_WORDS = {
    "auto_resolved": "Auto-resolved",
    "resolved": "Resolved",
    "regressed": "Regressed",
    "ignored": "Ignored",
    "false_positive": "Closed as a false positive",
    "open": "Reopened",
    "triaged": "Triaged",
    "assigned": "Assigned",
    "in_progress": "In progress",
}


def describe_event(entry: TimelineEntry) -> str | None:
    """One line (escaped) saying what happened, or None for events not worth a comment."""
    data = entry.data
    reason = inline(redact(str(data.get("reason", ""))), 500)
    by = "" if entry.actor in ("rule", "triagehub") else f" (by {inline(entry.actor, 100)})"
    if entry.kind == "state_changed":
        to = str(data.get("to", ""))
        word = _STATE_WORDS.get(to, inline(to))
        return f"**{word}**{by}: {reason}" if reason else f"**{word}**{by}"
    if entry.kind == "escalated":
        priority = data.get("priority")
        raised = priority.get("to") if isinstance(priority, Mapping) else None
        head = f"**Escalated** to {inline(raised)}" if raised else "**Escalated**"
        trigger = f" ({inline(data.get('trigger', ''))})" if data.get("trigger") else ""
        return f"{head}{trigger}: {reason}"
    if entry.kind == "sla_breached":
        return f"**SLA breached**: {reason}"
    if entry.kind == "snoozed":
        until = data.get("until")
        what = f"until {inline(until)}" if until else f"for {inline(data.get('occurrences'))} more"
        return f"**Snoozed** {what}{by}: {reason}"
    if entry.kind == "unsnoozed":
        return f"**Snooze ended**: {reason}"
    if entry.kind == "rerun_requested":
        return f"**Re-ran the failed jobs** of run {inline(data.get('run', ''))}: {reason}"
    if entry.kind == "overridden":
        changes = data.get("changes")
        parts = []
        if isinstance(changes, Mapping):
            for name, change in changes.items():
                if isinstance(change, Mapping):
                    parts.append(
                        f"{inline(name)} {inline(change.get('from'))} → {inline(change.get('to'))}"
                    )
        return f"**Triage changed**{by}: {'; '.join(parts) or 'no change'} ({reason})"
    return None


def comment_marker(kind: str, cursor: int | None = None) -> str:
    extra = f" cursor={cursor}" if cursor is not None else ""
    return f"{COMMENT_MARKER_PREFIX} {kind}{extra} -->"


_CURSOR_RE = re.compile(re.escape(COMMENT_MARKER_PREFIX) + r" (\w+)(?: cursor=(\d+))? -->")


def comment_markers(body: object) -> list[tuple[str, int | None]]:
    """The triagehub markers in a comment body: (kind, cursor)."""
    if not isinstance(body, str):
        return []
    return [(k, int(c) if c else None) for k, c in _CURSOR_RE.findall(body)]


def events_comment(entries: Iterable[TimelineEntry], cursor: int) -> str | None:
    """One comment for the timeline events since the last sync (None: nothing worth saying)."""
    lines = [line for line in (describe_event(e) for e in entries) if line]
    if not lines:
        return None
    return "\n".join([comment_marker("events", cursor), *(f"- {line}" for line in lines)])


def agent_comment(text: str) -> str:
    return f"{comment_marker('agent')}\n{text}"


def is_own_text(body: object) -> bool:
    """A body or comment written by triagehub (its markers)."""
    return isinstance(body, str) and (BODY_MARKER in body or COMMENT_MARKER_PREFIX in body)
