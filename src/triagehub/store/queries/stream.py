"""The live stream: issue events, occurrences, agent events and spec events added since a
cursor."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Result, Select, func, or_, select
from sqlalchemy.orm import Session

from triagehub.store import tables as t
from triagehub.store.queries.paging import _first_line, _iso
from triagehub.store.spec_events import row_event


def _rows_since(
    session: Session,
    stmt: Select[Any],
    column: Any,
    ranges: Sequence[tuple[int, int | None]],
    limit: int,
) -> Result[Any]:
    """The rows of ``stmt`` whose id ``column`` is in ``ranges`` (``(low, high)``, inclusive; no
    upper bound when None), oldest first, at most ``limit``."""
    where = or_(
        *(column >= low if high is None else column.between(low, high) for low, high in ranges)
    )
    return session.execute(stmt.where(where).order_by(column).limit(limit))


def stream_heads(*, session: Session) -> tuple[int, int, int, int]:
    """The newest ids of issue events, occurrences, agent events and spec events (0 when
    none)."""

    def top(column: Any) -> int:
        return int(session.execute(select(func.coalesce(func.max(column), 0))).scalar_one())

    return (
        top(t.issue_events.c.id),
        top(t.occurrences.c.id),
        top(t.agent_events.c.id),
        top(t.spec_events.c.id),
    )


def issue_events_since(
    *, session: Session, ranges: Sequence[tuple[int, int | None]], limit: int
) -> list[dict[str, Any]]:
    """Timeline entries with ids in ``ranges`` (``(low, high)``, inclusive; no upper bound when
    None), oldest first, with the issue they belong to."""
    e, i = t.issue_events.c, t.issues.c
    rows = _rows_since(
        session,
        select(
            e.id,
            e.issue_id,
            e.kind,
            e.at,
            e.actor,
            e.data,
            i.title,
            i.state,
            i.category,
            i.priority,
            t.repositories.c.name,
        )
        .join(t.issues, i.id == e.issue_id)
        .join(t.repositories, t.repositories.c.id == i.repository_id),
        e.id,
        ranges,
        limit,
    )
    return [
        {
            "id": r.id,
            "issue_id": r.issue_id,
            "kind": r.kind,
            "at": _iso(r.at),
            "actor": r.actor,
            "data": r.data,
            "issue": {
                "id": r.issue_id,
                "repository": r.name,
                "title": r.title,
                "state": r.state,
                "category": r.category,
                "priority": r.priority,
            },
        }
        for r in rows
    ]


def occurrences_since(
    *, session: Session, ranges: Sequence[tuple[int, int | None]], limit: int
) -> list[dict[str, Any]]:
    """Occurrences with ids in ``ranges`` (``(low, high)``, inclusive; no upper bound when
    None), oldest first."""
    o = t.occurrences.c
    rows = _rows_since(
        session,
        select(
            o.id,
            o.issue_id,
            o.status,
            o.message,
            o.occurred_at,
            t.checks.c.key,
            t.runs.c.external_id,
            t.runs.c.attempt,
            t.runs.c.branch,
            t.runs.c.commit_sha,
            t.repositories.c.name,
        )
        .join(t.checks, t.checks.c.id == o.check_id)
        .join(t.runs, t.runs.c.id == o.run_id)
        .join(t.repositories, t.repositories.c.id == t.runs.c.repository_id),
        o.id,
        ranges,
        limit,
    )
    return [
        {
            "id": r.id,
            "issue_id": r.issue_id,
            "repository": r.name,
            "check": r.key,
            "run": r.external_id,
            "attempt": r.attempt,
            "branch": r.branch,
            "commit": r.commit_sha,
            "status": r.status,
            "message": _first_line(r.message),
            "occurred_at": _iso(r.occurred_at),
        }
        for r in rows
    ]


def agent_events_since(
    *, session: Session, ranges: Sequence[tuple[int, int | None]], limit: int
) -> list[dict[str, Any]]:
    """AI agent hook events with ids in ``ranges`` (``(low, high)``, inclusive; no upper bound
    when None), oldest first."""
    a, s = t.agent_events.c, t.agent_sessions.c
    rows = _rows_since(
        session,
        select(
            a.id,
            a.kind,
            a.hook_event,
            a.tool_name,
            a.at,
            a.duration_ms,
            a.success,
            a.excerpt,
            s.id.label("session_id"),
            s.session_key,
            s.agent,
            s.session_type,
            s.status,
            s.issue_id,
            s.spec_change,
        ).join(t.agent_sessions, s.id == a.session_id),
        a.id,
        ranges,
        limit,
    )
    return [
        {
            "id": r.id,
            "kind": r.kind,
            "hook_event": r.hook_event,
            "tool_name": r.tool_name,
            "at": _iso(r.at),
            "duration_ms": r.duration_ms,
            "success": r.success,
            "excerpt": r.excerpt,
            "session": {
                "id": r.session_id,
                "key": r.session_key,
                "agent": r.agent,
                "type": r.session_type,
                "status": r.status,
                "issue_id": r.issue_id,
                "spec_change": r.spec_change,
            },
        }
        for r in rows
    ]


def spec_events_since(
    *, session: Session, ranges: Sequence[tuple[int, int | None]], limit: int
) -> list[dict[str, Any]]:
    """Spec events (OpenSpec changes created, task progress, archived, removed) with ids in
    ``ranges`` (``(low, high)``, inclusive; no upper bound when None), oldest first."""
    rows = _rows_since(session, select(t.spec_events), t.spec_events.c.id, ranges, limit)
    return [row_event(r).to_json() for r in rows]
