"""``/sessions`` and ``/sessions/{session_id}``, the Sessions tab: AI agent sessions, and one."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import Response
from sqlalchemy.orm import Session

from triagehub.errors import InputError
from triagehub.web import views
from triagehub.web.deps import PageDep
from triagehub.work import agents

router = APIRouter(include_in_schema=False)


@router.get("/sessions")
def sessions(page: PageDep) -> Response:
    if page.denied:
        return page.denied
    filters = page.filters
    wanted = filters.session_statuses()
    status = None
    if wanted and len(wanted) == 1:
        status = agents.SessionStatus(wanted[0])
    with Session(page.dash.engine) as session:
        found = agents.list_sessions(session, now=page.dash.clock.now(), status=status, limit=200)
    shown = views.filter_sessions(found, filters)
    problems = list(filters.problems)
    if wanted is None:
        problems.append("the status filter holds no session status: no sessions are shown")
    return page.render("sessions.html", tab="sessions", problems=problems, sessions=shown)


@router.get("/sessions/{session_id}")
def session_detail(page: PageDep, session_id: str) -> Response:
    if page.denied:
        return page.denied
    try:
        with Session(page.dash.engine) as session:
            detail = agents.get_session(session, session_id, now=page.dash.clock.now(), events=200)
    except InputError:
        return page.not_found("agent session")
    return page.render("session.html", tab="sessions", detail=detail)
