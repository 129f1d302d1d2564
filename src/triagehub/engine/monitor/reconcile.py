"""Auto-resolution and its regressions in event time, reconciled with the timelines."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select, true, update
from sqlalchemy.orm import Session

from triagehub.core.history import MAX_PASS_TIMES, Replay, from_micros
from triagehub.core.lifecycle import Actor, Episode, healed_episodes
from triagehub.core.models import Category, IssueState
from triagehub.engine.category_actions import may_auto_resolve
from triagehub.engine.issue_rows import WORKING, issues_with_repository
from triagehub.engine.monitor.context import Tick
from triagehub.engine.monitor.eventtime import check_replays, classify_in_event_time
from triagehub.store import tables as t
from triagehub.store.lifecycle import record_event
from triagehub.work.agent_prs import merged_agent_pr

# Issues auto-resolved and untouched (no failure reached them) for longer are not re-judged.
RECONCILE_CLOSED_DAYS = 7
_RECENT_BITS = 63

# check id -> (its kept pass times, flaky, whether the kept times are full)
Checks = Mapping[int, tuple[list[datetime], bool, bool]]
# failure time -> (commit, run id) of the run that failed then
Failures = Mapping[datetime, tuple[str | None, int]]
# (at, to state, reason, run id) of one state change auto-resolution wants on the timeline
_Change = tuple[datetime, str, str, int | None]


def green_streak(recent: int, runs: int) -> int:
    """Passes in a row up to the latest run, from the outcome bitmap (bit 0 = latest run, 1 =
    failed or flaky evidence)."""
    if recent == 0:
        return min(runs, _RECENT_BITS)
    return (recent & -recent).bit_length() - 1


def machine_events(events: list[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """The timeline entries auto-resolution owns: its resolutions and the regressions that
    directly followed them (``events``: state changes in timeline order)."""
    owned: list[Mapping[str, Any]] = []
    previous: Mapping[str, Any] | None = None
    closing = (IssueState.RESOLVED.value, IssueState.AUTO_RESOLVED.value)
    for event in events:
        data = event["data"] or {}
        resolution = data.get("by") == Actor.RULE.value and data.get("to") in closing
        regression = (
            data.get("to") == IssueState.REGRESSED.value and bool(owned) and previous is owned[-1]
        )
        if resolution or regression:
            owned.append(event)
        previous = event
    return owned


def auto_resolve(tick: Tick) -> None:
    """Auto-resolution and its regressions in event time (``healed_episodes``).

    For every issue in a working state, or closed by this rule, the healings its runs prove
    are compared with the ones on its timeline: a missing one is written with the time of its
    evidence (the K-th green run) and, when a failure followed, the regression at that
    failure's time; one that late evidence disproves (a failure that arrived late inside
    the green streak) is taken back. A late tick, a backfill or runs arriving in any order
    therefore end in the states and timelines live processing gives.
    """
    machine_closed = [IssueState.RESOLVED.value, IssueState.AUTO_RESOLVED.value]
    query = (
        issues_with_repository()
        .where(
            t.issues.c.state.in_(WORKING)
            | (
                t.issues.c.state.in_(machine_closed)
                # a closed issue changes only when a failure reaches it (late or new)
                & (t.issues.c.updated_at >= tick.now - timedelta(days=RECONCILE_CLOSED_DAYS))
            ),
        )
        .order_by(t.issues.c.id)
    )
    rows = [dict(r) for r in tick.session.execute(query).mappings()]
    for chunk in (rows[i : i + 2000] for i in range(0, len(rows), 2000)):
        _reconcile_chunk(tick, chunk)


def _reconcile_chunk(tick: Tick, rows: list[dict[str, Any]]) -> None:
    ids = [r["id"] for r in rows]
    checks, forgotten = _issue_checks(tick.session, ids)
    replays = check_replays(
        tick.session,
        tick.settings,
        {c: p for per in checks.values() for c, (p, _, _) in per.items()},
    )
    classify_in_event_time(tick, rows, replays)
    events = _state_events(tick.session, ids)
    # Only issues with green runs after their first failure, or with machine history, need
    # their failures: the others cannot have healed.
    wanted = [
        r["id"]
        for r in rows
        if machine_events(events.get(r["id"], []))
        or any(p and p[-1] > r["first_seen"] for p, _, _ in checks.get(r["id"], {}).values())
    ]
    failures = _failures(tick.session, wanted, checks)
    for row in rows:
        if row["id"] in failures:
            _reconcile(
                tick,
                row,
                checks[row["id"]],
                replays,
                events.get(row["id"], []),
                failures[row["id"]],
                forgotten.get(row["id"]),
            )


def _issue_checks(
    session: Session, ids: list[int]
) -> tuple[defaultdict[int, dict[int, tuple[list[datetime], bool, bool]]], dict[int, datetime]]:
    """Each issue's checks with their kept pass times, and per issue the time up to which
    green runs from before pass times were kept are not judged again."""
    checks: defaultdict[int, dict[int, tuple[list[datetime], bool, bool]]] = defaultdict(dict)
    forgotten: dict[int, datetime] = {}
    for issue_id, check_id, pass_times, flaky, last_pass in session.execute(
        select(
            t.issue_checks.c.issue_id,
            t.issue_checks.c.check_id,
            t.check_stats.c.pass_times,
            t.check_stats.c.flaky,
            t.check_stats.c.last_pass_at,
        )
        .join(t.check_stats, t.check_stats.c.check_id == t.issue_checks.c.check_id)
        .where(t.issue_checks.c.issue_id.in_(ids))
    ):
        times = [from_micros(v) for v in pass_times or ()]
        checks[issue_id][check_id] = (times, bool(flaky), len(times) >= MAX_PASS_TIMES)
        if not times and last_pass is not None:
            # Green runs from before pass times were kept (a database older than 0014):
            # what happened up to the last of them is not judged again.
            seen = last_pass + timedelta(microseconds=1)
            forgotten[issue_id] = max(seen, forgotten.get(issue_id, seen))
    return checks, forgotten


def _state_events(session: Session, ids: list[int]) -> dict[int, list[Mapping[str, Any]]]:
    """The state changes of each issue, in timeline order."""
    events: dict[int, list[Mapping[str, Any]]] = defaultdict(list)
    for event in session.execute(
        select(t.issue_events)
        .where(t.issue_events.c.issue_id.in_(ids), t.issue_events.c.kind == "state_changed")
        .order_by(t.issue_events.c.at, t.issue_events.c.id)
    ).mappings():
        events[event["issue_id"]].append(dict(event))
    return events


def _failures(
    session: Session,
    wanted: list[int],
    checks: defaultdict[int, dict[int, tuple[list[datetime], bool, bool]]],
) -> dict[int, dict[datetime, tuple[str | None, int]]]:
    """The failures of the ``wanted`` issues the judgement needs, with their commit and run."""
    failures: dict[int, dict[datetime, tuple[str | None, int]]] = defaultdict(dict)
    if not wanted:
        return failures
    # Failures from the oldest green run kept on (older gaps hold no known green run),
    # and the last failure before it (the start of the first gap).
    oldest = [p[0] for i in wanted for p, _, _ in checks[i].values() if p]
    floor = min(oldest) if oldest else None
    recent = t.occurrences.c.occurred_at >= floor if floor is not None else true()
    for issue_id, at, commit, run_id in session.execute(
        select(
            t.occurrences.c.issue_id,
            t.occurrences.c.occurred_at,
            func.min(t.runs.c.commit_sha),
            func.min(t.runs.c.id),
        )
        .join(t.runs, t.runs.c.id == t.occurrences.c.run_id)
        .where(t.occurrences.c.issue_id.in_(wanted), recent)
        .group_by(t.occurrences.c.issue_id, t.occurrences.c.occurred_at)
    ):
        failures[issue_id][at] = (commit, run_id)
    if floor is not None:
        for issue_id, at in session.execute(
            select(t.occurrences.c.issue_id, func.max(t.occurrences.c.occurred_at))
            .where(t.occurrences.c.issue_id.in_(wanted), t.occurrences.c.occurred_at < floor)
            .group_by(t.occurrences.c.issue_id)
        ):
            failures[issue_id][at] = (None, 0)  # only a gap's start, never a regression
    return failures


def _reconcile(
    tick: Tick,
    row: dict[str, Any],
    checks: Checks,
    replays: Mapping[int, Replay],
    events: list[Mapping[str, Any]],
    failures: Failures,
    forgotten: datetime | None = None,
) -> None:
    """Bring one issue's timeline and state in line with the healings its runs prove."""
    if not checks:
        return
    current = IssueState(row["state"])
    machine = machine_events(events)
    if current.is_closed and not (machine and events[-1]["id"] == machine[-1]["id"]):
        return  # closed by a person: theirs to reopen
    needed = tick.settings.auto_resolve_after(row["repository"], row["category"])
    times = sorted(failures)
    boundary = _judged_from(checks, forgotten, times)
    if boundary is None:
        return
    episodes = [
        ep
        for ep in healed_episodes(
            times, {c: p for c, (p, _, _) in checks.items()}, needed, known_from=boundary
        )
        # a check flaky when the streak ended proves nothing: no open/close churn
        if not any(r.flaky_at(ep.resolved_at) for c in checks if (r := replays.get(c)))
    ]
    if (
        episodes
        and not current.is_closed
        and not may_auto_resolve(tick.session, tick.settings, row)
    ):
        return  # category actions: a code fix may close only through a merged pull request
    transient = row["category"] == Category.TRANSIENT.value
    target = IssueState.AUTO_RESOLVED if transient else IssueState.RESOLVED
    noun = "check" if len(checks) == 1 else f"{len(checks)} checks"
    resolve_reason = f"auto-resolved after {needed} green runs in a row of its {noun}"
    desired, by_agent = _desired(tick, row, episodes, times, failures, target, resolve_reason)
    recorded = [e for e in machine if e["at"] > boundary]
    same = 0
    for have, want in zip(recorded, desired, strict=False):
        if (have["at"], have["data"].get("to"), have["data"].get("reason")) != want[:3]:
            break
        same += 1
    if same == len(recorded) == len(desired):
        return
    stale = recorded[same:]
    state = _rewrite(tick, row, current, stale, desired[same:], by_agent)
    # A person who moved the issue after the first corrected event keeps their state.
    first_changed = stale[0]["id"] if stale else None
    owned = {e["id"] for e in machine}
    human_after = first_changed is not None and any(
        e["id"] > first_changed and e["id"] not in owned for e in events
    )
    if human_after:
        return
    # Closed: by the last resolution written (the state came from ``desired``).
    resolved_at = desired[-1][0] if state.is_closed else None
    _apply(tick, row, current, state, resolved_at, resolve_reason)


def _judged_from(
    checks: Checks, forgotten: datetime | None, times: list[datetime]
) -> datetime | None:
    """The first failure from which the healings are judged (None: none to judge). Green runs
    before the oldest one kept may be forgotten: judge only the gaps after it."""
    cut = [p[0] for p, _, full in checks.values() if full and p]
    if forgotten is not None:
        cut.append(forgotten)
    known_from = max(cut) if cut else None
    return next((f for f in times if known_from is None or f >= known_from), None)


def _desired(
    tick: Tick,
    row: Mapping[str, Any],
    episodes: list[Episode],
    times: list[datetime],
    failures: Failures,
    target: IssueState,
    resolve_reason: str,
) -> tuple[list[_Change], set[datetime]]:
    """The resolutions and regressions the episodes prove, and the resolutions that follow a
    coding agent's merged fix."""
    desired: list[_Change] = []
    by_agent: set[datetime] = set()  # resolutions that follow a coding agent's merged fix
    for ep in episodes:
        last_failure = max((f for f in times if f < ep.resolved_at), default=row["first_seen"])
        fix = merged_agent_pr(tick.session, row["id"], before=last_failure)
        reason = resolve_reason
        if fix is not None:  # the coding agent's fix, merged, then the checks passed
            reason += f" after the agent's pull request {fix} was merged"
            by_agent.add(ep.resolved_at)
        desired.append((ep.resolved_at, target.value, reason, None))
        if ep.regressed_at is not None:
            commit, run_id = failures[ep.regressed_at]
            reason = f"failed again at commit {commit or 'unknown'} after it was resolved"
            desired.append((ep.regressed_at, IssueState.REGRESSED.value, reason, run_id))
    return desired, by_agent


def _rewrite(
    tick: Tick,
    row: Mapping[str, Any],
    current: IssueState,
    stale: list[Mapping[str, Any]],
    todo: list[_Change],
    by_agent: set[datetime],
) -> IssueState:
    """Delete the ``stale`` machine events and write the ``todo`` ones; return the state the
    timeline ends in."""
    base = IssueState(stale[0]["data"]["from"]) if stale else current
    if stale:
        tick.session.execute(
            t.issue_events.delete().where(t.issue_events.c.id.in_([e["id"] for e in stale]))
        )
    state = base
    for at, to, reason, run_pk in todo:
        data: dict[str, Any] = {"from": state.value, "to": to, "reason": reason}
        if to == IssueState.REGRESSED.value:
            actor = "triagehub"  # as the ingest writes a regression
        else:
            actor = "agent" if at in by_agent else Actor.RULE.value
            data["by"] = Actor.RULE.value
        record_event(
            tick.session,
            row["id"],
            "state_changed",
            at=at,
            actor=actor,
            data=data,
            run_id=run_pk,
        )
        state = IssueState(to)
    return state


def _apply(
    tick: Tick,
    row: Mapping[str, Any],
    current: IssueState,
    state: IssueState,
    resolved_at: datetime | None,
    resolve_reason: str,
) -> None:
    """Give the issue the state its timeline ends in, and count and announce the change."""
    if state is current and resolved_at == row["resolved_at"]:
        return
    tick.session.execute(
        update(t.issues)
        .where(t.issues.c.id == row["id"])
        .values(state=state.value, resolved_at=resolved_at, updated_at=tick.now)
    )
    if state is current:
        return  # the same state, its stamp corrected
    if state.is_closed:
        transient = row["category"] == Category.TRANSIENT.value
        (tick.summary.auto_resolved if transient else tick.summary.resolved).append(row["id"])
        tick.changed(row, "resolved", {"to": state.value, "reason": resolve_reason})
    elif state is IssueState.REGRESSED:
        tick.summary.regressed.append(row["id"])
    else:
        tick.summary.reopened.append(row["id"])
