"""Where to look first: each repository's health score, and the top issues being worked on."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, case, select
from sqlalchemy.orm import Session

from triagehub.store import tables as t
from triagehub.store.metrics.common import (
    PRIORITY_RANK,
    WORKING,
    check_range,
    iso,
    repository_id,
)
from triagehub.store.metrics.figures import Figures, figures_by_repository


@dataclass(frozen=True, slots=True)
class RepositoryHealth:
    """One repository's health score for a range, with the figures it is made of."""

    repository: str
    priority_level: str
    score: float
    status: str
    components: dict[str, float]
    runs: int
    successful_runs: int
    run_success_rate: float | None
    open_issues: int
    open_critical: int
    open_high: int
    sla_breaches: int
    resolved: int
    mttr_hours: float | None
    raw_failures: int
    issues: int
    new_issues: int

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["components"] = dict(self.components)
        return data


def repository_health(
    session: Session, *, since: datetime, until: datetime, repository: str | None = None
) -> list[RepositoryHealth]:
    """The health of every repository (or one), least healthy first."""
    since, until = check_range(since, until)
    repo_id = repository_id(session, repository)
    query = select(t.repositories.c.id, t.repositories.c.name, t.repositories.c.priority_level)
    if repo_id is not None:
        query = query.where(t.repositories.c.id == repo_id)
    repos = session.execute(query).all()
    figures = figures_by_repository(session, since, until, repo_id)
    result = []
    for rid, name, level in repos:
        f = figures.get(rid, Figures())
        run_rate, score, status, terms = f.health(f.mttr_hours)
        result.append(
            RepositoryHealth(
                repository=name,
                priority_level=level,
                score=score,
                status=status,
                components=terms,
                runs=f.runs,
                successful_runs=f.successful_runs,
                run_success_rate=run_rate,
                open_issues=f.open_issues,
                open_critical=f.open_critical,
                open_high=f.open_high,
                sla_breaches=f.sla_breaches,
                resolved=f.resolved,
                mttr_hours=f.mttr_hours,
                raw_failures=f.raw_failures,
                issues=f.issues,
                new_issues=f.new_issues,
            )
        )
    result.sort(key=lambda h: (h.score, h.repository))
    return result


@dataclass(frozen=True, slots=True)
class TopIssue:
    id: int
    repository: str
    title: str
    state: str
    category: str
    severity: str
    priority: str
    occurrences: int
    last_seen: datetime
    sla_due_at: datetime | None
    escalation_level: int

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["last_seen"] = iso(self.last_seen)
        data["sla_due_at"] = iso(self.sla_due_at)
        return data


def top_issues(
    session: Session, *, repository: str | None = None, limit: int = 10
) -> list[TopIssue]:
    """Issues being worked on, highest priority first (then severity, then newest activity)."""
    issues = t.issues.c

    def rank(column: Any) -> ColumnElement[int]:
        return case(PRIORITY_RANK, value=column, else_=-1)

    query = (
        select(
            issues.id,
            t.repositories.c.name,
            issues.title,
            issues.state,
            issues.category,
            issues.severity,
            issues.priority,
            issues.occurrences,
            issues.last_seen,
            issues.sla_due_at,
            issues.escalation_level,
        )
        .join(t.repositories, t.repositories.c.id == issues.repository_id)
        .where(issues.state.in_(WORKING))
        .order_by(
            rank(issues.priority).desc(),
            rank(issues.severity).desc(),
            issues.last_seen.desc(),
            issues.id.desc(),
        )
        .limit(limit)
    )
    if repository is not None:
        query = query.where(t.repositories.c.name == repository)
    return [TopIssue(*row) for row in session.execute(query)]
