"""On-call alerts: when a new or regressed issue is announced, where, mentioning whom."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any, Final

from sqlalchemy import String, and_, cast, literal, or_, select
from sqlalchemy.orm import Session

from triagehub.config import AlertMode, Settings
from triagehub.core.lifecycle import Actor
from triagehub.core.models import Category, IssueState, Level
from triagehub.engine.issue_rows import WORKING, snoozed
from triagehub.engine.jobs import enqueue
from triagehub.engine.notify import enqueue_issue_notification
from triagehub.engine.oncall.common import CHUNK, GITHUB_ONCALL, OncallSummary, issue_rows
from triagehub.engine.oncall.routing import assign_issue, open_workload
from triagehub.store import tables as t
from triagehub.store.lifecycle import record_event

DEFAULT_MODES: Final[Mapping[Level, AlertMode]] = {
    Level.CRITICAL: "immediate",
    Level.HIGH: "tick",
    Level.MEDIUM: "digest",
    Level.LOW: "digest",
}


LOOKBACK: Final = timedelta(hours=24)  # a tick announces what appeared in the last day


def alert_mode(settings: Settings, repository: str, category: str, priority: str) -> AlertMode:
    """When an issue of this repository, category and priority is announced."""
    level = Level(priority) if priority in Level._value2member_map_ else Level.MEDIUM
    repo = settings.repositories.get(repository)
    layers = []
    for config in (repo.alerts if repo is not None else None, settings.alerts):
        if config is None:
            continue
        by_category = {c.value: r for c, r in config.categories.items()}
        if category in by_category:
            layers.append(by_category[category])
        layers.append(config)
    for layer in layers:
        mode: AlertMode | None = getattr(layer, level.value)
        if mode is not None:
            return mode
    return DEFAULT_MODES[level]


def alert_channel(settings: Settings, repository: str, category: str, expert: str | None) -> str:
    """The Slack channel of an alert ('' for the default channel)."""
    repo = settings.repositories.get(repository)
    for config in (repo.alerts if repo is not None else None, settings.alerts):
        if config is None:
            continue
        routed = {c.value: r for c, r in config.categories.items()}.get(category)
        if routed is not None and routed.slack:
            return routed.slack
        if config.slack:
            return config.slack
    found = settings.experts.get(expert or "")
    return found.slack if found is not None and found.slack else ""


def _alert_events(
    session: Session, now: datetime, issue_ids: Sequence[int] | None
) -> list[tuple[int, int, str, datetime]]:
    """(event id, issue id, what, at) of the announceable events not announced yet."""
    e, i = t.issue_events.c, t.issues.c
    key = literal("notify:") + cast(e.issue_id, String) + literal(":alert:") + cast(e.id, String)
    query = (
        select(e.id, e.issue_id, e.kind, e.at)
        .join(t.issues, i.id == e.issue_id)
        .outerjoin(t.jobs, t.jobs.c.key == key)
        .where(
            t.jobs.c.id.is_(None),
            i.state.in_(WORKING),
            or_(
                e.kind == "created",
                and_(
                    e.kind == "state_changed",
                    e.data["to"].as_string() == IssueState.REGRESSED.value,
                ),
            ),
        )
        .order_by(e.id)
    )
    if issue_ids is not None:
        query = query.where(e.issue_id.in_(issue_ids))
    else:
        query = query.where(e.at >= now - LOOKBACK)
    return [
        (int(eid), int(iid), "regressed" if kind == "state_changed" else "created", at)
        for eid, iid, kind, at in session.execute(query)
    ]


def _mentions(settings: Settings, row: Mapping[str, Any]) -> list[str]:
    expert = settings.experts.get(row["expert"] or "")
    handles: list[str] = []
    if row["assignee"] and "/" not in str(row["assignee"]):
        handles.append("@" + str(row["assignee"]).lstrip("@"))
    if expert is not None:
        handles += expert.teams
        if not handles:
            handles += [f"@{login}" for login in expert.logins]
    return list(dict.fromkeys(handles))


def _announce(
    session: Session,
    settings: Settings,
    row: dict[str, Any],
    event_id: int,
    what: str,
    mode: AlertMode,
    now: datetime,
) -> bool:
    channel = alert_channel(settings, row["repository"], row["category"], row["expert"])
    mentions = _mentions(settings, row)
    word = "Regressed" if what == "regressed" else "New"
    owner = f" Expert: {row['expert']}." if row["expert"] else ""
    who = f" On call: {', '.join(mentions)}." if mentions else ""
    text = (
        f"{word} {row['priority']} issue #{row['id']} in {row['repository']}: {row['title']}."
        f"{owner}{who}"
    )
    sent = enqueue_issue_notification(
        session,
        row,
        event="regressed" if what == "regressed" else "created",
        text=text,
        reason=f"alert:{event_id}",
        channel=channel or None,
        now=now,
    )
    if not sent:
        return False
    data: dict[str, Any] = {
        "mode": mode,
        "event": event_id,
        "what": what,
        "channel": channel or None,
        "mentions": mentions,
    }
    record_event(session, row["id"], "alerted", at=now, actor=Actor.RULE.value, data=data)
    if mode == "immediate" and mentions:
        body = (
            f"{' '.join(mentions)}: {word.lower()} {row['priority']} failure, please take it "
            f"(triagehub issue #{row['id']}, expert {row['expert'] or '-'})."
        )
        enqueue(
            session,
            kind=GITHUB_ONCALL,
            key=f"{GITHUB_ONCALL}:{row['id']}:mention:{event_id}",
            data={
                "issue_id": row["id"],
                "mention": body,
                "marker": f"oncall{event_id}",
                "queued_at": now.isoformat(),
            },
            now=now,
        )
    return True


def dispatch_alerts(
    session: Session,
    settings: Settings,
    now: datetime,
    *,
    modes: Sequence[AlertMode] = ("immediate", "tick"),
    issue_ids: Iterable[int] | None = None,
    summary: OncallSummary | None = None,
) -> list[tuple[int, str]]:
    """Announce the new and regressed issues whose mode is one of ``modes`` (in the caller's
    transaction); return (issue, mode) pairs."""
    ids = sorted(set(issue_ids)) if issue_ids is not None else None
    if ids is not None and not ids:
        return []
    if ids is None:
        events = _alert_events(session, now, None)
    else:  # in chunks: a large ingest touches more issues than a query may bind
        events = [
            event
            for n in range(0, len(ids), CHUNK)
            for event in _alert_events(session, now, ids[n : n + CHUNK])
        ]
    if not events:
        return []
    wanted = sorted({iid for _, iid, _, _ in events})
    rows = {
        r["id"]: r
        for n in range(0, len(wanted), CHUNK)
        for r in issue_rows(session, t.issues.c.id.in_(wanted[n : n + CHUNK]))
    }
    workload: Counter[str] | None = None
    systems: dict[int, int] = {}  # pattern -> repositories and sources it spans
    done: list[tuple[int, str]] = []
    for event_id, issue_id, what, _at in events:
        row = rows[issue_id]
        if snoozed(row, now) or row["category"] == Category.FALSE_POSITIVE.value:
            continue
        mode = alert_mode(settings, row["repository"], row["category"], row["priority"])
        if mode not in modes or mode in ("digest", "off"):
            continue
        if mode == "immediate":
            if workload is None:
                workload = open_workload(session)
            assigned = assign_issue(session, settings, row, now, workload, systems=systems)
            if assigned is not None and summary is not None:
                summary.assigned.append((issue_id, assigned))
        if _announce(session, settings, row, event_id, what, mode, now):
            done.append((issue_id, mode))
    if summary is not None:
        summary.alerted.extend(done)
    return done


def alert_at_once(
    session: Session, settings: Settings, issue_ids: Iterable[int], now: datetime
) -> list[tuple[int, str]]:
    """The ingest hook: announce (and assign) the touched issues whose mode is ``immediate``."""
    return dispatch_alerts(session, settings, now, modes=("immediate",), issue_ids=issue_ids)
