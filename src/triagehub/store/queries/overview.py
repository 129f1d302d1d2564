"""Store-wide aggregates: row counts, template families (patterns) and Prometheus gauges."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from triagehub.store import tables as t
from triagehub.store.queries.paging import _iso


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
            data[key] = _iso(data[key])
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
    # From the issues' counters, not the rows: ``db prune`` deletes old occurrences, and a
    # Prometheus counter must not go down.
    occurrences = int(
        session.execute(select(func.coalesce(func.sum(i.occurrences), 0))).scalar_one()
    )
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
