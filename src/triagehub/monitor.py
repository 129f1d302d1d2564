"""The monitor: one tick of the lifecycle rules, safe to run as often as wanted.

Each tick, in one transaction (on PostgreSQL under an advisory lock, so only one instance runs a
tick at a time):

1. **Snooze expiry**: issues snoozed until a time that has come are unsnoozed.
2. **Auto-resolution**: an issue in a working state whose checks all passed ``K`` runs in a row
   after its last failure (``Settings.auto_resolve_after``: per category, repository, or the
   default 3) closes: ``auto_resolved`` when transient, else ``resolved``. Flaky issues never
   auto-close (their checks pass most of the time; closing them would only churn).
3. **False positives**: issues classified ``false_positive`` close as ``false_positive``.
4. **SLA**: an issue still being worked on past ``sla_due_at`` is marked breached (once).
5. **Escalation** (each trigger at most once per issue, never while snoozed): untriaged past
   ``escalate_after`` hours; critical and untriaged past ``critical_response_time`` hours; a
   check failing more than ``high_volume_threshold`` times in 24 hours; an issue that regressed
   ``recurring_issue_threshold`` times; a pattern seen in ``cross_repo_correlation_threshold``
   repositories; an SLA breach. Escalating raises the priority one level and records why.
6. **GitHub issues** (repositories with ``github_issues``): a sync job for each issue changed
   since its last sync (:mod:`triagehub.sync.github_issues`).

Every change is an ``IssueEvent`` with actor ``rule`` and its reason, and every change worth a
message (auto-resolution, escalation, SLA breach) is handed to ``on_change`` in the same
transaction (the outbox of notifications). A second tick right after the first changes nothing.
"""

from __future__ import annotations

import logging
import os
import threading
import zlib
from collections import defaultdict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Engine, func, select, text, update
from sqlalchemy.orm import Session

from triagehub.agent_prs import merged_agent_pr
from triagehub.clock import Clock, SystemClock
from triagehub.config import Settings
from triagehub.core.lifecycle import WORKING_STATES, Actor
from triagehub.core.models import Category, HistoryClass, IssueState, Level
from triagehub.errors import TriagehubError
from triagehub.investigate import queue_auto_investigations
from triagehub.notify import AgentIssue, enqueue_agent_notification, enqueue_notification
from triagehub.store import tables as t
from triagehub.store.lifecycle import change_state, escalate, record_event
from triagehub.sync.github_issues import enqueue_github_sync

log = logging.getLogger(__name__)

LOCK_KEY = zlib.crc32(b"triagehub-monitor-tick")
_RECENT_BITS = 63
_WORKING = [s.value for s in WORKING_STATES]

# (session, issue row, change kind, data) -> None, called inside the tick's transaction.
ChangeHook = Callable[[Session, Mapping[str, Any], str, dict[str, Any]], None]


@dataclass
class TickSummary:
    at: datetime
    ran: bool = True  # False: another instance holds the tick lock
    unsnoozed: list[int] = field(default_factory=list)
    auto_resolved: list[int] = field(default_factory=list)
    resolved: list[int] = field(default_factory=list)
    false_positives: list[int] = field(default_factory=list)
    sla_breached: list[int] = field(default_factory=list)
    escalated: list[tuple[int, str]] = field(default_factory=list)
    agent_notified: list[int] = field(default_factory=list)

    @property
    def changes(self) -> int:
        return sum(
            len(x)
            for x in (
                self.unsnoozed,
                self.auto_resolved,
                self.resolved,
                self.false_positives,
                self.sla_breached,
                self.escalated,
                self.agent_notified,
            )
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "at": self.at.isoformat().replace("+00:00", "Z"),
            "ran": self.ran,
            "changes": self.changes,
            "unsnoozed": self.unsnoozed,
            "auto_resolved": self.auto_resolved,
            "resolved": self.resolved,
            "false_positives": self.false_positives,
            "sla_breached": self.sla_breached,
            "escalated": [{"issue": i, "trigger": trigger} for i, trigger in self.escalated],
            "agent_notified": self.agent_notified,
        }


def green_streak(recent: int, runs: int) -> int:
    """Passes in a row up to the latest run, from the outcome bitmap (bit 0 = latest run, 1 =
    failed or flaky evidence)."""
    if recent == 0:
        return min(runs, _RECENT_BITS)
    return (recent & -recent).bit_length() - 1


def _hours(value: float) -> str:
    return f"{value:g} h"


class _Tick:
    def __init__(
        self, session: Session, settings: Settings, now: datetime, hook: ChangeHook | None
    ) -> None:
        self.session = session
        self.settings = settings
        self.now = now
        self.hook = hook
        self.summary = TickSummary(at=now)

    # -- helpers ---------------------------------------------------------------------------

    def _rows(self, *where: Any) -> list[Mapping[str, Any]]:
        query = (
            select(t.issues, t.repositories.c.name.label("repository"))
            .join(t.repositories, t.repositories.c.id == t.issues.c.repository_id)
            .where(t.issues.c.state.in_(_WORKING), *where)
            .order_by(t.issues.c.id)
        )
        return [dict(r) for r in self.session.execute(query).mappings()]

    def _changed(self, row: Mapping[str, Any], kind: str, data: dict[str, Any]) -> None:
        if self.hook is not None:
            self.hook(self.session, row, kind, {**data, "at": self.now})

    def _snoozed(self, row: Mapping[str, Any]) -> bool:
        until = row["snoozed_until"]
        return (until is not None and until > self.now) or row["snooze_occurrences"] is not None

    # -- rules -----------------------------------------------------------------------------

    def unsnooze(self) -> None:
        for row in self._rows(t.issues.c.snoozed_until <= self.now):
            self.session.execute(
                update(t.issues)
                .where(t.issues.c.id == row["id"])
                .values(snoozed_until=None, updated_at=self.now)
            )
            record_event(
                self.session,
                row["id"],
                "unsnoozed",
                at=self.now,
                actor=Actor.RULE.value,
                data={"reason": "the snooze expired"},
            )
            self.summary.unsnoozed.append(row["id"])

    def auto_resolve(self) -> None:
        rows = self._rows(t.issues.c.history_class != HistoryClass.FLAKY.value)
        if not rows:
            return
        streaks: dict[int, list[tuple[int, datetime | None, bool]]] = defaultdict(list)
        ids = [r["id"] for r in rows]
        for chunk in (ids[i : i + 5000] for i in range(0, len(ids), 5000)):
            query = (
                select(
                    t.issue_checks.c.issue_id,
                    t.check_stats.c.recent,
                    t.check_stats.c.runs,
                    t.check_stats.c.last_pass_at,
                    t.check_stats.c.flaky,
                )
                .join(t.check_stats, t.check_stats.c.check_id == t.issue_checks.c.check_id)
                .where(t.issue_checks.c.issue_id.in_(chunk))
            )
            for issue_id, recent, runs, last_pass, flaky in self.session.execute(query):
                streaks[issue_id].append((green_streak(int(recent), int(runs)), last_pass, flaky))
        for row in rows:
            checks = streaks.get(row["id"])
            if not checks:
                continue
            needed = self.settings.auto_resolve_after(row["repository"], row["category"])
            healed = all(
                streak >= needed
                and last_pass is not None
                and last_pass >= row["last_seen"]
                and not flaky
                for streak, last_pass, flaky in checks
            )
            if not healed:
                continue
            transient = row["category"] == Category.TRANSIENT.value
            target = IssueState.AUTO_RESOLVED if transient else IssueState.RESOLVED
            noun = "check" if len(checks) == 1 else f"{len(checks)} checks"
            reason = f"auto-resolved after {needed} green runs in a row of its {noun}"
            fix = merged_agent_pr(self.session, row["id"], before=row["last_seen"])
            if fix is not None:  # the coding agent's fix, merged, then the checks passed
                reason += f" after the agent's pull request {fix} was merged"
            change_state(
                self.session,
                row["id"],
                target,
                actor=Actor.RULE,
                reason=reason,
                now=self.now,
                who="agent" if fix is not None else None,
            )
            (self.summary.auto_resolved if transient else self.summary.resolved).append(row["id"])
            self._changed(row, "resolved", {"to": target.value, "reason": reason})

    def close_false_positives(self) -> None:
        if not self.settings.lifecycle.auto_close_false_positives:
            return
        for row in self._rows(t.issues.c.category == Category.FALSE_POSITIVE.value):
            reason = "classified false_positive: closed and no longer alerting"
            change_state(
                self.session,
                row["id"],
                IssueState.FALSE_POSITIVE,
                actor=Actor.RULE,
                reason=reason,
                now=self.now,
            )
            self.summary.false_positives.append(row["id"])

    def sla(self) -> None:
        for row in self._rows(
            t.issues.c.sla_due_at <= self.now, t.issues.c.sla_breached_at.is_(None)
        ):
            self.session.execute(
                update(t.issues)
                .where(t.issues.c.id == row["id"])
                .values(sla_breached_at=self.now, updated_at=self.now)
            )
            due = row["sla_due_at"].isoformat().replace("+00:00", "Z")
            data = {"reason": f"not resolved by its SLA ({due})", "due": due}
            record_event(
                self.session, row["id"], "sla_breached", at=self.now, actor="rule", data=data
            )
            self.summary.sla_breached.append(row["id"])
            self._changed(row, "sla_breached", data)

    def agent_notifications(self) -> None:
        """Hand high and critical failures, and checks that failed again after a retry, to the
        configured agent (once per issue and handle)."""
        handle = self.settings.lifecycle.agent_handle
        if not handle:
            return
        retried = set(
            self.session.execute(
                select(t.occurrences.c.issue_id)
                .join(t.runs, t.runs.c.id == t.occurrences.c.run_id)
                .join(t.issues, t.issues.c.id == t.occurrences.c.issue_id)
                .where(t.runs.c.attempt >= 2, t.issues.c.state.in_(_WORKING))
                .distinct()
            ).scalars()
        )
        serious = (Level.HIGH.value, Level.CRITICAL.value)
        for row in self._rows():
            if self._snoozed(row) or not (row["severity"] in serious or row["id"] in retried):
                continue
            issue = _agent_issue(self.session, row)
            if enqueue_agent_notification(self.session, issue=issue, handle=handle, now=self.now):
                self.summary.agent_notified.append(row["id"])

    def escalations(self) -> None:
        triggers = self.settings.escalation_triggers
        day_ago = self.now - timedelta(days=1)
        volume: dict[int, int] = dict(
            self.session.execute(
                select(t.occurrences.c.issue_id, func.count())
                .join(t.issues, t.issues.c.id == t.occurrences.c.issue_id)
                .where(t.occurrences.c.occurred_at > day_ago, t.issues.c.state.in_(_WORKING))
                .group_by(t.occurrences.c.issue_id, t.occurrences.c.check_id)
                .having(func.count() > triggers.high_volume_threshold)
            ).all()
        )
        regressions: dict[int, int] = dict(
            self.session.execute(
                select(t.issue_events.c.issue_id, func.count())
                .join(t.issues, t.issues.c.id == t.issue_events.c.issue_id)
                .where(
                    t.issue_events.c.kind == "state_changed",
                    t.issues.c.state.in_(_WORKING),
                    t.issue_events.c.data["to"].as_string() == IssueState.REGRESSED.value,
                )
                .group_by(t.issue_events.c.issue_id)
            ).all()
        )
        pattern_repos: dict[int, int] = dict(
            self.session.execute(
                select(t.issues.c.pattern_id, func.count(t.issues.c.repository_id.distinct()))
                .where(t.issues.c.pattern_id.is_not(None))
                .group_by(t.issues.c.pattern_id)
                .having(
                    func.count(t.issues.c.repository_id.distinct())
                    >= triggers.cross_repo_correlation_threshold
                )
            ).all()
        )
        for row in self._rows():
            if self._snoozed(row):
                continue
            fired = dict(row["escalations"] or {})
            untriaged = row["state"] == IssueState.OPEN.value
            age = self.now - row["first_seen"]
            candidates: list[tuple[str, str]] = []
            after = row["escalate_after_hours"]
            if untriaged and after is not None and age >= timedelta(hours=after):
                candidates.append(("untriaged", f"not triaged within {_hours(after)}"))
            if row["id"] in volume:
                candidates.append(
                    (
                        "high_volume",
                        f"a check failed {volume[row['id']]} times in 24 h "
                        f"(threshold {triggers.high_volume_threshold})",
                    )
                )
            if regressions.get(row["id"], 0) >= triggers.recurring_issue_threshold:
                candidates.append(
                    ("recurring", f"regressed {regressions[row['id']]} times after resolution")
                )
            if row["pattern_id"] in pattern_repos:
                n = pattern_repos[row["pattern_id"]]
                candidates.append(("cross_repo", f"the same error pattern is in {n} repositories"))
            if row["sla_breached_at"] is not None:
                candidates.append(("sla_breach", "past its SLA"))
            # Last, on the priority the triggers above left: an escalation to critical in this
            # tick is answered in this tick too, so the next tick has nothing left to do.
            critical_after = triggers.critical_response_time
            critical_response = (
                "critical_response",
                f"critical and not triaged within {_hours(critical_after)}",
            )
            if untriaged and age >= timedelta(hours=critical_after):
                candidates.append(critical_response)
            current = dict(row)
            for trigger, reason in candidates:
                if trigger == "critical_response" and current["priority"] != Level.CRITICAL.value:
                    continue
                if trigger in fired:
                    continue
                data = escalate(self.session, current, trigger=trigger, reason=reason, now=self.now)
                fired[trigger] = self.now.isoformat()
                current["escalations"] = fired
                current["escalation_level"] = data["level"]
                current["priority"] = data["priority"]["to"]
                self.summary.escalated.append((row["id"], trigger))
                self._changed(current, "escalated", data)


_CHANGE_TEXT = {
    "resolved": "Issue #{id} {to}: {reason}",
    "escalated": "Issue #{id} escalated to {priority}: {reason}",
    "sla_breached": "Issue #{id} breached its SLA: {reason}",
}


def notify_change(
    session: Session, row: Mapping[str, Any], kind: str, data: dict[str, Any]
) -> None:
    """The outbox hook of the monitor: one notification per change, written in the tick's
    transaction; its key (issue, change, trigger, time) makes a repeated tick a no-op."""
    at: datetime = data["at"]
    priority = data["priority"]["to"] if isinstance(data.get("priority"), dict) else row["priority"]
    text = _CHANGE_TEXT[kind].format(
        id=row["id"], to=data.get("to", ""), reason=data.get("reason", ""), priority=priority
    )
    tag = data.get("trigger") or data.get("to") or kind
    enqueue_notification(
        session,
        issue_id=row["id"],
        event=kind,
        text=text,
        title=row["title"],
        repository=row["repository"],
        category=row["category"],
        priority=priority,
        occurrences=row["occurrences"],
        first_seen=row["first_seen"],
        last_seen=row["last_seen"],
        reason=f"{kind}:{tag}:{at.isoformat()}",
        now=at,
    )


def _agent_issue(session: Session, row: Mapping[str, Any]) -> AgentIssue:
    recent = session.execute(
        select(t.runs.c.commit_sha, t.runs.c.url, t.checks.c.key)
        .join(t.occurrences, t.occurrences.c.run_id == t.runs.c.id)
        .join(t.checks, t.checks.c.id == t.occurrences.c.check_id)
        .where(t.occurrences.c.issue_id == row["id"])
        .order_by(t.occurrences.c.occurred_at.desc())
        .limit(20)
    ).all()
    return AgentIssue(
        issue_id=row["id"],
        title=row["title"],
        repository=row["repository"],
        category=row["category"],
        kind=row["kind"],
        priority=row["priority"],
        message=row["sample_message"],
        occurrences=row["occurrences"],
        first_seen=row["first_seen"],
        last_seen=row["last_seen"],
        commits=[f"{row['repository']}@{r.commit_sha}" for r in recent if r.commit_sha],
        checks=list(dict.fromkeys(r.key for r in recent)),
        links=list(dict.fromkeys(r.url for r in recent if r.url))[:5],
        rationale=row["rationale"],
    )


def _locked(session: Session) -> bool:
    """Take the tick lock for this transaction (PostgreSQL); False when another holds it."""
    if session.get_bind().dialect.name != "postgresql":
        return True
    return bool(
        session.execute(text("select pg_try_advisory_xact_lock(:k)"), {"k": LOCK_KEY}).scalar()
    )


def run_tick(
    engine: Engine,
    settings: Settings,
    *,
    clock: Clock | None = None,
    on_change: ChangeHook | None = None,
) -> TickSummary:
    """Run every lifecycle rule once, in one transaction."""
    now = (clock or SystemClock()).now()
    with Session(engine) as session, session.begin():
        if not _locked(session):
            log.info("another instance is running a monitor tick; skipped")
            return TickSummary(at=now, ran=False)
        tick = _Tick(session, settings, now, on_change)
        tick.unsnooze()
        tick.auto_resolve()
        tick.close_false_positives()
        tick.sla()
        tick.escalations()
        tick.agent_notifications()
        queue_auto_investigations(session, settings, now)
        enqueue_github_sync(session, settings, now)
    return tick.summary


POLL_LOCK_KEY = zlib.crc32(b"triagehub-monitor-poll")


@dataclass
class PollRound:
    """What the polling part of a tick did, per source."""

    ran: bool = True  # False: another instance is polling
    sources: dict[str, dict[str, Any]] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {"ran": self.ran, "sources": self.sources}


def poll_sources(engine: Engine, settings: Settings, *, clock: Clock | None = None) -> PollRound:
    """Poll the sources ``lifecycle.poll`` names (outside any transaction: network), each on its
    own so that one failing leaves the others; on PostgreSQL one instance polls at a time."""
    wanted = settings.lifecycle.poll
    result = PollRound()
    if not (wanted.github_actions or wanted.dbt_cloud):
        return result
    with engine.connect() as conn:
        postgres = engine.dialect.name == "postgresql"
        if (
            postgres
            and not conn.execute(
                text("select pg_try_advisory_lock(:k)"), {"k": POLL_LOCK_KEY}
            ).scalar()
        ):
            log.info("another instance is polling; skipped")
            return PollRound(ran=False)
        try:
            since = timedelta(hours=wanted.since_hours)
            if wanted.github_actions:
                result.sources["github_actions"] = _guarded(
                    lambda: _poll_github(engine, settings, since, clock)
                )
            if wanted.dbt_cloud:
                result.sources["dbt_cloud"] = _guarded(
                    lambda: _poll_dbt_cloud(engine, settings, since, clock)
                )
        finally:
            if postgres:
                conn.execute(text("select pg_advisory_unlock(:k)"), {"k": POLL_LOCK_KEY})
                conn.commit()
    return result


def _guarded(poll: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    try:
        return poll()
    except TriagehubError as exc:
        log.warning("poll failed: %s", exc)
        return {"error": str(exc)}


def _poll_github(
    engine: Engine, settings: Settings, since: timedelta, clock: Clock | None
) -> dict[str, Any]:
    from triagehub.actions.github import GitHubClient
    from triagehub.config import Secrets
    from triagehub.poll import poll_github_actions

    token = Secrets.from_env().github_token
    if token is None:
        return {"error": "GITHUB_TOKEN is not set; not polled"}
    if not settings.repositories:
        return {"error": "no repositories in triagehub.yaml; not polled"}
    base_url = os.environ.get("TRIAGEHUB_GITHUB_API_URL", "https://api.github.com")
    with GitHubClient(token.get_secret_value(), base_url=base_url) as client:
        summary = poll_github_actions(
            engine,
            settings,
            client,
            repositories=list(settings.repositories),
            since=since,
            clock=clock,
        )
    return {"runs": summary.runs_seen, "new_issues": summary.ingest.new_issues}


def _poll_dbt_cloud(
    engine: Engine, settings: Settings, since: timedelta, clock: Clock | None
) -> dict[str, Any]:
    from triagehub.config import Secrets
    from triagehub.dbt_cloud import DbtCloudClient, poll_dbt_cloud

    cloud = settings.dbt_cloud.with_env()
    token = Secrets.from_env().dbt_cloud_api_token
    if token is None or cloud.account_id is None:
        return {"error": "DBT_CLOUD_API_TOKEN or DBT_CLOUD_ACCOUNT_ID is not set; not polled"}
    with DbtCloudClient(token.get_secret_value(), cloud.account_id, host=cloud.host) as client:
        summary = poll_dbt_cloud(
            engine, settings, client, since=since, repository=None, clock=clock
        )
    return {"runs": summary.runs_ingested, "new_issues": summary.ingest.new_issues}


class MonitorLoop:
    """A background thread that runs a tick every ``interval`` seconds (``triagehub serve``);
    on PostgreSQL, several servers share the work through the tick lock."""

    def __init__(
        self,
        engine: Engine,
        settings: Settings,
        *,
        interval: float | None = None,
        on_change: ChangeHook | None = None,
    ) -> None:
        self.engine = engine
        self.settings = settings
        self.interval = interval or settings.lifecycle.tick_minutes * 60
        self.on_change = on_change
        self.ticks = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="triagehub-monitor", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=30)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                polled = poll_sources(self.engine, self.settings)
                if polled.sources:
                    log.info("monitor poll: %s", polled.as_dict())
                summary = run_tick(self.engine, self.settings, on_change=self.on_change)
                self.ticks += 1
                if summary.changes:
                    log.info("monitor tick: %s", summary.as_dict())
            except Exception:
                log.exception("monitor tick failed; trying again at the next tick")
            self._stop.wait(self.interval)
