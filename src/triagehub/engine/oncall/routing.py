"""On-call routing: an issue's expert, and assignment to its least loaded person."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any, Final

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from triagehub.config import ExpertConfig, Settings
from triagehub.core.models import Category, IssueState, Kind
from triagehub.engine.issue_rows import WORKING, snoozed
from triagehub.engine.oncall.common import (
    ASSIGNABLE,
    CHUNK,
    GITHUB_ONCALL,
    OncallSummary,
    issue_rows,
)
from triagehub.engine.oncall.writes import OncallWrites
from triagehub.store import tables as t
from triagehub.store.dialect import one_of

_DASHBOARD = re.compile(r"\b(tableau|looker|power ?bi|dashboards?|workbooks?)\b", re.I)


_WAREHOUSE = re.compile(
    r"\b(snowflake|warehouse|database error|bigquery|redshift|databricks|sql compilation error"
    r"|statement timeout|query (?:exceeded|timed out))\b",
    re.I,
)


_DBT_KINDS: Final = frozenset(
    {Kind.COMPILATION, Kind.SCHEMA, Kind.DATA_TEST, Kind.FRESHNESS, Kind.RUNTIME}
)


def default_expert(*, source: str, kind: str, text: str, systems: int = 1) -> str:
    """The brief's default routing when a repository sets no rule (see the module docstring)."""
    if systems > 1:
        return "da-architect"
    if _DASHBOARD.search(text):
        return "tableau-expert"
    dbt = source.startswith("dbt") or kind in _DBT_KINDS
    if _WAREHOUSE.search(text) or (dbt and kind in (Kind.RUNTIME, Kind.TIMEOUT)):
        return "snowflake-expert"
    if dbt:
        return "dbt-expert"
    return "github-sleuth-expert"


def _systems(session: Session, row: Mapping[str, Any], known: dict[int, int] | None) -> int:
    """How many repositories and sources the issue's error pattern spans (at least 1);
    ``known``: the counts of the patterns asked already (routing changes none of them)."""
    pattern = row["pattern_id"]
    if pattern is None:
        return 1
    if known is not None and pattern in known:
        return known[pattern]
    systems = pattern_spans(session, [pattern])[pattern]
    if known is not None:
        known[pattern] = systems
    return systems


def pattern_spans(session: Session, patterns: Iterable[int]) -> dict[int, int]:
    """For each pattern, how many repositories and sources its issues span (at least 1): one
    grouped query for them all."""
    wanted = sorted(set(patterns))
    spans = dict.fromkeys(wanted, 1)
    i = t.issues.c
    for where in one_of(session, i.pattern_id, wanted, CHUNK):  # (one array on PostgreSQL)
        query = (
            select(
                i.pattern_id,
                func.count(i.repository_id.distinct()),
                func.count(i.source.distinct()),
            )
            .where(where)
            .group_by(i.pattern_id)
        )
        for pattern, repositories, sources in session.execute(query):
            spans[int(pattern)] = max(int(repositories or 1), int(sources or 1))
    return spans


def expert_for(
    session: Session, row: Mapping[str, Any], *, systems: dict[int, int] | None = None
) -> tuple[str, bool]:
    """The issue's expert, and whether it came from the default routing (``systems``: a
    cache of the patterns' spans, for the issues of one pass)."""
    if row["expert"]:
        return str(row["expert"]), False
    text = f"{row['title']}\n{row['sample_message']}\n{row['template']}"
    spans = _systems(session, row, systems)
    return default_expert(source=row["source"], kind=row["kind"], text=text, systems=spans), True


def open_workload(session: Session) -> Counter[str]:
    """Open (working-state) issues per assignee, lower-cased."""
    counts: Counter[str] = Counter()
    for assignee, n in session.execute(
        select(t.issues.c.assignee, func.count())
        .where(t.issues.c.state.in_(WORKING), t.issues.c.assignee.is_not(None))
        .group_by(t.issues.c.assignee)
    ):
        counts[str(assignee).lower()] += int(n)
    return counts


def pick_assignee(expert: ExpertConfig, workload: Mapping[str, int]) -> str | None:
    """The person of the group with the fewest open issues (file order breaks ties), else the
    first team, else None."""
    people = expert.logins
    if people:
        return min(people, key=lambda login: (workload.get(login.lower(), 0), people.index(login)))
    return expert.teams[0] if expert.teams else None


def assign_issue(
    session: Session,
    settings: Settings,
    row: dict[str, Any],
    now: datetime,
    workload: Counter[str],
    *,
    systems: dict[int, int] | None = None,
) -> str | None:
    """Assign one issue by the routing table (see the module docstring); the assignee or None.
    ``workload`` and ``systems`` are shared by the issues of one pass (see ``expert_for``)."""
    writes = OncallWrites(now)
    known = systems if systems is not None else {}
    if row["pattern_id"] is not None and row["pattern_id"] not in known:
        known.update(pattern_spans(session, [row["pattern_id"]]))
    assignee = plan_assignment(settings, row, now, workload, known, writes)
    writes.flush(session)
    return assignee


def plan_assignment(
    settings: Settings,
    row: dict[str, Any],
    now: datetime,
    workload: Counter[str],
    systems: Mapping[int, int],
    writes: OncallWrites,
) -> str | None:
    """Decide one issue's assignment (see the module docstring) and add its writes to
    ``writes``; the assignee or None. ``systems``: the spans of the patterns of the pass's
    issues (:func:`pattern_spans`); ``workload`` and ``row`` are updated as the writes will."""
    if row["assignee"] or row["state"] not in ASSIGNABLE or snoozed(row, now):
        return None
    if row["category"] == Category.FALSE_POSITIVE.value or "assignee" in (row["overrides"] or {}):
        return None
    if row["expert"]:
        name, routed = str(row["expert"]), False
    else:
        text = f"{row['title']}\n{row['sample_message']}\n{row['template']}"
        spans = 1 if row["pattern_id"] is None else systems[row["pattern_id"]]
        name = default_expert(source=row["source"], kind=row["kind"], text=text, systems=spans)
        routed = True
    expert = settings.experts.get(name)
    if expert is None:
        if routed:  # no routing table entry: the default expert is still named on the issue
            writes.name_expert(row["id"], name)
            row["expert"] = name
        return None
    assignee = pick_assignee(expert, workload)
    if assignee is None:
        return None
    load = workload.get(assignee.lower(), 0)
    how = "default routing" if routed else "its rule"
    reason = f"assigned to {assignee}: {name} by {how}, {load} open issue(s) before this one"
    logins = [assignee] if assignee in expert.logins else []
    data = {
        "expert": name,
        "assignee": assignee,
        "automatic": True,
        "routing": "default" if routed else "rule",
        "github": logins,
        "teams": expert.teams,
        "reason": reason,
    }
    writes.assign(row["id"], name, assignee, reason, data)
    if logins:
        writes.job(
            GITHUB_ONCALL,
            f"{GITHUB_ONCALL}:{row['id']}:assign:{assignee.lower()}",
            {"issue_id": row["id"], "assignees": logins, "queued_at": now.isoformat()},
        )
    workload[assignee.lower()] += 1
    row.update(expert=name, assignee=assignee, state=IssueState.ASSIGNED.value)
    return assignee


def pass_spans(session: Session, rows: Iterable[Mapping[str, Any]]) -> dict[int, int]:
    """:func:`pattern_spans` of the patterns that routing may ask for these issues."""
    return pattern_spans(
        session, (r["pattern_id"] for r in rows if not r["expert"] and r["pattern_id"] is not None)
    )


def assign_issues(
    session: Session,
    settings: Settings,
    now: datetime,
    *,
    issue_ids: Iterable[int] | None = None,
    summary: OncallSummary | None = None,
) -> list[tuple[int, str]]:
    """Assign the unassigned working issues (or those of ``issue_ids``) that the routing table
    covers; return (issue, assignee) pairs."""
    where: list[Any] = [t.issues.c.state.in_(ASSIGNABLE), t.issues.c.assignee.is_(None)]
    if issue_ids is not None:
        ids = sorted(set(issue_ids))
        rows = [
            r
            for n in range(0, len(ids), CHUNK)
            for r in issue_rows(session, *where, t.issues.c.id.in_(ids[n : n + CHUNK]))
        ]
    else:
        rows = issue_rows(session, *where)
    if not rows:
        return []
    workload = open_workload(session)
    systems = pass_spans(session, rows)
    writes = OncallWrites(now)
    done: list[tuple[int, str]] = []
    for row in rows:
        assignee = plan_assignment(settings, row, now, workload, systems, writes)
        if assignee is not None:
            done.append((row["id"], assignee))
    writes.flush(session)
    if summary is not None:
        summary.assigned.extend(done)
    return done
