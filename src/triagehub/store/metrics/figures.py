"""The summable figures of a range per repository id (about one query per table), and the
health score made of them (see :mod:`triagehub.store.metrics` for the definitions)."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import ColumnElement, and_, case, func, or_, select, true
from sqlalchemy.orm import Session

from triagehub.core.models import Category, IssueState, Level
from triagehub.store import tables as t
from triagehub.store.metrics.common import (
    CLOSED,
    WORKING,
    count_if,
    failed_in_range,
    first_event_durations,
    in_range,
    ratio,
    resolution_event,
    utc_day,
)

# The weights and scales of the health score (see the module docstring).
HEALTH_WEIGHTS = {"run_success": 0.40, "backlog": 0.30, "sla": 0.20, "mttr": 0.10}
BACKLOG_POINTS_TO_ZERO = 10  # 3 per open critical issue, 1 per open high one
SLA_BREACHES_TO_ZERO = 5
MTTR_HOURS_TO_ZERO = 168.0
HEALTHY, DEGRADED = 80.0, 50.0


def health_score(
    *,
    run_success_rate: float | None,
    open_critical: int,
    open_high: int,
    sla_breaches: int,
    mttr_hours: float | None,
) -> tuple[float, str, dict[str, float]]:
    """The health score of the module docstring: (score 0..100, status, the four terms 0..1)."""
    terms = {
        "run_success": 1.0 if run_success_rate is None else max(0.0, min(1.0, run_success_rate)),
        "backlog": max(0.0, 1 - (3 * open_critical + open_high) / BACKLOG_POINTS_TO_ZERO),
        "sla": max(0.0, 1 - sla_breaches / SLA_BREACHES_TO_ZERO),
        "mttr": 1.0 if mttr_hours is None else max(0.0, 1 - mttr_hours / MTTR_HOURS_TO_ZERO),
    }
    score = round(100 * sum(HEALTH_WEIGHTS[k] * v for k, v in terms.items()), 1)
    status = "healthy" if score >= HEALTHY else "degraded" if score >= DEGRADED else "unhealthy"
    return score, status, {k: round(v, 4) for k, v in terms.items()}


@dataclass
class Figures:
    raw_failures: int = 0
    issues: int = 0
    new_issues: int = 0
    false_positives: int = 0
    runs: int = 0
    successful_runs: int = 0
    open_issues: int = 0
    open_critical: int = 0
    open_high: int = 0
    sla_breaches: int = 0
    escalations: dict[str, int] = field(default_factory=dict)
    transient_closed: int = 0
    transient_auto_resolved: int = 0
    resolved: int = 0
    resolution_seconds: float = 0.0
    new_by_day: dict[str, int] = field(default_factory=dict)

    def add(self, other: Figures) -> None:
        for name in (
            "raw_failures",
            "issues",
            "new_issues",
            "false_positives",
            "runs",
            "successful_runs",
            "open_issues",
            "open_critical",
            "open_high",
            "sla_breaches",
            "transient_closed",
            "transient_auto_resolved",
            "resolved",
            "resolution_seconds",
        ):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        for mine, theirs in (
            (self.escalations, other.escalations),
            (self.new_by_day, other.new_by_day),
        ):
            for key, n in theirs.items():
                mine[key] = mine.get(key, 0) + n

    @property
    def mttr_hours(self) -> float | None:
        return round(self.resolution_seconds / self.resolved / 3600, 4) if self.resolved else None

    def health(self, mttr_hours: float | None) -> tuple[float | None, float, str, dict[str, float]]:
        """(run success rate, health score, status, the score's four terms)."""
        run_rate = ratio(self.successful_runs, self.runs)
        score, status, terms = health_score(
            run_success_rate=run_rate,
            open_critical=self.open_critical,
            open_high=self.open_high,
            sla_breaches=self.sla_breaches,
            mttr_hours=mttr_hours,
        )
        return run_rate, score, status, terms


def figures_by_repository(
    session: Session,
    since: datetime,
    until: datetime,
    repo_id: int | None,
    *,
    resolutions: bool = True,
) -> dict[int, Figures]:
    """Every summable figure of the range, per repository id, in about one query per table
    (``resolutions``: also the count and total time of the first resolutions)."""
    found: dict[int, Figures] = defaultdict(Figures)
    _occurrence_figures(session, found, since, until, repo_id)
    _issue_figures(session, found, since, until, repo_id)
    _run_figures(session, found, since, until, repo_id)
    _event_figures(session, found, since, until, repo_id)
    if resolutions:
        first = first_event_durations(session, resolution_event(), since, until, repo_id).subquery()
        for rid, n, total in session.execute(
            select(first.c.repository_id, func.count(), func.sum(first.c.d)).group_by(
                first.c.repository_id
            )
        ):
            found[rid].resolved, found[rid].resolution_seconds = int(n), float(total or 0.0)
    return found


def _repo_filter(repo_id: int | None) -> ColumnElement[bool]:
    return true() if repo_id is None else t.issues.c.repository_id == repo_id


def _occurrence_figures(
    session: Session,
    found: dict[int, Figures],
    since: datetime,
    until: datetime,
    repo_id: int | None,
) -> None:
    """Raw failures and the issues they went to."""
    issues, occ = t.issues.c, t.occurrences.c
    # Occurrences, per issue first (the (issue_id, occurred_at) index covers it), then per repo.
    per_issue = (
        select(occ.issue_id, func.count().label("n"))
        .where(
            in_range(occ.occurred_at, since, until),
            failed_in_range(occ.issue_id, since, until, repo_id),
        )
        .group_by(occ.issue_id)
        .subquery()
    )
    for rid, n, touched in session.execute(
        select(issues.repository_id, func.sum(per_issue.c.n), func.count())
        .join(t.issues, issues.id == per_issue.c.issue_id)
        .group_by(issues.repository_id)
    ):
        found[rid].raw_failures, found[rid].issues = int(n), int(touched)


def _issue_figures(
    session: Session,
    found: dict[int, Figures],
    since: datetime,
    until: datetime,
    repo_id: int | None,
) -> None:
    """New issues (per day too), false positives, what is open now, transient failures closed."""
    issues = t.issues.c
    repo_filter = _repo_filter(repo_id)
    # One pass over the issues for everything read from them: new issues (per day too), false
    # positives, what is open now, transient failures closed in the range. Grouped by an
    # expression, not the bare column: SQLite would otherwise walk the (repository_id, ...)
    # index to skip a sort and fetch every row at random (5x slower).
    by_repo = (issues.repository_id + 0).label("repository_id")
    is_new = in_range(issues.first_seen, since, until)
    new_day = case((is_new, utc_day(session, issues.first_seen)), else_=None).label("day")
    is_open = issues.state.in_(WORKING)
    transient_closed = and_(
        issues.category == Category.TRANSIENT.value,
        issues.state.in_(CLOSED),
        in_range(issues.resolved_at, since, until),
    )
    false_positive = or_(
        issues.state == IssueState.FALSE_POSITIVE.value,
        issues.category == Category.FALSE_POSITIVE.value,
    )
    for row in session.execute(
        select(
            by_repo,
            new_day,
            count_if(is_new).label("new"),
            count_if(and_(is_new, false_positive)).label("fp"),
            count_if(is_open).label("open"),
            count_if(and_(is_open, issues.priority == Level.CRITICAL.value)).label("critical"),
            count_if(and_(is_open, issues.priority == Level.HIGH.value)).label("high"),
            count_if(transient_closed).label("tclosed"),
            count_if(and_(transient_closed, issues.state == IssueState.AUTO_RESOLVED.value)).label(
                "auto"
            ),
        )
        .where(repo_filter)
        .group_by(by_repo, new_day)
    ):
        f = found[row.repository_id]
        f.new_issues += int(row.new or 0)
        f.false_positives += int(row.fp or 0)
        f.open_issues += int(row.open or 0)
        f.open_critical += int(row.critical or 0)
        f.open_high += int(row.high or 0)
        f.transient_closed += int(row.tclosed or 0)
        f.transient_auto_resolved += int(row.auto or 0)
        if row.day is not None:
            f.new_by_day[row.day] = f.new_by_day.get(row.day, 0) + int(row.new or 0)


def _run_figures(
    session: Session,
    found: dict[int, Figures],
    since: datetime,
    until: datetime,
    repo_id: int | None,
) -> None:
    """Runs, and the successful ones."""
    runs = t.runs.c
    success = or_(runs.status == "success", and_(runs.status.is_(None), runs.results_failed == 0))
    for rid, n, ok in session.execute(
        select(runs.repository_id, func.count(), count_if(success))
        .where(
            in_range(runs.occurred_at, since, until),
            true() if repo_id is None else runs.repository_id == repo_id,
        )
        .group_by(runs.repository_id)
    ):
        found[rid].runs, found[rid].successful_runs = int(n), int(ok or 0)


def _event_figures(
    session: Session,
    found: dict[int, Figures],
    since: datetime,
    until: datetime,
    repo_id: int | None,
) -> None:
    """SLA breaches, and escalations by trigger."""
    issues, ev = t.issues.c, t.issue_events.c
    repo_filter = _repo_filter(repo_id)
    trigger = ev.data["trigger"].as_string()
    for rid, kind, name, n in session.execute(
        select(issues.repository_id, ev.kind, trigger, func.count())
        .join(t.issues, issues.id == ev.issue_id)
        .where(
            # An escalation sets escalated_at (the latest) and a breach sla_breached_at (once):
            # only issues with one of them in or after the range can have such an event in it,
            # and their timelines are read through the (issue_id, id) index.
            ev.issue_id.in_(
                select(issues.id).where(
                    or_(issues.escalated_at >= since, issues.sla_breached_at >= since)
                )
            ),
            ev.kind.in_(("escalated", "sla_breached")),
            in_range(ev.at, since, until),
            repo_filter,
        )
        .group_by(issues.repository_id, ev.kind, trigger)
    ):
        if kind == "sla_breached":
            found[rid].sla_breaches += int(n)
        else:
            key = name or "unknown"
            found[rid].escalations[key] = found[rid].escalations.get(key, 0) + int(n)
