"""On-call: experts as assignees, alerts by priority, daily digests.

Routing (:func:`expert_for`, :func:`assign_issues`)
    An issue's expert is the one its automation rule names (``auto_assign``) or a person set;
    when there is none, the brief's default routing by kind and system applies: a failure
    whose pattern spans several repositories or sources -> ``da-architect``; dashboards
    (Tableau, Looker, Power BI) -> ``tableau-expert``; warehouse errors (Snowflake, "Database
    Error", BigQuery, Redshift, a dbt runtime or timeout) -> ``snowflake-expert``; dbt models
    and tests -> ``dbt-expert``; CI workflows and everything else -> ``github-sleuth-expert``.
    When the expert is in the routing table (``experts:``), an unassigned issue in ``open``,
    ``triaged`` or ``regressed`` is assigned (state ``assigned``): to the person of the expert's
    ``github`` list with the fewest open issues (ties: file order), or to its first team when it
    lists only teams. The assignment is an ``assigned`` event (actor ``rule``, ``automatic``)
    and a ``github_oncall`` job sets the GitHub assignee on the mirrored issue.

Alerts (:func:`dispatch_alerts`, :func:`send_digests`)
    A new issue (its ``created`` event) or a regressed one (``state_changed`` to
    ``regressed``) is announced according to ``alerts:`` (per repository and category, then the
    top level; defaults: critical ``immediate``, high ``tick``, medium and low ``digest``):
    ``immediate`` in the ingest transaction itself (:func:`alert_at_once`, called by the
    ingestor), ``tick`` at the next monitor tick, ``digest`` in the daily summary per repository
    and Slack channel (sent at the first tick after ``digest_hour`` UTC, default 9, listing the
    issues announced in the 24 hours before), ``off`` not at all. An immediate alert also
    assigns the issue and mentions the expert (people and teams) on its GitHub issue. The Slack
    channel is the alert route's ``slack``, else the expert's, else the default
    (``SLACK_CHANNEL``). Each alert is an outbox row keyed by its event
    (``notify:{issue}:alert:{event}``): it is sent once, whoever notices it first.
"""

from __future__ import annotations

import logging
import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Final

from sqlalchemy import String, and_, cast, func, literal, or_, select, update
from sqlalchemy.orm import Session

from triagehub.actions.notify import NOTIFY, SlackSender, enqueue_issue_notification
from triagehub.actions.notify import _config as _slack_config
from triagehub.actions.notify import _sender as _slack_sender
from triagehub.actions.sync.github_links import FORBIDDEN, GONE, sync_config, target_of, wants
from triagehub.config import AlertMode, ExpertConfig, Settings
from triagehub.core.lifecycle import WORKING_STATES, Actor
from triagehub.core.models import Category, IssueState, Kind, Level
from triagehub.engine.jobs import Deferred, Job, JobContext, Outcome, enqueue, job_handler
from triagehub.errors import ExternalServiceError
from triagehub.store import tables as t
from triagehub.store.lifecycle import change_state, record_event

log = logging.getLogger(__name__)

GITHUB_ONCALL: Final = "github_oncall"
DIGEST: Final = "notify_digest"
DEFAULT_MODES: Final[Mapping[Level, AlertMode]] = {
    Level.CRITICAL: "immediate",
    Level.HIGH: "tick",
    Level.MEDIUM: "digest",
    Level.LOW: "digest",
}
DEFAULT_DIGEST_HOUR: Final = 9
LOOKBACK: Final = timedelta(hours=24)  # a tick announces what appeared in the last day
ASSIGNABLE: Final = (IssueState.OPEN.value, IssueState.TRIAGED.value, IssueState.REGRESSED.value)
_WORKING: Final = [s.value for s in WORKING_STATES]
_CHUNK: Final = 5000

# -- routing ----------------------------------------------------------------------------------

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


def _systems(session: Session, row: Mapping[str, Any]) -> int:
    """How many repositories and sources the issue's error pattern spans (at least 1)."""
    if row["pattern_id"] is None:
        return 1
    found = session.execute(
        select(
            func.count(t.issues.c.repository_id.distinct()),
            func.count(t.issues.c.source.distinct()),
        ).where(t.issues.c.pattern_id == row["pattern_id"])
    ).one()
    return max(int(found[0] or 1), int(found[1] or 1))


def expert_for(session: Session, row: Mapping[str, Any]) -> tuple[str, bool]:
    """The issue's expert, and whether it came from the default routing."""
    if row["expert"]:
        return str(row["expert"]), False
    text = f"{row['title']}\n{row['sample_message']}\n{row['template']}"
    return (
        default_expert(
            source=row["source"], kind=row["kind"], text=text, systems=_systems(session, row)
        ),
        True,
    )


def open_workload(session: Session) -> Counter[str]:
    """Open (working-state) issues per assignee, lower-cased."""
    counts: Counter[str] = Counter()
    for assignee, n in session.execute(
        select(t.issues.c.assignee, func.count())
        .where(t.issues.c.state.in_(_WORKING), t.issues.c.assignee.is_not(None))
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


@dataclass
class OncallSummary:
    assigned: list[tuple[int, str]] = field(default_factory=list)
    alerted: list[tuple[int, str]] = field(default_factory=list)  # (issue, mode)
    digests: list[str] = field(default_factory=list)
    actions: list[tuple[int, str]] = field(default_factory=list)  # engine.category_actions

    def as_dict(self) -> dict[str, Any]:
        return {
            "actions": [{"issue": i, "action": a} for i, a in self.actions],
            "assigned": [{"issue": i, "assignee": a} for i, a in self.assigned],
            "alerted": [{"issue": i, "mode": m} for i, m in self.alerted],
            "digests": self.digests,
        }


def _issue_rows(session: Session, *where: Any) -> list[dict[str, Any]]:
    query = (
        select(t.issues, t.repositories.c.name.label("repository"))
        .join(t.repositories, t.repositories.c.id == t.issues.c.repository_id)
        .where(*where)
        .order_by(t.issues.c.id)
    )
    return [dict(r) for r in session.execute(query).mappings()]


def _snoozed(row: Mapping[str, Any], now: datetime) -> bool:
    until = row["snoozed_until"]
    return (until is not None and until > now) or row["snooze_occurrences"] is not None


def assign_issue(
    session: Session,
    settings: Settings,
    row: dict[str, Any],
    now: datetime,
    workload: Counter[str],
) -> str | None:
    """Assign one issue by the routing table (see the module docstring); the assignee or None."""
    if row["assignee"] or row["state"] not in ASSIGNABLE or _snoozed(row, now):
        return None
    if row["category"] == Category.FALSE_POSITIVE.value or "assignee" in (row["overrides"] or {}):
        return None
    name, routed = expert_for(session, row)
    expert = settings.experts.get(name)
    if expert is None:
        if routed:  # no routing table entry: the default expert is still named on the issue
            session.execute(update(t.issues).where(t.issues.c.id == row["id"]).values(expert=name))
            row["expert"] = name
        return None
    assignee = pick_assignee(expert, workload)
    if assignee is None:
        return None
    load = workload.get(assignee.lower(), 0)
    how = "default routing" if routed else "its rule"
    reason = f"assigned to {assignee}: {name} by {how}, {load} open issue(s) before this one"
    session.execute(
        update(t.issues)
        .where(t.issues.c.id == row["id"])
        .values(expert=name, assignee=assignee, updated_at=now)
    )
    change_state(session, row["id"], IssueState.ASSIGNED, actor=Actor.RULE, reason=reason, now=now)
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
    record_event(session, row["id"], "assigned", at=now, actor=Actor.RULE.value, data=data)
    if logins:
        enqueue(
            session,
            kind=GITHUB_ONCALL,
            key=f"{GITHUB_ONCALL}:{row['id']}:assign:{assignee.lower()}",
            data={"issue_id": row["id"], "assignees": logins, "queued_at": now.isoformat()},
            now=now,
        )
    workload[assignee.lower()] += 1
    row.update(expert=name, assignee=assignee, state=IssueState.ASSIGNED.value)
    return assignee


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
            for n in range(0, len(ids), _CHUNK)
            for r in _issue_rows(session, *where, t.issues.c.id.in_(ids[n : n + _CHUNK]))
        ]
    else:
        rows = _issue_rows(session, *where)
    if not rows:
        return []
    workload = open_workload(session)
    done: list[tuple[int, str]] = []
    for row in rows:
        assignee = assign_issue(session, settings, row, now, workload)
        if assignee is not None:
            done.append((row["id"], assignee))
    if summary is not None:
        summary.assigned.extend(done)
    return done


# -- alerts -----------------------------------------------------------------------------------


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


def digest_hour(settings: Settings, repository: str) -> int:
    repo = settings.repositories.get(repository)
    if repo is not None and repo.alerts is not None and repo.alerts.digest_hour is not None:
        return repo.alerts.digest_hour
    if settings.alerts.digest_hour is not None:
        return settings.alerts.digest_hour
    return DEFAULT_DIGEST_HOUR


def _alert_key(issue_id: int, event_id: int) -> str:
    return f"notify:{issue_id}:alert:{event_id}"


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
            i.state.in_(_WORKING),
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
            for n in range(0, len(ids), _CHUNK)
            for event in _alert_events(session, now, ids[n : n + _CHUNK])
        ]
    if not events:
        return []
    wanted = sorted({iid for _, iid, _, _ in events})
    rows = {
        r["id"]: r
        for n in range(0, len(wanted), _CHUNK)
        for r in _issue_rows(session, t.issues.c.id.in_(wanted[n : n + _CHUNK]))
    }
    workload: Counter[str] | None = None
    done: list[tuple[int, str]] = []
    for event_id, issue_id, what, _at in events:
        row = rows[issue_id]
        if _snoozed(row, now) or row["category"] == Category.FALSE_POSITIVE.value:
            continue
        mode = alert_mode(settings, row["repository"], row["category"], row["priority"])
        if mode not in modes or mode in ("digest", "off"):
            continue
        if mode == "immediate":
            if workload is None:
                workload = open_workload(session)
            assigned = assign_issue(session, settings, row, now, workload)
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


# -- digests ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class DigestLine:
    issue_id: int
    priority: str
    category: str
    title: str
    what: str
    occurrences: int
    expert: str | None
    state: str


def _digest_window(now: datetime, hour: int) -> tuple[datetime, datetime] | None:
    """The 24 hours the digest due at or before ``now`` covers (None before the first hour)."""
    end = now.astimezone(UTC).replace(hour=hour, minute=0, second=0, microsecond=0)
    if end > now:
        end -= timedelta(days=1)
    return end - timedelta(days=1), end


def digest_text(repository: str, channel: str, day: str, lines: Sequence[DigestLine]) -> str:
    where = f" ({channel})" if channel else ""
    head = f"Daily digest for {repository}{where}, {day}: {len(lines)} new or regressed issue(s)"
    body = [
        f"• #{x.issue_id} [{x.priority}] {x.title} ({x.category}, {x.what}, "
        f"{x.occurrences} occurrence(s), {x.state}, expert {x.expert or '-'})"
        for x in lines
    ]
    return "\n".join([head, *body])


def send_digests(
    session: Session, settings: Settings, now: datetime, *, summary: OncallSummary | None = None
) -> list[str]:
    """Queue each due daily digest (one per repository and channel, once); return their keys."""
    e, i = t.issue_events.c, t.issues.c
    earliest = now - timedelta(days=2)
    found = session.execute(
        select(e.id, e.issue_id, e.kind, e.at)
        .join(t.issues, i.id == e.issue_id)
        .where(
            e.at >= earliest,
            or_(
                e.kind == "created",
                and_(
                    e.kind == "state_changed",
                    e.data["to"].as_string() == IssueState.REGRESSED.value,
                ),
            ),
        )
        .order_by(e.id)
    ).all()
    if not found:
        return []
    rows = {r["id"]: r for r in _issue_rows(session, i.id.in_(sorted({f[1] for f in found})))}
    groups: dict[tuple[str, str, str], dict[int, DigestLine]] = {}
    for _eid, issue_id, kind, at in found:
        row = rows[issue_id]
        if alert_mode(settings, row["repository"], row["category"], row["priority"]) != "digest":
            continue
        window = _digest_window(now, digest_hour(settings, row["repository"]))
        if window is None or not (window[0] <= at < window[1]):
            continue
        channel = alert_channel(settings, row["repository"], row["category"], row["expert"])
        day = window[1].date().isoformat()
        line = DigestLine(
            issue_id,
            row["priority"],
            row["category"],
            row["title"],
            "regressed" if kind == "state_changed" else "new",
            int(row["occurrences"]),
            row["expert"],
            row["state"],
        )
        groups.setdefault((row["repository"], channel, day), {})[issue_id] = line
    keys: list[str] = []
    for (repository, channel, day), lines in sorted(groups.items()):
        ordered = sorted(lines.values(), key=lambda x: (-Level(x.priority).rank, x.issue_id))
        key = f"digest:{repository}:{channel or '-'}:{day}"[:200]
        data = {
            "repository": repository,
            "channel": channel or None,
            "day": day,
            "issues": [x.issue_id for x in ordered],
            "text": digest_text(repository, channel, day, ordered),
        }
        if enqueue(session, kind=DIGEST, key=key, data=data, now=now):
            keys.append(key)
    if summary is not None:
        summary.digests.extend(keys)
    return keys


def digest_message(data: Mapping[str, Any]) -> dict[str, Any]:
    text = str(data.get("text") or "")
    title = text.splitlines()[0] if text else "Daily digest"
    return {
        "text": title[:3000],
        "blocks": [
            {"type": "header", "text": {"type": "plain_text", "text": title[:150]}},
            {"type": "section", "text": {"type": "mrkdwn", "text": text[:3000]}},
        ],
    }


@job_handler(DIGEST)
def deliver_digest(job: Job, ctx: JobContext) -> Outcome:
    """Send one daily digest to Slack (the webhook's channel, or the routed channel)."""
    config = _slack_config(ctx)
    message = digest_message(job.data)
    if config.mode == "log":
        log.info("digest %s not sent (no Slack channel configured)", job.key)
        return Outcome(result={"via": "log", "note": "no channel configured"})
    sender: SlackSender = _slack_sender(ctx, config)
    if config.mode == "webhook":
        sender.post_webhook(job.key, message)
        return Outcome(result={"via": "slack_webhook"})
    channel = job.data.get("channel")
    channel_id, ts = sender.post_message(
        job.key, message, channel=channel if isinstance(channel, str) else None
    )
    return Outcome(result={"via": "slack_bot", "channel": channel_id, "ts": ts})


# -- the GitHub side: assignee and mention ----------------------------------------------------


@job_handler(GITHUB_ONCALL)
def github_oncall(job: Job, ctx: JobContext) -> Outcome:
    """Set the assignee of, or mention the expert on, an issue's GitHub issue; waits for the
    GitHub issue while the sync is going to create it."""
    issue_id = int(job.data["issue_id"])
    queued = _queued_at(job, ctx.clock.now())
    with Session(ctx.engine) as session:
        rows = _issue_rows(session, t.issues.c.id == issue_id)
    if not rows:
        return Outcome(result={"issue": issue_id, "skipped": "no such issue"})
    row = rows[0]
    if row["github_status"] in (GONE, FORBIDDEN):
        return Outcome(
            result={"issue": issue_id, "skipped": f"GitHub issue {row['github_status']}"}
        )
    if row["github_number"] is None:
        config = sync_config(ctx.settings, row["repository"])
        fresh = ctx.clock.now() - queued < timedelta(days=1)
        if (
            config is not None
            and fresh
            and row["state"] in _WORKING
            and wants(config, row["category"], row["priority"])
        ):
            raise Deferred(60, f"issue {issue_id} has no GitHub issue yet")
        return Outcome(result={"issue": issue_id, "skipped": "no GitHub issue"})
    if ctx.github is None:
        raise ExternalServiceError("github", None, "no GITHUB_TOKEN: cannot set the assignee")
    target = str(row["github_repo"] or target_of(row["repository"], _cfg_or_raise(ctx, row)))
    number = int(row["github_number"])
    done: list[str] = []
    assignees = [a for a in job.data.get("assignees") or [] if isinstance(a, str)]
    if assignees:
        ctx.github.add_assignees(target, number, assignees)
        done.append("assigned")
    mention = job.data.get("mention")
    if isinstance(mention, str) and mention:
        marker = f"<!-- triagehub:comment {job.data.get('marker', 'oncall')} -->"
        posted = any(
            marker in str(c.get("body") or "")
            for c in ctx.github.list_comments(target, number, since=queued)
        )
        if not posted:
            ctx.github.create_comment(target, number, f"{marker}\n{mention}")
            done.append("mentioned")
    return Outcome(result={"issue": issue_id, "target": target, "done": done})


def _queued_at(job: Job, now: datetime) -> datetime:
    try:
        return datetime.fromisoformat(str(job.data.get("queued_at")))
    except ValueError:
        return now


def _cfg_or_raise(ctx: JobContext, row: Mapping[str, Any]) -> Any:
    config = sync_config(ctx.settings, row["repository"])
    if config is None:
        raise ExternalServiceError("github", None, "github_issues is not configured")
    return config


# -- the tick ---------------------------------------------------------------------------------


def oncall_tick(session: Session, settings: Settings, now: datetime) -> OncallSummary:
    """The monitor's on-call step: assign, announce what the tick announces, send digests."""
    summary = OncallSummary()
    assign_issues(session, settings, now, summary=summary)
    dispatch_alerts(session, settings, now, summary=summary)
    send_digests(session, settings, now, summary=summary)
    from triagehub.engine.category_actions import run_category_actions

    summary.actions.extend(run_category_actions(session, settings, now))
    from triagehub.engine.weekly_report import queue_weekly_report

    summary.digests.extend(queue_weekly_report(session, settings, now))
    return summary


__all__ = [
    "DIGEST",
    "GITHUB_ONCALL",
    "NOTIFY",
    "OncallSummary",
    "alert_at_once",
    "alert_mode",
    "assign_issues",
    "default_expert",
    "digest_text",
    "dispatch_alerts",
    "oncall_tick",
    "pick_assignee",
    "send_digests",
]
