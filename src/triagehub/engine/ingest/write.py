"""Stage 5: write a batch in the caller's transaction — issues, aliases, pattern counters,
occurrences, per-issue checks, the timeline and each check's history. Counters are updated
as deltas in SQL (never a value read earlier), so concurrent ingests never lose an update."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, func, insert, select, tuple_, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from triagehub.core.history import CheckHistory
from triagehub.core.models import RunReport
from triagehub.engine.ingest.classify import classified_data
from triagehub.engine.ingest.group import Aliases
from triagehub.engine.ingest.patterns import assign_patterns
from triagehub.engine.ingest.prepare import title
from triagehub.engine.ingest.state import (
    CLASSIFIED_FIELDS,
    ISSUE_MUTABLE,
    MAX_LINKS,
    STATS_FIELDS,
    Failure,
    IngestContext,
    IssueWork,
    event,
)
from triagehub.store import grouping
from triagehub.store import tables as t


class BatchWriter:
    """Writes what one batch changed. ``touched_ids`` and ``failed_runs`` are the ingestor's,
    grown here (each run with failures, and the issues its failures went to)."""

    def __init__(
        self,
        ctx: IngestContext,
        touched_ids: set[int],
        failed_runs: list[tuple[RunReport, set[int]]],
    ) -> None:
        self.ctx = ctx
        self.session = ctx.session
        self.touched_ids = touched_ids
        self.failed_runs = failed_runs

    def write(
        self,
        failures: list[Failure],
        works: dict[str, IssueWork],
        aliases: Aliases,
        now: datetime,
    ) -> None:
        """Everything of the batch but the checks' history (:meth:`write_stats`)."""
        touched = [w for w in works.values() if w.touched]
        new = [w for w in touched if w.is_new]
        old = [w for w in touched if not w.is_new]
        self._count_checks(new, old)
        for w in touched:  # the title follows the latest occurrence's values
            if w.latest is not None:
                w.row["title"] = title(w.latest, checks=w.row["checks_count"])
        assign_patterns(self.session, touched, now)
        self._write_issues(new, old)
        summary = self.ctx.summary
        summary.new_issues += len(new)
        summary.updated_issues += len(old)
        self.touched_ids.update(w.row["id"] for w in touched)
        by_run: dict[int, tuple[RunReport, set[int]]] = {}
        for f in failures:
            entry = by_run.setdefault(f.run_pk, (f.report, set()))
            entry[1].add(works[f.issue_key].row["id"])
        self.failed_runs.extend(by_run.values())
        self._write_links(touched, works, aliases, now)
        if failures:
            self._insert_occurrences(failures, works)
            summary.occurrences += len(failures)
            self._upsert_issue_checks(touched)
        self._restamp_created(touched)
        self._insert_events(touched)

    def _write_issues(self, new: list[IssueWork], old: list[IssueWork]) -> None:
        session = self.session
        if new:
            cols = [c.name for c in t.issues.columns if c.name != "id"]
            result = session.execute(
                insert(t.issues).returning(t.issues.c.fingerprint, t.issues.c.id),
                [{c: w.row[c] for c in cols} for w in new],
            )
            ids = {fingerprint: pk for fingerprint, pk in result}
            for w in new:
                w.row["id"] = ids[w.row["fingerprint"]]
        if old:
            session.execute(
                update(t.issues)
                .where(t.issues.c.id == bindparam("b_id"))
                .values(
                    {
                        **{c: bindparam(f"b_{c}") for c in ISSUE_MUTABLE},
                        # A delta in SQL, not the value read earlier: no update is ever lost.
                        "occurrences": t.issues.c.occurrences + bindparam("b_new_occurrences"),
                    }
                ),
                [
                    {
                        "b_id": w.row["id"],
                        "b_new_occurrences": w.new_occurrences,
                        **{f"b_{c}": w.row[c] for c in ISSUE_MUTABLE},
                    }
                    for w in old
                ],
            )

    def _write_links(
        self,
        touched: list[IssueWork],
        works: dict[str, IssueWork],
        aliases: Aliases,
        now: datetime,
    ) -> None:
        """The fingerprints that joined another issue, and the patterns' counters."""
        grouping.insert_aliases(
            session=self.session,
            rows=[
                {
                    "fingerprint": fingerprint,
                    "issue_id": works[issue_key].row["id"],
                    "reason": reason,
                    "created_at": now,
                }
                for fingerprint, (issue_key, reason) in sorted(aliases.items())
            ],
        )
        grouping.bump_patterns(
            session=self.session,
            rows=[
                (
                    w.row["pattern_id"],
                    int(w.new_pattern_member),
                    w.new_occurrences,
                    w.row["first_seen"],
                    w.row["last_seen"],
                    now,
                )
                for w in touched
                if w.row["pattern_id"] is not None
            ],
        )

    def _insert_occurrences(self, failures: list[Failure], works: dict[str, IssueWork]) -> None:
        self.session.execute(
            insert(t.occurrences),
            [
                {
                    "issue_id": works[f.issue_key].row["id"],
                    "run_id": f.run_pk,
                    "check_id": f.check_pk,
                    "status": f.result.status.value,
                    "message": f.message,
                    "log_excerpt": f.excerpt,
                    "template": f.template,
                    "fingerprint": f.fingerprint,
                    "normalizer_version": self.ctx.version,
                    "duration_s": f.result.duration_s,
                    "occurred_at": f.at,
                    "links": list(f.result.links[:MAX_LINKS]),
                }
                for f in failures
            ],
        )

    def _upsert_issue_checks(self, touched: list[IssueWork]) -> None:
        rows = [
            {
                "issue_id": w.row["id"],
                "check_id": check_pk,
                "first_seen": first,
                "last_seen": last,
                "occurrences": n,
            }
            for w in touched
            for check_pk, (first, last, n) in w.checks.items()
        ]
        if not rows:
            return
        postgres = self.session.get_bind().dialect.name == "postgresql"
        stmt = (pg_insert if postgres else sqlite_insert)(t.issue_checks)
        least, greatest = (func.least, func.greatest) if postgres else (func.min, func.max)
        excluded = stmt.excluded
        current = t.issue_checks.c
        self.session.execute(
            stmt.on_conflict_do_update(
                index_elements=[current.issue_id, current.check_id],
                set_={
                    "occurrences": current.occurrences + excluded.occurrences,
                    "first_seen": least(current.first_seen, excluded.first_seen),
                    "last_seen": greatest(current.last_seen, excluded.last_seen),
                },
            ),
            rows,
        )

    def _restamp_created(self, touched: list[IssueWork]) -> None:
        """``created`` is stamped with the issue's first failure in event time, whatever failure
        arrived first: a late, earlier failure moves it back."""
        for w in touched:
            first = w.earliest
            if first is None:
                continue
            if w.is_new:
                for e in w.events:
                    if e["kind"] == "created":
                        e["at"], e["run_id"] = first.at, first.run_pk
            else:
                self.session.execute(
                    update(t.issue_events)
                    .where(
                        t.issue_events.c.issue_id == w.row["id"],
                        t.issue_events.c.kind == "created",
                        t.issue_events.c.at > first.at,
                    )
                    .values(at=first.at, run_id=first.run_pk)
                )

    def _insert_events(self, touched: list[IssueWork]) -> None:
        """The batch's timeline entries, and a ``classified`` one where the class changed."""
        events: list[dict[str, Any]] = []
        for w in touched:
            issue_id = w.row["id"]
            events.extend({**e, "issue_id": issue_id} for e in w.events)
            after = tuple(w.row[k] for k in CLASSIFIED_FIELDS)
            if after != w.before:
                data = classified_data(w.row)
                events.append(
                    {**event("classified", w.row["last_seen"], None, data), "issue_id": issue_id}
                )
        if events:
            self.session.execute(insert(t.issue_events), events)

    def write_stats(
        self, stats: dict[int, CheckHistory], stats_new: set[int], touched_stats: set[int]
    ) -> None:
        """Each touched check's rolling history (inserted the first time, then updated)."""
        inserts = [pk for pk in touched_stats if pk in stats_new]
        updates = [pk for pk in touched_stats if pk not in stats_new]
        if inserts:
            self.session.execute(
                insert(t.check_stats),
                [
                    {"check_id": pk, **{f: getattr(stats[pk], f) for f in STATS_FIELDS}}
                    for pk in inserts
                ],
            )
            stats_new.difference_update(inserts)
        if updates:
            self.session.execute(
                update(t.check_stats)
                .where(t.check_stats.c.check_id == bindparam("b_check_id"))
                .values({f: bindparam(f"b_{f}") for f in STATS_FIELDS}),
                [
                    {"b_check_id": pk, **{f"b_{f}": getattr(stats[pk], f) for f in STATS_FIELDS}}
                    for pk in updates
                ],
            )

    def _count_checks(self, new: list[IssueWork], old: list[IssueWork]) -> None:
        """Set ``checks_count``: new issues have only this batch's checks; old ones gain the
        checks they did not list yet."""
        for w in new:
            w.row["checks_count"] = len(w.checks)
        pairs = [(w.row["id"], pk) for w in old for pk in w.checks]
        known: set[tuple[int, int]] = set()
        for chunk in grouping.chunks(pairs):
            rows = self.session.execute(
                select(t.issue_checks.c.issue_id, t.issue_checks.c.check_id).where(
                    tuple_(t.issue_checks.c.issue_id, t.issue_checks.c.check_id).in_(chunk)
                )
            )
            known.update((int(i), int(c)) for i, c in rows)
        for w in old:
            w.row["checks_count"] += sum(1 for pk in w.checks if (w.row["id"], pk) not in known)
