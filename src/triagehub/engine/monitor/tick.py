"""One tick of the lifecycle rules, in one transaction under the tick lock."""

from __future__ import annotations

import logging
import zlib

from sqlalchemy import Engine, text
from sqlalchemy.orm import Session

from triagehub.clock import Clock, SystemClock
from triagehub.config import Settings
from triagehub.engine.category_actions import run_category_actions
from triagehub.engine.investigate import queue_auto_investigations
from triagehub.engine.monitor.context import ChangeHook, Tick, TickSummary
from triagehub.engine.monitor.escalations import escalations
from triagehub.engine.monitor.reconcile import auto_resolve
from triagehub.engine.monitor.rules import (
    agent_notifications,
    close_false_positives,
    sla,
    unsnooze,
)
from triagehub.engine.oncall import oncall_tick
from triagehub.engine.sync.github_issues import enqueue_github_sync
from triagehub.engine.weekly_report import queue_weekly_report

log = logging.getLogger("triagehub.engine.monitor")  # the name it logged under as one module

LOCK_KEY = zlib.crc32(b"triagehub-monitor-tick")


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
        tick = Tick(session, settings, now, on_change)
        unsnooze(tick)
        auto_resolve(tick)
        close_false_positives(tick)
        sla(tick)
        escalations(tick)
        agent_notifications(tick)
        oncall = oncall_tick(session, settings, now)
        oncall.actions.extend(run_category_actions(session, settings, now))
        oncall.digests.extend(queue_weekly_report(session, settings, now))
        tick.summary.oncall = oncall.as_dict()
        queue_auto_investigations(session, settings, now)
        enqueue_github_sync(session, settings, now)
    return tick.summary
