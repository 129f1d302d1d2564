"""Remediation hand-offs: a session recorded before its agent starts, and the agent's hook
events that take it over.

Starting a remediation (the issue page, ``POST /api/v1/issues/{id}/remediation``, ``/triage
fix`` on GitHub) records an ``error_remediation`` session linked to the issue, with status
``pending`` and a hand-off key (``rem-<issue>-<12 hex digits>``) as its id. The hand-off gives the
agent that key and the issue; the hook script sends them with every event (``TRIAGEHUB_REMEDIATION``
and ``TRIAGEHUB_ISSUE`` in the agent's environment).

The first event of an agent session that carries the key takes the pending session over: the row
gets the agent's own session id, becomes ``active``, starts at the event's time and keeps the key
(``handoff_key``: ``GET /api/v1/agents/<key>`` still finds it). An event without a key that names
the issue of a pending session (an ``error_remediation`` or untyped session not seen before)
takes over the oldest pending session of that issue. Once taken over, a key links any further
agent session that carries it to the same issue (a second try of the same hand-off). An unknown
key is refused (404), a key given with another issue is a conflict (409): the event is not stored.
The take-over is written on the issue's timeline (``agent_attached``).

A pending session can be cancelled (:func:`cancel_handoff`): it becomes ``cancelled`` and its key
attaches nothing any more (an event carrying it is a conflict, 409, and is not stored).
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import Column, delete, insert, select, update
from sqlalchemy.orm import Session

from triagehub.store import tables as t
from triagehub.store.lifecycle import record_event
from triagehub.work.agents.hooks import SOURCE, HookPayload, SessionStatus, SessionType
from triagehub.work.specs.errors import ConflictError, NotFoundError

PENDING = SessionStatus.PENDING.value
CANCELLED = SessionStatus.CANCELLED.value
KEY_PREFIX = "rem"
ATTACHED_EVENT = "agent_attached"


def _row(session: Session, column: Column[Any], value: object, lock: bool) -> dict[str, Any] | None:
    query = select(t.agent_sessions).where(column == value)
    if lock:
        query = query.with_for_update()
    found = session.execute(query).mappings().first()
    return dict(found) if found is not None else None


def find_session(session: Session, key: str, *, lock: bool = False) -> dict[str, Any] | None:
    """A session by its id, else by the hand-off key it was recorded under."""
    s = t.agent_sessions.c
    return _row(session, s.session_key, key, lock) or _row(session, s.handoff_key, key, lock)


def new_handoff_key(issue_id: int) -> str:
    return f"{KEY_PREFIX}-{issue_id}-{secrets.token_hex(6)}"


def create_pending_session(
    session: Session, issue_id: int, *, key: str, agent: str, now: datetime
) -> dict[str, Any]:
    """Record a pending ``error_remediation`` session of the issue under the hand-off ``key``
    (:func:`new_handoff_key`), in the caller's transaction; returns its row."""
    session.execute(
        insert(t.agent_sessions).values(
            session_key=key,
            handoff_key=key,
            agent=agent[:40] or "claude-code",
            session_type=SessionType.ERROR_REMEDIATION.value,
            status=PENDING,
            issue_id=issue_id,
            spec_change=None,
            cwd=None,
            started_at=now,
            last_activity_at=now,
            events_count=0,
            tool_count=0,
            tool_successes=0,
            duration_total_ms=0.0,
            durations_count=0,
            created_at=now,
            updated_at=now,
        )
    )
    row = _row(session, t.agent_sessions.c.session_key, key, False)
    assert row is not None
    return row


def cancel_handoff(
    session: Session, issue_id: int, key: str, *, now: datetime
) -> tuple[dict[str, Any], bool]:
    """Cancel the issue's pending remediation session ``key`` (its id or hand-off key), in the
    caller's transaction: it becomes ``cancelled`` (ended now) and its key stops attaching hook
    events. Returns its row and whether it changed: one cancelled already is left as it is.
    Raises ``NotFoundError`` when the issue has no such session, ``ConflictError`` when an
    agent took it over already (only a pending session can be cancelled)."""
    row = find_session(session, key, lock=True)
    if row is None or row["issue_id"] != issue_id:
        raise NotFoundError(
            "agent session", key[:200], f"issue #{issue_id} has no agent session {key[:200]!r}"
        )
    if row["status"] == CANCELLED:
        return row, False
    if row["status"] != PENDING:
        raise ConflictError(
            "agent session",
            key[:200],
            f"the session is {row['status']}: only a pending hand-off (no hook event yet) can "
            "be cancelled",
        )
    values = {"status": CANCELLED, "ended_at": now, "end_reason": "cancelled", "updated_at": now}
    session.execute(
        update(t.agent_sessions).where(t.agent_sessions.c.id == row["id"]).values(values)
    )
    return {**row, **values}, True


def _pending_of_issue(session: Session, issue_id: int) -> dict[str, Any] | None:
    s = t.agent_sessions.c
    found = (
        session.execute(
            select(t.agent_sessions)
            .where(s.issue_id == issue_id, s.status == PENDING)
            .order_by(s.started_at, s.id)
            .limit(1)
            .with_for_update()
        )
        .mappings()
        .first()
    )
    return dict(found) if found is not None else None


def _handoff_of(session: Session, hook: HookPayload) -> dict[str, Any] | None:
    """The hand-off the event answers (locked), pointing the event at its issue; None when it
    answers none."""
    fields = hook.triagehub
    key = fields.remediation
    if key is None:
        wanted = fields.session_type in (None, SessionType.ERROR_REMEDIATION)
        if fields.issue_id is None or not wanted:
            return None
        if _row(session, t.agent_sessions.c.session_key, hook.session_id, False) is not None:
            return None  # a session already known: its own issue link applies
        return _pending_of_issue(session, fields.issue_id)
    handoff = _row(session, t.agent_sessions.c.handoff_key, key, True)
    if handoff is None or handoff["issue_id"] is None:
        raise NotFoundError(
            SOURCE,
            "triagehub.remediation",
            f"no remediation hand-off {key!r} (the key the hand-off gave, rem-<issue>-...)",
        )
    if handoff["status"] == CANCELLED:
        raise ConflictError(
            SOURCE,
            "triagehub.remediation",
            f"the hand-off {key} was cancelled: its key no longer attaches an agent session",
        )
    if fields.issue_id is not None and fields.issue_id != handoff["issue_id"]:
        raise ConflictError(
            SOURCE,
            "triagehub.issue_id",
            f"the hand-off {key} is for issue #{handoff['issue_id']}, not #{fields.issue_id}",
        )
    fields.issue_id = int(handoff["issue_id"])
    if fields.session_type is None:
        fields.session_type = SessionType.ERROR_REMEDIATION
    return handoff


def claim_handoff(session: Session, hook: HookPayload, at: datetime, now: datetime) -> None:
    """Before an event's session is looked up: when the event answers a remediation hand-off
    that is still pending, its agent session takes the pending session over."""
    handoff = _handoff_of(session, hook)
    if handoff is None or handoff["status"] != PENDING:
        return
    existing = _row(session, t.agent_sessions.c.session_key, hook.session_id, True)
    if existing is not None and existing["id"] == handoff["id"]:
        return
    if existing is None:
        values: dict[str, Any] = {
            "session_key": hook.session_id,
            "status": SessionStatus.ACTIVE.value,
            "started_at": at,
            "last_activity_at": at,
            "cwd": hook.cwd,
            "updated_at": now,
        }
        if hook.triagehub.agent:
            values["agent"] = hook.triagehub.agent
        session.execute(
            update(t.agent_sessions).where(t.agent_sessions.c.id == handoff["id"]).values(values)
        )
    else:
        # The agent's session began before it named the key: it takes the key over and the
        # placeholder goes (its work item is checked when the event links the issue).
        session.execute(delete(t.agent_sessions).where(t.agent_sessions.c.id == handoff["id"]))
        values = {"handoff_key": handoff["handoff_key"], "updated_at": now}
        if existing["session_type"] == SessionType.MANUAL.value:
            values["session_type"] = SessionType.ERROR_REMEDIATION.value
        session.execute(
            update(t.agent_sessions).where(t.agent_sessions.c.id == existing["id"]).values(values)
        )
    _attached(session, handoff, hook.session_id, at)


def _attached(
    session: Session, handoff: Mapping[str, Any], agent_session: str, at: datetime
) -> None:
    record_event(
        session,
        int(handoff["issue_id"]),
        ATTACHED_EVENT,
        at=at,
        actor="agent",
        data={"session": agent_session, "handoff": handoff["handoff_key"]},
    )
