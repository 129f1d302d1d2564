"""``triagehub db prune``: delete what is older than the retention, in bounded batches.

What goes (event time before the cutoff, ``now - older_than`` on the project's clock):

- occurrences (with their diffs against green), except the evidence ``keep.py`` names; each
  issue's timeline gets one summary event instead (kind ``pruned``: "N occurrences before DATE
  pruned", updated in place by later prunes);
- runs that nothing kept refers to (an occurrence, a timeline event, a check's last passing log,
  a kept diff) and that no replay looks up by time;
- done jobs of the kinds whose row is only a work item (webhook deliveries to ingest, late logs,
  LLM refinements, digests, weekly reports, issue syncs), by their last update; the kinds whose
  row is also a ledger (notifications: "alerted once", agent hand-offs, reruns, comments seen,
  Slack threads, the outbox's state rows) stay, and so do dead jobs (the operator's to retry or
  read);
- webhook delivery records (by the time they were received) and LLM budget days.

What stays: issues with every counter (occurrences, first and last seen, per-check counts,
patterns), the timeline's events, check histories and last passing logs, LLM investigations,
agent sessions and their events (an ended session's summary is recomputed from its events).

Each batch is one short transaction over at most ``batch_size`` ids of one table, so ingests,
workers and servers go on meanwhile (SQLite: each batch takes the write lock, briefly; a lock wait
that runs out is tried again). Rows written after the prune started are never touched: each table
is scanned up to the id it had then, and its newest row stays (SQLite would give its id to the
next row). The retention horizon is raised first, so that a pruned run sent again is skipped by
the ingest rather than counted twice (``store/retention.py``).
"""

from __future__ import annotations

import logging
import time
import zlib
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import partial
from typing import Any

from sqlalchemy import (
    Engine,
    Table,
    bindparam,
    delete,
    exists,
    func,
    insert,
    select,
    text,
    tuple_,
    update,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from triagehub.clock import Clock, SystemClock
from triagehub.core.timeparse import iso_z, parse_time
from triagehub.engine.ingest import run_transaction
from triagehub.engine.ingest_jobs import ENRICH_LOG, INGEST_WEBHOOK
from triagehub.engine.jobs.policy import DONE
from triagehub.engine.oncall.digests import DIGEST
from triagehub.engine.refine import REFINE
from triagehub.engine.retention.keep import Keep, compute_keep, in_play
from triagehub.engine.sync.github_push import SYNC
from triagehub.engine.weekly_report import WEEKLY_GITHUB
from triagehub.errors import InputError
from triagehub.store import tables as t
from triagehub.store.dialect import sqlite_write_lock
from triagehub.store.grouping import chunks
from triagehub.store.retention import DEFAULT_BATCH, raise_horizon

log = logging.getLogger("triagehub.engine.retention")

# The recurring-escalation trigger reads the last 7 days of failures of working issues.
MIN_RETENTION = timedelta(days=7)
SUMMARY_KIND = "pruned"
PRUNE_LOCK_KEY = zlib.crc32(b"triagehub-prune")
SQLITE_GAP_S = 0.12  # between two batches on SQLite (see ``_transaction``)
# Done jobs whose row is only a work item: nothing looks their key up again.
PRUNABLE_JOB_KINDS = (INGEST_WEBHOOK, ENRICH_LOG, REFINE, DIGEST, WEEKLY_GITHUB, SYNC)
TABLES = ("occurrences", "green_diffs", "runs", "jobs", "webhook_deliveries", "llm_usage")


@dataclass
class PruneReport:
    """What a prune deleted (or, dry, would delete), and what it kept as evidence."""

    cutoff: datetime
    older_than: timedelta
    dry_run: bool
    rows: Counter[str] = field(default_factory=lambda: Counter(dict.fromkeys(TABLES, 0)))
    # rows older than the cutoff kept because something still reads them
    kept: Counter[str] = field(default_factory=lambda: Counter(occurrences=0, runs=0))
    issues: set[int] = field(default_factory=set)
    batches: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "cutoff": iso_z(self.cutoff),
            "older_than_seconds": int(self.older_than.total_seconds()),
            "dry_run": self.dry_run,
            "rows": dict(self.rows),
            "kept_as_evidence": dict(self.kept),
            "issues_summarized": len(self.issues),
            "batches": self.batches,
        }


def prune(
    engine: Engine,
    *,
    older_than: timedelta,
    clock: Clock | None = None,
    dry_run: bool = False,
    batch_size: int = DEFAULT_BATCH,
) -> PruneReport:
    """Delete what is older than ``older_than`` (see the module docstring); ``dry_run``: count
    it only, changing nothing."""
    if older_than < MIN_RETENTION:
        raise InputError(
            "--older-than",
            "",
            f"keep at least {MIN_RETENTION.days} days (the recurring-escalation trigger reads "
            "the last 7 days of failures); e.g. 90d",
        )
    if batch_size < 1:
        raise InputError("--batch-size", str(batch_size), "expected a positive number of rows")
    now = (clock or SystemClock()).now()
    report = PruneReport(cutoff=now - older_than, older_than=older_than, dry_run=dry_run)
    if not dry_run:
        with Session(engine) as session, session.begin():
            raise_horizon(session, report.cutoff, now)
    with Session(engine) as session:
        keep = compute_keep(session, now)
    pruner = _Pruner(engine, keep, report, batch_size)
    pruner.occurrences()
    pruner.runs()
    pruner.jobs()
    pruner.deliveries()
    pruner.llm_usage()
    log.info("prune done", extra={"prune": report.as_dict()})
    return report


@dataclass
class _Delta:
    """What one batch changed, added to the report once its transaction has committed (a
    transaction tried again must not count twice)."""

    rows: Counter[str] = field(default_factory=Counter)
    kept: Counter[str] = field(default_factory=Counter)
    issues: set[int] = field(default_factory=set)


class _Pruner:
    def __init__(self, engine: Engine, keep: Keep, report: PruneReport, batch: int) -> None:
        self.engine = engine
        self.keep = keep
        self.report = report
        self.cutoff = report.cutoff
        self.dry = report.dry_run
        self.batch = batch
        self.occurrence_end = 0  # occurrences from this id on were written after the start
        self.newly: set[int] = set()  # issues in play since the floors were computed

    # -- plumbing --------------------------------------------------------------------------------

    def _transaction(self, work: Callable[[Session, _Delta], None]) -> None:
        def attempt() -> _Delta:
            delta = _Delta()
            with Session(self.engine) as session, session.begin():
                if not self.dry:
                    _batch_lock(session)
                work(session, delta)
            return delta

        delta = run_transaction(attempt)
        report = self.report
        report.batches += 1
        report.rows.update(delta.rows)
        report.kept.update(delta.kept)
        report.issues |= delta.issues
        if not self.dry and delta.rows.total() and self.engine.dialect.name == "sqlite":
            # A writer waiting on SQLite's lock polls it every 100 ms at most: without a gap
            # longer than that, back-to-back batches would keep it out until the prune ends.
            time.sleep(SQLITE_GAP_S)

    def _batches(self, table: Table, *where: Any) -> Iterator[tuple[int, int]]:
        """``[lo, hi)`` ranges of ``batch`` ids, up to the newest row now (excluded), that hold
        a row matching ``where`` (read without a lock: a range with nothing to do costs no
        write transaction)."""
        with Session(self.engine) as session:
            lo, end = session.execute(select(func.min(table.c.id), func.max(table.c.id))).one()
        if lo is None:
            return
        if table is t.occurrences:
            self.occurrence_end = end
        for start in range(lo, end, self.batch):
            hi = min(start + self.batch, end)
            with Session(self.engine) as session:
                found = session.execute(
                    select(table.c.id).where(table.c.id >= start, table.c.id < hi, *where).limit(1)
                ).first()
            if found is not None:
                yield start, hi

    def _doomed(self, session: Session, rows: Sequence[Any]) -> list[Any]:
        """The occurrences of ``rows`` that go: older than the cutoff, there when the prune
        started, not kept as evidence, not of an issue that came into play meanwhile (a person
        reopened it: its occurrences wait for the next prune)."""
        old = [r for r in rows if r.occurred_at < self.cutoff and r.id < self.occurrence_end]
        unknown = {r.issue_id for r in old if r.issue_id not in self.keep.issue_floor}
        unknown -= self.newly
        for chunk in chunks(sorted(unknown)):
            i = t.issues.c
            for issue_id, state, updated_at in session.execute(
                select(i.id, i.state, i.updated_at).where(i.id.in_(chunk))
            ):
                if in_play(state, updated_at, self.keep.since):
                    self.newly.add(issue_id)
        return [
            r
            for r in old
            if r.issue_id not in self.newly
            and not self.keep.keeps(r.issue_id, r.check_id, r.occurred_at)
        ]

    # -- occurrences -----------------------------------------------------------------------------

    def occurrences(self) -> None:
        for lo, hi in self._batches(t.occurrences, t.occurrences.c.occurred_at < self.cutoff):
            self._transaction(partial(self._occurrence_batch, lo=lo, hi=hi))

    def _occurrence_batch(self, session: Session, delta: _Delta, *, lo: int, hi: int) -> None:
        o, g = t.occurrences.c, t.green_diffs.c
        rows = session.execute(
            select(o.id, o.issue_id, o.check_id, o.run_id, o.occurred_at).where(
                o.id >= lo, o.id < hi, o.occurred_at < self.cutoff
            )
        ).all()
        doomed = self._doomed(session, rows)
        delta.kept["occurrences"] += len(rows) - len(doomed)
        deleted: list[Any] = []
        for chunk in chunks(doomed):
            pairs = tuple_(g.run_id, g.check_id).in_([(r.run_id, r.check_id) for r in chunk])
            if self.dry:
                delta.rows["green_diffs"] += session.execute(
                    select(func.count()).select_from(t.green_diffs).where(pairs)
                ).scalar_one()
                deleted.extend(chunk)
                continue
            delta.rows["green_diffs"] += _rowcount(
                session.execute(delete(t.green_diffs).where(pairs))
            )
            deleted.extend(
                session.execute(
                    delete(t.occurrences)
                    .where(o.id.in_([r.id for r in chunk]))
                    .returning(o.issue_id, o.occurred_at)
                ).all()
            )
        delta.rows["occurrences"] += len(deleted)
        delta.issues.update(r.issue_id for r in deleted)
        if deleted and not self.dry:
            summarize(session, deleted, self.cutoff)

    # -- runs ------------------------------------------------------------------------------------

    def runs(self) -> None:
        for lo, hi in self._batches(t.runs, t.runs.c.occurred_at < self.cutoff):
            batch = partial(self._run_batch, lo=lo, hi=hi)
            try:
                self._transaction(batch)
            except IntegrityError:
                # A transaction referred to one of these runs after this one looked: again.
                log.info("runs %d-%d gained a reference during the prune; looking again", lo, hi)
                self._transaction(batch)

    def _run_batch(self, session: Session, delta: _Delta, *, lo: int, hi: int) -> None:
        r, o, g = t.runs.c, t.occurrences.c, t.green_diffs.c
        rows = session.execute(
            select(r.id, r.repository_id, r.occurred_at).where(
                r.id >= lo, r.id < hi, r.occurred_at < self.cutoff
            )
        ).all()
        free = {
            row.id
            for row in rows
            if (row.repository_id, row.occurred_at) not in self.keep.pass_runs
        }
        for chunk in chunks(sorted(free)):
            free -= self._referenced(session, chunk)
        delta.kept["runs"] += len(rows) - len(free)
        delta.rows["runs"] += len(free)
        for chunk in chunks(sorted(free)):
            if self.dry:  # the diffs of their failures were counted with the failures
                orphan = ~exists().where(o.run_id == g.run_id, o.check_id == g.check_id)
                delta.rows["green_diffs"] += session.execute(
                    select(func.count())
                    .select_from(t.green_diffs)
                    .where(g.run_id.in_(chunk), orphan)
                ).scalar_one()
                continue
            delta.rows["green_diffs"] += _rowcount(
                session.execute(delete(t.green_diffs).where(g.run_id.in_(chunk)))
            )
            session.execute(delete(t.runs).where(r.id.in_(chunk)))

    def _referenced(self, session: Session, run_ids: Sequence[int]) -> set[int]:
        """The runs of ``run_ids`` that a row which stays refers to: an occurrence, a timeline
        event, a check's last passing log, or a diff against green (as its green run)."""
        o, e, g = t.occurrences.c, t.issue_events.c, t.green_diffs.c
        p = t.check_pass_logs.c
        refs = set(session.scalars(select(e.run_id).where(e.run_id.in_(run_ids)).distinct()))
        refs.update(session.scalars(select(p.run_id).where(p.run_id.in_(run_ids))))
        failed = session.execute(
            select(o.id, o.issue_id, o.check_id, o.run_id, o.occurred_at).where(
                o.run_id.in_(run_ids)
            )
        ).all()
        diffs = session.execute(
            select(g.pass_run_id, o.id, o.issue_id, o.check_id, o.occurred_at)
            .outerjoin(t.occurrences, (o.run_id == g.run_id) & (o.check_id == g.check_id))
            .where(g.pass_run_id.in_(run_ids))
        ).all()
        # Dry, the occurrences that would go (and their diffs) are still there.
        going: set[int] = set()
        if self.dry:
            going = {x.id for x in self._doomed(session, [*failed, *(d for d in diffs if d.id)])}
        refs.update(x.run_id for x in failed if x.id not in going)
        refs.update(d.pass_run_id for d in diffs if d.id is None or d.id not in going)
        return refs

    # -- the rest --------------------------------------------------------------------------------

    def jobs(self) -> None:
        j = t.jobs.c
        agent_sync = (j.kind == SYNC) & j.key.like(f"{SYNC}:%:agent:%")
        done = (
            j.status == DONE,
            j.updated_at < self.cutoff,
            j.kind.in_(PRUNABLE_JOB_KINDS),
            ~agent_sync,
        )
        for lo, hi in self._batches(t.jobs, *done):
            where = (j.id >= lo, j.id < hi, *done)
            self._transaction(partial(self._delete, "jobs", t.jobs, where))

    def deliveries(self) -> None:
        d = t.webhook_deliveries.c
        last = ""
        while True:
            with Session(self.engine) as session:
                rows = session.execute(
                    select(d.delivery_id, d.received_at)
                    .where(d.delivery_id > last)
                    .order_by(d.delivery_id)
                    .limit(self.batch)
                ).all()
            if not rows:
                return
            last = rows[-1].delivery_id
            old = [r.delivery_id for r in rows if r.received_at < self.cutoff]
            if old:
                where = (d.delivery_id.in_(old), d.received_at < self.cutoff)
                self._transaction(
                    partial(self._delete, "webhook_deliveries", t.webhook_deliveries, where)
                )

    def llm_usage(self) -> None:
        where = (t.llm_usage.c.day < self.cutoff.date().isoformat(),)
        self._transaction(partial(self._delete, "llm_usage", t.llm_usage, where))

    def _delete(
        self, name: str, table: Table, where: tuple[Any, ...], session: Session, delta: _Delta
    ) -> None:
        if self.dry:
            found = session.execute(select(func.count()).select_from(table).where(*where))
            delta.rows[name] += int(found.scalar_one())
        else:
            delta.rows[name] += _rowcount(session.execute(delete(table).where(*where)))


def _batch_lock(session: Session) -> None:
    """One prune batch at a time, taken before it reads: SQLite's write lock; on PostgreSQL a
    transaction-level advisory lock (two prunes started at once interleave their batches, each
    counting only the rows it deleted itself; it holds through a transaction-pooling PgBouncer,
    a session lock would not)."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("select pg_advisory_xact_lock(:k)"), {"k": PRUNE_LOCK_KEY})
    else:
        sqlite_write_lock(session)


def _rowcount(result: Any) -> int:
    return int(getattr(result, "rowcount", 0) or 0)


def summarize(session: Session, deleted: Sequence[Any], cutoff: datetime) -> None:
    """One ``pruned`` event per issue, added to by each prune: how many of its occurrences were
    pruned, the first and the last of them, and the latest cutoff. It sits on the timeline at
    the last occurrence pruned."""
    per: dict[int, tuple[int, datetime, datetime]] = {}
    for issue_id, at in deleted:
        n, first, last = per.get(issue_id, (0, at, at))
        per[issue_id] = (n + 1, min(first, at), max(last, at))
    e = t.issue_events.c
    found: dict[int, tuple[int, dict[str, Any]]] = {}
    for chunk in chunks(sorted(per)):
        for event_id, issue_id, data in session.execute(
            select(e.id, e.issue_id, e.data).where(e.issue_id.in_(chunk), e.kind == SUMMARY_KIND)
        ):
            found[issue_id] = (event_id, dict(data or {}))
    new: list[dict[str, Any]] = []
    changed: list[dict[str, Any]] = []
    for issue_id, (n, first, last) in per.items():
        if issue_id in found:
            event_id, data = found[issue_id]
            n += int(data.get("occurrences", 0))
            first = min(first, _time(data.get("first"), first))
            last = max(last, _time(data.get("last"), last))
            data = summary_data(n, first, last, cutoff)
            changed.append({"b_id": event_id, "at": last, "data": data})
            continue
        new.append(
            {
                "issue_id": issue_id,
                "kind": SUMMARY_KIND,
                "at": last,
                "actor": "triagehub",
                "run_id": None,
                "data": summary_data(n, first, last, cutoff),
            }
        )
    if new:
        session.execute(insert(t.issue_events), new)
    if changed:
        session.execute(update(t.issue_events).where(e.id == bindparam("b_id")), changed)


def summary_data(n: int, first: datetime, last: datetime, cutoff: datetime) -> dict[str, Any]:
    return {
        "reason": f"{n} occurrence{'s' if n != 1 else ''} before {cutoff:%Y-%m-%d} pruned",
        "occurrences": n,
        "before": iso_z(cutoff),
        "first": iso_z(first),
        "last": iso_z(last),
    }


def _time(value: Any, default: datetime) -> datetime:
    return parse_time(value) if isinstance(value, str) else default
