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

from triagehub.store.metrics.brief import BRIEF_METRICS, BriefMetric, brief_metrics, expert_workload
from triagehub.store.metrics.common import MAX_RANGE_DAYS, parse_time_range
from triagehub.store.metrics.export import EXPORT_FIELDS, csv_cell, csv_chunks, export_issues
from triagehub.store.metrics.figures import (
    BACKLOG_POINTS_TO_ZERO,
    DEGRADED,
    HEALTH_WEIGHTS,
    HEALTHY,
    MTTR_HOURS_TO_ZERO,
    SLA_BREACHES_TO_ZERO,
    health_score,
)
from triagehub.store.metrics.health import RepositoryHealth, TopIssue, repository_health, top_issues
from triagehub.store.metrics.summary import (
    DayTrend,
    Durations,
    Metrics,
    _distribution,
    compute_metrics,
)

__all__ = [
    "BACKLOG_POINTS_TO_ZERO",
    "BRIEF_METRICS",
    "DEGRADED",
    "EXPORT_FIELDS",
    "HEALTHY",
    "HEALTH_WEIGHTS",
    "MAX_RANGE_DAYS",
    "MTTR_HOURS_TO_ZERO",
    "SLA_BREACHES_TO_ZERO",
    "BriefMetric",
    "DayTrend",
    "Durations",
    "Metrics",
    "RepositoryHealth",
    "TopIssue",
    "_distribution",
    "brief_metrics",
    "compute_metrics",
    "csv_cell",
    "csv_chunks",
    "expert_workload",
    "export_issues",
    "health_score",
    "parse_time_range",
    "repository_health",
    "top_issues",
]
