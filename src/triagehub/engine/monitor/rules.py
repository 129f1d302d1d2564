"""The simple rules of a tick: snooze expiry, false positives, SLA breaches, agent hand-offs."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from triagehub.core.lifecycle import Actor
from triagehub.core.models import Category, IssueState, Level
from triagehub.engine.issue_rows import WORKING
from triagehub.engine.monitor.context import Tick
from triagehub.engine.notify import AgentIssue, enqueue_agent_notification
from triagehub.store import tables as t
from triagehub.store.lifecycle import change_state, record_event


def unsnooze(tick: Tick) -> None:
    for row in tick.rows(t.issues.c.snoozed_until <= tick.now):
        tick.session.execute(
            update(t.issues)
            .where(t.issues.c.id == row["id"])
            .values(snoozed_until=None, updated_at=tick.now)
        )
        record_event(
            tick.session,
            row["id"],
            "unsnoozed",
            at=tick.now,
            actor=Actor.RULE.value,
            data={"reason": "the snooze expired"},
        )
        tick.summary.unsnoozed.append(row["id"])


def close_false_positives(tick: Tick) -> None:
    if not tick.settings.lifecycle.auto_close_false_positives:
        return
    for row in tick.rows(t.issues.c.category == Category.FALSE_POSITIVE.value):
        reason = "classified false_positive: closed and no longer alerting"
        change_state(
            tick.session,
            row["id"],
            IssueState.FALSE_POSITIVE,
            actor=Actor.RULE,
            reason=reason,
            now=tick.now,
        )
        tick.summary.false_positives.append(row["id"])


def sla(tick: Tick) -> None:
    for row in tick.rows(t.issues.c.sla_due_at <= tick.now, t.issues.c.sla_breached_at.is_(None)):
        tick.session.execute(
            update(t.issues)
            .where(t.issues.c.id == row["id"])
            .values(sla_breached_at=tick.now, updated_at=tick.now)
        )
        due = row["sla_due_at"].isoformat().replace("+00:00", "Z")
        data = {"reason": f"not resolved by its SLA ({due})", "due": due}
        record_event(tick.session, row["id"], "sla_breached", at=tick.now, actor="rule", data=data)
        tick.summary.sla_breached.append(row["id"])
        tick.changed(row, "sla_breached", data)


def agent_notifications(tick: Tick) -> None:
    """Hand high and critical failures, and checks that failed again after a retry, to the
    configured agent (once per issue and handle)."""
    handle = tick.settings.lifecycle.agent_handle
    if not handle:
        return
    retried = set(
        tick.session.execute(
            select(t.occurrences.c.issue_id)
            .join(t.runs, t.runs.c.id == t.occurrences.c.run_id)
            .join(t.issues, t.issues.c.id == t.occurrences.c.issue_id)
            .where(t.runs.c.attempt >= 2, t.issues.c.state.in_(WORKING))
            .distinct()
        ).scalars()
    )
    serious = (Level.HIGH.value, Level.CRITICAL.value)
    for row in tick.rows():
        if tick.snoozed(row) or not (row["severity"] in serious or row["id"] in retried):
            continue
        issue = _agent_issue(tick.session, row)
        if enqueue_agent_notification(tick.session, issue=issue, handle=handle, now=tick.now):
            tick.summary.agent_notified.append(row["id"])


def _agent_issue(session: Session, row: Mapping[str, Any]) -> AgentIssue:
    recent = session.execute(
        select(t.runs.c.commit_sha, t.runs.c.url, t.checks.c.key)
        .join(t.occurrences, t.occurrences.c.run_id == t.runs.c.id)
        .join(t.checks, t.checks.c.id == t.occurrences.c.check_id)
        .where(t.occurrences.c.issue_id == row["id"])
        .order_by(t.occurrences.c.occurred_at.desc())
        .limit(20)
    ).all()
    return AgentIssue(
        issue_id=row["id"],
        title=row["title"],
        repository=row["repository"],
        category=row["category"],
        kind=row["kind"],
        priority=row["priority"],
        message=row["sample_message"],
        occurrences=row["occurrences"],
        first_seen=row["first_seen"],
        last_seen=row["last_seen"],
        commits=[f"{row['repository']}@{r.commit_sha}" for r in recent if r.commit_sha],
        checks=list(dict.fromkeys(r.key for r in recent)),
        links=list(dict.fromkeys(r.url for r in recent if r.url))[:5],
        rationale=row["rationale"],
    )
