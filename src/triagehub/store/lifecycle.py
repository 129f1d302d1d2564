"""State changes, snoozes and escalations of stored issues, each written to the timeline with its
actor and reason in the caller's transaction (the rules of ``triagehub.core.lifecycle``)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from triagehub.core.lifecycle import Actor, check_transition, escalated_priority
from triagehub.core.models import IssueState, Level
from triagehub.errors import InputError
from triagehub.store import tables as t


def _issue(session: Session, issue_id: int) -> Mapping[str, Any]:
    """The issue, locked for update (PostgreSQL) until the transaction ends: its change is
    decided on what it is now, not on what an ingest is about to overwrite."""
    row = (
        session.execute(select(t.issues).where(t.issues.c.id == issue_id).with_for_update())
        .mappings()
        .first()
    )
    if row is None:
        raise InputError("issue id", str(issue_id), "no such issue")
    return dict(row)


def record_event(
    session: Session,
    issue_id: int,
    kind: str,
    *,
    at: datetime,
    actor: str,
    data: dict[str, Any],
    run_id: int | None = None,
) -> None:
    session.execute(
        t.issue_events.insert().values(
            issue_id=issue_id, kind=kind, at=at, actor=actor, run_id=run_id, data=data
        )
    )


def state_values(current: IssueState, target: IssueState, now: datetime) -> dict[str, Any]:
    """The columns a move from ``current`` to ``target`` sets besides ``state``."""
    values: dict[str, Any] = {"state": target.value, "updated_at": now}
    if target.is_closed:
        values["resolved_at"] = now
        values["snoozed_until"] = None
        values["snooze_occurrences"] = None
    elif current.is_closed:
        values["resolved_at"] = None
    return values


def change_state(
    session: Session,
    issue_id: int,
    target: IssueState,
    *,
    actor: Actor,
    reason: str,
    now: datetime,
    who: str | None = None,
) -> IssueState:
    """Move an issue to ``target`` (refused with the allowed targets when the state machine has
    no such transition) and record it; returns the state it left."""
    if not reason.strip():
        raise InputError("state", target.value, "a reason is required")
    row = _issue(session, issue_id)
    current = IssueState(row["state"])
    check_transition(current, target, actor)
    session.execute(
        update(t.issues).where(t.issues.c.id == issue_id).values(state_values(current, target, now))
    )
    record_event(
        session,
        issue_id,
        "state_changed",
        at=now,
        actor=who or actor.value,
        data={"from": current.value, "to": target.value, "reason": reason, "by": actor.value},
    )
    return current


def snooze(
    session: Session,
    issue_id: int,
    *,
    until: datetime | None = None,
    occurrences: int | None = None,
    forever: bool = False,
    reason: str,
    now: datetime,
    who: str = "human",
) -> None:
    """Silence an issue (no alerts, no escalation) until a time, for N more occurrences, or
    forever (which ignores it: state ``ignored``)."""
    given = sum(x is not None and x is not False for x in (until, occurrences, forever or None))
    if given != 1:
        raise InputError("snooze", "", "give exactly one of: until a time, N occurrences, forever")
    if not reason.strip():
        raise InputError("snooze", "reason", "a reason is required")
    if forever:
        change_state(
            session,
            issue_id,
            IssueState.IGNORED,
            actor=Actor.HUMAN,
            reason=reason,
            now=now,
            who=who,
        )
        return
    row = _issue(session, issue_id)
    if IssueState(row["state"]).is_closed:
        raise InputError("snooze", str(issue_id), f"the issue is {row['state']}; nothing to snooze")
    if until is not None and until <= now:
        raise InputError("snooze", "until", f"{until.isoformat()} is not in the future")
    if occurrences is not None and occurrences < 1:
        raise InputError("snooze", "occurrences", "must be at least 1")
    session.execute(
        update(t.issues)
        .where(t.issues.c.id == issue_id)
        .values(snoozed_until=until, snooze_occurrences=occurrences, updated_at=now)
    )
    data: dict[str, Any] = {"reason": reason}
    if until is not None:
        data["until"] = until.isoformat().replace("+00:00", "Z")
    else:
        data["occurrences"] = occurrences
    record_event(session, issue_id, "snoozed", at=now, actor=who, data=data)


def escalate(
    session: Session,
    row: Mapping[str, Any],
    *,
    trigger: str,
    reason: str,
    now: datetime,
    also: list[str] | None = None,
) -> dict[str, Any]:
    """Escalate once per trigger: count it and record the event; the first escalation raises the
    priority one step (``escalated_priority``: never to critical, low severity at most medium),
    later ones only notify further. Returns the event's data."""
    escalations = dict(row["escalations"] or {})
    for fired in (trigger, *(also or ())):
        escalations[fired] = now.isoformat().replace("+00:00", "Z")
    before = Level(row["priority"])
    after = (
        before
        if int(row["escalation_level"] or 0) >= 1
        else escalated_priority(before, severity=Level(row["severity"]), kind=row["kind"], level=1)
    )
    session.execute(
        update(t.issues)
        .where(t.issues.c.id == row["id"])
        .values(
            priority=after.value,
            escalation_level=int(row["escalation_level"] or 0) + 1,
            escalated_at=now,
            escalations=escalations,
            updated_at=now,
        )
    )
    data: dict[str, Any] = {
        "trigger": trigger,
        "reason": reason,
        "priority": {"from": before.value, "to": after.value},
        "level": int(row["escalation_level"] or 0) + 1,
    }
    if also:
        data["triggers"] = [trigger, *also]
    record_event(session, row["id"], "escalated", at=now, actor=Actor.RULE.value, data=data)
    return data
