"""Read-side queries. They take a keyword-only ``session`` and return plain domain objects."""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime
from typing import Any, Generic, TypeVar

from sqlalchemy import Select, and_, delete, func, or_, select, update
from sqlalchemy.orm import Session

from triagehub.core.timeparse import parse_time
from triagehub.errors import InputError
from triagehub.store import tables as t

T = TypeVar("T")

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
        data = asdict(self)
        for key in ("first_seen", "last_seen", "sla_due_at", "resolved_at", "sla_breached_at"):
            value = data[key]
            data[key] = value.isoformat().replace("+00:00", "Z") if value else None
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
            "at": self.at.isoformat().replace("+00:00", "Z"),
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
        data = asdict(self)
        data["occurred_at"] = self.occurred_at.isoformat().replace("+00:00", "Z")
        return data


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
MAX_SIMILAR = 10


def _checks_of(session: Session, issue_ids: list[int]) -> dict[int, list[str]]:
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


def _similar_of(session: Session, patterns: dict[int, int | None]) -> dict[int, list[int]]:
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
    session: Session,
    repository: str | None = None,
    state: str | None = None,
    category: str | None = None,
    kind: str | None = None,
    limit: int = 1000,
) -> list[IssueView]:
    """Matching issues, newest activity first."""
    query = select(*_ISSUE_COLUMNS).join(
        t.repositories, t.repositories.c.id == t.issues.c.repository_id
    )
    if repository:
        query = query.where(t.repositories.c.name == repository)
    if state:
        query = query.where(t.issues.c.state == state)
    if category:
        query = query.where(t.issues.c.category == category)
    if kind:
        query = query.where(t.issues.c.kind == kind)
    query = query.order_by(t.issues.c.last_seen.desc(), t.issues.c.id.desc()).limit(limit)
    rows = session.execute(query).mappings().all()
    checks = _checks_of(session, [r["id"] for r in rows])
    similar = _similar_of(session, {r["id"]: r["pattern_id"] for r in rows})
    return [
        IssueView(**dict(r), checks=checks[r["id"]], similar_issues=similar[r["id"]]) for r in rows
    ]


def _occurred_entries(session: Session, issue_id: int, max_runs: int) -> list[EventView]:
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
    *, session: Session, issue_id: int, occurrences: int = 20, max_runs: int = MAX_TIMELINE_RUNS
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


@dataclass(frozen=True, slots=True)
class StoreCounts:
    repositories: int
    runs: int
    checks: int
    issues: int
    occurrences: int
    events: int
    check_runs: int  # sum of CheckStats.runs

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


def counts(*, session: Session) -> StoreCounts:
    def n(table: Any) -> int:
        return int(session.execute(select(func.count()).select_from(table)).scalar_one())

    return StoreCounts(
        repositories=n(t.repositories),
        runs=n(t.runs),
        checks=n(t.checks),
        issues=n(t.issues),
        occurrences=n(t.occurrences),
        events=n(t.issue_events),
        check_runs=int(
            session.execute(select(func.coalesce(func.sum(t.check_stats.c.runs), 0))).scalar_one()
        ),
    )


@dataclass(frozen=True, slots=True)
class PatternView:
    id: int
    template: str
    occurrences: int
    occurrences_in_range: int
    issues: int
    repositories: list[str]
    checks: int
    first_seen: datetime
    last_seen: datetime

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        for key in ("first_seen", "last_seen"):
            data[key] = data[key].isoformat().replace("+00:00", "Z")
        return data


def list_patterns(
    *,
    session: Session,
    since: datetime | None = None,
    repository: str | None = None,
    min_repositories: int = 1,
    limit: int = 100,
) -> list[PatternView]:
    """Template families seen since ``since``, most frequent in that range first."""
    issues, occ, p = t.issues.c, t.occurrences.c, t.patterns.c
    freq_q = (
        select(issues.pattern_id, func.count())
        .select_from(t.occurrences)
        .join(t.issues, issues.id == occ.issue_id)
        .where(issues.pattern_id.is_not(None))
        .group_by(issues.pattern_id)
    )
    if since is not None:
        freq_q = freq_q.where(occ.occurred_at >= since)
    if repository:
        freq_q = freq_q.join(t.repositories, t.repositories.c.id == issues.repository_id).where(
            t.repositories.c.name == repository
        )
    frequency = {int(pk): int(n) for pk, n in session.execute(freq_q)}
    if not frequency:
        return []
    ids = sorted(frequency)
    repos: dict[int, set[str]] = {pk: set() for pk in ids}
    counts_: dict[int, int] = dict.fromkeys(ids, 0)
    checks: dict[int, int] = dict.fromkeys(ids, 0)
    rows: dict[int, Any] = {}
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        for pattern_id, name in session.execute(
            select(issues.pattern_id, t.repositories.c.name)
            .join(t.repositories, t.repositories.c.id == issues.repository_id)
            .where(issues.pattern_id.in_(chunk))
            .distinct()
        ):
            repos[pattern_id].add(name)
        for pattern_id, n in session.execute(
            select(issues.pattern_id, func.count())
            .where(issues.pattern_id.in_(chunk))
            .group_by(issues.pattern_id)
        ):
            counts_[pattern_id] = n
        for pattern_id, n in session.execute(
            select(issues.pattern_id, func.count(func.distinct(t.issue_checks.c.check_id)))
            .join(t.issue_checks, t.issue_checks.c.issue_id == issues.id)
            .where(issues.pattern_id.in_(chunk))
            .group_by(issues.pattern_id)
        ):
            checks[pattern_id] = n
        for row in session.execute(select(t.patterns).where(p.id.in_(chunk))):
            rows[row.id] = row
    views = [
        PatternView(
            id=pk,
            template=rows[pk].template,
            occurrences=rows[pk].occurrences,
            occurrences_in_range=frequency[pk],
            issues=counts_[pk],
            repositories=sorted(repos[pk]),
            checks=checks[pk],
            first_seen=rows[pk].first_seen,
            last_seen=rows[pk].last_seen,
        )
        for pk in ids
        if pk in rows and len(repos[pk]) >= min_repositories
    ]
    views.sort(key=lambda v: (-v.occurrences_in_range, -len(v.repositories), v.id))
    return views[:limit]


# -- the REST API: issue search (filters, sort, cursor pagination) -------------------------------
#
# Pages are keyset pages: the cursor holds the sort key of the last row given, so a page costs
# the same however deep it is and rows inserted meanwhile never shift the next page. The cursor
# also carries the sort and a digest of the filters: a cursor used with another query is refused.

MAX_PAGE_SIZE = 500
MAX_TEXT_QUERY = 200
_LEVEL_ORDER = ("critical", "high", "medium", "low")  # the order of ``sort=priority``
ISSUE_SORTS = ("last_seen", "first_seen", "occurrences", "priority", "severity", "id")
_RANKED_SORTS = frozenset({"priority", "severity"})


def _iso(value: datetime | None) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value is not None else None


@dataclass(frozen=True, slots=True)
class IssueQuery:
    """What ``search_issues`` matches: every given filter must hold (values of one filter are
    alternatives). ``since``/``until`` bound ``last_seen`` (``since`` ≤ last_seen < ``until``);
    ``text`` is a case-insensitive substring of the title, the template or the sample message.
    ``sort`` is one of :data:`ISSUE_SORTS`, ``-`` first for descending; ``priority`` and
    ``severity`` run from critical to low (``-priority`` from low to critical), newest activity
    first within a level."""

    repositories: tuple[str, ...] = ()
    states: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    kinds: tuple[str, ...] = ()
    severities: tuple[str, ...] = ()
    priorities: tuple[str, ...] = ()
    history_classes: tuple[str, ...] = ()
    decisions: tuple[str, ...] = ()
    assignees: tuple[str, ...] = ()
    since: datetime | None = None
    until: datetime | None = None
    text: str | None = None
    sort: str = "-last_seen"

    def digest(self) -> str:
        """A short digest of the filters (not the sort): cursors are bound to it."""
        parts = [
            ",".join(sorted(values))
            for values in (
                self.repositories,
                self.states,
                self.categories,
                self.kinds,
                self.severities,
                self.priorities,
                self.history_classes,
                self.decisions,
                self.assignees,
            )
        ]
        parts += [_iso(self.since) or "", _iso(self.until) or "", self.text or ""]
        return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:12]


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    """One page of a listing and the cursor of the next one (None: this was the last)."""

    items: list[T]
    next_cursor: str | None


def encode_cursor(kind: str, digest: str, values: list[Any]) -> str:
    raw = json.dumps({"k": kind, "f": digest, "v": values}, separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(cursor: str, kind: str, digest: str, shape: tuple[type, ...]) -> list[Any]:
    """The values of a cursor made by :func:`encode_cursor` for the same listing, sort and
    filters; an ``InputError`` for anything else (they are opaque: never built by hand)."""

    def bad(reason: str) -> InputError:
        return InputError("cursor", "", reason)

    if len(cursor) > 1000:
        raise bad("too long to be a cursor this API gave")
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        data = json.loads(base64.urlsafe_b64decode(padded.encode("ascii")))
    except (ValueError, UnicodeError):
        raise bad("not a cursor this API gave (pass next_cursor back as it is)") from None
    if not isinstance(data, dict) or not isinstance(data.get("v"), list):
        raise bad("not a cursor this API gave (pass next_cursor back as it is)")
    if data.get("k") != kind:
        raise bad(f"made for another listing or sort ({data.get('k')!r}, not {kind!r})")
    if data.get("f") != digest:
        raise bad("made for other filters: repeat the first request's filters with its cursor")
    values: list[Any] = data["v"]
    if len(values) != len(shape):
        raise bad("not a cursor this API gave (pass next_cursor back as it is)")
    out: list[Any] = []
    for value, want in zip(values, shape, strict=True):
        if want is datetime:
            try:
                out.append(parse_time(value))
            except ValueError:
                raise bad("not a cursor this API gave (pass next_cursor back as it is)") from None
        elif (want is int and type(value) is int and abs(value) < 2**62) or (
            want is str and isinstance(value, str)
        ):
            out.append(value)
        else:
            raise bad("not a cursor this API gave (pass next_cursor back as it is)")
    return out


def _check_limit(limit: int) -> None:
    if not 1 <= limit <= MAX_PAGE_SIZE:
        raise InputError("limit", str(limit), f"must be from 1 to {MAX_PAGE_SIZE}")


def _after(column: Any, id_column: Any, value: Any, last_id: int, descending: bool) -> Any:
    """Rows after ``(value, last_id)`` in the order ``column, id`` (both ``descending`` or
    not), written so that an index on ``column`` bounds the scan."""
    if descending:
        return and_(column <= value, or_(column < value, id_column < last_id))
    return and_(column >= value, or_(column > value, id_column > last_id))


def _repository_ids(session: Session, names: tuple[str, ...]) -> list[int]:
    return list(
        session.execute(
            select(t.repositories.c.id).where(t.repositories.c.name.in_(sorted(set(names))))
        ).scalars()
    )


def _issue_filters(session: Session, query: IssueQuery) -> list[Any] | None:
    """The WHERE terms of ``query`` (None: it cannot match, e.g. an unknown repository)."""
    i = t.issues.c
    terms: list[Any] = []
    if query.repositories:
        ids = _repository_ids(session, query.repositories)
        if not ids:
            return None
        terms.append(i.repository_id.in_(ids) if len(ids) > 1 else i.repository_id == ids[0])
    for column, values in (
        (i.state, query.states),
        (i.category, query.categories),
        (i.kind, query.kinds),
        (i.severity, query.severities),
        (i.priority, query.priorities),
        (i.history_class, query.history_classes),
        (i.decision, query.decisions),
        (i.assignee, query.assignees),
    ):
        if values:
            unique = sorted(set(values))
            terms.append(column.in_(unique) if len(unique) > 1 else column == unique[0])
    if query.since is not None:
        terms.append(i.last_seen >= query.since)
    if query.until is not None:
        terms.append(i.last_seen < query.until)
    if query.text:
        text = query.text
        if len(text) > MAX_TEXT_QUERY:
            raise InputError("q", "", f"at most {MAX_TEXT_QUERY} characters")
        terms.append(
            or_(
                i.title.icontains(text, autoescape=True),
                i.template.icontains(text, autoescape=True),
                i.sample_message.icontains(text, autoescape=True),
            )
        )
    return terms


def _issue_views(session: Session, rows: Sequence[Any]) -> list[IssueView]:
    checks = _checks_of(session, [r["id"] for r in rows])
    similar = _similar_of(session, {r["id"]: r["pattern_id"] for r in rows})
    return [
        IssueView(**dict(r), checks=checks[r["id"]], similar_issues=similar[r["id"]]) for r in rows
    ]


def _parse_sort(sort: str, allowed: tuple[str, ...]) -> tuple[str, bool]:
    descending = sort.startswith("-")
    name = sort[1:] if descending else sort
    if name not in allowed:
        options = ", ".join(f"{n}, -{n}" for n in allowed)
        raise InputError("sort", sort, f"expected one of {options}")
    return name, descending


def search_issues(
    *, session: Session, query: IssueQuery, limit: int = 50, cursor: str | None = None
) -> Page[IssueView]:
    """One page of the issues matching ``query``, in its sort order (see :class:`IssueQuery`).

    Raises ``InputError`` for a bad sort, limit or cursor."""
    _check_limit(limit)
    name, descending = _parse_sort(query.sort, ISSUE_SORTS)
    sort_key = ("-" if descending else "") + name
    digest = query.digest()
    terms = _issue_filters(session, query)
    if terms is None:
        return Page([], None)
    base = (
        select(*_ISSUE_COLUMNS)
        .join(t.repositories, t.repositories.c.id == t.issues.c.repository_id)
        .where(*terms)
    )
    i = t.issues.c
    if name in _RANKED_SORTS:
        wanted = query.priorities if name == "priority" else query.severities
        return _search_ranked(
            session, base, name, descending, sort_key, digest, limit, cursor, wanted
        )
    column = i.id if name == "id" else getattr(i, name)
    shape: tuple[type, ...] = (int,) if name == "id" else (_value_type(name), int)
    stmt = base
    if cursor is not None:
        values = decode_cursor(cursor, f"issues:{sort_key}", digest, shape)
        if name == "id":
            stmt = stmt.where(i.id < values[0] if descending else i.id > values[0])
        else:
            stmt = stmt.where(_after(column, i.id, values[0], values[1], descending))
    order = (
        [i.id.desc() if descending else i.id.asc()]
        if name == "id"
        else [
            column.desc() if descending else column.asc(),
            i.id.desc() if descending else i.id.asc(),
        ]
    )
    rows = session.execute(stmt.order_by(*order).limit(limit + 1)).mappings().all()
    more = len(rows) > limit
    rows = rows[:limit]
    next_cursor = None
    if more and rows:
        last = rows[-1]
        values_out: list[Any] = (
            [last["id"]] if name == "id" else [_cursor_value(last[name]), last["id"]]
        )
        next_cursor = encode_cursor(f"issues:{sort_key}", digest, values_out)
    return Page(_issue_views(session, rows), next_cursor)


def _value_type(name: str) -> type:
    return int if name == "occurrences" else datetime


def _cursor_value(value: Any) -> Any:
    return _iso(value) if isinstance(value, datetime) else value


def _search_ranked(
    session: Session,
    base: Any,
    name: str,
    descending: bool,
    sort_key: str,
    digest: str,
    limit: int,
    cursor: str | None,
    wanted: tuple[str, ...],
) -> Page[IssueView]:
    """Sorted by a level (priority, severity): one index-friendly query per level (only the
    levels the filters allow), newest activity first within a level, until the page is
    full."""
    i = t.issues.c
    column = getattr(i, name)
    levels = list(reversed(_LEVEL_ORDER)) if descending else list(_LEVEL_ORDER)
    start = 0
    after: tuple[datetime, int] | None = None
    if cursor is not None:
        level, seen, last_id = decode_cursor(
            cursor, f"issues:{sort_key}", digest, (str, datetime, int)
        )
        if level not in levels:
            raise InputError("cursor", "", "not a cursor this API gave")
        start = levels.index(level)
        after = (seen, last_id)
    rows: list[Any] = []
    more = False
    for position in range(start, len(levels)):
        if wanted and levels[position] not in wanted:
            continue
        stmt = base.where(column == levels[position])
        if after is not None and position == start:
            stmt = stmt.where(_after(i.last_seen, i.id, after[0], after[1], True))
        room = limit + 1 - len(rows)
        found = (
            session.execute(stmt.order_by(i.last_seen.desc(), i.id.desc()).limit(room))
            .mappings()
            .all()
        )
        rows.extend(found)
        if len(rows) > limit:
            more = True
            break
    rows = rows[:limit]
    next_cursor = None
    if more and rows:
        last = rows[-1]
        next_cursor = encode_cursor(
            f"issues:{sort_key}", digest, [last[name], _iso(last["last_seen"]), last["id"]]
        )
    return Page(_issue_views(session, rows), next_cursor)


def issue_lifecycle(*, session: Session, issue_id: int) -> dict[str, Any] | None:
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
    *, session: Session, issue_id: int, limit: int = 50, cursor: str | None = None
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
    more = len(rows) > limit
    rows = rows[:limit]
    views = [_occurrence_view(r) for r in rows]
    next_cursor = (
        encode_cursor("occurrences", digest, [_iso(rows[-1].occurred_at), rows[-1].id])
        if more and rows
        else None
    )
    return Page(views, next_cursor)


# -- runs and checks -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RunView:
    id: int
    repository: str
    source: str
    external_id: str
    attempt: int
    commit_sha: str | None
    branch: str | None
    url: str | None
    status: str | None
    started_at: datetime | None
    finished_at: datetime | None
    occurred_at: datetime
    ingested_at: datetime
    results_total: int
    results_failed: int
    storm: bool
    failures: list[dict[str, Any]] | None = None

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        for key in ("started_at", "finished_at", "occurred_at", "ingested_at"):
            data[key] = _iso(data[key])
        if self.failures is None:
            del data["failures"]
        return data


_RUN_COLUMNS = (
    t.runs.c.id,
    t.repositories.c.name.label("repository"),
    t.runs.c.source,
    t.runs.c.external_id,
    t.runs.c.attempt,
    t.runs.c.commit_sha,
    t.runs.c.branch,
    t.runs.c.url,
    t.runs.c.status,
    t.runs.c.started_at,
    t.runs.c.finished_at,
    t.runs.c.occurred_at,
    t.runs.c.ingested_at,
    t.runs.c.results_total,
    t.runs.c.results_failed,
    t.runs.c.storm,
)
MAX_RUN_FAILURES = 500


def list_runs(
    *,
    session: Session,
    repository: str | None = None,
    source: str | None = None,
    status: str | None = None,
    branch: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: int = 50,
    cursor: str | None = None,
) -> Page[RunView]:
    """Runs, newest first (by the run's own time), keyset pages over ``(occurred_at, id)``."""
    _check_limit(limit)
    r = t.runs.c
    parts = (repository, source, status, branch, _iso(since), _iso(until))
    digest = hashlib.sha256("\x1f".join(p or "" for p in parts).encode()).hexdigest()[:12]
    stmt = select(*_RUN_COLUMNS).join(t.repositories, t.repositories.c.id == r.repository_id)
    if repository:
        ids = _repository_ids(session, (repository,))
        if not ids:
            return Page([], None)
        stmt = stmt.where(r.repository_id == ids[0])
    for column, value in ((r.source, source), (r.status, status), (r.branch, branch)):
        if value:
            stmt = stmt.where(column == value)
    if since is not None:
        stmt = stmt.where(r.occurred_at >= since)
    if until is not None:
        stmt = stmt.where(r.occurred_at < until)
    if cursor is not None:
        at, last_id = decode_cursor(cursor, "runs", digest, (datetime, int))
        stmt = stmt.where(_after(r.occurred_at, r.id, at, last_id, True))
    rows = (
        session.execute(stmt.order_by(r.occurred_at.desc(), r.id.desc()).limit(limit + 1))
        .mappings()
        .all()
    )
    more = len(rows) > limit
    rows = rows[:limit]
    next_cursor = (
        encode_cursor("runs", digest, [_iso(rows[-1]["occurred_at"]), rows[-1]["id"]])
        if more and rows
        else None
    )
    return Page([RunView(**dict(row)) for row in rows], next_cursor)


def get_run(*, session: Session, run_id: int) -> RunView | None:
    """A run with its failures (the first :data:`MAX_RUN_FAILURES`, by check)."""
    row = (
        session.execute(
            select(*_RUN_COLUMNS)
            .join(t.repositories, t.repositories.c.id == t.runs.c.repository_id)
            .where(t.runs.c.id == run_id)
        )
        .mappings()
        .first()
    )
    if row is None:
        return None
    occ = t.occurrences.c
    failures = [
        {
            "occurrence_id": f.id,
            "issue_id": f.issue_id,
            "check": f.key,
            "status": f.status,
            "message": _first_line(f.message),
            "occurred_at": _iso(f.occurred_at),
        }
        for f in session.execute(
            select(occ.id, occ.issue_id, t.checks.c.key, occ.status, occ.message, occ.occurred_at)
            .join(t.checks, t.checks.c.id == occ.check_id)
            .where(occ.run_id == run_id)
            .order_by(t.checks.c.key)
            .limit(MAX_RUN_FAILURES)
        )
    ]
    return RunView(**dict(row), failures=failures)


def _first_line(text: str, limit: int = 300) -> str:
    line = text.strip().splitlines()[0] if text.strip() else ""
    return line if len(line) <= limit else line[: limit - 1] + "…"


@dataclass(frozen=True, slots=True)
class CheckView:
    """A check and its rolling history (``CheckStats``); ``recent`` is the outcomes of its
    latest runs (at most 63), newest first: ``fail`` (a failure or flaky evidence) or
    ``pass``."""

    id: int
    repository: str
    key: str
    runs: int
    failures: int
    consecutive_failures: int
    last_status: str | None
    last_run_at: datetime | None
    last_pass_at: datetime | None
    last_fail_at: datetime | None
    last_pass_commit: str | None
    last_fail_commit: str | None
    flaky: bool
    recent: list[str]
    issues: list[dict[str, Any]] | None = None

    @property
    def failure_rate(self) -> float | None:
        return None if not self.runs else self.failures / self.runs

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        for key in ("last_run_at", "last_pass_at", "last_fail_at"):
            data[key] = _iso(data[key])
        data["failure_rate"] = self.failure_rate
        if self.issues is None:
            del data["issues"]
        return data


_CHECK_COLUMNS = (
    t.checks.c.id,
    t.repositories.c.name.label("repository"),
    t.checks.c.key,
    t.check_stats.c.runs,
    t.check_stats.c.failures,
    t.check_stats.c.consecutive_failures,
    t.check_stats.c.last_status,
    t.check_stats.c.last_run_at,
    t.check_stats.c.last_pass_at,
    t.check_stats.c.last_fail_at,
    t.check_stats.c.last_pass_commit,
    t.check_stats.c.last_fail_commit,
    t.check_stats.c.flaky,
    t.check_stats.c.recent,
)


def _check_view(row: Any, issues: list[dict[str, Any]] | None = None) -> CheckView:
    data = dict(row)
    runs = int(data["runs"] or 0)
    bits = int(data.pop("recent") or 0)
    recent = ["fail" if bits >> n & 1 else "pass" for n in range(min(runs, 63))]
    data.update(
        runs=runs,
        failures=int(data["failures"] or 0),
        consecutive_failures=int(data["consecutive_failures"] or 0),
        flaky=bool(data["flaky"]),
    )
    return CheckView(**data, recent=recent, issues=issues)


def _checks_select() -> Any:
    return (
        select(*_CHECK_COLUMNS)
        .join(t.repositories, t.repositories.c.id == t.checks.c.repository_id)
        .outerjoin(t.check_stats, t.check_stats.c.check_id == t.checks.c.id)
    )


def list_checks(
    *,
    session: Session,
    repository: str | None = None,
    flaky: bool | None = None,
    failing: bool | None = None,
    text: str | None = None,
    limit: int = 50,
    cursor: str | None = None,
) -> Page[CheckView]:
    """Checks in the order they were first seen, with their history. ``failing``: the last
    run failed; ``text``: a case-insensitive substring of the check key."""
    _check_limit(limit)
    c, s = t.checks.c, t.check_stats.c
    digest = hashlib.sha256(
        f"{repository or ''}\x1f{flaky}\x1f{failing}\x1f{text or ''}".encode()
    ).hexdigest()[:12]
    stmt = _checks_select()
    if repository:
        ids = _repository_ids(session, (repository,))
        if not ids:
            return Page([], None)
        stmt = stmt.where(c.repository_id == ids[0])
    if flaky is not None:
        clean = or_(s.flaky.is_(False), s.flaky.is_(None))
        stmt = stmt.where(s.flaky.is_(True) if flaky else clean)
    if failing is not None:
        failed = s.last_status.in_(("fail", "error"))
        stmt = stmt.where(failed if failing else or_(~failed, s.last_status.is_(None)))
    if text:
        if len(text) > MAX_TEXT_QUERY:
            raise InputError("q", "", f"at most {MAX_TEXT_QUERY} characters")
        stmt = stmt.where(c.key.icontains(text, autoescape=True))
    if cursor is not None:
        (last_id,) = decode_cursor(cursor, "checks", digest, (int,))
        stmt = stmt.where(c.id > last_id)
    rows = session.execute(stmt.order_by(c.id).limit(limit + 1)).mappings().all()
    more = len(rows) > limit
    rows = rows[:limit]
    next_cursor = encode_cursor("checks", digest, [rows[-1]["id"]]) if more and rows else None
    return Page([_check_view(r) for r in rows], next_cursor)


def get_check(*, session: Session, check_id: int, max_issues: int = 100) -> CheckView | None:
    """A check with its history and the issues it took part in (newest activity first)."""
    row = session.execute(_checks_select().where(t.checks.c.id == check_id)).mappings().first()
    if row is None:
        return None
    i = t.issues.c
    issues = [
        {
            "id": r.id,
            "title": r.title,
            "state": r.state,
            "category": r.category,
            "priority": r.priority,
            "occurrences": r.occurrences,
            "last_seen": _iso(r.last_seen),
        }
        for r in session.execute(
            select(i.id, i.title, i.state, i.category, i.priority, t.issue_checks.c.occurrences)
            .add_columns(t.issue_checks.c.last_seen)
            .join(t.issue_checks, t.issue_checks.c.issue_id == i.id)
            .where(t.issue_checks.c.check_id == check_id)
            .order_by(t.issue_checks.c.last_seen.desc(), i.id.desc())
            .limit(max_issues)
        )
    ]
    return _check_view(row, issues)


# -- the live stream: rows added since a cursor ---------------------------------------------------


def _id_ranges(column: Any, ranges: Sequence[tuple[int, int | None]]) -> Any:
    return or_(
        *(column >= low if high is None else column.between(low, high) for low, high in ranges)
    )


def stream_heads(*, session: Session) -> tuple[int, int, int]:
    """The newest ids of issue events, occurrences and agent events (0 when none)."""

    def top(column: Any) -> int:
        return int(session.execute(select(func.coalesce(func.max(column), 0))).scalar_one())

    return top(t.issue_events.c.id), top(t.occurrences.c.id), top(t.agent_events.c.id)


def issue_events_since(
    *, session: Session, ranges: Sequence[tuple[int, int | None]], limit: int
) -> list[dict[str, Any]]:
    """Timeline entries with ids in ``ranges`` (``(low, high)``, inclusive; no upper bound when
    None), oldest first, with the issue they belong to."""
    e, i = t.issue_events.c, t.issues.c
    where = _id_ranges(e.id, ranges)
    rows = session.execute(
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
        .join(t.repositories, t.repositories.c.id == i.repository_id)
        .where(where)
        .order_by(e.id)
        .limit(limit)
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
    where = _id_ranges(o.id, ranges)
    rows = session.execute(
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
        .join(t.repositories, t.repositories.c.id == t.runs.c.repository_id)
        .where(where)
        .order_by(o.id)
        .limit(limit)
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
    where = _id_ranges(a.id, ranges)
    rows = session.execute(
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
        )
        .join(t.agent_sessions, s.id == a.session_id)
        .where(where)
        .order_by(a.id)
        .limit(limit)
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


# -- gauges for Prometheus (cheap aggregate queries, read at scrape time) ------------------------


@dataclass(frozen=True, slots=True)
class StoreGauges:
    issues: dict[tuple[str, str], int]  # (state, category) -> issues
    runs: dict[str, int]  # source -> runs
    occurrences: int
    outbox: dict[tuple[str, str], int]  # (kind, status) -> rows not done
    outbox_failing: dict[tuple[str, str], int]  # (kind, status) -> rows whose last try failed


def store_gauges(*, session: Session) -> StoreGauges:
    i, j = t.issues.c, t.jobs.c
    issues = {
        (state, category): int(n)
        for state, category, n in session.execute(
            select(i.state, i.category, func.count()).group_by(i.state, i.category)
        )
    }
    runs = {
        source: int(n)
        for source, n in session.execute(
            select(t.runs.c.source, func.count()).group_by(t.runs.c.source)
        )
    }
    occurrences = int(session.execute(select(func.count()).select_from(t.occurrences)).scalar_one())
    waiting = ("pending", "running", "dead", "failed")
    outbox: dict[tuple[str, str], int] = {}
    failing: dict[tuple[str, str], int] = {}
    for kind, status, has_error, n in session.execute(
        select(j.kind, j.status, j.last_error.is_not(None), func.count())
        .where(j.status.in_(waiting))
        .group_by(j.kind, j.status, j.last_error.is_not(None))
    ):
        status = "dead" if status == "failed" else status
        outbox[(kind, status)] = outbox.get((kind, status), 0) + int(n)
        if has_error:
            failing[(kind, status)] = failing.get((kind, status), 0) + int(n)
    return StoreGauges(issues, runs, occurrences, outbox, failing)


# -- API tokens ----------------------------------------------------------------------------------
#
# A token is ``th_`` and 43 random URL-safe characters, shown once when made; the store keeps its
# SHA-256 only, so a leaked database does not leak usable tokens.

TOKEN_SCOPES = ("read", "write")
TOKEN_PREFIX = "th_"
_TOKEN_TOUCH_S = 60  # ``last_used_at`` is written at most once a minute per token


@dataclass(frozen=True, slots=True)
class TokenView:
    id: int
    name: str
    scope: str
    prefix: str
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None

    @property
    def active(self) -> bool:
        return self.revoked_at is None

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        for key in ("created_at", "last_used_at", "revoked_at"):
            data[key] = _iso(data[key])
        data["active"] = self.active
        return data


def hash_token(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


def _token_view(row: Any) -> TokenView:
    return TokenView(
        row.id, row.name, row.scope, row.prefix, row.created_at, row.last_used_at, row.revoked_at
    )


def create_api_token(
    *, session: Session, name: str, scope: str, now: datetime
) -> tuple[TokenView, str]:
    """Make a token; returns it and its secret value (shown once, never stored)."""
    name = name.strip()
    if not name or len(name) > 100:
        raise InputError("--name", name, "must be 1 to 100 characters")
    if scope not in TOKEN_SCOPES:
        raise InputError("--scope", scope, f"expected one of {', '.join(TOKEN_SCOPES)}")
    raw = TOKEN_PREFIX + secrets.token_urlsafe(32)
    pk = session.execute(
        t.api_tokens.insert()
        .values(
            name=name,
            scope=scope,
            token_hash=hash_token(raw),
            prefix=raw[:10],
            created_at=now,
        )
        .returning(t.api_tokens.c.id)
    ).scalar_one()
    return TokenView(int(pk), name, scope, raw[:10], now, None, None), raw


def list_api_tokens(*, session: Session, include_revoked: bool = True) -> list[TokenView]:
    stmt = select(t.api_tokens).order_by(t.api_tokens.c.id)
    if not include_revoked:
        stmt = stmt.where(t.api_tokens.c.revoked_at.is_(None))
    return [_token_view(r) for r in session.execute(stmt)]


def revoke_api_token(*, session: Session, ref: str, now: datetime) -> list[TokenView]:
    """Revoke the active token with this id, or every active token with this name; returns
    what was revoked (an ``InputError`` when nothing matches)."""
    a = t.api_tokens.c
    match = a.id == int(ref) if ref.isdigit() else a.name == ref
    found = [
        _token_view(r)
        for r in session.execute(select(t.api_tokens).where(match, a.revoked_at.is_(None)))
    ]
    if not found:
        raise InputError("token", ref, "no active token with this id or name (see token list)")
    session.execute(
        update(t.api_tokens).where(a.id.in_([v.id for v in found])).values(revoked_at=now)
    )
    return [replace(v, revoked_at=now) for v in found]


def authenticate_token(*, session: Session, raw: str, now: datetime) -> TokenView | None:
    """The active token whose secret is ``raw`` (None: unknown or revoked); notes its use."""
    a = t.api_tokens.c
    row = session.execute(
        select(t.api_tokens).where(a.token_hash == hash_token(raw), a.revoked_at.is_(None))
    ).first()
    if row is None:
        return None
    last = row.last_used_at
    if last is None or (now - last).total_seconds() >= _TOKEN_TOUCH_S:
        session.execute(update(t.api_tokens).where(a.id == row.id).values(last_used_at=now))
    return _token_view(row)


# -- dashboard sessions ----------------------------------------------------------------------------


def end_dashboard_session(
    *, session: Session, nonce: str, expires_at: datetime, now: datetime
) -> None:
    """Remember a signed-out session (by its cookie's nonce) until its cookie would expire;
    forget the ones already expired."""
    from triagehub.store.dialect import insert_ignoring

    session.execute(delete(t.dashboard_logouts).where(t.dashboard_logouts.c.expires_at < now))
    session.execute(
        insert_ignoring(session, t.dashboard_logouts, "session_nonce").values(
            session_nonce=nonce[:32], expires_at=expires_at
        )
    )


def dashboard_session_ended(*, session: Session, nonce: str) -> bool:
    found = session.execute(
        select(t.dashboard_logouts.c.session_nonce).where(
            t.dashboard_logouts.c.session_nonce == nonce[:32]
        )
    ).first()
    return found is not None
