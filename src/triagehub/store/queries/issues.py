"""Issues read one by one: their views, timeline, occurrences and lifecycle columns.

The functions only execute Core statements: they take an ORM session or a plain connection
(``triagehub issues list`` passes a connection, so that it starts without the ORM)."""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass, field, fields
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import JSON, Select, func, select, type_coerce

from triagehub.errors import InputError
from triagehub.store import tables as t
from triagehub.store.fulltext import ISSUES, text_condition
from triagehub.store.queries.paging import (
    MAX_TEXT_QUERY,
    Page,
    _after,
    _check_limit,
    _cut,
    _iso,
    decode_cursor,
    encode_cursor,
)

if TYPE_CHECKING:
    from sqlalchemy import Connection
    from sqlalchemy.orm import Session

MAX_CHECKS_LISTED = 100
MAX_TIMELINE_RUNS = 200


@dataclass(frozen=True, slots=True)
class IssueView:
    id: int
    repository: str
    title: str
    state: str
    category: str
    kind: str
    severity: str
    priority: str
    history_class: str
    decision: str
    confidence: float
    rationale: str
    fingerprint: str
    template: str
    occurrences: int
    checks: list[str]
    checks_count: int
    first_seen: datetime
    last_seen: datetime
    assignee: str | None
    expert: str | None
    sla_due_at: datetime | None
    scope: str
    source: str
    normalizer_version: int
    classification_source: str
    sample_message: str
    pattern_id: int | None = None
    labels: list[str] = field(default_factory=list)
    affected_models: list[str] = field(default_factory=list)
    resolved_at: datetime | None = None
    sla_breached_at: datetime | None = None
    escalation_level: int = 0
    similar_issues: list[int] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        # What ``dataclasses.asdict`` gave, without its deep copies (most of a list page's time):
        # the lists are copied, their items are strings and numbers.
        data = {name: getattr(self, name) for name in _ISSUE_FIELDS}
        for key in _ISSUE_LISTS:
            data[key] = list(data[key])
        for key in _ISSUE_TIMES:
            data[key] = _iso(data[key])
        return data


@dataclass(frozen=True, slots=True)
class EventView:
    """A timeline entry: a stored ``IssueEvent``, or (``id`` None) the occurrences of one run."""

    id: int | None
    kind: str
    at: datetime
    actor: str
    data: dict[str, Any]

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "kind": self.kind,
            "at": _iso(self.at),
            "actor": self.actor,
            "data": self.data,
        }


@dataclass(frozen=True, slots=True)
class OccurrenceView:
    id: int
    check: str
    run: str
    attempt: int
    commit: str | None
    branch: str | None
    url: str | None
    status: str
    message: str
    log_excerpt: str
    occurred_at: datetime
    links: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        data = {name: getattr(self, name) for name in _OCCURRENCE_FIELDS}
        data["links"] = list(self.links)
        data["occurred_at"] = _iso(self.occurred_at)
        return data


_ISSUE_FIELDS = tuple(f.name for f in fields(IssueView))
_ISSUE_LISTS = ("checks", "labels", "affected_models", "similar_issues")
_ISSUE_TIMES = ("first_seen", "last_seen", "sla_due_at", "resolved_at", "sla_breached_at")
_OCCURRENCE_FIELDS = tuple(f.name for f in fields(OccurrenceView))


@dataclass(frozen=True, slots=True)
class IssueDetail:
    issue: IssueView
    timeline: list[EventView] = field(default_factory=list)
    recent_occurrences: list[OccurrenceView] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        data = self.issue.to_json()
        data["timeline"] = [e.to_json() for e in self.timeline]
        data["recent_occurrences"] = [o.to_json() for o in self.recent_occurrences]
        return data


_ISSUE_COLUMNS = (
    t.issues.c.id,
    t.repositories.c.name.label("repository"),
    t.issues.c.title,
    t.issues.c.state,
    t.issues.c.category,
    t.issues.c.kind,
    t.issues.c.severity,
    t.issues.c.priority,
    t.issues.c.history_class,
    t.issues.c.decision,
    t.issues.c.confidence,
    t.issues.c.rationale,
    t.issues.c.fingerprint,
    t.issues.c.template,
    t.issues.c.occurrences,
    t.issues.c.checks_count,
    t.issues.c.first_seen,
    t.issues.c.last_seen,
    t.issues.c.assignee,
    t.issues.c.expert,
    t.issues.c.sla_due_at,
    t.issues.c.scope,
    t.issues.c.source,
    t.issues.c.normalizer_version,
    t.issues.c.classification_source,
    t.issues.c.sample_message,
    t.issues.c.pattern_id,
    t.issues.c.labels,
    t.issues.c.affected_models,
    t.issues.c.resolved_at,
    t.issues.c.sla_breached_at,
    t.issues.c.escalation_level,
)
_ISSUE_KEYS = tuple(c.key for c in _ISSUE_COLUMNS)
MAX_SIMILAR = 10


def _checks_of(session: Session | Connection, issue_ids: list[int]) -> dict[int, list[str]]:
    found: dict[int, list[str]] = {pk: [] for pk in issue_ids}
    if not issue_ids:
        return found
    rows = session.execute(
        select(t.issue_checks.c.issue_id, t.checks.c.key)
        .join(t.checks, t.checks.c.id == t.issue_checks.c.check_id)
        .where(t.issue_checks.c.issue_id.in_(issue_ids))
        .order_by(t.issue_checks.c.issue_id, t.checks.c.key)
    )
    for issue_id, key in rows:
        keys = found[issue_id]
        if len(keys) < MAX_CHECKS_LISTED:
            keys.append(key)
    return found


def _similar_of(
    session: Session | Connection, patterns: dict[int, int | None]
) -> dict[int, list[int]]:
    """Other issues of the same pattern (template family), newest activity first."""
    found: dict[int, list[int]] = {pk: [] for pk in patterns}
    wanted = sorted({p for p in patterns.values() if p is not None})
    if not wanted:
        return found
    members: dict[int, list[int]] = {}
    for pattern_id, issue_id in session.execute(
        select(t.issues.c.pattern_id, t.issues.c.id)
        .where(t.issues.c.pattern_id.in_(wanted))
        .order_by(t.issues.c.last_seen.desc(), t.issues.c.id.desc())
    ):
        bucket = members.setdefault(pattern_id, [])
        if len(bucket) <= MAX_SIMILAR:
            bucket.append(issue_id)
    for issue_id, pattern_id in patterns.items():
        if pattern_id is not None:
            others = [i for i in members.get(pattern_id, []) if i != issue_id]
            found[issue_id] = others[:MAX_SIMILAR]
    return found


def list_issues(
    *,
    session: Session | Connection,
    repository: str | None = None,
    state: str | None = None,
    category: str | None = None,
    kind: str | None = None,
    text: str | None = None,
    limit: int = 1000,
) -> list[IssueView]:
    """Matching issues, newest activity first; ``text``: a case-insensitive substring of the
    title, the template or the sample message (found by the search index)."""
    query = select(*_ISSUE_COLUMNS).join(
        t.repositories, t.repositories.c.id == t.issues.c.repository_id
    )
    if text:
        if len(text) > MAX_TEXT_QUERY:
            raise InputError("search text", "", f"at most {MAX_TEXT_QUERY} characters")
        held = text_condition(session, ISSUES, text)
        if held is None:
            return []
        query = query.where(held)
    if repository:
        query = query.where(t.repositories.c.name == repository)
    if state:
        query = query.where(t.issues.c.state == state)
    if category:
        query = query.where(t.issues.c.category == category)
    if kind:
        query = query.where(t.issues.c.kind == kind)
    query = query.order_by(t.issues.c.last_seen.desc(), t.issues.c.id.desc()).limit(limit)
    return _issue_views(session, session.execute(query).mappings().all())


def _occurred_entries(
    session: Session | Connection, issue_id: int, max_runs: int
) -> list[EventView]:
    """The "occurred" entries of the timeline, one per run, read from the occurrences themselves
    (the newest ``max_runs`` runs)."""
    occ = t.occurrences.c
    runs = session.execute(
        select(
            t.runs.c.id,
            t.runs.c.external_id,
            t.runs.c.attempt,
            t.runs.c.commit_sha,
            t.runs.c.branch,
            func.min(occ.occurred_at).label("at"),
            func.count().label("n"),
        )
        .join(t.runs, t.runs.c.id == occ.run_id)
        .where(occ.issue_id == issue_id)
        .group_by(
            t.runs.c.id,
            t.runs.c.external_id,
            t.runs.c.attempt,
            t.runs.c.commit_sha,
            t.runs.c.branch,
        )
        .order_by(func.min(occ.occurred_at).desc())
        .limit(max_runs)
    ).all()
    checks: dict[int, list[str]] = {r.id: [] for r in runs}
    if runs:
        for run_id, key in session.execute(
            select(occ.run_id, t.checks.c.key)
            .join(t.checks, t.checks.c.id == occ.check_id)
            .where(occ.issue_id == issue_id, occ.run_id.in_(list(checks)))
            .order_by(occ.run_id, t.checks.c.key)
        ):
            if len(checks[run_id]) < 20:
                checks[run_id].append(key)
    return [
        EventView(
            None,
            "occurred",
            r.at,
            "triagehub",
            {
                "run": r.external_id,
                "attempt": r.attempt,
                "commit": r.commit_sha,
                "branch": r.branch,
                "count": r.n,
                "checks": checks[r.id],
            },
        )
        for r in runs
    ]


def _occurrences_query() -> Select[Any]:
    """Occurrences with their check and run, the columns of ``OccurrenceView``."""
    occ = t.occurrences.c
    return (
        select(
            occ.id,
            t.checks.c.key,
            t.runs.c.external_id,
            t.runs.c.attempt,
            t.runs.c.commit_sha,
            t.runs.c.branch,
            t.runs.c.url,
            occ.status,
            occ.message,
            occ.log_excerpt,
            occ.occurred_at,
            occ.links,
        )
        .join(t.checks, t.checks.c.id == occ.check_id)
        .join(t.runs, t.runs.c.id == occ.run_id)
    )


def _occurrence_view(r: Any) -> OccurrenceView:
    return OccurrenceView(
        r.id,
        r.key,
        r.external_id,
        r.attempt,
        r.commit_sha,
        r.branch,
        r.url,
        r.status,
        r.message,
        r.log_excerpt,
        r.occurred_at,
        list(r.links or []),
    )


def get_issue(
    *,
    session: Session | Connection,
    issue_id: int,
    occurrences: int = 20,
    max_runs: int = MAX_TIMELINE_RUNS,
) -> IssueDetail | None:
    row = (
        session.execute(
            select(*_ISSUE_COLUMNS)
            .join(t.repositories, t.repositories.c.id == t.issues.c.repository_id)
            .where(t.issues.c.id == issue_id)
        )
        .mappings()
        .first()
    )
    if row is None:
        return None
    issue = IssueView(
        **dict(row),
        checks=_checks_of(session, [issue_id])[issue_id],
        similar_issues=_similar_of(session, {issue_id: row["pattern_id"]})[issue_id],
    )
    timeline = [
        EventView(r.id, r.kind, r.at, r.actor, r.data)
        for r in session.execute(
            select(t.issue_events)
            .where(t.issue_events.c.issue_id == issue_id)
            .order_by(t.issue_events.c.at, t.issue_events.c.id)
        )
    ]
    timeline.extend(_occurred_entries(session, issue_id, max_runs))
    timeline.sort(key=lambda e: (e.at, e.id is not None, e.id or 0))
    recent = [
        _occurrence_view(r)
        for r in session.execute(
            _occurrences_query()
            .where(t.occurrences.c.issue_id == issue_id)
            .order_by(t.occurrences.c.occurred_at.desc(), t.occurrences.c.id.desc())
            .limit(occurrences)
        )
    ]
    return IssueDetail(issue, timeline, recent)


def _page_extras(dialect: str) -> tuple[Any, Any]:
    """The checks and the similar issues of each issue as two columns of the page's own query,
    correlated subqueries (a PostgreSQL array, a SQLite JSON array): a page is one statement,
    not three (each a round trip, two with an ``IN`` list of the page's ids). The same values
    as :func:`_checks_of` and :func:`_similar_of`: the first ``MAX_CHECKS_LISTED`` check keys
    in key order; the first ``MAX_SIMILAR`` other issues of the pattern, newest activity first
    (index-only reads of ``issue_checks``' key and ``(pattern_id, last_seen, id)``)."""
    i = t.issues.c
    ic = t.issue_checks.c
    other = t.issues.alias("other")
    checks = (
        select(t.checks.c.key)
        .join_from(t.issue_checks, t.checks, t.checks.c.id == ic.check_id)
        .where(ic.issue_id == i.id)
        .order_by(t.checks.c.key)
        .limit(MAX_CHECKS_LISTED)
        .correlate(t.issues)
    )
    similar = (
        select(other.c.id)
        .where(other.c.pattern_id == i.pattern_id, other.c.id != i.id)
        .order_by(other.c.last_seen.desc(), other.c.id.desc())
        .limit(MAX_SIMILAR)
        .correlate(t.issues)
    )
    if dialect == "postgresql":
        return (
            func.array(checks.scalar_subquery()).label("checks"),
            func.array(similar.scalar_subquery()).label("similar_issues"),
        )
    # SQLite: the aggregate reads its subquery's rows in the subquery's order.
    keys = checks.subquery()
    ids = similar.subquery()
    return (
        type_coerce(
            select(func.json_group_array(keys.c.key)).correlate(t.issues).scalar_subquery(), JSON
        ).label("checks"),
        type_coerce(
            select(func.json_group_array(ids.c.id)).correlate(t.issues).scalar_subquery(), JSON
        ).label("similar_issues"),
    )


@functools.cache
def page_select(dialect: str) -> Select[Any]:
    """``issues`` joined with its repository, the columns of :class:`IssueView` in its field
    order (checks and similar issues included: see :func:`_page_extras`); for
    :func:`page_views`. Built once per dialect (statements are immutable: ``where`` and
    ``order_by`` return new ones), not per page: building it cost as much as running it."""
    columns = {c.key: c for c in (*_ISSUE_COLUMNS, *_page_extras(dialect))}
    return select(*(columns[name] for name in _ISSUE_FIELDS)).join(
        t.repositories, t.repositories.c.id == t.issues.c.repository_id
    )


def page_views(rows: Sequence[Any]) -> list[IssueView]:
    """Views of rows of :func:`page_select` (one statement read them all)."""
    return [IssueView(*r) for r in rows]


def _issue_views(session: Session | Connection, rows: Sequence[Any]) -> list[IssueView]:
    """Views of rows (mappings) of :data:`_ISSUE_COLUMNS`, with their checks and
    similar issues."""
    checks = _checks_of(session, [r["id"] for r in rows])
    similar = _similar_of(session, {r["id"]: r["pattern_id"] for r in rows})
    # zip over the row's values: dict() of a RowMapping costs five times as much.
    return [
        IssueView(
            **dict(zip(_ISSUE_KEYS, r.values(), strict=True)),
            checks=checks[r["id"]],
            similar_issues=similar[r["id"]],
        )
        for r in rows
    ]


def issue_lifecycle(*, session: Session | Connection, issue_id: int) -> dict[str, Any] | None:
    """The lifecycle columns of an issue that ``IssueView`` leaves out (snooze, escalation,
    resolution, links, human overrides), as JSON."""
    i = t.issues.c
    row = (
        session.execute(
            select(
                i.resolved_at,
                i.snoozed_until,
                i.snooze_occurrences,
                i.escalation_level,
                i.escalated_at,
                i.sla_breached_at,
                i.spec_change,
                i.overrides,
                i.created_at,
                i.updated_at,
            ).where(i.id == issue_id)
        )
        .mappings()
        .first()
    )
    if row is None:
        return None
    data = dict(row)
    for key, value in data.items():
        if isinstance(value, datetime):
            data[key] = _iso(value)
    data["overrides"] = dict(data["overrides"] or {})
    return data


def issue_occurrences(
    *, session: Session | Connection, issue_id: int, limit: int = 50, cursor: str | None = None
) -> Page[OccurrenceView]:
    """An issue's occurrences, newest first (keyset pages over ``(occurred_at, id)``)."""
    _check_limit(limit)
    occ = t.occurrences.c
    digest = str(issue_id)
    stmt = _occurrences_query().where(occ.issue_id == issue_id)
    if cursor is not None:
        at, last_id = decode_cursor(cursor, "occurrences", digest, (datetime, int))
        stmt = stmt.where(_after(occ.occurred_at, occ.id, at, last_id, True))
    rows = session.execute(
        stmt.order_by(occ.occurred_at.desc(), occ.id.desc()).limit(limit + 1)
    ).all()
    rows, next_cursor = _cut(
        rows,
        limit,
        lambda last: encode_cursor("occurrences", digest, [_iso(last.occurred_at), last.id]),
    )
    return Page([_occurrence_view(r) for r in rows], next_cursor)
