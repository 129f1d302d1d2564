"""The brief's success metrics (issue #23): each with its definition, target and the previous
range's value, mostly computed over the cohort of issues first seen in the range."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from triagehub.core.models import Category
from triagehub.store import tables as t
from triagehub.store.metrics.common import (
    PRIORITY_RANK,
    WORKING,
    check_range,
    ratio,
    repository_id,
)
from triagehub.store.remediation import path_verdicts

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
    "decision_accuracy": (
        "Decision accuracy",
        "ratio",
        0.7,
        ">=",
        "issues of the cohort whose triage decision was put to the test, on which the decision "
        "held / those issues. Tested by a person: they set the decision (it holds when set to "
        "the one triagehub chose). Tested by the outcome: the chosen path concluded (a fix, "
        "i.e. a remediation session or pull request, succeeded or failed; or a spec change was "
        "linked and the issue resolved after it); the decision holds when it named the path "
        "that worked (needs_spec: spec, one_off_fix: fix) or did not name the path that "
        "failed. An issue tested both ways holds when both hold",
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


# (value, numerator, denominator, detail) of one metric
_Figure = tuple[float | None, int | None, int | None, dict[str, Any]]


def _cohort(
    session: Session, since: datetime, until: datetime, repo_id: int | None
) -> tuple[dict[int, Any], dict[int, list[Any]]]:
    """The issues first seen in the range, and their timelines' events the metrics read."""
    i, e = t.issues.c, t.issue_events.c
    where = [i.first_seen >= since, i.first_seen < until]
    if repo_id is not None:
        where.append(i.repository_id == repo_id)
    issues = {
        r.id: r
        for r in session.execute(
            select(
                i.id, i.category, i.state, i.first_seen, i.assignee, i.overrides, i.decision
            ).where(*where)
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
    return issues, events


def _human(actor: str) -> bool:
    return actor not in _MACHINE_ACTORS


def _moved_to(ev: Any, state: str) -> bool:
    """A ``state_changed`` event to ``state``."""
    return bool(ev.kind == "state_changed" and (ev.data or {}).get("to") == state)


def _first_triage(timeline: Sequence[Any]) -> datetime | None:
    """An assignment (automatic or by a person) or any action of a person."""
    triaged = [
        ev.at
        for ev in timeline
        if ev.kind == "assigned" or _human(ev.actor) or _moved_to(ev, "assigned")
    ]
    return min(triaged) if triaged else None


def _first_assignment(timeline: Sequence[Any]) -> datetime | None:
    assigned_at = [ev.at for ev in timeline if ev.kind == "assigned"] + [
        ev.at
        for ev in timeline
        if ev.kind == "overridden" and "assignee" in ((ev.data or {}).get("changes") or {})
    ]
    return min(assigned_at) if assigned_at else None


def _reverts_escalation(ev: Any) -> bool:
    """A person's event that lowers the priority, or ignores the issue or calls it a false
    positive."""
    data = ev.data or {}
    changes = data.get("changes") or {}
    prio = changes.get("priority") if isinstance(changes, dict) else None
    if (
        isinstance(prio, dict)
        and prio.get("to") in PRIORITY_RANK
        and prio.get("from") in PRIORITY_RANK
        and PRIORITY_RANK[prio["to"]] < PRIORITY_RANK[prio["from"]]
    ):
        return True
    return data.get("to") in ("ignored", "false_positive") or (
        isinstance(changes, dict)
        and isinstance(changes.get("state"), dict)
        and changes["state"].get("to") in ("ignored", "false_positive")
    )


def _escalation_acknowledged(escalations: Sequence[Any], timeline: Sequence[Any]) -> bool:
    """A person acted after the first escalation, and none of it reverted the escalation."""
    after = escalations[0].at
    acted = [ev for ev in timeline if _human(ev.actor) and ev.at >= after]
    reverted = any([_reverts_escalation(ev) for ev in acted])
    return bool(acted) and not reverted


@dataclass
class _Cohort:
    """The counts the cohort metrics are made of, summed issue by issue."""

    issues: int = 0
    transient: int = 0
    auto: int = 0
    triage: list[float] = field(default_factory=list)
    assignment: list[float] = field(default_factory=list)
    resolution: list[float] = field(default_factory=list)
    resolved: int = 0
    clean: int = 0
    escalated: int = 0
    acknowledged: int = 0
    auto_assigned: int = 0
    kept: int = 0
    set_fields: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    agreed: dict[str, int] = field(default_factory=lambda: defaultdict(int))

    def add(self, issue: Any, timeline: Sequence[Any]) -> None:
        first: datetime = issue.first_seen

        def hours(at: datetime) -> float:
            return max(0.0, (at - first).total_seconds() / 3600)

        self.issues += 1
        if issue.category == Category.TRANSIENT.value:
            self.transient += 1
            self.auto += any(_moved_to(ev, "auto_resolved") for ev in timeline)
        triaged = _first_triage(timeline)
        if triaged is not None:
            self.triage.append(hours(triaged))
        assigned = _first_assignment(timeline)
        if assigned is not None:
            self.assignment.append(hours(assigned))
        ends = [
            ev
            for ev in timeline
            if ev.kind == "state_changed" and (ev.data or {}).get("to") in _ENDED
        ]
        if ends:
            self.resolved += 1
            self.resolution.append(hours(ends[0].at))
            regressed = any(_moved_to(ev, "regressed") and ev.at >= ends[0].at for ev in timeline)
            self.clean += not regressed
        escalations = [ev for ev in timeline if ev.kind == "escalated"]
        if escalations:
            self.escalated += 1
            self.acknowledged += _escalation_acknowledged(escalations, timeline)
        self._add_assignee_and_overrides(issue, timeline)

    def _add_assignee_and_overrides(self, issue: Any, timeline: Sequence[Any]) -> None:
        automatic = [
            ev for ev in timeline if ev.kind == "assigned" and (ev.data or {}).get("automatic")
        ]
        if automatic:
            self.auto_assigned += 1
            self.kept += issue.assignee == (automatic[-1].data or {}).get("assignee")
        human_set = set((issue.overrides or {}).keys()) - {"state"}
        changed: set[str] = set()
        for ev in timeline:
            if ev.kind == "overridden":
                changes = (ev.data or {}).get("changes") or {}
                changed.update(k for k in changes if k != "state")
        for name in human_set:
            self.set_fields[name] += 1
            self.agreed[name] += name not in changed

    def figures(self) -> dict[str, _Figure]:
        set_fields, agreed = self.set_fields, self.agreed
        per_field = {
            name: round(agreed[name] / n, 4) for name, n in sorted(set_fields.items()) if n
        }
        return {
            "auto_resolution_rate": (
                ratio(self.auto, self.transient),
                self.auto,
                self.transient,
                {},
            ),
            "time_to_first_triage": (_mean(self.triage), len(self.triage), self.issues, {}),
            "time_to_expert_assignment": (
                _mean(self.assignment),
                len(self.assignment),
                self.issues,
                {},
            ),
            "mttr": (_mean(self.resolution), len(self.resolution), self.issues, {}),
            "first_time_resolution": (
                ratio(self.clean, self.resolved),
                self.clean,
                self.resolved,
                {},
            ),
            "escalation_accuracy": (
                ratio(self.acknowledged, self.escalated),
                self.acknowledged,
                self.escalated,
                {},
            ),
            "assignment_accuracy": (
                ratio(self.kept, self.auto_assigned),
                self.kept,
                self.auto_assigned,
                {},
            ),
            "override_agreement": (
                min(per_field.values()) if per_field else None,
                sum(agreed.values()),
                sum(set_fields.values()),
                {"fields": per_field, "set": dict(sorted(set_fields.items()))},
            ),
        }


_PATH_OF = {"needs_spec": "spec", "one_off_fix": "fix"}


def _decision_changes(timeline: Sequence[Any]) -> list[Mapping[str, Any]]:
    """The decision changes a person made, in timeline order."""
    out = []
    for ev in timeline:
        changes = (ev.data or {}).get("changes") if ev.kind == "overridden" else None
        if isinstance(changes, dict) and isinstance(changes.get("decision"), dict):
            out.append(changes["decision"])
    return out


def _decision_accuracy(
    session: Session, issues: Mapping[int, Any], events: Mapping[int, Sequence[Any]]
) -> _Figure:
    """``decision_accuracy``: see its definition in :data:`BRIEF_METRICS`."""
    verdicts = path_verdicts(session, issues)
    judged = agreed = by_person = by_outcome = 0
    for issue_id, issue in issues.items():
        changes = _decision_changes(events.get(issue_id, []))
        automatic = changes[0].get("from") if changes else issue.decision
        held: list[bool] = []
        if "decision" in (issue.overrides or {}):
            by_person += 1
            held.append(not changes)
        verdict = verdicts.get(issue_id)
        if verdict is not None and automatic != "pending":
            by_outcome += 1
            held.append((_PATH_OF.get(str(automatic)) == verdict.path) == verdict.worked)
        if held:
            judged += 1
            agreed += all(held)
    detail = {"tested_by_person": by_person, "tested_by_outcome": by_outcome}
    return ratio(agreed, judged), agreed, judged, detail


def _cohort_figures(
    session: Session, since: datetime, until: datetime, repo_id: int | None
) -> dict[str, _Figure]:
    issues, events = _cohort(session, since, until, repo_id)
    cohort = _Cohort()
    for issue_id, issue in issues.items():
        cohort.add(issue, events.get(issue_id, []))
    figures = cohort.figures()
    figures["decision_accuracy"] = _decision_accuracy(session, issues, events)
    return figures


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
        .where(i.state.in_(WORKING), i.assignee.is_not(None))
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
    since, until = check_range(since, until)
    repo_id = repository_id(session, repository)
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
