"""What the metrics modules share: the range checks, and SQL building blocks that give the same
answers on SQLite and PostgreSQL."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Float,
    String,
    and_,
    case,
    extract,
    func,
    literal,
    or_,
    select,
    true,
)
from sqlalchemy.orm import Session
from sqlalchemy.sql import Select

from triagehub.core.lifecycle import WORKING_STATES
from triagehub.core.models import IssueState, Level
from triagehub.core.timeparse import as_utc
from triagehub.errors import InputError
from triagehub.store import tables as t

MAX_RANGE_DAYS = 3660
RESOLVED_STATES = (IssueState.RESOLVED.value, IssueState.AUTO_RESOLVED.value)
WORKING = sorted(s.value for s in WORKING_STATES)
CLOSED = sorted(s.value for s in IssueState if s.is_closed)
PRIORITY_RANK = {level.value: level.rank for level in Level}
_RANGE = re.compile(r"^\s*(\d{1,5})\s*([hdw])\s*$", re.IGNORECASE)
_RANGE_UNITS = {"h": 3600, "d": 86400, "w": 604800}


def iso(value: datetime | None) -> str | None:
    return as_utc(value).isoformat().replace("+00:00", "Z") if value is not None else None


def ratio(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def parse_time_range(text: str) -> timedelta:
    """``24h``, ``7d``, ``30d``, ``2w``: a report's time range (at most ten years)."""
    match = _RANGE.match(text)
    if match is None or int(match[1]) < 1:
        raise InputError("--time-range", text, "expected a range such as 24h, 7d, 30d or 2w")
    span = timedelta(seconds=int(match[1]) * _RANGE_UNITS[match[2].lower()])
    if span > timedelta(days=MAX_RANGE_DAYS):
        raise InputError("--time-range", text, f"at most {MAX_RANGE_DAYS} days")
    return span


def check_range(since: datetime, until: datetime) -> tuple[datetime, datetime]:
    """``since`` and ``until`` in UTC, refused when empty or longer than ten years."""
    since, until = as_utc(since), as_utc(until)
    if since >= until:
        raise InputError("time range", f"{iso(since)}..{iso(until)}", "since must be < until")
    if until - since > timedelta(days=MAX_RANGE_DAYS):
        raise InputError("time range", f"{iso(since)}..{iso(until)}", "at most ten years")
    return since, until


def repository_id(session: Session, repository: str | None) -> int | None:
    """The id of ``repository`` (None for all repositories); an error when it is unknown."""
    if repository is None:
        return None
    found = session.execute(
        select(t.repositories.c.id).where(t.repositories.c.name == repository)
    ).scalar_one_or_none()
    if found is None:
        raise InputError("repository", repository, "no such repository (no run was ingested)")
    return int(found)


def count_if(condition: ColumnElement[bool]) -> ColumnElement[Any]:
    return func.sum(case((condition, 1), else_=0))


def _dialect(session: Session) -> str:
    return session.get_bind().dialect.name


def seconds_between(session: Session, later: Any, earlier: Any) -> ColumnElement[float]:
    """``later − earlier`` in seconds, never negative, on either backend."""
    raw: ColumnElement[Any]
    if _dialect(session) == "sqlite":
        raw = (func.julianday(later) - func.julianday(earlier)) * 86400.0
    else:
        raw = extract("epoch", later - earlier)
    return case((raw < 0, literal(0.0, Float)), else_=raw).cast(Float)


def utc_day(session: Session, column: Any) -> ColumnElement[str]:
    """The UTC calendar day of a stored time, as ``YYYY-MM-DD``."""
    if _dialect(session) == "sqlite":
        return func.substr(column, 1, 10, type_=String)  # stored as 'YYYY-MM-DD HH:MM:SS…'
    return func.to_char(func.timezone("UTC", column), "YYYY-MM-DD", type_=String)


def in_scope(issue_id: Any, repo_id: int | None) -> ColumnElement[bool]:
    if repo_id is None:
        return true()
    column: ColumnElement[int] = issue_id
    return column.in_(select(t.issues.c.id).where(t.issues.c.repository_id == repo_id))


def in_range(column: Any, since: datetime, until: datetime) -> ColumnElement[bool]:
    return and_(column >= since, column < until)


def failed_in_range(
    occurrence_issue_id: Any, since: datetime, until: datetime, repo_id: int | None
) -> ColumnElement[bool]:
    """The issues that can have an occurrence in the range: an issue's first and last seen
    bound its occurrences, and the ``last_seen`` index finds them without reading every
    occurrence (which matters for short ranges over a long history)."""
    issues = t.issues.c
    candidates = select(issues.id).where(issues.last_seen >= since, issues.first_seen < until)
    if repo_id is not None:
        candidates = candidates.where(issues.repository_id == repo_id)
    column: ColumnElement[int] = occurrence_issue_id
    return column.in_(candidates)


def human_triage() -> ColumnElement[bool]:
    ev = t.issue_events.c
    return or_(
        ev.kind == "overridden",
        and_(ev.kind == "state_changed", ev.data["by"].as_string() == "human"),
    )


def resolution_event() -> ColumnElement[bool]:
    ev = t.issue_events.c
    return and_(ev.kind == "state_changed", ev.data["to"].as_string().in_(RESOLVED_STATES))


def first_event_durations(
    session: Session,
    condition: ColumnElement[bool],
    since: datetime,
    until: datetime,
    repo_id: int | None,
) -> Select[Any]:
    """(repository_id, seconds) per issue whose first event matching ``condition`` is in the
    range: that event's time minus the issue's first failure."""
    ev = t.issue_events.c
    first = (
        select(ev.issue_id, func.min(ev.at).label("at"))
        .where(condition, in_scope(ev.issue_id, repo_id))
        .group_by(ev.issue_id)
        .subquery()
    )
    return (
        select(
            t.issues.c.repository_id,
            seconds_between(session, first.c.at, t.issues.c.first_seen).label("d"),
        )
        .join(t.issues, t.issues.c.id == first.c.issue_id)
        .where(in_range(first.c.at, since, until))
    )
