"""The success metrics of a range (``triagehub metrics``): counts, rates, durations and the
daily trend (see :mod:`triagehub.store.metrics` for the definitions)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session
from sqlalchemy.sql import Select

from triagehub.store import tables as t
from triagehub.store.metrics.common import (
    check_range,
    failed_in_range,
    first_event_durations,
    human_triage,
    in_range,
    in_scope,
    iso,
    ratio,
    repository_id,
    resolution_event,
    utc_day,
)
from triagehub.store.metrics.figures import Figures, figures_by_repository
from triagehub.store.triage import override_accuracy

_PERCENTILES = {"median": (1, 2), "p90": (9, 10)}


@dataclass(frozen=True, slots=True)
class Durations:
    """A distribution of durations, in hours (None when empty)."""

    count: int = 0
    mean_hours: float | None = None
    median_hours: float | None = None
    p90_hours: float | None = None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True, slots=True)
class DayTrend:
    day: date
    failures: int = 0
    new_issues: int = 0
    resolved: int = 0

    def to_json(self) -> dict[str, Any]:
        return {
            "day": self.day.isoformat(),
            "failures": self.failures,
            "new_issues": self.new_issues,
            "resolved": self.resolved,
        }


@dataclass(frozen=True, slots=True)
class Metrics:
    """The success metrics of one repository (or of all: ``repository`` None) for a range."""

    repository: str | None
    since: datetime
    until: datetime
    raw_failures: int
    issues: int
    new_issues: int
    noise_reduction: float | None
    time_to_first_triage: Durations
    time_to_resolution: Durations
    transient_closed: int
    transient_auto_resolved: int
    auto_resolution_rate: float | None
    false_positives: int
    false_positive_rate: float | None
    overrides_reviewed: int
    override_rates: dict[str, float | None]
    escalations: dict[str, int]
    sla_breaches: int
    runs: int
    successful_runs: int
    run_success_rate: float | None
    open_issues: int
    open_critical: int
    open_high: int
    health_score: float
    health_status: str
    trend: list[DayTrend] = field(default_factory=list)

    @property
    def mttr_hours(self) -> float | None:
        return self.time_to_resolution.mean_hours

    @property
    def escalations_total(self) -> int:
        return sum(self.escalations.values())

    def to_json(self) -> dict[str, Any]:
        return {
            "repository": self.repository,
            "since": iso(self.since),
            "until": iso(self.until),
            "raw_failures": self.raw_failures,
            "issues": self.issues,
            "new_issues": self.new_issues,
            "noise_reduction": self.noise_reduction,
            "time_to_first_triage": self.time_to_first_triage.to_json(),
            "time_to_resolution": self.time_to_resolution.to_json(),
            "mttr_hours": self.mttr_hours,
            "transient_closed": self.transient_closed,
            "transient_auto_resolved": self.transient_auto_resolved,
            "auto_resolution_rate": self.auto_resolution_rate,
            "false_positives": self.false_positives,
            "false_positive_rate": self.false_positive_rate,
            "overrides_reviewed": self.overrides_reviewed,
            "override_rates": dict(self.override_rates),
            "escalations": dict(self.escalations),
            "escalations_total": self.escalations_total,
            "sla_breaches": self.sla_breaches,
            "runs": self.runs,
            "successful_runs": self.successful_runs,
            "run_success_rate": self.run_success_rate,
            "open_issues": self.open_issues,
            "open_critical": self.open_critical,
            "open_high": self.open_high,
            "health_score": self.health_score,
            "health_status": self.health_status,
            "trend": [d.to_json() for d in self.trend],
        }


def _distribution(session: Session, durations: Select[Any]) -> Durations:
    """Count, mean, median and p90 of a ``d`` column (seconds), reading at most four rows."""
    sub = durations.subquery()
    inner = select(
        sub.c.d,
        func.row_number().over(order_by=sub.c.d).label("rn"),
        func.count().over().label("n"),
        func.avg(sub.c.d).over().label("mean"),
    ).subquery()
    # Percentile p = num/den sits at 0-based rank k = p·(n − 1), between the values of ranks
    # floor(k) and floor(k) + 1 (row_number is 1-based); integer division on both sides keeps
    # the ranks SQL picks and the ones Python reads the same.
    n1 = inner.c.n - 1
    wanted = [n1 * num // den + step for num, den in _PERCENTILES.values() for step in (1, 2)]
    rows = session.execute(
        select(inner.c.rn, inner.c.d, inner.c.n, inner.c.mean).where(
            or_(*(inner.c.rn == w for w in wanted))
        )
    ).all()
    if not rows:
        return Durations()
    n = int(rows[0].n)
    by_rank = {int(r.rn): float(r.d) for r in rows}

    def percentile(name: str) -> float:
        num, den = _PERCENTILES[name]
        lo, rest = divmod((n - 1) * num, den)
        low = by_rank[lo + 1]
        high = by_rank.get(lo + 2, low)
        return low + rest / den * (high - low)

    def hours(seconds: float) -> float:
        return round(seconds / 3600, 4)

    return Durations(
        count=n,
        mean_hours=hours(float(rows[0].mean)),
        median_hours=hours(percentile("median")),
        p90_hours=hours(percentile("p90")),
    )


def _trend(
    session: Session,
    since: datetime,
    until: datetime,
    repo_id: int | None,
    new_by_day: dict[str, int],
) -> list[DayTrend]:
    """Failures, new issues (counted by ``_figures``) and resolutions per UTC day."""
    occ, ev = t.occurrences.c, t.issue_events.c
    failures: dict[str, int] = {}
    resolved: dict[str, int] = {}
    day = utc_day(session, occ.occurred_at)
    for d, n in session.execute(
        select(day, func.count())
        .where(
            in_range(occ.occurred_at, since, until),
            failed_in_range(occ.issue_id, since, until, repo_id),
        )
        .group_by(day)
    ):
        failures[d] = int(n)
    day = utc_day(session, ev.at)
    for d, n in session.execute(
        select(day, func.count())
        .where(resolution_event(), in_range(ev.at, since, until), in_scope(ev.issue_id, repo_id))
        .group_by(day)
    ):
        resolved[d] = int(n)
    first, last = since.date(), (until - timedelta(microseconds=1)).date()
    days = [first + timedelta(days=i) for i in range((last - first).days + 1)]
    return [
        DayTrend(
            d,
            failures=failures.get(d.isoformat(), 0),
            new_issues=new_by_day.get(d.isoformat(), 0),
            resolved=resolved.get(d.isoformat(), 0),
        )
        for d in days
    ]


def compute_metrics(
    session: Session, *, repository: str | None = None, since: datetime, until: datetime
) -> Metrics:
    """The metrics of the module docstring for ``[since, until)``, of one repository or all."""
    since, until = check_range(since, until)
    repo_id = repository_id(session, repository)
    total = Figures()
    for figures in figures_by_repository(
        session, since, until, repo_id, resolutions=False
    ).values():
        total.add(figures)
    triage = _distribution(
        session, first_event_durations(session, human_triage(), since, until, repo_id)
    )
    resolution = _distribution(
        session, first_event_durations(session, resolution_event(), since, until, repo_id)
    )
    accuracy = override_accuracy(session=session, repository=repository, since=since)
    run_rate, score, status, _ = total.health(resolution.mean_hours)
    return Metrics(
        repository=repository,
        since=since,
        until=until,
        raw_failures=total.raw_failures,
        issues=total.issues,
        new_issues=total.new_issues,
        noise_reduction=round(total.raw_failures / total.issues, 2) if total.issues else None,
        time_to_first_triage=triage,
        time_to_resolution=resolution,
        transient_closed=total.transient_closed,
        transient_auto_resolved=total.transient_auto_resolved,
        auto_resolution_rate=ratio(total.transient_auto_resolved, total.transient_closed),
        false_positives=total.false_positives,
        false_positive_rate=ratio(total.false_positives, total.new_issues),
        overrides_reviewed=max((a.reviewed for a in accuracy), default=0),
        override_rates={
            a.field: None if a.agreement is None else round(1 - a.agreement, 4) for a in accuracy
        },
        escalations=dict(sorted(total.escalations.items())),
        sla_breaches=total.sla_breaches,
        runs=total.runs,
        successful_runs=total.successful_runs,
        run_success_rate=run_rate,
        open_issues=total.open_issues,
        open_critical=total.open_critical,
        open_high=total.open_high,
        health_score=score,
        health_status=status,
        trend=_trend(session, since, until, repo_id, total.new_by_day),
    )
