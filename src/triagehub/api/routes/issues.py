"""``/api/v1/issues``: search, one issue with its timeline, its occurrences, and triage (PATCH)."""

# No ``from __future__ import annotations``: FastAPI reads the routes' annotations.

from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any

from fastapi import APIRouter, Query
from fastapi.responses import Response
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from triagehub.api.auth import Caller, ReadCaller, WriteCaller
from triagehub.api.common import (
    NO_NUL,
    PREFIX,
    CursorParam,
    IdPath,
    JSONBody,
    Limit,
    Person,
    RepoName,
    check_range,
    issue_page_body,
    page_json,
    utc,
)
from triagehub.api.deps import ClockDep, EngineDep
from triagehub.api.problems import input_problem, not_found
from triagehub.api.schemas.common import problem_responses
from triagehub.api.schemas.issues import (
    IssueDetailOut,
    IssuePage,
    IssuePatch,
    IssueSort,
    OccurrencePage,
)
from triagehub.core.lifecycle import Actor
from triagehub.core.models import Category, Decision, HistoryClass, IssueState, Kind, Level
from triagehub.errors import InputError
from triagehub.store import lifecycle as store_lifecycle
from triagehub.store import queries
from triagehub.store.db import read_connection
from triagehub.store.remediation import remediation_attempts
from triagehub.store.triage import apply_override
from triagehub.work import agents
from triagehub.work.agent_prs import related_prs

PATCH_FIELDS = ("category", "kind", "severity", "priority", "decision", "assignee", "expert")

router = APIRouter(prefix=PREFIX)


@router.get(
    "/issues",
    tags=["issues"],
    response_model=None,
    responses={200: {"model": IssuePage}, **problem_responses(401, 422)},
)
def list_issues(
    caller: ReadCaller,
    engine: EngineDep,
    repository: Annotated[list[RepoName] | None, Query(description="owner/name")] = None,
    state: Annotated[list[IssueState] | None, Query()] = None,
    category: Annotated[list[Category] | None, Query()] = None,
    kind: Annotated[list[Kind] | None, Query()] = None,
    severity: Annotated[list[Level] | None, Query()] = None,
    priority: Annotated[list[Level] | None, Query()] = None,
    history_class: Annotated[list[HistoryClass] | None, Query()] = None,
    decision: Annotated[list[Decision] | None, Query()] = None,
    assignee: Annotated[list[Person] | None, Query()] = None,
    since: Annotated[datetime | None, Query(description="last_seen ≥ since")] = None,
    until: Annotated[datetime | None, Query(description="last_seen < until")] = None,
    q: Annotated[
        str | None,
        Query(
            max_length=queries.MAX_TEXT_QUERY,
            pattern=NO_NUL,
            description="Case-insensitive text in the title, template or sample message.",
        ),
    ] = None,
    sort: IssueSort = IssueSort.last_seen_desc,
    cursor: CursorParam = None,
    limit: Limit = 50,
) -> Response:
    """Issues matching every given filter (repeat a filter for alternatives:
    `state=open&state=regressed`), one keyset page at a time. Sorts: `last_seen`,
    `first_seen`, `occurrences`, `id` (`-` first for descending), `priority` and `severity`
    (critical first; `-priority` low first)."""
    check_range(since, until)
    query = queries.IssueQuery(
        repositories=tuple(repository or ()),
        states=tuple(s.value for s in state or ()),
        categories=tuple(c.value for c in category or ()),
        kinds=tuple(k.value for k in kind or ()),
        severities=tuple(v.value for v in severity or ()),
        priorities=tuple(v.value for v in priority or ()),
        history_classes=tuple(h.value for h in history_class or ()),
        decisions=tuple(d.value for d in decision or ()),
        assignees=tuple(assignee or ()),
        since=utc(since),
        until=utc(until),
        text=q or None,
        sort=sort.value,
    )
    # A page is one statement: no transaction, but for a text search (``store.fulltext`` sets
    # planner options for the rest of its transaction).
    if query.text:
        with Session(engine) as session:
            page = queries.search_issues(session=session, query=query, limit=limit, cursor=cursor)
    else:
        with read_connection(engine) as conn:
            page = queries.search_issues(session=conn, query=query, limit=limit, cursor=cursor)
    return issue_page_body(page)


def issue_detail(engine: Engine, issue_id: int, occurrences: int, now: datetime) -> dict[str, Any]:
    """An issue's detail with its lifecycle, its pull requests and its agent sessions (404 when
    there is no such issue)."""
    with Session(engine) as session:
        detail = queries.get_issue(session=session, issue_id=issue_id, occurrences=occurrences)
        extra = queries.issue_lifecycle(session=session, issue_id=issue_id)
        if detail is None or extra is None:
            raise not_found("issue", issue_id)
        prs = related_prs(session, issue_id)
        sessions = agents.sessions_for_issue(session, issue_id, now=now)
        attempts = remediation_attempts(session, [issue_id]).get(issue_id, [])
    data = detail.to_json()
    data["lifecycle"] = extra
    data["related_prs"] = prs
    data["related_sessions"] = [s.to_json() for s in sessions]
    data["remediation_attempts"] = [a.to_json() for a in attempts]
    return data


@router.get(
    "/issues/{issue_id}",
    tags=["issues"],
    response_model=None,
    responses={200: {"model": IssueDetailOut}, **problem_responses(401, 404, 422)},
)
def get_issue(
    caller: ReadCaller,
    engine: EngineDep,
    clock: ClockDep,
    issue_id: IdPath,
    occurrences: Annotated[int, Query(ge=0, le=200)] = 20,
) -> Response:
    """One issue with its timeline (every change, and one entry per run it failed in), its
    most recent occurrences, the pull requests that reference it, the agent sessions that work
    on it and its remediation attempts (every agent session and pull request that tried to fix
    it, with its outcome)."""
    return JSONBody(issue_detail(engine, issue_id, occurrences, clock.now()))


@router.get(
    "/issues/{issue_id}/occurrences",
    tags=["issues"],
    response_model=None,
    responses={200: {"model": OccurrencePage}, **problem_responses(401, 404, 422)},
)
def list_issue_occurrences(
    caller: ReadCaller,
    engine: EngineDep,
    issue_id: IdPath,
    cursor: CursorParam = None,
    limit: Limit = 50,
) -> Response:
    """Every occurrence of an issue, newest first."""
    with Session(engine) as session:
        if queries.issue_lifecycle(session=session, issue_id=issue_id) is None:
            raise not_found("issue", issue_id)
        page = queries.issue_occurrences(
            session=session, issue_id=issue_id, limit=limit, cursor=cursor
        )
    return JSONBody(page_json(page))


@router.patch(
    "/issues/{issue_id}",
    tags=["issues"],
    response_model=None,
    responses={
        200: {"model": IssueDetailOut},
        **problem_responses(400, 401, 403, 404, 409, 422),
    },
)
def patch_issue(
    caller: WriteCaller, engine: EngineDep, clock: ClockDep, issue_id: IdPath, body: IssuePatch
) -> Response:
    """Triage an issue: set its classification, decision, assignee or expert, move its state
    (the state machine decides which moves exist: 409 otherwise), or snooze it. Everything
    is recorded on the timeline with the reason and the token's name, in one transaction."""
    changes = {
        name: value.value if isinstance(value, StrEnum) else value
        for name in PATCH_FIELDS
        if (value := getattr(body, name)) is not None
    }
    if not changes and body.state is None and body.snooze is None:
        raise InputError("request body", "", "nothing to change: give a field, a state or a snooze")
    now = clock.now()
    try:
        with Session(engine) as session, session.begin():
            if queries.issue_lifecycle(session=session, issue_id=issue_id) is None:
                raise not_found("issue", issue_id)
            _apply_patch(session, issue_id, body, changes, caller, now)
    except InputError as exc:
        conflict = exc.source == "state" or (
            exc.source == "snooze" and exc.location == str(issue_id)
        )
        raise input_problem(exc, 409 if conflict else 422) from None
    return JSONBody(issue_detail(engine, issue_id, 20, clock.now()))


def _apply_patch(
    session: Session,
    issue_id: int,
    body: IssuePatch,
    changes: dict[str, Any],
    caller: Caller,
    now: datetime,
) -> None:
    """The patch's overrides (with its state) or its state move, then its snooze."""
    if changes:
        if body.state is not None:
            changes["state"] = body.state.value
        apply_override(
            session=session,
            issue_id=issue_id,
            changes=changes,
            reason=body.reason,
            actor=caller.actor,
            now=now,
        )
    elif body.state is not None:
        store_lifecycle.change_state(
            session,
            issue_id,
            body.state,
            actor=Actor.HUMAN,
            reason=body.reason,
            now=now,
            who=caller.actor,
        )
    if body.snooze is not None:
        snooze = body.snooze
        store_lifecycle.snooze(
            session,
            issue_id,
            until=utc(snooze.until),
            occurrences=snooze.occurrences,
            forever=snooze.forever,
            reason=body.reason,
            now=now,
            who=caller.actor,
        )
