"""Reading and linking agent sessions: list, detail, by issue, set the work item."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import and_, or_, select, update
from sqlalchemy.orm import Session

from triagehub.errors import InputError
from triagehub.store import tables as t
from triagehub.work.agents.handoff import find_session
from triagehub.work.agents.hooks import IDLE_AFTER, SessionStatus
from triagehub.work.agents.links import Link, link_session
from triagehub.work.agents.record import session_row, work_item_values
from triagehub.work.agents.views import (
    EventView,
    RelatedSession,
    SessionDetail,
    SessionView,
    session_view,
)
from triagehub.work.specs.errors import NotFoundError
from triagehub.work.specs.paths import change_id_problem


def set_work_item(
    session: Session,
    session_id: str,
    *,
    now: datetime,
    issue_id: int | None = None,
    spec_change: str | None = None,
) -> SessionView:
    """Link a session to its one work item (refused when it already has another)."""
    if (issue_id is None) == (spec_change is None):
        raise InputError("work item", "", "give an issue id or a spec change id (one of them)")
    if spec_change is not None:
        problem = change_id_problem(spec_change)
        if problem:
            raise InputError("work item", "spec_change", problem)
    row = find_session(session, session_id, lock=True)
    if row is None:
        raise NotFoundError("agent session", session_id[:200], "no such session")
    values = work_item_values(session, row, issue_id, spec_change)
    if values:
        values["updated_at"] = now
        session.execute(
            update(t.agent_sessions).where(t.agent_sessions.c.id == row["id"]).values(**values)
        )
    if issue_id is not None:
        link_session(session, row["id"], Link(issue_id, "work_item", str(issue_id)), now, now=now)
    fresh = session_row(session, row["session_key"])
    assert fresh is not None
    return session_view(fresh, now)


# -- queries ----------------------------------------------------------------------------------


def list_sessions(
    session: Session,
    *,
    now: datetime,
    status: SessionStatus | None = None,
    limit: int = 100,
) -> list[SessionView]:
    """Sessions, most recently active first; ``status`` idle/active use the idle threshold."""
    query = select(t.agent_sessions)
    cutoff = now - IDLE_AFTER
    if status in (SessionStatus.COMPLETED, SessionStatus.PENDING, SessionStatus.CANCELLED):
        query = query.where(t.agent_sessions.c.status == status.value)
    elif status is SessionStatus.ACTIVE:
        query = query.where(
            t.agent_sessions.c.status == SessionStatus.ACTIVE.value,
            t.agent_sessions.c.last_activity_at > cutoff,
        )
    elif status is SessionStatus.IDLE:
        query = query.where(
            t.agent_sessions.c.status == SessionStatus.ACTIVE.value,
            t.agent_sessions.c.last_activity_at <= cutoff,
        )
    query = query.order_by(
        t.agent_sessions.c.last_activity_at.desc(), t.agent_sessions.c.id.desc()
    ).limit(limit)
    return [session_view(dict(row), now) for row in session.execute(query).mappings()]


def get_session(
    session: Session, session_id: str, *, now: datetime, events: int = 50
) -> SessionDetail:
    row = find_session(session, session_id)
    if row is None:
        raise NotFoundError("agent session", session_id[:200], "no such session")
    recent = [
        EventView(
            r.id,
            r.kind,
            r.hook_event,
            r.at,
            r.tool_name,
            r.tool_use_id,
            r.duration_ms,
            r.success,
            r.excerpt,
            r.data,
        )
        for r in session.execute(
            select(t.agent_events)
            .where(t.agent_events.c.session_id == row["id"])
            .order_by(t.agent_events.c.id.desc())
            .limit(events)
        )
    ]
    recent.reverse()
    return SessionDetail(session_view(row, now), recent)


def sessions_for_issue(session: Session, issue_id: int, *, now: datetime) -> list[RelatedSession]:
    """The sessions linked to an issue (its work item, also one still pending or assigned, or
    referenced by their events), the most recently started first, with why each is linked."""
    a, s = t.agent_session_issues.c, t.agent_sessions.c
    rows = session.execute(
        select(t.agent_sessions, a.via, a.ref, a.linked_at)
        .outerjoin(t.agent_session_issues, and_(a.session_id == s.id, a.issue_id == issue_id))
        .where(or_(a.issue_id == issue_id, s.issue_id == issue_id))
        .order_by(s.started_at.desc(), s.id.desc())
    ).mappings()
    return [
        RelatedSession(
            session_view(dict(r), now),
            r["via"] or "work_item",
            r["ref"] or str(issue_id),
            r["linked_at"] or r["started_at"],
        )
        for r in rows
    ]
