"""On-call alerts: when a new or regressed issue is announced, where, mentioning whom."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any, Final

from sqlalchemy import String, and_, cast, literal, or_, select
from sqlalchemy.orm import Session

from triagehub.config import AlertMode, Settings
from triagehub.core.models import Category, IssueState, Level
from triagehub.engine.issue_rows import WORKING, snoozed
from triagehub.engine.notify import NOTIFY, notification_data, notification_key
from triagehub.engine.oncall.common import CHUNK, GITHUB_ONCALL, OncallSummary
from triagehub.engine.oncall.routing import open_workload, pass_spans, plan_assignment
from triagehub.engine.oncall.writes import Carried, OncallWrites
from triagehub.store import tables as t
from triagehub.store.dialect import one_of

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


# What a pass reads of an announced issue: its alert (``_announce``, ``notification_data``) and
# routing (``routing.plan_assignment``) columns, not the issue's other ones.
_ROW_COLUMNS: Final = (
    "id",
    "title",
    "category",
    "priority",
    "occurrences",
    "first_seen",
    "last_seen",
    "github_url",
    "expert",
    "assignee",
    "state",
    "overrides",
    "snoozed_until",
    "snooze_occurrences",
    "sample_message",
    "template",
    "pattern_id",
    "source",
    "kind",
)


def _possible_priorities(settings: Settings, modes: Iterable[AlertMode]) -> list[str] | None:
    """The priorities an issue announced in one of ``modes`` may have: a superset of those
    :func:`alert_mode` gives one of ``modes`` for (any repository, any category: every layer of
    the configuration is asked), ``None`` for any priority (a priority outside the vocabulary is
    read as medium: medium among them means any)."""
    wanted = set(modes) - {"digest", "off"}  # (never announced by a pass)
    configs = [settings.alerts]
    configs += [r.alerts for r in settings.repositories.values() if r.alerts is not None]
    layers: list[Any] = [*configs, *(route for c in configs for route in c.categories.values())]
    levels = [
        level.value
        for level in Level
        if DEFAULT_MODES[level] in wanted or any(getattr(x, level.value) in wanted for x in layers)
    ]
    return None if Level.MEDIUM.value in levels else levels


def _alert_events(
    session: Session,
    now: datetime,
    issue_ids: Sequence[int] | None,
    priorities: Sequence[str] | None = None,
) -> list[tuple[int, int, str, dict[str, Any]]]:
    """(event id, issue id, what, the issue's row) of the announceable events not announced
    yet, in event order: the row holds the columns a pass reads (:data:`_ROW_COLUMNS` and the
    repository's name), one dict per issue (its events share it). ``priorities``: only the
    issues of these (``None``: of any; the pass would pass over the others).

    Statements of one driving table each: the ids of the wanted issues of ``issue_ids`` (by
    their key), their events not announced yet (by ``issue_id``; a tick: the events of the last
    day), then the rows of those events' issues. Joined in one statement, PostgreSQL, with the
    statistics of tables an uncommitted ingest has just filled, could estimate one issue and
    rescan the events once per issue."""
    if priorities is not None and not priorities:
        return []
    e = t.issue_events.c
    if issue_ids is None:
        found = _unannounced(session, e.at >= now - LOOKBACK)
    else:
        i = t.issues.c
        wanted: list[int] = []
        for where in one_of(session, i.id, issue_ids, CHUNK):
            query = select(i.id).where(where, *_wanted(priorities))
            wanted += session.execute(query).scalars().all()
        found = [
            event
            for where in one_of(session, e.issue_id, sorted(wanted), CHUNK)
            for event in _unannounced(session, where)
        ]
    rows = _issue_rows(session, sorted({issue_id for _, issue_id, _ in found}), priorities)
    return [(pk, iid, what, rows[iid]) for pk, iid, what in found if iid in rows]


def _wanted(priorities: Sequence[str] | None) -> list[Any]:
    """The conditions of an issue a pass may announce: working, of ``priorities`` (unless
    ``None``). ``state || ''``, ``priority || ''``: filters, never where a plan starts (their
    indexes would read every working or critical issue of the database, and stale statistics
    could make them look cheap): the plan starts from the ids."""
    i = t.issues.c
    found = [i.state.concat("").in_(WORKING)]
    if priorities is not None:
        found.append(i.priority.concat("").in_(priorities))
    return found


def _issue_rows(
    session: Session, ids: Sequence[int], priorities: Sequence[str] | None
) -> dict[int, dict[str, Any]]:
    """The rows (:data:`_ROW_COLUMNS` and the repository's name) of the wanted issues of
    ``ids`` (:func:`_wanted`), by id."""
    i = t.issues.c
    names = (*_ROW_COLUMNS, "repository")
    rows: dict[int, dict[str, Any]] = {}
    for where in one_of(session, i.id, ids, CHUNK):
        query = (
            select(*(i[c] for c in _ROW_COLUMNS), t.repositories.c.name)
            .join(t.repositories, t.repositories.c.id == i.repository_id)
            .where(where, *_wanted(priorities))
        )
        for values in session.execute(query).all():
            rows[int(values[0])] = dict(zip(names, values, strict=True))
    return rows


def _unannounced(session: Session, where: Any) -> list[tuple[int, int, str]]:
    """(event id, issue id, what) of the ``created`` and regressing events matching ``where``
    whose alert has no notification job yet, in event order."""
    e = t.issue_events.c
    key = literal("notify:") + cast(e.issue_id, String) + literal(":alert:") + cast(e.id, String)
    query = (
        select(e.id, e.issue_id, e.kind)
        .outerjoin(t.jobs, t.jobs.c.key == key)
        .where(
            where,
            t.jobs.c.id.is_(None),
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
    return [
        (int(pk), int(issue_id), "regressed" if kind == "state_changed" else "created")
        for pk, issue_id, kind in session.execute(query).all()
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
    settings: Settings,
    row: dict[str, Any],
    event_id: int,
    what: str,
    mode: AlertMode,
    now: datetime,
    writes: OncallWrites,
) -> str:
    """Add the alert's writes; returns the key of its notification (the alert is sent when this
    pass creates that job)."""
    channel = alert_channel(settings, row["repository"], row["category"], row["expert"])
    mentions = _mentions(settings, row)
    word = "Regressed" if what == "regressed" else "New"
    owner = f" Expert: {row['expert']}." if row["expert"] else ""
    who = f" On call: {', '.join(mentions)}." if mentions else ""
    text = (
        f"{word} {row['priority']} issue #{row['id']} in {row['repository']}: {row['title']}."
        f"{owner}{who}"
    )
    reason = f"alert:{event_id}"
    data = notification_data(
        row, event="regressed" if what == "regressed" else "created", text=text, channel=channel
    )
    key = notification_key(row["id"], reason=reason)
    writes.job(NOTIFY, key, data)
    alerted: dict[str, Any] = {
        "mode": mode,
        "event": event_id,
        "what": what,
        "channel": channel or None,
        "mentions": mentions,
    }
    writes.event(row["id"], "alerted", alerted, needs=key)
    if mode == "immediate" and mentions:
        body = (
            f"{' '.join(mentions)}: {word.lower()} {row['priority']} failure, please take it "
            f"(triagehub issue #{row['id']}, expert {row['expert'] or '-'})."
        )
        writes.job(
            GITHUB_ONCALL,
            f"{GITHUB_ONCALL}:{row['id']}:mention:{event_id}",
            {
                "issue_id": row["id"],
                "mention": body,
                "marker": f"oncall{event_id}",
                "queued_at": now.isoformat(),
            },
            needs=key,
        )
    return key


def dispatch_alerts(
    session: Session,
    settings: Settings,
    now: datetime,
    *,
    modes: Sequence[AlertMode] = ("immediate", "tick"),
    issue_ids: Iterable[int] | None = None,
    summary: OncallSummary | None = None,
    carried: Mapping[int, Carried] | None = None,
) -> list[tuple[int, str]]:
    """Announce the new and regressed issues whose mode is one of ``modes`` (in the caller's
    transaction); return (issue, mode) pairs.

    Decided issue by issue in event order, written as one pass (:class:`OncallWrites`): a
    handful of statements, whatever the number of issues. ``carried``: the issues this
    transaction inserted with the on-call columns it expected of this pass (see
    ``engine.oncall.at_insert``)."""
    carried = carried or {}
    ids = sorted(set(issue_ids)) if issue_ids is not None else None
    if ids is not None and not ids:
        return []
    priorities = _possible_priorities(settings, modes)
    if ids is None:
        events = _alert_events(session, now, None, priorities)
    else:  # in chunks: a large ingest touches more issues than a query may bind
        events = [
            event
            for n in range(0, len(ids), CHUNK)
            for event in _alert_events(session, now, ids[n : n + CHUNK], priorities)
        ]
    chosen: list[tuple[int, int, str, AlertMode]] = []
    rows: dict[int, dict[str, Any]] = {}
    known: dict[tuple[str, str, str], AlertMode] = {}  # alert_mode's (a pass has few distinct)
    for event_id, issue_id, what, row in events:
        if snoozed(row, now) or row["category"] == Category.FALSE_POSITIVE.value:
            continue
        asked = (row["repository"], row["category"], row["priority"])
        mode = known.get(asked)
        if mode is None:
            mode = known[asked] = alert_mode(settings, *asked)
        if mode in modes and mode not in ("digest", "off"):
            chosen.append((event_id, issue_id, what, mode))
            rows[issue_id] = row
    if not chosen:
        OncallWrites(now, carried=carried).flush(session)  # the carried columns, if not these
        return []
    for iid, row in rows.items():  # decided from the row as it was before the guess
        if iid in carried:
            row.update(carried[iid].before)
    immediate = [rows[iid] for _, iid, _, mode in chosen if mode == "immediate"]
    # (without a routing table no one is assigned: routing never reads the workload)
    workload = _workload(session, carried) if immediate and settings.experts else Counter[str]()
    systems = pass_spans(session, immediate)
    writes = OncallWrites(now, carried=carried)
    planned: list[tuple[int, str, str]] = []
    for event_id, issue_id, what, mode in chosen:
        row = rows[issue_id]
        if mode == "immediate":
            assigned = plan_assignment(settings, row, now, workload, systems, writes)
            if assigned is not None and summary is not None:
                summary.assigned.append((issue_id, assigned))
        planned.append(
            (issue_id, mode, _announce(settings, row, event_id, what, mode, now, writes))
        )
    created = writes.flush(session)
    done = [(issue_id, mode) for issue_id, mode, key in planned if key in created]
    if summary is not None:
        summary.alerted.extend(done)
    return done


def _workload(session: Session, carried: Mapping[int, Carried]) -> Counter[str]:
    """``open_workload`` without the assignees the carried issues were inserted with (a new
    issue has none before its pass)."""
    workload = open_workload(session)
    for c in carried.values():
        assignee = c.after["assignee"]
        if assignee is not None and c.after["state"] in WORKING:
            key = str(assignee).lower()
            workload[key] -= 1
            if workload[key] <= 0:
                del workload[key]
    return workload


def alert_at_once(
    session: Session,
    settings: Settings,
    issue_ids: Iterable[int],
    now: datetime,
    *,
    carried: Mapping[int, Carried] | None = None,
) -> list[tuple[int, str]]:
    """The ingest hook: announce (and assign) the touched issues whose mode is ``immediate``;
    ``carried``: the batch's issues inserted with the columns expected of this pass."""
    return dispatch_alerts(
        session, settings, now, modes=("immediate",), issue_ids=issue_ids, carried=carried
    )
