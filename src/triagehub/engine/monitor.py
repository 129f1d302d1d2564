"""The monitor: one tick of the lifecycle rules, safe to run as often as wanted.

Each tick, in one transaction (on PostgreSQL under an advisory lock, so only one instance runs a
tick at a time):

1. **Snooze expiry**: issues snoozed until a time that has come are unsnoozed.
2. **Auto-resolution and regressions, in event time**: an issue in a working state whose checks
   all passed ``K`` runs in a row after its last failure (``Settings.auto_resolve_after``: per
   category, repository, or the default 3) closes: ``auto_resolved`` when transient, else
   ``resolved``, stamped with the K-th green run's finish. The healings the runs prove are compared
   with the timeline and reconciled (a late tick or a backfill writes a past healing and the
   regression that followed it; a late failure inside a green streak takes its resolution back).
   First, the history class is settled in event time (``_classify_in_event_time``): each check's
   stored outcomes are replayed by event time and an issue whose class (flaky, persistent,
   recurring, new) differs from the one the arrival order gave is classified again, so the
   category (transient or not) and hence ``auto_resolved``/``resolved`` and ``K`` follow the
   runs' times. A green streak that ends while its check is flaky (event time) closes nothing:
   flaky checks pass most of the time; closing their issues would churn.
3. **False positives**: issues classified ``false_positive`` close as ``false_positive``.
4. **SLA**: an issue still being worked on past ``sla_due_at`` is marked breached (once).
5. **Escalation** (``_Tick.escalations``; each trigger at most once per issue, never while
   snoozed, the triggers of one tick as one escalation): untriaged past ``escalate_after`` hours;
   critical without a human response past ``critical_response_time`` hours; failing on
   ``recurring_issue_threshold`` days of the last 7; a pattern in
   ``cross_repo_correlation_threshold`` repositories; an SLA breach. Priority goes up one step at
   most (never to critical; low severity at most medium). ``high_volume_threshold`` new issues
   of a repository in a day make one repository-level escalation naming them.
6. **GitHub issues** (repositories with ``github_issues``): a sync job for each issue changed
   since its last sync (:mod:`triagehub.actions.sync.github_issues`).

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

from sqlalchemy import Engine, func, select, text, true, update
from sqlalchemy.orm import Session

from triagehub.actions.notify import (
    AgentIssue,
    enqueue_agent_notification,
    enqueue_issue_notification,
)
from triagehub.actions.sync.github_issues import enqueue_github_sync
from triagehub.clock import Clock, SystemClock
from triagehub.config import Settings
from triagehub.core.classify import Classifier, ClassifyInput, detect_kind, exit_code_of
from triagehub.core.history import (
    MAX_PASS_TIMES,
    Outcome,
    Replay,
    event_time_class,
    from_micros,
    replay,
)
from triagehub.core.lifecycle import WORKING_STATES, Actor, healed_episodes
from triagehub.core.models import Category, IssueState, Level, Scope, Status
from triagehub.engine.category_actions import may_auto_resolve
from triagehub.engine.ingest import reclassify_issue
from triagehub.engine.investigate import queue_auto_investigations
from triagehub.engine.oncall import oncall_tick
from triagehub.errors import TriagehubError
from triagehub.store import tables as t
from triagehub.store.lifecycle import change_state, escalate, record_event
from triagehub.work.agent_prs import merged_agent_pr

log = logging.getLogger(__name__)

LOCK_KEY = zlib.crc32(b"triagehub-monitor-tick")
# The window of the recurring trigger: failures on N different days within it.
RECURRING_WINDOW_DAYS = 7
# Issues auto-resolved and untouched (no failure reached them) for longer are not re-judged.
RECONCILE_CLOSED_DAYS = 7
_RECENT_BITS = 63
# Failures of a check the event-time replay reads (its latest, by event time).
MAX_REPLAYED_FAILURES = 256
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
    # Healed and failed again meanwhile (a late tick or a backfill: both written in event time).
    regressed: list[int] = field(default_factory=list)
    # A resolution that late evidence (a failure inside its green streak) took back.
    reopened: list[int] = field(default_factory=list)
    # Classified again: the history class of its check in event time differed.
    reclassified: list[int] = field(default_factory=list)
    # (repository, UTC day, issue ids): one escalation per repository and day on volume.
    repository_escalations: list[tuple[str, str, list[int]]] = field(default_factory=list)
    oncall: dict[str, Any] = field(default_factory=dict)  # engine.oncall: assigned, alerted

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
                self.regressed,
                self.reopened,
                self.reclassified,
                self.repository_escalations,
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
            "regressed": self.regressed,
            "reopened": self.reopened,
            "reclassified": self.reclassified,
            "repository_escalations": [
                {"repository": repo, "day": day, "issues": ids}
                for repo, day, ids in self.repository_escalations
            ],
        }


def green_streak(recent: int, runs: int) -> int:
    """Passes in a row up to the latest run, from the outcome bitmap (bit 0 = latest run, 1 =
    failed or flaky evidence)."""
    if recent == 0:
        return min(runs, _RECENT_BITS)
    return (recent & -recent).bit_length() - 1


def _machine_events(events: list[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
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
            # Locked in id order (PostgreSQL), like the ingest's: a rule decides on the issue as
            # it is, and an ingest waits for the tick instead of overwriting what it changed.
            .with_for_update(of=t.issues)
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
            select(t.issues, t.repositories.c.name.label("repository"))
            .join(t.repositories, t.repositories.c.id == t.issues.c.repository_id)
            .where(
                t.issues.c.state.in_(_WORKING)
                | (
                    t.issues.c.state.in_(machine_closed)
                    # a closed issue changes only when a failure reaches it (late or new)
                    & (t.issues.c.updated_at >= self.now - timedelta(days=RECONCILE_CLOSED_DAYS))
                ),
            )
            .order_by(t.issues.c.id)
        )
        rows = [dict(r) for r in self.session.execute(query).mappings()]
        for chunk in (rows[i : i + 2000] for i in range(0, len(rows), 2000)):
            self._reconcile_chunk(chunk)

    def _reconcile_chunk(self, rows: list[dict[str, Any]]) -> None:
        ids = [r["id"] for r in rows]
        checks: dict[int, dict[int, tuple[list[datetime], bool, bool]]] = defaultdict(dict)
        forgotten: dict[int, datetime] = {}
        for issue_id, check_id, pass_times, flaky, last_pass in self.session.execute(
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
        replays = self._replays({c: p for per in checks.values() for c, (p, _, _) in per.items()})
        self._classify_in_event_time(rows, replays)
        events: dict[int, list[Mapping[str, Any]]] = defaultdict(list)
        for event in self.session.execute(
            select(t.issue_events)
            .where(t.issue_events.c.issue_id.in_(ids), t.issue_events.c.kind == "state_changed")
            .order_by(t.issue_events.c.at, t.issue_events.c.id)
        ).mappings():
            events[event["issue_id"]].append(dict(event))
        # Only issues with green runs after their first failure, or with machine history, need
        # their failures: the others cannot have healed.
        wanted = [
            r["id"]
            for r in rows
            if _machine_events(events.get(r["id"], []))
            or any(p and p[-1] > r["first_seen"] for p, _, _ in checks.get(r["id"], {}).values())
        ]
        failures: dict[int, dict[datetime, tuple[str | None, int]]] = defaultdict(dict)
        if wanted:
            # Failures from the oldest green run kept on (older gaps hold no known green run),
            # and the last failure before it (the start of the first gap).
            oldest = [p[0] for i in wanted for p, _, _ in checks[i].values() if p]
            floor = min(oldest) if oldest else None
            recent = t.occurrences.c.occurred_at >= floor if floor is not None else true()
            for issue_id, at, commit, run_id in self.session.execute(
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
                for issue_id, at in self.session.execute(
                    select(t.occurrences.c.issue_id, func.max(t.occurrences.c.occurred_at))
                    .where(
                        t.occurrences.c.issue_id.in_(wanted), t.occurrences.c.occurred_at < floor
                    )
                    .group_by(t.occurrences.c.issue_id)
                ):
                    failures[issue_id][at] = (None, 0)  # only a gap's start, never a regression
        for row in rows:
            if row["id"] in failures:
                self._reconcile(
                    row,
                    checks[row["id"]],
                    replays,
                    events.get(row["id"], []),
                    failures[row["id"]],
                    forgotten.get(row["id"]),
                )

    def _replays(self, passes: Mapping[int, list[datetime]]) -> dict[int, Replay]:
        """Each check's outcomes by event time (``replay``): its failures (occurrences outside
        storms, with their runs' commits and attempts) and its kept green runs (with the
        commits and attempts of the runs of its repository that finished then, other than
        runs the check failed in; two runs finishing in the same second are both candidates)."""
        if not passes:
            return {}
        repo_of: dict[int, int] = {}
        outcomes: dict[int, list[Outcome]] = defaultdict(list)
        ids = sorted(passes)
        for chunk in (ids[i : i + 1000] for i in range(0, len(ids), 1000)):
            repo_of.update(
                self.session.execute(
                    select(t.checks.c.id, t.checks.c.repository_id).where(t.checks.c.id.in_(chunk))
                ).all()
            )
            # The latest failures of each check by event time (bounded: the same set whatever
            # order they arrived in).
            latest = (
                select(
                    t.occurrences.c.check_id,
                    t.occurrences.c.occurred_at,
                    t.occurrences.c.status,
                    t.runs.c.commit_sha,
                    t.runs.c.repository_id,
                    t.runs.c.source,
                    t.runs.c.external_id,
                    t.runs.c.attempt,
                    func.row_number()
                    .over(
                        partition_by=t.occurrences.c.check_id,
                        order_by=(t.occurrences.c.occurred_at.desc(), t.runs.c.external_id),
                    )
                    .label("n"),
                )
                .join(t.runs, t.runs.c.id == t.occurrences.c.run_id)
                .where(t.occurrences.c.check_id.in_(chunk), t.runs.c.storm.is_(False))
                .subquery()
            )
            kept = select(latest).where(latest.c.n <= MAX_REPLAYED_FAILURES)
            for (
                check_id,
                at,
                status,
                commit,
                repo_id,
                source,
                ext,
                attempt,
                _,
            ) in self.session.execute(kept):
                outcomes[check_id].append(
                    Outcome(
                        at=at,
                        failed=status != "flaky",
                        commits=frozenset({commit} if commit else ()),
                        runs=frozenset({(f"{repo_id}:{source}:{ext}", attempt)}),
                        flaky=status == "flaky",
                    )
                )
        wanted = {(repo_of[c], at) for c, times in passes.items() for at in times if c in repo_of}
        runs_at: dict[tuple[int, datetime], list[tuple[str | None, str, int]]] = defaultdict(list)
        for repo_id in sorted({r for r, _ in wanted}):
            times = sorted({at for r, at in wanted if r == repo_id})
            for chunk_t in (times[i : i + 500] for i in range(0, len(times), 500)):
                for at, commit, source, ext, attempt in self.session.execute(
                    select(
                        t.runs.c.occurred_at,
                        t.runs.c.commit_sha,
                        t.runs.c.source,
                        t.runs.c.external_id,
                        t.runs.c.attempt,
                    ).where(t.runs.c.repository_id == repo_id, t.runs.c.occurred_at.in_(chunk_t))
                ):
                    runs_at[(repo_id, at)].append((commit, f"{repo_id}:{source}:{ext}", attempt))
        result: dict[int, Replay] = {}
        flaky_clean = self.settings.history.flaky_clean_runs
        for check_id, times in passes.items():
            repo_id = repo_of.get(check_id)
            # a run in which the check failed is not the one it passed in
            failed_in = {run for o in outcomes[check_id] for run in o.runs}
            for at in times:
                found = [
                    (commit, run, attempt)
                    for commit, run, attempt in runs_at.get((repo_id or 0, at), [])
                    if (run, attempt) not in failed_in
                ]
                outcomes[check_id].append(
                    Outcome(
                        at=at,
                        failed=False,
                        commits=frozenset(c for c, _, _ in found if c),
                        runs=frozenset((run, attempt) for _, run, attempt in found),
                    )
                )
            result[check_id] = replay(outcomes[check_id], flaky_clean)
        return result

    def _classify_in_event_time(
        self, rows: list[dict[str, Any]], replays: Mapping[int, Replay]
    ) -> None:
        """Give every issue the history class its check's outcomes give in event time
        (``event_time_class``): the ingest judged it from the runs in their order of arrival.
        Only an issue whose class differs is classified again, from its latest failure; the
        new classification is stamped with that failure's time."""
        todo = {r["id"]: r for r in rows if r["scope"] != Scope.STORM.value}
        if not todo:
            return
        latest: dict[int, Mapping[str, Any]] = {}
        query = (
            select(
                t.occurrences.c.issue_id,
                t.occurrences.c.check_id,
                t.occurrences.c.status,
                t.occurrences.c.message,
                t.occurrences.c.log_excerpt,
                t.occurrences.c.duration_s,
                t.checks.c.key.label("check"),
                t.runs.c.branch,
                t.runs.c.attempt,
            )
            .join(t.issues, t.issues.c.id == t.occurrences.c.issue_id)
            .join(t.checks, t.checks.c.id == t.occurrences.c.check_id)
            .join(t.runs, t.runs.c.id == t.occurrences.c.run_id)
            .where(
                t.occurrences.c.issue_id.in_(sorted(todo)),
                t.occurrences.c.occurred_at == t.issues.c.last_seen,
            )
        )
        for found in self.session.execute(query).mappings():
            occ: Mapping[str, Any] = dict(found)
            key = (occ["check"], occ["message"], occ["status"])
            have = latest.get(occ["issue_id"])
            if have is None or key < (have["check"], have["message"], have["status"]):
                latest[occ["issue_id"]] = occ
        h = self.settings.history
        classifier: Classifier | None = None
        for issue_id, chosen in latest.items():
            row, occ = todo[issue_id], chosen
            check = replays.get(occ["check_id"])
            if check is None:
                continue
            history = event_time_class(
                check,
                latest_failure=row["last_seen"],
                issue_occurrences=int(row["occurrences"]),
                recurring_threshold=h.recurring_threshold,
                persistent_threshold=h.persistent_threshold,
            )
            if history.value == row["history_class"]:
                continue
            classifier = classifier or Classifier(self.settings)
            message, excerpt = occ["message"], occ["log_excerpt"]
            text = row["template"]
            exit_code = exit_code_of(message, excerpt)
            inp = ClassifyInput(
                source=row["source"],
                repository=row["repository"],
                check=occ["check"],
                text=text,
                status=Status(occ["status"]),
                branch=occ["branch"],
                history=history,
                kind=detect_kind(row["source"], occ["check"], text, exit_code),
                message=message,
                log=excerpt,
                attempt=int(occ["attempt"]),
                exit_code=exit_code,
                duration_s=occ["duration_s"],
            )
            if reclassify_issue(
                self.session, classifier, row, inp, at=row["last_seen"], now=self.now
            ):
                self.summary.reclassified.append(issue_id)

    def _reconcile(
        self,
        row: dict[str, Any],
        checks: Mapping[int, tuple[list[datetime], bool, bool]],
        replays: Mapping[int, Replay],
        events: list[Mapping[str, Any]],
        failures: Mapping[datetime, tuple[str | None, int]],
        forgotten: datetime | None = None,
    ) -> None:
        if not checks:
            return
        current = IssueState(row["state"])
        machine = _machine_events(events)
        if current.is_closed and not (machine and events[-1]["id"] == machine[-1]["id"]):
            return  # closed by a person: theirs to reopen
        needed = self.settings.auto_resolve_after(row["repository"], row["category"])
        # Green runs before the oldest one kept may be forgotten: judge only the gaps after it.
        cut = [p[0] for p, _, full in checks.values() if full and p]
        if forgotten is not None:
            cut.append(forgotten)
        known_from = max(cut) if cut else None
        times = sorted(failures)
        boundary = next((f for f in times if known_from is None or f >= known_from), None)
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
            and not may_auto_resolve(self.session, self.settings, row)
        ):
            return  # category actions: a code fix may close only through a merged pull request
        transient = row["category"] == Category.TRANSIENT.value
        target = IssueState.AUTO_RESOLVED if transient else IssueState.RESOLVED
        noun = "check" if len(checks) == 1 else f"{len(checks)} checks"
        resolve_reason = f"auto-resolved after {needed} green runs in a row of its {noun}"
        desired: list[tuple[datetime, str, str, int | None]] = []
        by_agent: set[datetime] = set()  # resolutions that follow a coding agent's merged fix
        for ep in episodes:
            last_failure = max((f for f in times if f < ep.resolved_at), default=row["first_seen"])
            fix = merged_agent_pr(self.session, row["id"], before=last_failure)
            reason = resolve_reason
            if fix is not None:  # the coding agent's fix, merged, then the checks passed
                reason += f" after the agent's pull request {fix} was merged"
                by_agent.add(ep.resolved_at)
            desired.append((ep.resolved_at, target.value, reason, None))
            if ep.regressed_at is not None:
                commit, run_id = failures[ep.regressed_at]
                reason = f"failed again at commit {commit or 'unknown'} after it was resolved"
                desired.append((ep.regressed_at, IssueState.REGRESSED.value, reason, run_id))
        recorded = [e for e in machine if e["at"] > boundary]
        same = 0
        for have, want in zip(recorded, desired, strict=False):
            if (have["at"], have["data"].get("to"), have["data"].get("reason")) != want[:3]:
                break
            same += 1
        if same == len(recorded) == len(desired):
            return
        stale = recorded[same:]
        base = IssueState(stale[0]["data"]["from"]) if stale else current
        if stale:
            self.session.execute(
                t.issue_events.delete().where(t.issue_events.c.id.in_([e["id"] for e in stale]))
            )
        state = base
        for at, to, reason, run_pk in desired[same:]:
            data: dict[str, Any] = {"from": state.value, "to": to, "reason": reason}
            if to == IssueState.REGRESSED.value:
                actor = "triagehub"  # as the ingest writes a regression
            else:
                actor = "agent" if at in by_agent else Actor.RULE.value
                data["by"] = Actor.RULE.value
            record_event(
                self.session,
                row["id"],
                "state_changed",
                at=at,
                actor=actor,
                data=data,
                run_id=run_pk,
            )
            state = IssueState(to)
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
        if state is current and resolved_at == row["resolved_at"]:
            return
        self.session.execute(
            update(t.issues)
            .where(t.issues.c.id == row["id"])
            .values(state=state.value, resolved_at=resolved_at, updated_at=self.now)
        )
        if state is current:
            return  # the same state, its stamp corrected
        if state.is_closed:
            (self.summary.auto_resolved if transient else self.summary.resolved).append(row["id"])
            self._changed(row, "resolved", {"to": state.value, "reason": resolve_reason})
        elif state is IssueState.REGRESSED:
            self.summary.regressed.append(row["id"])
        else:
            self.summary.reopened.append(row["id"])

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
        self.repository_volume()
        triggers = self.settings.escalation_triggers
        window = self.now - timedelta(days=RECURRING_WINDOW_DAYS)
        days_failed: dict[int, set[Any]] = defaultdict(set)
        for issue_id, at in self.session.execute(
            select(t.occurrences.c.issue_id, t.occurrences.c.occurred_at)
            .join(t.issues, t.issues.c.id == t.occurrences.c.issue_id)
            .where(
                t.occurrences.c.occurred_at > window,
                t.occurrences.c.occurred_at <= self.now,
                t.issues.c.state.in_(_WORKING),
            )
            .distinct()
        ):
            days_failed[issue_id].add(at.date())
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
            unanswered = row["state"] == IssueState.OPEN.value and row["assignee"] is None
            age = self.now - row["first_seen"]
            candidates: list[tuple[str, str]] = []
            critical_after = triggers.critical_response_time
            if (
                unanswered
                and row["priority"] == Level.CRITICAL.value
                and age >= timedelta(hours=critical_after)
            ):
                candidates.append(
                    (
                        "critical_response",
                        f"critical and no human response within {_hours(critical_after)}",
                    )
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
            new = [(trigger, reason) for trigger, reason in candidates if trigger not in fired]
            if not new:
                continue
            # Triggers firing in the same tick make one escalation (one event, one message).
            current = dict(row)
            data = escalate(
                self.session,
                current,
                trigger=new[0][0],
                also=[trigger for trigger, _ in new[1:]],
                reason="; ".join(reason for _, reason in new),
                now=self.now,
            )
            current["escalation_level"] = data["level"]
            current["priority"] = data["priority"]["to"]
            self.summary.escalated.extend((row["id"], trigger) for trigger, _ in new)
            self._changed(
                current, "escalated", {**data, "notify": self._recipients(current, new[0][0])}
            )

    def _recipients(self, row: Mapping[str, Any], trigger: str) -> list[str]:
        """The expert first; from the second escalation on (or when a critical issue waits), the
        configured escalation target too."""
        who = [row["expert"] or row["assignee"] or "the expert"]
        target = self.settings.lifecycle.escalation_target
        if target and (int(row["escalation_level"] or 0) >= 2 or trigger == "critical_response"):
            who.append(target)
        return who

    def repository_volume(self) -> None:
        """``high_volume_threshold``: a repository with that many new issues (first failure) on
        one UTC day gets one repository-level escalation naming them, once per repository and
        day; no issue's priority changes. Days are judged up to the tick (today and
        yesterday, so a tick after midnight still sees the day before)."""
        threshold = self.settings.escalation_triggers.high_volume_threshold
        today = self.now.replace(hour=0, minute=0, second=0, microsecond=0)
        since = today - timedelta(days=1)
        rows = self.session.execute(
            select(
                t.issues.c.id,
                t.issues.c.first_seen,
                t.issues.c.escalations,
                t.repositories.c.name,
            )
            .join(t.repositories, t.repositories.c.id == t.issues.c.repository_id)
            .where(t.issues.c.first_seen >= since, t.issues.c.first_seen <= self.now)
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
            ids = [m.id for m in members]
            listed = ", ".join(f"#{i}" for i in ids[:20]) + (" ..." if len(ids) > 20 else "")
            reason = (
                f"{repository}: {len(ids)} new issues on {day} (threshold {threshold}): {listed}"
            )
            for m in members:
                marks = dict(m.escalations or {})
                marks["high_volume"] = day
                self.session.execute(
                    update(t.issues).where(t.issues.c.id == m.id).values(escalations=marks)
                )
                record_event(
                    self.session,
                    m.id,
                    "repository_escalated",
                    at=self.now,
                    actor=Actor.RULE.value,
                    data={"trigger": "high_volume", "reason": reason, "issues": ids},
                )
            self.summary.repository_escalations.append((repository, day, ids))
            if self.hook is not None:
                first = (
                    self.session.execute(
                        select(t.issues, t.repositories.c.name.label("repository"))
                        .join(t.repositories, t.repositories.c.id == t.issues.c.repository_id)
                        .where(t.issues.c.id == ids[0])
                    )
                    .mappings()
                    .one()
                )
                self._changed(
                    dict(first),
                    "repository_escalated",
                    {"trigger": f"high_volume:{repository}:{day}", "reason": reason, "issues": ids},
                )


_CHANGE_TEXT = {
    "resolved": "Issue #{id} {to}: {reason}",
    "escalated": "Issue #{id} escalated to {priority}: {reason}{notify}",
    "repository_escalated": "Many new issues: {reason}",
    "sla_breached": "Issue #{id} breached its SLA: {reason}",
}


def notify_change(
    session: Session, row: Mapping[str, Any], kind: str, data: dict[str, Any]
) -> None:
    """The outbox hook of the monitor: one notification per change, written in the tick's
    transaction; its key (issue, change, trigger, time) makes a repeated tick a no-op."""
    at: datetime = data["at"]
    priority = data["priority"]["to"] if isinstance(data.get("priority"), dict) else row["priority"]
    who = data.get("notify") or []
    text = _CHANGE_TEXT[kind].format(
        id=row["id"],
        to=data.get("to", ""),
        reason=data.get("reason", ""),
        priority=priority,
        notify=f" (notifying {', '.join(who)})" if who else "",
    )
    tag = data.get("trigger") or data.get("to") or kind
    enqueue_issue_notification(
        session,
        {**row, "github_url": None},
        event=kind,
        text=text,
        priority=priority,
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
        oncall = oncall_tick(session, settings, now)
        tick.summary.oncall = oncall.as_dict()
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
    from triagehub.engine.pull.github_actions import poll_github_actions

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
    from triagehub.engine.pull.dbt_cloud import DbtCloudClient, poll_dbt_cloud

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
