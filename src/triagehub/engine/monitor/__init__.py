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
5. **Escalation** (``escalations``; each trigger at most once per issue, never while
   snoozed, the triggers of one tick as one escalation): untriaged past ``escalate_after`` hours;
   critical without a human response past ``critical_response_time`` hours; failing on
   ``recurring_issue_threshold`` days of the last 7; a pattern in
   ``cross_repo_correlation_threshold`` repositories; an SLA breach. Priority goes up one step at
   most (never to critical; low severity at most medium). ``high_volume_threshold`` new issues
   of a repository in a day make one repository-level escalation naming them.
6. **GitHub issues** (repositories with ``github_issues``): a sync job for each issue changed
   since its last sync (:mod:`triagehub.engine.sync.github_issues`).

Every change is an ``IssueEvent`` with actor ``rule`` and its reason, and every change worth a
message (auto-resolution, escalation, SLA breach) is handed to ``on_change`` in the same
transaction (the outbox of notifications). A second tick right after the first changes nothing.

The rules live in one module each: :mod:`.rules` (snooze expiry, false positives, SLA, agent
hand-offs), :mod:`.reconcile` (auto-resolution in event time) with :mod:`.eventtime` (the
replay and reclassification), :mod:`.escalations`; :mod:`.tick` runs them in order,
:mod:`.changes` is the outbox hook, :mod:`.poll` polls the sources and :mod:`.loop` is the
background thread of ``triagehub serve``.
"""

from triagehub.engine.monitor.changes import notify_change
from triagehub.engine.monitor.context import ChangeHook, TickSummary
from triagehub.engine.monitor.escalations import RECURRING_WINDOW_DAYS
from triagehub.engine.monitor.eventtime import MAX_REPLAYED_FAILURES
from triagehub.engine.monitor.loop import MonitorLoop
from triagehub.engine.monitor.poll import POLL_LOCK_KEY, PollRound, poll_sources
from triagehub.engine.monitor.reconcile import RECONCILE_CLOSED_DAYS, green_streak
from triagehub.engine.monitor.tick import LOCK_KEY, run_tick

__all__ = [
    "LOCK_KEY",
    "MAX_REPLAYED_FAILURES",
    "POLL_LOCK_KEY",
    "RECONCILE_CLOSED_DAYS",
    "RECURRING_WINDOW_DAYS",
    "ChangeHook",
    "MonitorLoop",
    "PollRound",
    "TickSummary",
    "green_streak",
    "notify_change",
    "poll_sources",
    "run_tick",
]
