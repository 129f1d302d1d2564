"""What a prune keeps however old it is: the evidence the monitor, the evidence pack and the
issue page still read.

Issues *in play* are the ones the monitor's auto-resolution judges: working issues (open,
triaged, assigned, in progress, regressed) and issues it closed itself and still reconciles
(updated within ``RECONCILE_CLOSED_DAYS``). For each of them the prune keeps a *suffix* of its
occurrences, everything from the earliest of:

- its latest failure (``last_seen``: the issue page, the LLM refinement, the event-time
  classification read it);
- the first failure of the current red streak of each of its checks (the first failure after
  the check's last green run: the evidence pack's "failing since");
- the ``MAX_REPLAYED_FAILURES``-th latest failure of each of its checks (the event-time replay
  reads that many per check, whichever issue they belong to, so they are kept in every issue).

A suffix, not a selection: auto-resolution judges the gaps between consecutive failures, and a
failure removed from the middle would open a gap that never was. Green runs the replay and the
evidence pack look up by their time (the checks' kept pass times and last pass) are kept too.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, func, or_, select
from sqlalchemy.orm import Session

from triagehub.core.history import from_micros
from triagehub.core.models import IssueState
from triagehub.engine.issue_rows import WORKING
from triagehub.engine.monitor.eventtime import MAX_REPLAYED_FAILURES
from triagehub.engine.monitor.reconcile import RECONCILE_CLOSED_DAYS
from triagehub.store import tables as t
from triagehub.store.grouping import chunks

# Before every stored time: a floor that keeps everything.
ALWAYS = datetime(1, 1, 2, tzinfo=UTC)
MACHINE_CLOSED = (IssueState.RESOLVED.value, IssueState.AUTO_RESOLVED.value)


def in_play_since(now: datetime) -> datetime:
    """Closed issues updated at or after this time are still reconciled by the monitor."""
    return now - timedelta(days=RECONCILE_CLOSED_DAYS)


def in_play_clause(since: datetime) -> ColumnElement[bool]:
    i = t.issues.c
    return or_(i.state.in_(WORKING), i.state.in_(MACHINE_CLOSED) & (i.updated_at >= since))


def in_play(state: str, updated_at: datetime, since: datetime) -> bool:
    """``in_play_clause`` for one row read back."""
    return state in WORKING or (state in MACHINE_CLOSED and updated_at >= since)


@dataclass
class Keep:
    """The floors: an occurrence at or after its issue's floor, or its check's, stays."""

    since: datetime
    issue_floor: dict[int, datetime] = field(default_factory=dict)
    check_floor: dict[int, datetime] = field(default_factory=dict)
    # (repository id, finish time) of the green runs the replay and the evidence pack look up
    pass_runs: set[tuple[int, datetime]] = field(default_factory=set)

    def keeps(self, issue_id: int, check_id: int, at: datetime) -> bool:
        floor = self.issue_floor.get(issue_id)
        if floor is not None and at >= floor:
            return True
        floor = self.check_floor.get(check_id)
        return floor is not None and at >= floor


def compute_keep(session: Session, now: datetime) -> Keep:
    """The floors of the issues in play and of their checks, and the green runs to keep."""
    keep = Keep(since=in_play_since(now))
    i = t.issues.c
    rows = session.execute(
        select(i.id, i.last_seen, i.state).where(in_play_clause(keep.since)).order_by(i.id)
    ).all()
    keep.issue_floor = {r.id: r.last_seen for r in rows}
    checks_of: defaultdict[int, list[int]] = defaultdict(list)
    for chunk in chunks(sorted(keep.issue_floor)):
        for issue_id, check_id in session.execute(
            select(t.issue_checks.c.issue_id, t.issue_checks.c.check_id).where(
                t.issue_checks.c.issue_id.in_(chunk)
            )
        ):
            checks_of[issue_id].append(check_id)
    check_ids = sorted({c for checks in checks_of.values() for c in checks})
    keep.check_floor = _replay_floors(session, check_ids)
    streaks = _streak_starts(session, [r.id for r in rows if r.state in WORKING])
    for issue_id, floor in list(keep.issue_floor.items()):
        floors = [floor, streaks.get(issue_id, floor)]
        floors += [keep.check_floor[c] for c in checks_of.get(issue_id, ())]
        keep.issue_floor[issue_id] = min(floors)
    keep.pass_runs = _pass_runs(session, check_ids)
    return keep


def _replay_floors(session: Session, check_ids: Sequence[int]) -> dict[int, datetime]:
    """Per check, the time of its ``MAX_REPLAYED_FAILURES``-th latest failure outside storms
    (``ALWAYS`` for a check with fewer: the replay reads all of them)."""
    floors = dict.fromkeys(check_ids, ALWAYS)
    o = t.occurrences.c
    for chunk in chunks(check_ids):
        ranked = (
            select(
                o.check_id,
                o.occurred_at,
                func.row_number()
                .over(partition_by=o.check_id, order_by=o.occurred_at.desc())
                .label("n"),
            )
            .join(t.runs, t.runs.c.id == o.run_id)
            .where(o.check_id.in_(chunk), t.runs.c.storm.is_(False))
            .subquery()
        )
        for check_id, at in session.execute(
            select(ranked.c.check_id, ranked.c.occurred_at).where(
                ranked.c.n == MAX_REPLAYED_FAILURES
            )
        ):
            floors[check_id] = at
    return floors


def _streak_starts(session: Session, issue_ids: Sequence[int]) -> dict[int, datetime]:
    """Per working issue, its first failure after the last green run of that failure's check."""
    o, s = t.occurrences.c, t.check_stats.c
    starts: dict[int, datetime] = {}
    for chunk in chunks(issue_ids):
        for issue_id, at in session.execute(
            select(o.issue_id, func.min(o.occurred_at))
            .outerjoin(t.check_stats, s.check_id == o.check_id)
            .where(
                o.issue_id.in_(chunk), or_(s.last_pass_at.is_(None), o.occurred_at > s.last_pass_at)
            )
            .group_by(o.issue_id)
        ):
            starts[issue_id] = at
    return starts


def _pass_runs(session: Session, check_ids: Sequence[int]) -> set[tuple[int, datetime]]:
    """(repository, time) of each check's kept pass times and of its last green run."""
    found: set[tuple[int, datetime]] = set()
    s = t.check_stats.c
    for chunk in chunks(check_ids):
        rows: Any = session.execute(
            select(t.checks.c.repository_id, s.pass_times, s.last_pass_at)
            .join(t.check_stats, s.check_id == t.checks.c.id)
            .where(t.checks.c.id.in_(chunk))
        )
        for repo_id, pass_times, last_pass in rows:
            found.update((repo_id, from_micros(v)) for v in pass_times or ())
            if last_pass is not None:
                found.add((repo_id, last_pass))
    return found
