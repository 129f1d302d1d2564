"""Stage 5: write a batch in the caller's transaction — issues, aliases, pattern counters,
occurrences, per-issue checks, the timeline and each check's history. Counters are updated
as deltas in SQL (never a value read earlier), so concurrent ingests never lose an update."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from operator import itemgetter
from typing import Any

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
    FailedRun,
    Failure,
    IngestContext,
    IssueWork,
    event,
)
from triagehub.store import grouping
from triagehub.store import tables as t
from triagehub.store.bulk import BulkWriter, data_columns

# Rows are built in the tables' column order.
OCCURRENCE_COLUMNS = data_columns(t.occurrences)
ISSUE_COLUMNS = data_columns(t.issues)
ISSUE_ROW = itemgetter(*ISSUE_COLUMNS)  # an issue's row dict -> its values in column order
EVENT_COLUMNS = data_columns(t.issue_events)


class BatchWriter:
    """Writes what one batch changed. ``touched_ids`` and ``failed_runs`` are the ingestor's,
    grown here (each run with failures, and the issues its failures went to). ``at_insert``:
    for the new issues' rows, the on-call columns each insert carries instead of the row's
    (``engine.oncall.at_insert``: the on-call pass then need not update them)."""

    def __init__(
        self,
        ctx: IngestContext,
        touched_ids: set[int],
        failed_runs: list[FailedRun],
        at_insert: Callable[[list[dict[str, Any]]], list[dict[str, Any]]] | None = None,
    ) -> None:
        self.ctx = ctx
        self.at_insert = at_insert
        self.session = ctx.session
        self.bulk = BulkWriter(ctx.session)
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
        # a failure's issue is touched (``apply_failure``), and has its id now
        issue_ids = {key: w.row["id"] for key, w in works.items() if w.touched}
        by_run: dict[int, tuple[RunReport, set[int]]] = {}
        for f in failures:
            entry = by_run.get(f.run_pk)
            if entry is None:
                entry = by_run[f.run_pk] = (f.report, set())
            entry[1].add(issue_ids[f.issue_key])
        self.failed_runs.extend(
            FailedRun(r.repository, r.source, r.run_id, r.attempt, frozenset(ids))
            for r, ids in by_run.values()
        )
        self._write_links(touched, works, aliases, now)
        if failures:
            self._insert_occurrences(failures, issue_ids)
            summary.occurrences += len(failures)
            self._upsert_issue_checks(touched)
        self._restamp_created(touched)
        self._insert_events(touched)

    def _write_issues(self, new: list[IssueWork], old: list[IssueWork]) -> None:
        bulk = self.bulk
        if new:
            rows = [w.row for w in new]
            carry = self.at_insert(rows) if self.at_insert is not None else [{}] * len(new)
            # each row's values in column order, the carried ones over the row's own
            values = [ISSUE_ROW(r | c if c else r) for r, c in zip(rows, carry, strict=True)]
            ids = bulk.insert_returning_ids(t.issues, ISSUE_COLUMNS, values)
            for w, pk in zip(new, ids, strict=True):
                w.row["id"] = pk
        # ``occurrences`` is a delta in SQL, not the value read earlier: no update is lost.
        bulk.update(
            t.issues,
            ISSUE_MUTABLE,
            "id",
            ([*(w.row[c] for c in ISSUE_MUTABLE), w.new_occurrences, w.row["id"]] for w in old),
            added=("occurrences",),
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

    def _insert_occurrences(self, failures: list[Failure], ids: dict[str, int]) -> None:
        """One row per failure, its values encoded as they are gathered (one pass, not two:
        the time by the writer's encoder, the links as JSON text)."""
        version = self.ctx.version
        when, links = self.bulk.encoders(t.occurrences, ("occurred_at", "links"))
        assert when is not None and links is not None
        self.bulk.insert_encoded(
            t.occurrences,
            OCCURRENCE_COLUMNS,
            [
                (
                    ids[f.issue_key],
                    f.run_pk,
                    f.check_pk,
                    f.result.status._value_,  # (``value`` is a property: a call per row)
                    f.message,
                    f.excerpt,
                    f.template,
                    f.fingerprint,
                    version,
                    f.result.duration_s,
                    when(f.at),
                    links(list(f.result.links[:MAX_LINKS])) if f.result.links else "[]",
                )
                for f in failures
            ],
        )

    def _upsert_issue_checks(self, touched: list[IssueWork]) -> None:
        """Each issue's checks: inserted, or their counters added to (deltas in SQL)."""
        bulk = self.bulk
        least, greatest = ("least", "greatest") if bulk.postgres else ("min", "max")
        bulk.upsert(
            t.issue_checks,
            ("issue_id", "check_id", "first_seen", "last_seen", "occurrences"),
            ("issue_id", "check_id"),
            "DO UPDATE SET occurrences = issue_checks.occurrences + excluded.occurrences, "
            f"first_seen = {least}(issue_checks.first_seen, excluded.first_seen), "
            f"last_seen = {greatest}(issue_checks.last_seen, excluded.last_seen)",
            (
                (w.row["id"], check_pk, first, last, n)
                for w in touched
                for check_pk, (first, last, n) in w.checks.items()
            ),
        )

    def _restamp_created(self, touched: list[IssueWork]) -> None:
        """``created`` is stamped with the issue's first failure in event time, whatever failure
        arrived first: a late, earlier failure moves it back."""
        moved: list[tuple[Any, ...]] = []
        for w in touched:
            first = w.earliest
            if first is None:
                continue
            if w.is_new:
                for e in w.events:
                    if e["kind"] == "created":
                        e["at"], e["run_id"] = first.at, first.run_pk
            else:
                moved.append((first.at, first.run_pk, w.row["id"], first.at))
        bulk = self.bulk
        mark = bulk.marks(1)
        bulk.executemany(
            f"UPDATE issue_events SET at = {mark}, run_id = {mark} "
            f"WHERE issue_id = {mark} AND kind = 'created' AND at > {mark}",
            bulk.rows(t.issue_events, ("at", "run_id", "issue_id", "at"), moved),
        )

    def _insert_events(self, touched: list[IssueWork]) -> None:
        """The batch's timeline entries, and a ``classified`` one where the class changed."""
        events: list[tuple[Any, ...]] = []
        for w in touched:
            issue_id = w.row["id"]
            events.extend(
                (issue_id, e["kind"], e["at"], e["actor"], e["run_id"], e["data"]) for e in w.events
            )
            after = tuple(w.row[k] for k in CLASSIFIED_FIELDS)
            if after != w.before:
                e = event("classified", w.row["last_seen"], None, classified_data(w.row))
                events.append((issue_id, e["kind"], e["at"], e["actor"], e["run_id"], e["data"]))
        self.bulk.insert(t.issue_events, EVENT_COLUMNS, events)

    def write_stats(
        self, stats: dict[int, CheckHistory], stats_new: set[int], touched_stats: set[int]
    ) -> None:
        """Each touched check's rolling history (inserted the first time, then updated)."""
        inserts = [pk for pk in touched_stats if pk in stats_new]
        updates = [pk for pk in touched_stats if pk not in stats_new]
        bulk = self.bulk
        bulk.insert(
            t.check_stats,
            ["check_id", *STATS_FIELDS],
            ([pk, *(getattr(stats[pk], f) for f in STATS_FIELDS)] for pk in inserts),
        )
        stats_new.difference_update(inserts)
        bulk.update(
            t.check_stats,
            STATS_FIELDS,
            "check_id",
            ([*(getattr(stats[pk], f) for f in STATS_FIELDS), pk] for pk in updates),
        )

    def _count_checks(self, new: list[IssueWork], old: list[IssueWork]) -> None:
        """Set ``checks_count``: new issues have only this batch's checks; old ones gain the
        checks they did not list yet."""
        for w in new:
            w.row["checks_count"] = len(w.checks)
        pairs = [(w.row["id"], pk) for w in old for pk in w.checks]
        known = grouping.issue_checks_present(session=self.session, pairs=pairs)
        for w in old:
            w.row["checks_count"] += sum(1 for pk in w.checks if (w.row["id"], pk) not in known)
