"""Escalation: the per-issue triggers and the repository-level one on volume."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from datetime import date, timedelta
from typing import Any

from sqlalchemy import func, select, update

from triagehub.config import EscalationTriggers
from triagehub.core.lifecycle import Actor
from triagehub.core.models import IssueState, Level
from triagehub.engine.issue_rows import WORKING, issues_with_repository
from triagehub.engine.monitor.context import Tick
from triagehub.store import tables as t
from triagehub.store.lifecycle import escalate, record_event

# The window of the recurring trigger: failures on N different days within it.
RECURRING_WINDOW_DAYS = 7


def _hours(value: float) -> str:
    return f"{value:g} h"


def escalations(tick: Tick) -> None:
    """The escalation triggers of DESIGN.md (``escalation_triggers`` and the rules'
    ``escalate_after``); each fires at most once per issue, never while snoozed:

    - ``untriaged``: still open and unassigned ``escalate_after`` hours after its first
      failure (the matching automation rule's value);
    - ``critical_response``: critical and without a human response (triage, assignment or
      any state change) ``critical_response_time`` hours after its first failure;
    - ``recurring``: failed on ``recurring_issue_threshold`` different days within the last
      ``RECURRING_WINDOW_DAYS`` days (occurrences counted once per day, so reruns of one bad
      afternoon are not a recurrence);
    - ``cross_repo``: its error pattern is in ``cross_repo_correlation_threshold``
      repositories;
    - ``sla_breach``: past its SLA.

    ``high_volume_threshold`` is a repository-level trigger (``repository_volume``).
    Triggers that fire in the same tick make one escalation (one event naming them all,
    one notification). Escalating records the triggers and the level and notifies; only the
    first escalation of an issue raises its priority, one step (``escalated_priority``).
    """
    repository_volume(tick)
    triggers = tick.settings.escalation_triggers
    days_failed = _days_failed(tick)
    pattern_repos = _pattern_repositories(tick, triggers)
    for row in tick.rows():
        if tick.snoozed(row):
            continue
        fired = dict(row["escalations"] or {})
        candidates = _candidates(tick, row, triggers, days_failed, pattern_repos)
        new = [(trigger, reason) for trigger, reason in candidates if trigger not in fired]
        if not new:
            continue
        # Triggers firing in the same tick make one escalation (one event, one message).
        current = dict(row)
        data = escalate(
            tick.session,
            current,
            trigger=new[0][0],
            also=[trigger for trigger, _ in new[1:]],
            reason="; ".join(reason for _, reason in new),
            now=tick.now,
        )
        current["escalation_level"] = data["level"]
        current["priority"] = data["priority"]["to"]
        tick.summary.escalated.extend((row["id"], trigger) for trigger, _ in new)
        tick.changed(
            current, "escalated", {**data, "notify": _recipients(tick, current, new[0][0])}
        )


def _days_failed(tick: Tick) -> dict[int, set[date]]:
    """The different days each working issue failed on within the recurring window."""
    window = tick.now - timedelta(days=RECURRING_WINDOW_DAYS)
    days_failed: dict[int, set[date]] = defaultdict(set)
    for issue_id, at in tick.session.execute(
        select(t.occurrences.c.issue_id, t.occurrences.c.occurred_at)
        .join(t.issues, t.issues.c.id == t.occurrences.c.issue_id)
        .where(
            t.occurrences.c.occurred_at > window,
            t.occurrences.c.occurred_at <= tick.now,
            t.issues.c.state.in_(WORKING),
        )
        .distinct()
    ):
        days_failed[issue_id].add(at.date())
    return days_failed


def _pattern_repositories(tick: Tick, triggers: EscalationTriggers) -> dict[int, int]:
    """The error patterns in at least ``cross_repo_correlation_threshold`` repositories, with
    how many."""
    return dict(
        tick.session.execute(
            select(t.issues.c.pattern_id, func.count(t.issues.c.repository_id.distinct()))
            .where(t.issues.c.pattern_id.is_not(None))
            .group_by(t.issues.c.pattern_id)
            .having(
                func.count(t.issues.c.repository_id.distinct())
                >= triggers.cross_repo_correlation_threshold
            )
        ).all()
    )


def _candidates(
    tick: Tick,
    row: Mapping[str, Any],
    triggers: EscalationTriggers,
    days_failed: Mapping[int, set[date]],
    pattern_repos: Mapping[int, int],
) -> list[tuple[str, str]]:
    """The triggers (name, reason) the issue meets now, fired before or not."""
    unanswered = row["state"] == IssueState.OPEN.value and row["assignee"] is None
    age = tick.now - row["first_seen"]
    candidates: list[tuple[str, str]] = []
    critical_after = triggers.critical_response_time
    if (
        unanswered
        and row["priority"] == Level.CRITICAL.value
        and age >= timedelta(hours=critical_after)
    ):
        candidates.append(
            ("critical_response", f"critical and no human response within {_hours(critical_after)}")
        )
    after = row["escalate_after_hours"]
    if unanswered and after is not None and age >= timedelta(hours=after):
        candidates.append(("untriaged", f"not triaged within {_hours(after)}"))
    days = len(days_failed.get(row["id"], ()))
    if days >= triggers.recurring_issue_threshold:
        candidates.append(
            (
                "recurring",
                f"failed on {days} different days in {RECURRING_WINDOW_DAYS} days "
                f"(threshold {triggers.recurring_issue_threshold})",
            )
        )
    if row["pattern_id"] in pattern_repos:
        n = pattern_repos[row["pattern_id"]]
        candidates.append(("cross_repo", f"the same error pattern is in {n} repositories"))
    if row["sla_breached_at"] is not None:
        candidates.append(("sla_breach", "past its SLA"))
    return candidates


def _recipients(tick: Tick, row: Mapping[str, Any], trigger: str) -> list[str]:
    """The expert first; from the second escalation on (or when a critical issue waits), the
    configured escalation target too."""
    who = [row["expert"] or row["assignee"] or "the expert"]
    target = tick.settings.lifecycle.escalation_target
    if target and (int(row["escalation_level"] or 0) >= 2 or trigger == "critical_response"):
        who.append(target)
    return who


def repository_volume(tick: Tick) -> None:
    """``high_volume_threshold``: a repository with that many new issues (first failure) on
    one UTC day gets one repository-level escalation naming them, once per repository and
    day; no issue's priority changes. Days are judged up to the tick (today and
    yesterday, so a tick after midnight still sees the day before)."""
    threshold = tick.settings.escalation_triggers.high_volume_threshold
    today = tick.now.replace(hour=0, minute=0, second=0, microsecond=0)
    since = today - timedelta(days=1)
    rows = tick.session.execute(
        select(
            t.issues.c.id,
            t.issues.c.first_seen,
            t.issues.c.escalations,
            t.repositories.c.name,
        )
        .join(t.repositories, t.repositories.c.id == t.issues.c.repository_id)
        .where(t.issues.c.first_seen >= since, t.issues.c.first_seen <= tick.now)
        .order_by(t.issues.c.id)
    ).all()
    groups: dict[tuple[str, str], list[Any]] = defaultdict(list)
    for row in rows:
        groups[(row.name, row.first_seen.date().isoformat())].append(row)
    for (repository, day), members in sorted(groups.items()):
        if len(members) < threshold:
            continue
        if any((m.escalations or {}).get("high_volume") == day for m in members):
            continue  # this repository's day was escalated already
        _escalate_repository(tick, repository, day, members, threshold)


def _escalate_repository(
    tick: Tick, repository: str, day: str, members: list[Any], threshold: int
) -> None:
    """One repository-level escalation: marked on every member, announced once."""
    ids = [m.id for m in members]
    listed = ", ".join(f"#{i}" for i in ids[:20]) + (" ..." if len(ids) > 20 else "")
    reason = f"{repository}: {len(ids)} new issues on {day} (threshold {threshold}): {listed}"
    for m in members:
        marks = dict(m.escalations or {})
        marks["high_volume"] = day
        tick.session.execute(
            update(t.issues).where(t.issues.c.id == m.id).values(escalations=marks)
        )
        record_event(
            tick.session,
            m.id,
            "repository_escalated",
            at=tick.now,
            actor=Actor.RULE.value,
            data={"trigger": "high_volume", "reason": reason, "issues": ids},
        )
    tick.summary.repository_escalations.append((repository, day, ids))
    if tick.hook is not None:
        first = (
            tick.session.execute(issues_with_repository().where(t.issues.c.id == ids[0]))
            .mappings()
            .one()
        )
        tick.changed(
            dict(first),
            "repository_escalated",
            {"trigger": f"high_volume:{repository}:{day}", "reason": reason, "issues": ids},
        )
