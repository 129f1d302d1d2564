"""The coordinator: ``Ingestor`` buffers ``RunReport``s and runs each batch through the stages
(prepare, group, classify, write, patterns) inside the caller's transaction.

The stages, the classifier's rule tables and the normalisers are imported when a batch first
holds a run not stored yet: a file whose runs are all stored (a no-op ingest) loads none of them
(``tests/test_cli_startup.py``)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy.orm import Session

from triagehub.clock import Clock, SystemClock
from triagehub.core.models import RunReport, Status
from triagehub.core.sanitize import sanitize_report
from triagehub.engine.ingest.runs import Catalog, NewRun
from triagehub.engine.ingest.state import (
    FailedRun,
    Failure,
    IngestContext,
    IngestSummary,
    RunKey,
    collector_paused,
    digest,
)

_SKIP, _PASS, _FLAKY = Status.SKIP, Status.PASS, Status.FLAKY

if TYPE_CHECKING:
    from triagehub.config import Settings
    from triagehub.core.classify import Classifier
    from triagehub.core.fingerprint import Normalizer
    from triagehub.core.history import CheckHistory
    from triagehub.engine.oncall.writes import Carried
    from triagehub.store.evidence import PassLog


@dataclass
class _Walk:
    """What walking a batch's results gives: the failures, and each check's history."""

    stats: dict[int, CheckHistory]
    stats_new: set[int]
    touched_stats: set[int] = field(default_factory=set)
    failures: list[Failure] = field(default_factory=list)
    flaky_checks: set[int] = field(default_factory=set)
    pass_logs: list[PassLog] = field(default_factory=list)


class Ingestor:
    """Writes ``RunReport``s into the store in batches, inside the session's transaction."""

    def __init__(
        self,
        session: Session,
        settings: Settings,
        *,
        clock: Clock | None = None,
        batch_results: int = 20_000,
        normalizers: Mapping[int, Normalizer] | None = None,
    ) -> None:
        self.session = session
        # The registered normalisers; the newest makes fingerprints, the older ones are tried so
        # that a new version never re-splits the issues made by an older one (``None``: the
        # registry, loaded with the first new run).
        self._normalizers = normalizers
        self.settings = settings
        self.clock = clock or SystemClock()
        self.batch_results = batch_results
        self.summary = IngestSummary()
        self._classifier: Classifier | None = None
        self._ctx_: IngestContext | None = None
        self.touched_ids: set[int] = set()
        # Each run with failures and the issues its failures went to (for follow-up actions):
        # its identity only, not its report, so that memory stays bounded by one batch.
        self.failed_runs: list[FailedRun] = []
        self._buffer: list[RunReport] = []
        self._buffered = 0
        self._catalog = Catalog(session, settings)
        # The checks' history changed by this ingest's batches and not written yet (and which of
        # them have no stored row): a check in every run is written once per ``flush``, not once
        # per batch (on PostgreSQL each write is a new row version, all kept until the commit).
        self._stats: dict[int, CheckHistory] = {}
        self._stats_new: set[int] = set()
        # The on-call pass of the current batch: its time (read when first needed) and the new
        # issues (their rows) inserted with the columns it is expected to set.
        self._pass_at: datetime | None = None
        self._carried: list[tuple[dict[str, Any], Carried]] = []

    @property
    def normalizers(self) -> Mapping[int, Normalizer]:
        if self._normalizers is None:
            from triagehub.core.fingerprint import NORMALIZERS

            self._normalizers = NORMALIZERS
        return self._normalizers

    @property
    def version(self) -> int:
        """The normaliser version that makes fingerprints: the newest."""
        return self._ctx.version

    @property
    def classifier(self) -> Classifier:
        if self._classifier is None:
            from triagehub.core.classify import Classifier

            self._classifier = Classifier(self.settings)
        return self._classifier

    @property
    def _ctx(self) -> IngestContext:
        """What the stages share (built with the first batch that has a new run)."""
        if self._ctx_ is None:
            from triagehub.core.fingerprint import NORMALIZERS, normalize

            normalizers = self.normalizers
            normalize_text: Callable[[str, int], str] = (
                normalize
                if normalizers is NORMALIZERS
                else lambda text, version: normalizers[version].normalize(text)
            )
            self._ctx_ = IngestContext(
                self.session,
                self.settings,
                self.summary,
                normalizers,
                max(normalizers),
                normalize_text,
            )
        return self._ctx_

    # -- public ---------------------------------------------------------------------------------

    def add(self, report: RunReport) -> None:
        """Buffer one report, cleaned at this boundary (control characters, column lengths,
        secrets in every text field, integer ranges: ``core/sanitize.py``)."""
        report = sanitize_report(report)
        self._buffer.append(report)
        self._buffered += len(report.results) + 1
        if self._buffered >= self.batch_results:
            self._flush_batch()

    def add_all(self, reports: Iterable[RunReport]) -> None:
        for report in reports:
            self.add(report)

    def flush(self) -> None:
        """Ingest what is buffered, and write every check's history this ingest changed: the
        store then holds all that was added (callers flush before their transaction ends)."""
        self._flush_batch()
        self._write_stats()

    def _flush_batch(self) -> None:
        reports, self._buffer, self._buffered = self._buffer, [], 0
        if not reports:
            return
        with collector_paused():
            self._process(reports)
            if len(self._stats) >= self.batch_results:  # memory bounded like a batch's
                self._write_stats()
            if self.touched_ids:  # (runs all seen before touch nothing: no import)
                # On-call: a new or regressed issue whose alert mode is `immediate` (critical,
                # by default) is assigned and announced in this transaction
                # (triagehub.engine.oncall).
                from triagehub.engine.oncall import alert_at_once

                carried = {int(row["id"]): c for row, c in self._carried}
                now = self._pass_now()
                alert_at_once(self.session, self.settings, self.touched_ids, now, carried=carried)
            self._carried = []
            self._pass_at = None

    def _pass_now(self) -> datetime:
        """The time of the batch's on-call pass (one clock reading, after the batch's own)."""
        if self._pass_at is None:
            self._pass_at = self.clock.now()
        return self._pass_at

    def _at_insert(self, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """The on-call columns the inserts of the batch's new issues carry: those the batch's
        on-call pass is expected to set (``engine.oncall.at_insert``), so that it need not."""
        from triagehub.engine.oncall.at_insert import carried, columns_at_insert

        columns = columns_at_insert(self.session, self.settings, rows, self._pass_now())
        self._carried += [(r, carried(r, c)) for r, c in zip(rows, columns, strict=True) if c]
        return columns

    # -- batch ----------------------------------------------------------------------------------

    def _process(self, reports: list[RunReport]) -> None:
        now = self.clock.now()
        keyed = self._new_runs(reports, now)
        if not keyed:
            return
        from triagehub.engine.ingest import prepare
        from triagehub.engine.ingest.classify import classify_latest, reclassify_flaky
        from triagehub.engine.ingest.group import IssueResolver, apply_failure
        from triagehub.engine.ingest.write import BatchWriter
        from triagehub.store import evidence as evidence_store

        # The digest of each run as it came (a re-sent run is compared with it), before its
        # dbt nodes take their stored identities.
        digests = {key: digest(report) for key, report in keyed.items()}
        keyed = prepare.one_identity_per_dbt_node(self.session, keyed)
        # One result per check and run: a failure wins over a pass of the same check.
        runs: list[NewRun] = []
        for key, report in keyed.items():
            results, storm = prepare.one_result_per_check(report, self.settings.grouping)
            runs.append((key, report, results, storm))
        run_pks = self._catalog.insert_runs(runs, digests, now)
        check_pks = self._catalog.ensure_checks(
            {(key[0], res.check) for key, _, results, _ in runs for res in results}, now
        )
        walk = self._load_stats(set(check_pks.values()))
        for run, run_pk in zip(runs, run_pks, strict=True):
            self._walk_run(walk, run, run_pk, check_pks, now)
        failures, stats = walk.failures, walk.stats

        resolver = IssueResolver(self._ctx)
        works = resolver.resolve(failures, now)
        # In event order: a regression is stamped with the first failure after the resolution.
        for f in sorted(failures, key=lambda f: f.at):
            apply_failure(self._ctx, works[f.issue_key], f, now)
        classify_latest(self.classifier, self.settings, works, stats)
        reclassify_flaky(
            self.session,
            self.classifier,
            walk.flaky_checks - {f.check_pk for f in failures},
            stats,
            works,
            now,
        )
        writer = BatchWriter(self._ctx, self.touched_ids, self.failed_runs, self._at_insert)
        writer.write(failures, works, resolver.aliases, now)
        for pk in walk.touched_stats:  # written by ``_write_stats``
            self._stats[pk] = stats[pk]
        self._stats_new.update(walk.stats_new & walk.touched_stats)
        evidence_store.record_logs(
            session=self.session,
            passes=walk.pass_logs,
            failures=[
                evidence_store.FailLog(f.check_pk, f.run_pk, f.at, f.result.log)
                for f in failures
                if f.result.log and not f.storm
            ],
        )

    def _load_stats(self, check_pks: set[int]) -> _Walk:
        """The history of these checks: as an earlier batch left it (not written yet), or as
        stored."""
        stats, stats_new = self._catalog.load_stats(check_pks - self._stats.keys())
        for pk in check_pks & self._stats.keys():
            stats[pk] = self._stats[pk]
            if pk in self._stats_new:
                stats_new.add(pk)
        return _Walk(stats, stats_new)

    def _write_stats(self) -> None:
        """Write the checks' history changed since the last write (inserted the first time,
        then updated)."""
        if not self._stats:
            return
        from triagehub.engine.ingest.write import BatchWriter

        stats, self._stats = self._stats, {}
        stats_new, self._stats_new = self._stats_new, set()
        writer = BatchWriter(self._ctx, self.touched_ids, self.failed_runs)
        writer.write_stats(stats, stats_new, set(stats))

    def _new_runs(self, reports: list[RunReport], now: datetime) -> dict[RunKey, RunReport]:
        """The reports of runs not stored yet, by key; a run sent again is counted as a
        duplicate (with a warning when its results differ from the stored ones)."""
        s = self.summary
        repo_ids = self._catalog.ensure_repositories({r.repository for r in reports}, now)
        keyed: dict[RunKey, RunReport] = {}
        for r in reports:
            key = (repo_ids[r.repository], r.source, r.run_id, r.attempt)
            if key in keyed:
                s.duplicate_runs += 1
                continue
            keyed[key] = r
        existing = self._catalog.existing_runs(list(keyed))
        for key, stored in existing.items():
            report = keyed.pop(key)
            s.duplicate_runs += 1
            if stored != digest(report):
                s.warnings.append(
                    f"run {report.run_id} (attempt {report.attempt}) of {report.repository} was "
                    "ingested before with other results; the new results were skipped"
                )
        limit, pruned = self._catalog.pruned(keyed)
        for key in pruned:
            keyed.pop(key)
        if pruned and limit is not None:
            s.duplicate_runs += len(pruned)
            s.warnings.append(
                f"{len(pruned)} run(s) finished before the retention horizon "
                f"{limit.isoformat()} (`triagehub db prune`) and were skipped: what they held "
                "may have been counted and pruned already"
            )
        return keyed

    def _walk_run(
        self,
        walk: _Walk,
        run: NewRun,
        run_pk: int,
        check_pks: dict[tuple[int, str], int],
        now: datetime,
    ) -> None:
        """Count a run's results, apply them to their checks' history (a storm's failures
        aside) and prepare its failures."""
        from triagehub.engine.ingest import prepare
        from triagehub.store.evidence import PassLog

        (repo_id, _, _, _), report, results, storm = run
        s = self.summary
        at = report.occurred_at or now
        run_key = f"{repo_id}:{report.source}:{report.run_id}"
        s.runs += 1
        s.storms += int(storm)
        # What every result of the run reads, read once (the loop runs once per result).
        commit, attempt = report.commit, report.attempt
        flaky_clean_runs = self.settings.history.flaky_clean_runs
        stats, touched, pass_logs = walk.stats, walk.touched_stats, walk.pass_logs
        ctx = self._ctx  # (built for the batch anyway: its issues are resolved after the walk)
        run_failures: list[Failure] = []
        counted = skipped = failed = passed = 0
        try:
            for res in results:
                counted += 1
                status = res.status
                check_pk = check_pks[(repo_id, res.check)]
                if status is _SKIP:
                    skipped += 1
                    continue
                is_failure = status.is_failure
                if is_failure:
                    failed += 1
                else:
                    passed += 1
                    if res.log and status is _PASS:
                        pass_logs.append(PassLog(check_pk, run_pk, commit, at, res.log))
                if not (storm and is_failure):
                    evidence = stats[check_pk].apply(
                        status,
                        at=at,
                        commit=commit,
                        run_key=run_key,
                        attempt=attempt,
                        flaky_clean_runs=flaky_clean_runs,
                    )
                    touched.add(check_pk)
                    if evidence and not is_failure:
                        walk.flaky_checks.add(check_pk)
                if is_failure or (status is _FLAKY and (res.message or res.log)):
                    ids = (repo_id, run_pk, check_pk)
                    run_failures.append(prepare.prepare_failure(ctx, report, res, ids, at, storm))
        finally:  # (the counts as the loop left them, whatever stopped it)
            s.results += counted
            s.skipped += skipped
            s.failures += failed
            s.passes += passed
        if storm and run_failures:
            prepare.roll_up_storm(self.version, report, run_failures, len(results))
        walk.failures.extend(run_failures)
