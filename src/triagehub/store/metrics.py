"""The success metrics of the hub, computed from the stored timeline for a time range.

Every figure is an aggregate computed by the database (``GROUP BY``, window functions), so that
a report over 100,000 issues and 1,000,000 occurrences never loads the rows into Python. Time
comes in as arguments (``since``, ``until``: the half-open range ``[since, until)``); nothing here
reads the wall clock.

Definitions (per repository, or overall when ``repository`` is None):

- **raw failures**: occurrences whose own time is in the range.
- **issues**: distinct issues with at least one occurrence in the range; **new issues**: issues
  first seen (the failure's own time) in the range.
- **noise reduction**: raw failures / issues (None without issues).
- **time to first triage**: for each issue whose first human action (an ``overridden`` event, or a
  ``state_changed`` event made ``by`` a human) is in the range, that action's time minus the
  issue's first failure; count, mean, median and p90 (linear interpolation, as numpy's default).
- **time to resolution** (MTTR is its mean): for each issue first resolved (``state_changed`` to
  ``resolved`` or ``auto_resolved``) in the range, that time minus its first failure.
- **auto-resolution rate** of transient failures: issues of category ``transient_failure`` closed
  in the range (and still closed) that closed ``auto_resolved``, over all of them.
- **false-positive rate**: new issues of the range that are now ``false_positive`` (category or
  state), over the new issues.
- **override rate** per field: 1 − the agreement of ``store.triage.override_accuracy`` (overrides
  since ``since``; that function takes no end, so overrides after ``until`` count too).
- **escalations** (``escalated`` events, counted by trigger) and **SLA breaches**
  (``sla_breached`` events) recorded in the range.
- **run success rate**: runs of the range whose status is ``success`` (or, for a run reported
  without a status, that had no failing result), over all runs of the range.
- **trend**: per UTC day of the range, the raw failures, new issues and resolutions
  (``state_changed`` to ``resolved``/``auto_resolved``).

**Health score** (0..100, higher is healthier), per repository or overall::

    health = 100 × (0.40·R + 0.30·B + 0.20·S + 0.10·M)   (one decimal)
    R = run success rate of the range                        (1 when the range has no runs)
    B = max(0, 1 − (3·open_critical + open_high) / 10)      (issues open now, by priority)
    S = max(0, 1 − sla_breaches / 5)                        (breaches recorded in the range)
    M = max(0, 1 − mttr_hours / 168)                        (1 when nothing was resolved)

Open means a working state (open, triaged, assigned, in_progress, regressed). A repository whose
runs all pass, with nothing serious open, no breach and fast fixes scores 100; each term is
bounded, so the score is too. Status: ``healthy`` ≥ 80, ``degraded`` ≥ 50, else ``unhealthy``.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import date, datetime, timedelta
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
from triagehub.core.models import Category, IssueState, Level
from triagehub.core.timeparse import as_utc
from triagehub.errors import InputError
from triagehub.store import tables as t
from triagehub.store.triage import override_accuracy

# The weights and scales of the health score (see the module docstring).
HEALTH_WEIGHTS = {"run_success": 0.40, "backlog": 0.30, "sla": 0.20, "mttr": 0.10}
BACKLOG_POINTS_TO_ZERO = 10  # 3 per open critical issue, 1 per open high one
SLA_BREACHES_TO_ZERO = 5
MTTR_HOURS_TO_ZERO = 168.0
HEALTHY, DEGRADED = 80.0, 50.0

MAX_RANGE_DAYS = 3660
_RESOLVED = (IssueState.RESOLVED.value, IssueState.AUTO_RESOLVED.value)
_WORKING = sorted(s.value for s in WORKING_STATES)
_CLOSED = sorted(s.value for s in IssueState if s.is_closed)
_RANGE = re.compile(r"^\s*(\d{1,5})\s*([hdw])\s*$", re.IGNORECASE)
_RANGE_UNITS = {"h": 3600, "d": 86400, "w": 604800}
_PRIORITY_RANK = {level.value: level.rank for level in Level}
_PERCENTILES = {"median": (1, 2), "p90": (9, 10)}


def _iso(value: datetime | None) -> str | None:
    return as_utc(value).isoformat().replace("+00:00", "Z") if value is not None else None


def _ratio(part: int, whole: int) -> float | None:
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


# -- value objects --------------------------------------------------------------------------------


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
            "since": _iso(self.since),
            "until": _iso(self.until),
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


# -- SQL building blocks --------------------------------------------------------------------------


def _dialect(session: Session) -> str:
    return session.get_bind().dialect.name


def _seconds(session: Session, later: Any, earlier: Any) -> ColumnElement[float]:
    """``later − earlier`` in seconds, never negative, on either backend."""
    raw: ColumnElement[Any]
    if _dialect(session) == "sqlite":
        raw = (func.julianday(later) - func.julianday(earlier)) * 86400.0
    else:
        raw = extract("epoch", later - earlier)
    return case((raw < 0, literal(0.0, Float)), else_=raw).cast(Float)


def _day(session: Session, column: Any) -> ColumnElement[str]:
    """The UTC calendar day of a stored time, as ``YYYY-MM-DD``."""
    if _dialect(session) == "sqlite":
        return func.substr(column, 1, 10, type_=String)  # stored as 'YYYY-MM-DD HH:MM:SS…'
    return func.to_char(func.timezone("UTC", column), "YYYY-MM-DD", type_=String)


def _in_scope(issue_id: Any, repo_id: int | None) -> ColumnElement[bool]:
    if repo_id is None:
        return true()
    column: ColumnElement[int] = issue_id
    return column.in_(select(t.issues.c.id).where(t.issues.c.repository_id == repo_id))


def _in_range(column: Any, since: datetime, until: datetime) -> ColumnElement[bool]:
    return and_(column >= since, column < until)


def _failed_in_range(
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


def _human_triage() -> ColumnElement[bool]:
    ev = t.issue_events.c
    return or_(
        ev.kind == "overridden",
        and_(ev.kind == "state_changed", ev.data["by"].as_string() == "human"),
    )


def _resolution() -> ColumnElement[bool]:
    ev = t.issue_events.c
    return and_(ev.kind == "state_changed", ev.data["to"].as_string().in_(_RESOLVED))


def _first_event_durations(
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
        .where(condition, _in_scope(ev.issue_id, repo_id))
        .group_by(ev.issue_id)
        .subquery()
    )
    return (
        select(
            t.issues.c.repository_id,
            _seconds(session, first.c.at, t.issues.c.first_seen).label("d"),
        )
        .join(t.issues, t.issues.c.id == first.c.issue_id)
        .where(_in_range(first.c.at, since, until))
    )


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


# -- grouped figures (per repository id) ----------------------------------------------------------


@dataclass
class _Figures:
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

    def add(self, other: _Figures) -> None:
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


def _count_if(condition: ColumnElement[bool]) -> ColumnElement[Any]:
    return func.sum(case((condition, 1), else_=0))


def _figures(
    session: Session,
    since: datetime,
    until: datetime,
    repo_id: int | None,
    *,
    resolutions: bool = True,
) -> dict[int, _Figures]:
    """Every summable figure of the range, per repository id, in about one query per table
    (``resolutions``: also the count and total time of the first resolutions)."""
    found: dict[int, _Figures] = defaultdict(_Figures)
    issues, occ, runs, ev = t.issues.c, t.occurrences.c, t.runs.c, t.issue_events.c
    repo_filter = true() if repo_id is None else issues.repository_id == repo_id

    # Occurrences, per issue first (the (issue_id, occurred_at) index covers it), then per repo.
    per_issue = (
        select(occ.issue_id, func.count().label("n"))
        .where(
            _in_range(occ.occurred_at, since, until),
            _failed_in_range(occ.issue_id, since, until, repo_id),
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

    # One pass over the issues for everything read from them: new issues (per day too), false
    # positives, what is open now, transient failures closed in the range. Grouped by an
    # expression, not the bare column: SQLite would otherwise walk the (repository_id, ...)
    # index to skip a sort and fetch every row at random (5x slower).
    by_repo = (issues.repository_id + 0).label("repository_id")
    is_new = _in_range(issues.first_seen, since, until)
    new_day = case((is_new, _day(session, issues.first_seen)), else_=None).label("day")
    is_open = issues.state.in_(_WORKING)
    transient_closed = and_(
        issues.category == Category.TRANSIENT.value,
        issues.state.in_(_CLOSED),
        _in_range(issues.resolved_at, since, until),
    )
    false_positive = or_(
        issues.state == IssueState.FALSE_POSITIVE.value,
        issues.category == Category.FALSE_POSITIVE.value,
    )
    for row in session.execute(
        select(
            by_repo,
            new_day,
            _count_if(is_new).label("new"),
            _count_if(and_(is_new, false_positive)).label("fp"),
            _count_if(is_open).label("open"),
            _count_if(and_(is_open, issues.priority == Level.CRITICAL.value)).label("critical"),
            _count_if(and_(is_open, issues.priority == Level.HIGH.value)).label("high"),
            _count_if(transient_closed).label("tclosed"),
            _count_if(and_(transient_closed, issues.state == IssueState.AUTO_RESOLVED.value)).label(
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

    success = or_(runs.status == "success", and_(runs.status.is_(None), runs.results_failed == 0))
    for rid, n, ok in session.execute(
        select(runs.repository_id, func.count(), _count_if(success))
        .where(
            _in_range(runs.occurred_at, since, until),
            true() if repo_id is None else runs.repository_id == repo_id,
        )
        .group_by(runs.repository_id)
    ):
        found[rid].runs, found[rid].successful_runs = int(n), int(ok or 0)

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
            _in_range(ev.at, since, until),
            repo_filter,
        )
        .group_by(issues.repository_id, ev.kind, trigger)
    ):
        if kind == "sla_breached":
            found[rid].sla_breaches += int(n)
        else:
            key = name or "unknown"
            found[rid].escalations[key] = found[rid].escalations.get(key, 0) + int(n)

    if resolutions:
        first = _first_event_durations(session, _resolution(), since, until, repo_id).subquery()
        for rid, n, total in session.execute(
            select(first.c.repository_id, func.count(), func.sum(first.c.d)).group_by(
                first.c.repository_id
            )
        ):
            found[rid].resolved, found[rid].resolution_seconds = int(n), float(total or 0.0)
    return found


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
    day = _day(session, occ.occurred_at)
    for d, n in session.execute(
        select(day, func.count())
        .where(
            _in_range(occ.occurred_at, since, until),
            _failed_in_range(occ.issue_id, since, until, repo_id),
        )
        .group_by(day)
    ):
        failures[d] = int(n)
    day = _day(session, ev.at)
    for d, n in session.execute(
        select(day, func.count())
        .where(_resolution(), _in_range(ev.at, since, until), _in_scope(ev.issue_id, repo_id))
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


# -- public API -----------------------------------------------------------------------------------


def _check_range(since: datetime, until: datetime) -> tuple[datetime, datetime]:
    since, until = as_utc(since), as_utc(until)
    if since >= until:
        raise InputError("time range", f"{_iso(since)}..{_iso(until)}", "since must be < until")
    if until - since > timedelta(days=MAX_RANGE_DAYS):
        raise InputError("time range", f"{_iso(since)}..{_iso(until)}", "at most ten years")
    return since, until


def _repository_id(session: Session, repository: str | None) -> int | None:
    if repository is None:
        return None
    found = session.execute(
        select(t.repositories.c.id).where(t.repositories.c.name == repository)
    ).scalar_one_or_none()
    if found is None:
        raise InputError("repository", repository, "no such repository (no run was ingested)")
    return int(found)


def compute_metrics(
    session: Session, *, repository: str | None = None, since: datetime, until: datetime
) -> Metrics:
    """The metrics of the module docstring for ``[since, until)``, of one repository or all."""
    since, until = _check_range(since, until)
    repo_id = _repository_id(session, repository)
    total = _Figures()
    for figures in _figures(session, since, until, repo_id, resolutions=False).values():
        total.add(figures)
    triage = _distribution(
        session, _first_event_durations(session, _human_triage(), since, until, repo_id)
    )
    resolution = _distribution(
        session, _first_event_durations(session, _resolution(), since, until, repo_id)
    )
    accuracy = override_accuracy(session=session, repository=repository, since=since)
    run_rate = _ratio(total.successful_runs, total.runs)
    score, status, _ = health_score(
        run_success_rate=run_rate,
        open_critical=total.open_critical,
        open_high=total.open_high,
        sla_breaches=total.sla_breaches,
        mttr_hours=resolution.mean_hours,
    )
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
        auto_resolution_rate=_ratio(total.transient_auto_resolved, total.transient_closed),
        false_positives=total.false_positives,
        false_positive_rate=_ratio(total.false_positives, total.new_issues),
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


def repository_health(
    session: Session, *, since: datetime, until: datetime, repository: str | None = None
) -> list[RepositoryHealth]:
    """The health of every repository (or one), least healthy first."""
    since, until = _check_range(since, until)
    repo_id = _repository_id(session, repository)
    query = select(t.repositories.c.id, t.repositories.c.name, t.repositories.c.priority_level)
    if repo_id is not None:
        query = query.where(t.repositories.c.id == repo_id)
    repos = session.execute(query).all()
    figures = _figures(session, since, until, repo_id)
    result = []
    for rid, name, level in repos:
        f = figures.get(rid, _Figures())
        run_rate = _ratio(f.successful_runs, f.runs)
        score, status, terms = health_score(
            run_success_rate=run_rate,
            open_critical=f.open_critical,
            open_high=f.open_high,
            sla_breaches=f.sla_breaches,
            mttr_hours=f.mttr_hours,
        )
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


# -- read side of the reports (dashboard, export) -------------------------------------------------


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
        data["last_seen"] = _iso(self.last_seen)
        data["sla_due_at"] = _iso(self.sla_due_at)
        return data


def top_issues(
    session: Session, *, repository: str | None = None, limit: int = 10
) -> list[TopIssue]:
    """Issues being worked on, highest priority first (then severity, then newest activity)."""
    issues = t.issues.c

    def rank(column: Any) -> ColumnElement[int]:
        return case(_PRIORITY_RANK, value=column, else_=-1)

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
        .where(issues.state.in_(_WORKING))
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


EXPORT_FIELDS = (
    "id",
    "repository",
    "title",
    "state",
    "category",
    "kind",
    "severity",
    "priority",
    "history_class",
    "decision",
    "confidence",
    "classification_source",
    "expert",
    "assignee",
    "occurrences",
    "checks_count",
    "first_seen",
    "last_seen",
    "resolved_at",
    "sla_due_at",
    "sla_breached_at",
    "escalation_level",
    "scope",
    "source",
    "fingerprint",
    "labels",
    "template",
    "rationale",
)
_EXPORT_TIMES = ("first_seen", "last_seen", "resolved_at", "sla_due_at", "sla_breached_at")
_FORMULA = re.compile(r"^[=+@\t\r]|^-(?![\d.])")


def csv_cell(value: Any) -> Any:
    """An export cell: lists and objects as JSON, and text a spreadsheet would run as a formula
    (``=``, ``+``, ``@``, ``-`` not starting a number) prefixed with ``'`` so it shows as text."""
    if value is None:
        return ""
    if isinstance(value, list | dict):
        value = json.dumps(value, ensure_ascii=False)
    if isinstance(value, str) and _FORMULA.match(value):
        return "'" + value
    return value


def csv_chunks(
    rows: Iterable[Mapping[str, Any]], fields: Sequence[str] = EXPORT_FIELDS
) -> Iterator[str]:
    """The rows as CSV text with a header line, in chunks of about 64 KiB (for streaming)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(fields)
    for row in rows:
        writer.writerow([csv_cell(row.get(name)) for name in fields])
        if buffer.tell() > 64 * 1024:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()


def export_issues(
    session: Session, *, since: datetime, until: datetime, repository: str | None = None
) -> Iterator[dict[str, Any]]:
    """The issues active in ``[since, until)`` (first seen before ``until``, last seen at or
    after ``since``) as JSON-ready rows of ``EXPORT_FIELDS``, oldest first, streamed (the
    range and repository are checked at once, the rows read as they are consumed)."""
    since, until = _check_range(since, until)
    repo_id = _repository_id(session, repository)
    columns = [
        t.repositories.c.name.label("repository") if name == "repository" else t.issues.c[name]
        for name in EXPORT_FIELDS
    ]
    query = (
        select(*columns)
        .join(t.repositories, t.repositories.c.id == t.issues.c.repository_id)
        .where(t.issues.c.last_seen >= since, t.issues.c.first_seen < until)
        .order_by(t.issues.c.first_seen, t.issues.c.id)
        .execution_options(yield_per=1000)
    )
    if repo_id is not None:
        query = query.where(t.issues.c.repository_id == repo_id)

    def rows() -> Iterator[dict[str, Any]]:
        for row in session.execute(query).mappings():
            data = dict(row)
            for name in _EXPORT_TIMES:
                data[name] = _iso(data[name])
            data["labels"] = list(data["labels"] or [])
            yield data

    return rows()


# -- the brief's success metrics (issue #23) ------------------------------------------------------
#
# Each figure is computed over the issues **first seen** in the range (a cohort: late events of
# those issues count, whenever they come), except noise reduction (the range's occurrences) and
# expert workload (now). The previous range of the same length gives the trend.

_MACHINE_ACTORS = ("rule", "triagehub", "llm", "sync")
_ENDED = ("resolved", "auto_resolved")


@dataclass(frozen=True, slots=True)
class BriefMetric:
    """One success metric of the brief: its value, the target and whether it is met."""

    name: str
    label: str
    value: float | None
    unit: str  # "ratio", "hours", "failures/issue", "issues"
    target: float
    direction: str  # ">=" (higher is better) or "<="
    definition: str
    numerator: int | None = None
    denominator: int | None = None
    previous: float | None = None
    detail: Mapping[str, Any] = field(default_factory=dict)

    @property
    def met(self) -> bool | None:
        if self.value is None:
            return None
        return self.value >= self.target if self.direction == ">=" else self.value <= self.target

    @property
    def trend(self) -> str:
        """``up`` / ``down`` / ``flat`` against the previous range (``-`` when unknown)."""
        if self.value is None or self.previous is None:
            return "-"
        if abs(self.value - self.previous) < 1e-9:
            return "flat"
        return "up" if self.value > self.previous else "down"

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "label": self.label,
            "value": self.value,
            "unit": self.unit,
            "target": self.target,
            "direction": self.direction,
            "met": self.met,
            "definition": self.definition,
            "numerator": self.numerator,
            "denominator": self.denominator,
            "previous": self.previous,
            "trend": self.trend,
            "detail": dict(self.detail),
        }


# name -> (label, unit, target, direction, definition)
BRIEF_METRICS: dict[str, tuple[str, str, float, str, str]] = {
    "auto_resolution_rate": (
        "Auto-resolution rate",
        "ratio",
        0.7,
        ">=",
        "transient issues (first seen in the range) that triagehub closed itself "
        "(auto_resolved) / all transient issues first seen in the range, the ones that never "
        "closed included",
    ),
    "noise_reduction": (
        "Noise reduction",
        "failures/issue",
        5.0,
        ">=",
        "raw failures (occurrences in the range) / distinct issues they went to",
    ),
    "time_to_first_triage": (
        "Time to first triage",
        "hours",
        4.0,
        "<=",
        "mean hours from an issue's first failure to its first triage: an assignment (automatic "
        "or by a person) or any action of a person",
    ),
    "time_to_expert_assignment": (
        "Time to expert assignment",
        "hours",
        1.0,
        "<=",
        "mean hours from an issue's first failure to its first assignee (automatic or by a person)",
    ),
    "mttr": (
        "Mean time to resolution",
        "hours",
        24.0,
        "<=",
        "mean hours from an issue's first failure to its first resolution (resolved or "
        "auto_resolved), over the cohort's resolved issues",
    ),
    "first_time_resolution": (
        "First-time resolution",
        "ratio",
        0.9,
        ">=",
        "resolved issues of the cohort that never regressed / resolved issues of the cohort",
    ),
    "escalation_accuracy": (
        "Escalation accuracy",
        "ratio",
        0.8,
        ">=",
        "escalated issues of the cohort a person acted on after the escalation without "
        "reverting it (lowering the priority, ignoring it or calling it a false positive) / "
        "escalated issues of the cohort (ignored escalations count against)",
    ),
    "assignment_accuracy": (
        "Assignment accuracy",
        "ratio",
        0.85,
        ">=",
        "automatically assigned issues of the cohort whose assignee is still the automatic one "
        "/ automatically assigned issues of the cohort",
    ),
    "expert_workload": (
        "Expert workload",
        "issues",
        10.0,
        "<=",
        "open issues of the busiest assignee now (the detail lists every assignee)",
    ),
    "override_agreement": (
        "Override agreement",
        "ratio",
        0.9,
        ">=",
        "per field, of the fields a person actually set on the cohort's issues, the share set "
        "to the value triagehub had chosen; the figure is the lowest field's (detail: each)",
    ),
}


def _mean(values: Sequence[float]) -> float | None:
    return round(sum(values) / len(values), 2) if values else None


def _cohort_figures(
    session: Session, since: datetime, until: datetime, repo_id: int | None
) -> dict[str, tuple[float | None, int | None, int | None, dict[str, Any]]]:
    i, e = t.issues.c, t.issue_events.c
    where = [i.first_seen >= since, i.first_seen < until]
    if repo_id is not None:
        where.append(i.repository_id == repo_id)
    issues = {
        r.id: r
        for r in session.execute(
            select(i.id, i.category, i.state, i.first_seen, i.assignee, i.overrides).where(*where)
        )
    }
    events: dict[int, list[Any]] = defaultdict(list)
    ids = sorted(issues)
    for chunk in (ids[n : n + 5000] for n in range(0, len(ids), 5000)):
        for row in session.execute(
            select(e.issue_id, e.kind, e.at, e.actor, e.data)
            .where(
                e.issue_id.in_(chunk),
                e.kind.in_(("state_changed", "assigned", "overridden", "escalated")),
            )
            .order_by(e.id)
        ):
            events[row.issue_id].append(row)

    def human(actor: str) -> bool:
        return actor not in _MACHINE_ACTORS

    transient = auto = 0
    triage: list[float] = []
    assignment: list[float] = []
    resolution: list[float] = []
    resolved = clean = 0
    escalated = acknowledged = 0
    auto_assigned = kept = 0
    set_fields: dict[str, int] = defaultdict(int)
    agreed: dict[str, int] = defaultdict(int)
    for issue_id, issue in issues.items():
        timeline = events.get(issue_id, [])
        first = issue.first_seen

        def hours(at: datetime, first: datetime = first) -> float:
            return max(0.0, (at - first).total_seconds() / 3600)

        if issue.category == Category.TRANSIENT.value:
            transient += 1
            auto += any(
                ev.kind == "state_changed" and (ev.data or {}).get("to") == "auto_resolved"
                for ev in timeline
            )
        triaged = [
            ev.at
            for ev in timeline
            if ev.kind == "assigned"
            or human(ev.actor)
            or (ev.kind == "state_changed" and (ev.data or {}).get("to") == "assigned")
        ]
        if triaged:
            triage.append(hours(min(triaged)))
        assigned_at = [ev.at for ev in timeline if ev.kind == "assigned"] + [
            ev.at
            for ev in timeline
            if ev.kind == "overridden" and "assignee" in ((ev.data or {}).get("changes") or {})
        ]
        if assigned_at:
            assignment.append(hours(min(assigned_at)))
        ends = [
            ev
            for ev in timeline
            if ev.kind == "state_changed" and (ev.data or {}).get("to") in _ENDED
        ]
        if ends:
            resolved += 1
            resolution.append(hours(ends[0].at))
            regressed = any(
                ev.kind == "state_changed"
                and (ev.data or {}).get("to") == "regressed"
                and ev.at >= ends[0].at
                for ev in timeline
            )
            clean += not regressed
        escalations = [ev for ev in timeline if ev.kind == "escalated"]
        if escalations:
            escalated += 1
            after = escalations[0].at
            acted = [ev for ev in timeline if human(ev.actor) and ev.at >= after]
            reverted = False
            for ev in acted:
                data = ev.data or {}
                changes = data.get("changes") or {}
                prio = changes.get("priority") if isinstance(changes, dict) else None
                if (
                    isinstance(prio, dict)
                    and prio.get("to") in _PRIORITY_RANK
                    and prio.get("from") in _PRIORITY_RANK
                    and _PRIORITY_RANK[prio["to"]] < _PRIORITY_RANK[prio["from"]]
                ):
                    reverted = True
                if data.get("to") in ("ignored", "false_positive") or (
                    isinstance(changes, dict)
                    and isinstance(changes.get("state"), dict)
                    and changes["state"].get("to") in ("ignored", "false_positive")
                ):
                    reverted = True
            acknowledged += bool(acted) and not reverted
        automatic = [
            ev for ev in timeline if ev.kind == "assigned" and (ev.data or {}).get("automatic")
        ]
        if automatic:
            auto_assigned += 1
            kept += issue.assignee == (automatic[-1].data or {}).get("assignee")
        human_set = set((issue.overrides or {}).keys()) - {"state"}
        changed: set[str] = set()
        for ev in timeline:
            if ev.kind == "overridden":
                changes = (ev.data or {}).get("changes") or {}
                changed.update(k for k in changes if k != "state")
        for name in human_set:
            set_fields[name] += 1
            agreed[name] += name not in changed
    per_field = {name: round(agreed[name] / n, 4) for name, n in sorted(set_fields.items()) if n}
    return {
        "auto_resolution_rate": (_ratio(auto, transient), auto, transient, {}),
        "time_to_first_triage": (_mean(triage), len(triage), len(issues), {}),
        "time_to_expert_assignment": (_mean(assignment), len(assignment), len(issues), {}),
        "mttr": (_mean(resolution), len(resolution), len(issues), {}),
        "first_time_resolution": (_ratio(clean, resolved), clean, resolved, {}),
        "escalation_accuracy": (_ratio(acknowledged, escalated), acknowledged, escalated, {}),
        "assignment_accuracy": (_ratio(kept, auto_assigned), kept, auto_assigned, {}),
        "override_agreement": (
            min(per_field.values()) if per_field else None,
            sum(agreed.values()),
            sum(set_fields.values()),
            {"fields": per_field, "set": dict(sorted(set_fields.items()))},
        ),
    }


def _noise(
    session: Session, since: datetime, until: datetime, repo_id: int | None
) -> tuple[float | None, int, int]:
    o = t.occurrences.c
    query = select(func.count(), func.count(o.issue_id.distinct())).where(
        o.occurred_at >= since, o.occurred_at < until
    )
    if repo_id is not None:
        query = query.join(t.issues, t.issues.c.id == o.issue_id).where(
            t.issues.c.repository_id == repo_id
        )
    raw, issues = session.execute(query).one()
    raw, issues = int(raw or 0), int(issues or 0)
    return (round(raw / issues, 2) if issues else None), raw, issues


def expert_workload(session: Session, repo_id: int | None = None) -> dict[str, int]:
    """Open (working-state) issues per assignee, busiest first."""
    i = t.issues.c
    query = (
        select(i.assignee, func.count())
        .where(i.state.in_(_WORKING), i.assignee.is_not(None))
        .group_by(i.assignee)
    )
    if repo_id is not None:
        query = query.where(i.repository_id == repo_id)
    rows = [(str(a), int(n)) for a, n in session.execute(query)]
    return dict(sorted(rows, key=lambda x: (-x[1], x[0])))


def brief_metrics(
    session: Session, *, repository: str | None = None, since: datetime, until: datetime
) -> list[BriefMetric]:
    """The brief's success metrics for ``[since, until)`` with their definitions, targets and
    the value of the previous range of the same length (the trend)."""
    since, until = _check_range(since, until)
    repo_id = _repository_id(session, repository)
    before = since - (until - since)
    now = _cohort_figures(session, since, until, repo_id)
    prev = _cohort_figures(session, before, since, repo_id)
    noise, raw, issues = _noise(session, since, until, repo_id)
    now["noise_reduction"] = (noise, raw, issues, {})
    prev["noise_reduction"] = (_noise(session, before, since, repo_id)[0], None, None, {})
    workload = expert_workload(session, repo_id)
    busiest = max(workload.values(), default=0)
    now["expert_workload"] = (float(busiest), None, None, {"assignees": workload})
    prev["expert_workload"] = (None, None, None, {})
    out: list[BriefMetric] = []
    for name, (label, unit, target, direction, definition) in BRIEF_METRICS.items():
        value, numerator, denominator, detail = now[name]
        out.append(
            BriefMetric(
                name=name,
                label=label,
                value=value,
                unit=unit,
                target=target,
                direction=direction,
                definition=definition,
                numerator=numerator,
                denominator=denominator,
                previous=prev[name][0],
                detail=detail,
            )
        )
    return out
