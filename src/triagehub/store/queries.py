"""Read-side queries. They take a keyword-only ``session`` and return plain domain objects."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from triagehub.store import tables as t

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
    similar_issues: list[int] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        for key in ("first_seen", "last_seen", "sla_due_at"):
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
        OccurrenceView(
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
        for r in session.execute(
            select(
                t.occurrences.c.id,
                t.checks.c.key,
                t.runs.c.external_id,
                t.runs.c.attempt,
                t.runs.c.commit_sha,
                t.runs.c.branch,
                t.runs.c.url,
                t.occurrences.c.status,
                t.occurrences.c.message,
                t.occurrences.c.log_excerpt,
                t.occurrences.c.occurred_at,
                t.occurrences.c.links,
            )
            .join(t.checks, t.checks.c.id == t.occurrences.c.check_id)
            .join(t.runs, t.runs.c.id == t.occurrences.c.run_id)
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
