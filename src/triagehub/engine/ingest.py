"""The one place that wires sources -> core -> store.

``Ingestor`` takes ``RunReport``s, buffers them, and writes them in batches inside the caller's
transaction: runs (deduplicated, so ingesting anything twice is a no-op), checks, per-check
history, issues (grouped by fingerprint, classified), occurrences and the issue timeline.
``ingest_files`` runs one transaction per file, so a bad file stores nothing while the other
files of the same call are still ingested.
"""

from __future__ import annotations

import hashlib
import logging
import random
import re
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from sqlalchemy import Engine, bindparam, func, insert, select, tuple_, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import DataError, DBAPIError
from sqlalchemy.orm import Session

if TYPE_CHECKING:
    from triagehub.actions.llm import LLMClassifier

from triagehub.clock import Clock, SystemClock
from triagehub.config import Settings
from triagehub.core.classify import (
    CLASSIFICATION_FIELDS,
    LLM_FIELDS,
    Classifier,
    ClassifyInput,
    KindMatch,
    detect_kind,
    exit_code_of,
)
from triagehub.core.excerpt import error_text, extract, headline
from triagehub.core.fingerprint import (
    NORMALIZERS,
    SCOPE_MASK_VERSION,
    Normalizer,
    grouping_key,
    mask_check,
    normalize,
    strip_ansi,
    template_hash,
)
from triagehub.core.history import CheckHistory
from triagehub.core.lifecycle import escalated_priority
from triagehub.core.models import (
    CheckResult,
    HistoryClass,
    IssueState,
    Level,
    RunReport,
    Scope,
    Status,
)
from triagehub.core.patterns import (
    FuzzyBudget,
    band_keys,
    near_duplicate,
    pattern_key,
    same_identifiers,
)
from triagehub.core.redact import redact
from triagehub.core.sanitize import sanitize_report
from triagehub.core.templates import TemplateMiner, same_dbt_test, same_family
from triagehub.errors import InputError
from triagehub.sources import ParseOptions, SourceFormat, dbt, detect_format
from triagehub.store import evidence as evidence_store
from triagehub.store import grouping
from triagehub.store import tables as t
from triagehub.store.dialect import insert_ignoring, is_transient, lock_repositories

log = logging.getLogger(__name__)
_K = TypeVar("_K", int, str)
_T = TypeVar("_T")
TRANSACTION_ATTEMPTS = 5  # tries of one ingest transaction that hit a deadlock or a lock wait

MAX_STORED_MESSAGE = 64 * 1024
MAX_EXCERPT = 8 * 1024
EXCERPT_LINES = 30
MAX_AFFECTED = 200  # affected models kept on an issue
MAX_LINKS = 20  # evidence links kept on an occurrence
MAX_SCOPE_CANDIDATES = 200
MAX_PATTERN_CANDIDATES = 50
_CLASSIFIED_FIELDS = (
    "category",
    "kind",
    "severity",
    "priority",
    "history_class",
    "decision",
    "expert",
    "confidence",
)
_STATS_FIELDS = (
    "runs",
    "failures",
    "consecutive_failures",
    "last_status",
    "last_run_at",
    "last_pass_at",
    "last_fail_at",
    "last_pass_commit",
    "last_fail_commit",
    "last_run_key",
    "recent",
    "flaky",
    "flaky_clean_runs",
    "pass_times",
)
_ISSUE_MUTABLE = (
    "title",
    "state",
    "category",
    "kind",
    "severity",
    "priority",
    "history_class",
    "decision",
    "rationale",
    "confidence",
    "expert",
    "sla_due_at",
    "escalate_after_hours",
    "first_seen",
    "last_seen",
    "checks_count",
    "pattern_id",
    "labels",
    "affected_models",
    "classification_source",
    "resolved_at",
    "snooze_occurrences",
    "snoozed_until",
    "updated_at",
)


@dataclass
class IngestSummary:
    """What one ingest did, for the CLI and the API."""

    files: int = 0
    runs: int = 0
    duplicate_runs: int = 0
    results: int = 0
    failures: int = 0
    passes: int = 0
    skipped: int = 0
    occurrences: int = 0
    storms: int = 0
    new_issues: int = 0
    updated_issues: int = 0
    regressions: int = 0
    llm_refined: int = 0
    llm_fallbacks: int = 0
    formats: dict[str, str] = field(default_factory=dict)
    errors: list[InputError] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def add(self, other: IngestSummary) -> None:
        for name in (
            "files",
            "runs",
            "duplicate_runs",
            "results",
            "failures",
            "passes",
            "skipped",
            "occurrences",
            "storms",
            "new_issues",
            "updated_issues",
            "regressions",
            "llm_refined",
            "llm_fallbacks",
        ):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.formats.update(other.formats)
        self.errors.extend(other.errors)
        self.warnings.extend(other.warnings)

    @property
    def issues_touched(self) -> int:
        return self.new_issues + self.updated_issues

    def as_dict(self) -> dict[str, Any]:
        return {
            "files": self.files,
            "formats": self.formats,
            "runs": self.runs,
            "duplicate_runs": self.duplicate_runs,
            "results": self.results,
            "failures": self.failures,
            "passes": self.passes,
            "skipped": self.skipped,
            "occurrences": self.occurrences,
            "storms": self.storms,
            "new_issues": self.new_issues,
            "updated_issues": self.updated_issues,
            "regressions": self.regressions,
            "llm_refined": self.llm_refined,
            "llm_fallbacks": self.llm_fallbacks,
            "errors": [str(e) for e in self.errors],
            "warnings": self.warnings,
        }


@dataclass(slots=True)
class _Failure:
    run_pk: int
    check_pk: int
    repo_id: int
    report: RunReport
    result: CheckResult
    at: datetime
    message: str
    excerpt: str
    text: str
    template: str
    kind: KindMatch
    scope: Scope
    fingerprint: str
    storm: bool
    exit_code: int | None = None
    issue_key: str = ""  # the fingerprint of the issue it joins (its own, an alias's, ...)


@dataclass(slots=True)
class _IssueWork:
    row: dict[str, Any]
    is_new: bool
    before: tuple[Any, ...]
    checks: dict[int, list[Any]] = field(default_factory=dict)  # check -> [first, last, n]
    events: list[dict[str, Any]] = field(default_factory=list)
    touched: bool = False
    latest: _Failure | None = None
    earliest: _Failure | None = None  # the earliest failure of the batch, when before first_seen
    new_occurrences: int = 0
    new_pattern_member: bool = False


def _digest(report: RunReport) -> str:
    h = hashlib.sha256()
    for r in report.results:
        h.update(f"{r.check}\x1f{r.status.value}\x1f{r.message}\x1f{r.log}\x1e".encode())
    return h.hexdigest()


def _excerpt(log_text: str) -> str:
    """The lines of a log that carry the error (redacted), for the occurrence and for humans."""
    if not log_text:
        return ""
    return redact(extract(log_text, max_lines=EXCERPT_LINES, max_chars=MAX_EXCERPT).text)


def _placeholder(result: CheckResult) -> str:
    return f"<no message> ({result.status.value})"


# The detail line that the dbt source adds to a test's message.
_DBT_TEST = re.compile(
    r"^([\w.]+) test on ([\w$]+)(?:\.([\w$]+))?(?:: (\d+) failing rows?)?$", re.MULTILINE
)


def _dbt_test_title(message: str) -> str | None:
    """``accepted_values(status) on stg_orders: 3 rows`` for a dbt test's message."""
    match = _DBT_TEST.search(message)
    if match is None:
        return None
    kind, model, column, rows = match.groups()
    title = f"{kind}({column}) on {model}" if column else f"{kind} on {model}"
    if rows is not None:
        title += f": {rows} row{'s' if rows != '1' else ''}"
    return title


def _title(f: _Failure, *, checks: int) -> str:
    """``check — key error line``, with the real (redacted) values of the failure; an issue
    grouped across checks says so once it holds two checks or more. A dbt test reads
    ``accepted_values(status) on stg_orders: 3 rows``."""
    if f.scope is Scope.CHECK and f.report.source == "dbt":
        dbt_title = _dbt_test_title(f.message)
        if dbt_title is not None:
            return dbt_title[:300]
    line = headline(f.text) or _first_line(f.template)
    if f.scope is Scope.STORM:
        return f"Storm: many checks failed at once: {line}"[:300]
    if f.scope is Scope.REPOSITORY and checks >= 2:
        return f"{line} (across checks)"[:300]
    return f"{f.result.check} — {line}"[:300]


def _first_line(text: str, limit: int = 160) -> str:
    line = next((x for x in text.splitlines() if x.strip()), text).strip()
    return line if len(line) <= limit else line[: limit - 1] + "…"


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
        # that a new version never re-splits the issues made by an older one.
        self.normalizers = normalizers if normalizers is not None else NORMALIZERS
        self.version = max(self.normalizers)
        self._normalize: Callable[[str, int], str] = (
            normalize
            if self.normalizers is NORMALIZERS
            else lambda text, version: self.normalizers[version].normalize(text)
        )
        self.settings = settings
        self.clock = clock or SystemClock()
        self.batch_results = batch_results
        self.summary = IngestSummary()
        self.classifier = Classifier(settings)
        self.touched_ids: set[int] = set()
        # Each run with failures, and the issues its failures went to (for follow-up actions).
        self.failed_runs: list[tuple[RunReport, set[int]]] = []
        self._buffer: list[RunReport] = []
        self._buffered = 0
        self._repos: dict[str, int] = {}
        self._checks: dict[tuple[int, str], int] = {}
        dialect = session.get_bind().dialect.name
        self._upsert = pg_insert if dialect == "postgresql" else sqlite_insert
        self._greatest = func.greatest if dialect == "postgresql" else func.max
        self._least = func.least if dialect == "postgresql" else func.min

    # -- public ---------------------------------------------------------------------------------

    def add(self, report: RunReport) -> None:
        """Buffer one report, cleaned at this boundary (control characters, column lengths,
        secrets in every text field, integer ranges: ``core/sanitize.py``)."""
        report = sanitize_report(report)
        self._buffer.append(report)
        self._buffered += len(report.results) + 1
        if self._buffered >= self.batch_results:
            self.flush()

    def add_all(self, reports: Iterable[RunReport]) -> None:
        for report in reports:
            self.add(report)

    def flush(self) -> None:
        reports, self._buffer, self._buffered = self._buffer, [], 0
        if reports:
            self._process(reports)
            # On-call: a new or regressed issue whose alert mode is `immediate` (critical, by
            # default) is assigned and announced in this transaction (triagehub.engine.oncall).
            from triagehub.engine.oncall import alert_at_once

            alert_at_once(self.session, self.settings, self.touched_ids, self.clock.now())

    # -- batch ----------------------------------------------------------------------------------

    def _process(self, reports: list[RunReport]) -> None:
        now = self.clock.now()
        s = self.summary
        repo_ids = self._ensure_repositories({r.repository for r in reports}, now)
        keyed: dict[tuple[int, str, str, int], RunReport] = {}
        for r in reports:
            key = (repo_ids[r.repository], r.source, r.run_id, r.attempt)
            if key in keyed:
                s.duplicate_runs += 1
                continue
            keyed[key] = r
        existing = self._existing_runs(list(keyed))
        for key, digest in existing.items():
            report = keyed.pop(key)
            s.duplicate_runs += 1
            if digest != _digest(report):
                s.warnings.append(
                    f"run {report.run_id} (attempt {report.attempt}) of {report.repository} was "
                    "ingested before with other results; the new results were skipped"
                )
        if not keyed:
            return
        # The digest of each run as it came (a re-sent run is compared with it), before its
        # dbt nodes take their stored identities.
        digests = {key: _digest(report) for key, report in keyed.items()}
        keyed = self._one_identity_per_dbt_node(keyed)

        # One result per check and run: a failure wins over a pass of the same check.
        runs: list[tuple[tuple[int, str, str, int], RunReport, list[CheckResult], bool]] = []
        for key, report in keyed.items():
            per_check: dict[str, CheckResult] = {}
            for res in report.results:
                prev = per_check.get(res.check)
                if prev is None or (res.status.is_failure and not prev.status.is_failure):
                    per_check[res.check] = res
            results = list(per_check.values())
            counted = [x for x in results if x.status is not Status.SKIP]
            failed = sum(1 for x in counted if x.status.is_failure)
            g = self.settings.grouping
            storm = len(counted) >= g.storm_min_checks and failed >= g.storm_share * len(counted)
            runs.append((key, report, results, storm))

        run_pks = self._insert_runs(runs, digests, now)
        check_pks = self._ensure_checks(
            {(key[0], res.check) for key, _, results, _ in runs for res in results}, now
        )
        stats, stats_new = self._load_stats(set(check_pks.values()))
        touched_stats: set[int] = set()
        failures: list[_Failure] = []
        flaky_checks: set[int] = set()
        pass_logs: list[evidence_store.PassLog] = []

        for (key, report, results, storm), run_pk in zip(runs, run_pks, strict=True):
            repo_id = key[0]
            at = report.occurred_at or now
            run_key = f"{repo_id}:{report.source}:{report.run_id}"
            s.runs += 1
            s.storms += int(storm)
            run_failures: list[_Failure] = []
            for res in results:
                s.results += 1
                check_pk = check_pks[(repo_id, res.check)]
                if res.status is Status.SKIP:
                    s.skipped += 1
                    continue
                is_failure = res.status.is_failure
                if is_failure:
                    s.failures += 1
                else:
                    s.passes += 1
                    if res.log and res.status is Status.PASS:
                        pass_logs.append(
                            evidence_store.PassLog(check_pk, run_pk, report.commit, at, res.log)
                        )
                if not (storm and is_failure):
                    hist = stats[check_pk]
                    evidence = hist.apply(
                        res.status,
                        at=at,
                        commit=report.commit,
                        run_key=run_key,
                        attempt=report.attempt,
                        flaky_clean_runs=self.settings.history.flaky_clean_runs,
                    )
                    touched_stats.add(check_pk)
                    if evidence and not is_failure:
                        flaky_checks.add(check_pk)
                if is_failure or (res.status is Status.FLAKY and (res.message or res.log)):
                    run_failures.append(
                        self._prepare_failure(report, res, repo_id, run_pk, check_pk, at, storm)
                    )
            if storm and run_failures:
                self._roll_up_storm(report, run_failures, len(results))
            failures.extend(run_failures)

        works = self._resolve_issues(failures, now)
        # In event order: a regression is stamped with the first failure after the resolution.
        for f in sorted(failures, key=lambda f: f.at):
            self._apply_failure(works[f.issue_key], f, now)
        self._classify_latest(works, stats)
        self._reclassify_flaky(flaky_checks - {f.check_pk for f in failures}, stats, works, now)
        self._write(failures, works, stats, stats_new, touched_stats, now)
        evidence_store.record_logs(
            session=self.session,
            passes=pass_logs,
            failures=[
                evidence_store.FailLog(f.check_pk, f.run_pk, f.at, f.result.log)
                for f in failures
                if f.result.log and not f.storm
            ],
        )

    # -- steps ----------------------------------------------------------------------------------

    def _one_identity_per_dbt_node(
        self, keyed: dict[tuple[int, str, str, int], RunReport]
    ) -> dict[tuple[int, str, str, int], RunReport]:
        """A dbt test is one check whether its run came as artifacts or a JSON log
        (``test.p.unique_orders_id.c7614daada``) or as a plain console log
        (``test.p.unique_orders_id``): each key takes the check already stored under the same
        node name, else the first key of this batch, so that the order of ingestion never
        splits a node in two."""
        wanted: dict[int, set[str]] = {}
        for key, report in keyed.items():
            if report.source == dbt.SOURCE:
                for res in report.results:
                    if res.check.startswith("test."):
                        wanted.setdefault(key[0], set()).add(dbt.node_identity(res.check))
        if not wanted:
            return keyed
        chosen: dict[tuple[int, str], tuple[int, str]] = {}  # (repo, identity) -> (order, key)
        for repo_id, names in wanted.items():
            for stored, pk in grouping.checks_by_name_prefix(
                session=self.session, repository_id=repo_id, names=names
            ):
                identity = (repo_id, dbt.node_identity(stored))
                if identity[1] in names and (identity not in chosen or pk < chosen[identity][0]):
                    chosen[identity] = (pk, stored)
        out: dict[tuple[int, str, str, int], RunReport] = {}
        for key, report in keyed.items():
            if report.source != dbt.SOURCE:
                out[key] = report
                continue
            results: list[CheckResult] = []
            for res in report.results:
                if res.check.startswith("test."):
                    identity = (key[0], dbt.node_identity(res.check))
                    canonical = chosen.setdefault(identity, (1 << 62, res.check))[1]
                    if canonical != res.check:
                        res = replace(res, check=canonical)
                results.append(res)
            out[key] = replace(report, results=tuple(results))
        return out

    def _ensure_repositories(self, names: set[str], now: datetime) -> dict[str, int]:
        """The ids of these repositories (created if new, race-free), write-locked until the
        transaction ends: everything after this reads and changes rows of these repositories
        only (runs, checks, their history, issues), so concurrent ingests serialise per
        repository and count exactly like one serial ingest."""
        missing = sorted(n for n in names if n not in self._repos)
        if missing:
            self._select_repositories(missing)
            new = [n for n in missing if n not in self._repos]
            if new:
                rows = self.session.execute(
                    insert_ignoring(self.session, t.repositories, "name").returning(
                        t.repositories.c.name, t.repositories.c.id
                    ),
                    [
                        {
                            "name": n,
                            "priority_level": self.settings.repository(n).priority_level.value,
                            "created_at": now,
                        }
                        for n in new
                    ],
                )
                self._repos.update({name: pk for name, pk in rows})
                # Created meanwhile by another transaction (its insert won).
                self._select_repositories([n for n in new if n not in self._repos])
        ids = {n: self._repos[n] for n in names}
        lock_repositories(self.session, ids.values())
        return ids

    def _select_repositories(self, names: Sequence[str]) -> None:
        for chunk in grouping.chunks(names):
            rows = self.session.execute(
                select(t.repositories.c.name, t.repositories.c.id).where(
                    t.repositories.c.name.in_(chunk)
                )
            )
            self._repos.update({name: pk for name, pk in rows})

    def _existing_runs(self, keys: list[tuple[int, str, str, int]]) -> dict[Any, str]:
        found: dict[Any, str] = {}
        wanted = set(keys)
        for chunk in grouping.chunks(sorted({k[2] for k in keys})):
            rows = self.session.execute(
                select(
                    t.runs.c.repository_id,
                    t.runs.c.source,
                    t.runs.c.external_id,
                    t.runs.c.attempt,
                    t.runs.c.digest,
                ).where(t.runs.c.external_id.in_(chunk))
            )
            for repo_id, source, ext, attempt, digest in rows:
                key = (repo_id, source, ext, attempt)
                if key in wanted:
                    found[key] = digest
        return found

    def _insert_runs(
        self,
        runs: list[tuple[tuple[int, str, str, int], RunReport, list[CheckResult], bool]],
        digests: Mapping[tuple[int, str, str, int], str],
        now: datetime,
    ) -> list[int]:
        rows = [
            {
                "repository_id": key[0],
                "source": report.source,
                "external_id": report.run_id,
                "attempt": report.attempt,
                "commit_sha": report.commit,
                "branch": report.branch,
                "url": report.url,
                "status": report.status,
                "started_at": report.started_at,
                "finished_at": report.finished_at,
                "occurred_at": report.occurred_at or now,
                "ingested_at": now,
                "results_total": len(results),
                "results_failed": sum(1 for r in results if r.status.is_failure),
                "storm": storm,
                "digest": digests[key],
            }
            for key, report, results, storm in runs
        ]
        # RETURNING the natural key, not relying on row order, lets SQLAlchemy batch the insert.
        c = t.runs.c
        result = self.session.execute(
            insert(t.runs).returning(c.repository_id, c.source, c.external_id, c.attempt, c.id),
            rows,
        )
        ids = {(r, s, e, a): pk for r, s, e, a, pk in result}
        return [ids[key] for key, _, _, _ in runs]

    def _ensure_checks(
        self, keys: set[tuple[int, str]], now: datetime
    ) -> dict[tuple[int, str], int]:
        if len(self._checks) > 200_000:
            self._checks.clear()
        missing = [k for k in keys if k not in self._checks]
        by_repo: dict[int, list[str]] = {}
        for repo_id, check in missing:
            by_repo.setdefault(repo_id, []).append(check)
        for repo_id, names in by_repo.items():
            for chunk in grouping.chunks(names):
                rows = self.session.execute(
                    select(t.checks.c.key, t.checks.c.id).where(
                        t.checks.c.repository_id == repo_id, t.checks.c.key.in_(chunk)
                    )
                )
                self._checks.update({(repo_id, key): pk for key, pk in rows})
        new = sorted(k for k in missing if k not in self._checks)
        if new:
            inserted = self.session.execute(
                insert_ignoring(self.session, t.checks, "repository_id", "key").returning(
                    t.checks.c.repository_id,
                    t.checks.c.key,
                    t.checks.c.id,
                ),
                [{"repository_id": r, "key": k, "created_at": now} for r, k in new],
            )
            for repo_id, key, pk in inserted:
                self._checks[(repo_id, key)] = pk
            for repo_id, key in new:  # created meanwhile by another transaction
                if (repo_id, key) not in self._checks:
                    self._checks[(repo_id, key)] = self.session.execute(
                        select(t.checks.c.id).where(
                            t.checks.c.repository_id == repo_id, t.checks.c.key == key
                        )
                    ).scalar_one()
        return {k: self._checks[k] for k in keys}

    def _load_stats(self, check_pks: set[int]) -> tuple[dict[int, CheckHistory], set[int]]:
        stats: dict[int, CheckHistory] = {}
        cols = [t.check_stats.c.check_id, *(t.check_stats.c[f] for f in _STATS_FIELDS)]
        for chunk in grouping.chunks(sorted(check_pks)):
            for row in self.session.execute(
                select(*cols).where(t.check_stats.c.check_id.in_(chunk))
            ):
                stats[row[0]] = CheckHistory(*row[1:])
        new = check_pks - stats.keys()
        for pk in new:
            stats[pk] = CheckHistory()
        return stats, new

    def _prepare_failure(
        self,
        report: RunReport,
        res: CheckResult,
        repo_id: int,
        run_pk: int,
        check_pk: int,
        at: datetime,
        storm: bool,
    ) -> _Failure:
        message = redact(res.message)
        excerpt = _excerpt(res.log)
        text = error_text(message, excerpt)
        template = self._normalize(text, self.version) or _placeholder(res)
        exit_code = res.exit_code if res.exit_code is not None else exit_code_of(message, excerpt)
        kind = detect_kind(report.source, res.check, template, exit_code)
        scope = Scope.REPOSITORY if kind.environmental else Scope.CHECK
        if scope is Scope.REPOSITORY and self.version >= SCOPE_MASK_VERSION:
            template = mask_check(template, res.check)  # one failure across the checks it names
        fingerprint = grouping_key(
            scope=scope,
            repository=report.repository,
            check=res.check if scope is Scope.CHECK else None,
            template=template,
            version=self.version,
        )
        return _Failure(
            run_pk=run_pk,
            check_pk=check_pk,
            repo_id=repo_id,
            report=report,
            result=res,
            at=at,
            message=strip_ansi(message)[:MAX_STORED_MESSAGE],
            excerpt=excerpt,
            text=text,
            template=template,
            kind=kind,
            scope=scope,
            fingerprint=fingerprint,
            storm=storm,
            exit_code=exit_code,
        )

    def _roll_up_storm(self, report: RunReport, failures: list[_Failure], total: int) -> None:
        """Point every failure of a storm run at one infrastructure issue for the run's cause."""
        counts = Counter(f.template for f in failures if f.result.status.is_failure)
        dominant = min(counts, key=lambda tpl: (-counts[tpl], tpl))
        fingerprint = grouping_key(
            scope=Scope.STORM,
            repository=report.repository,
            check=None,
            template=dominant,
            version=self.version,
        )
        for f in failures:
            f.scope = Scope.STORM
            f.fingerprint = fingerprint
            f.storm = True
        log.info(
            "storm guard rolled up a run",
            extra={"run": report.run_id, "failed": len(failures), "checks": total},
        )

    def _resolve_issues(self, failures: list[_Failure], now: datetime) -> dict[str, _IssueWork]:
        """Find or create the issue of every failure, by fingerprint, then by an alias stored
        earlier, then by an older normaliser version's fingerprint, then by a near-identical
        template in the same scope; else a new issue. ``f.issue_key`` names the issue."""
        works: dict[str, _IssueWork] = {}
        by_id: dict[int, _IssueWork] = {}
        self._new_aliases: dict[str, tuple[str, str]] = {}

        def adopt(row: dict[str, Any]) -> _IssueWork:
            work = works.get(row["fingerprint"])
            if work is None:
                work = _IssueWork(row, False, tuple(row[k] for k in _CLASSIFIED_FIELDS))
                works[row["fingerprint"]] = work
                by_id[row["id"]] = work
            return work

        for f in failures:
            f.issue_key = f.fingerprint
        session = self.session
        for row in grouping.issues_by_fingerprint(
            session=session, fingerprints={f.fingerprint for f in failures}
        ):
            adopt(row)
        unknown = [f for f in failures if f.fingerprint not in works]
        if unknown:
            alias = grouping.aliases(session=session, fingerprints={f.fingerprint for f in unknown})
            for row in grouping.issues_by_id(
                session=session, ids=set(alias.values()) - by_id.keys()
            ):
                adopt(row)
            for f in unknown:
                if f.fingerprint in alias and alias[f.fingerprint] in by_id:
                    f.issue_key = by_id[alias[f.fingerprint]].row["fingerprint"]
            unknown = [f for f in unknown if f.issue_key == f.fingerprint]
        if unknown and len(self.normalizers) > 1:
            unknown = self._join_older_versions(unknown, adopt)
        if unknown:
            self._join_or_create(unknown, works, adopt, now)
        return works

    def _join_older_versions(
        self, unknown: list[_Failure], adopt: Callable[[dict[str, Any]], _IssueWork]
    ) -> list[_Failure]:
        """A new normaliser version must not re-split history: a failure whose template under an
        older version matches an issue of that version joins it."""
        older: dict[str, list[tuple[_Failure, int]]] = {}
        for f in unknown:
            if f.storm:
                continue
            for version in sorted(self.normalizers, reverse=True):
                if version == self.version:
                    continue
                template = self._normalize(f.text, version) or _placeholder(f.result)
                key = grouping_key(
                    scope=f.scope,
                    repository=f.report.repository,
                    check=f.result.check if f.scope is Scope.CHECK else None,
                    template=template,
                    version=version,
                )
                older.setdefault(key, []).append((f, version))
        for row in grouping.issues_by_fingerprint(session=self.session, fingerprints=older):
            work = adopt(row)
            for f, version in older[row["fingerprint"]]:
                if f.issue_key == f.fingerprint:
                    f.issue_key = work.row["fingerprint"]
                    self._new_aliases[f.fingerprint] = (f.issue_key, f"normalizer v{version}")
        return [f for f in unknown if f.issue_key == f.fingerprint]

    def _join_or_create(
        self,
        unknown: list[_Failure],
        works: dict[str, _IssueWork],
        adopt: Callable[[dict[str, Any]], _IssueWork],
        now: datetime,
    ) -> None:
        """Join a near-identical template of the same scope (bounded by a budget), else create."""
        joinable = [f for f in unknown if not f.storm]
        candidates = grouping.scope_candidates(
            session=self.session,
            check_ids={f.check_pk for f in joinable if f.scope is Scope.CHECK},
            repository_ids={f.repo_id for f in joinable if f.scope is Scope.REPOSITORY},
            version=self.version,
            per_scope=MAX_SCOPE_CANDIDATES,
        )
        budget = FuzzyBudget()
        rows_by_fp = {r["fingerprint"]: r for rows in candidates.values() for r in rows}
        miners: dict[tuple[Any, ...], tuple[TemplateMiner, dict[int, str]]] = {}

        def miner_for(key: tuple[Any, ...]) -> tuple[TemplateMiner, dict[int, str]]:
            """A template miner over the scope's issue templates, oldest first: it learns which
            tokens vary among them (cluster id -> the issue that opened the cluster)."""
            if key not in miners:
                miner, owners = TemplateMiner(), dict[int, str]()
                for row in reversed(candidates.get(key, [])):
                    owners.setdefault(miner.add(row["template"]).cluster_id, row["fingerprint"])
                miners[key] = (miner, owners)
            return miners[key]

        join = self.settings.grouping.join_near_identical
        for f in unknown:
            if f.fingerprint in works:
                continue
            key = grouping.scope_key(f.scope.value, f.repo_id, f.check_pk)
            match: dict[str, Any] | None = None
            reason = "near-identical template"
            cluster_id: int | None = None
            if not f.storm and join:
                for candidate in candidates.get(key, ()):
                    if not budget.spend():
                        break
                    if f.report.source == dbt.SOURCE and same_dbt_test(
                        f.template, candidate["template"]
                    ):
                        match, reason = candidate, "same dbt test"
                        break
                    if not same_identifiers(f.template, candidate["template"]):
                        continue  # another column, table, module or value: another failure
                    if same_family(f.template, candidate["template"]) or near_duplicate(
                        f.template, candidate["template"]
                    ):
                        match = candidate
                        break
                if match is None and not budget.exhausted and candidates.get(key):
                    miner, owners = miner_for(key)
                    cluster_id = miner.add(f.template).cluster_id
                    owner = owners.get(cluster_id)
                    if (
                        owner is not None
                        and owner in rows_by_fp
                        and same_identifiers(f.template, rows_by_fp[owner]["template"])
                    ):
                        match, reason = rows_by_fp[owner], "mined template family"
            if match is not None:
                work = works.get(match["fingerprint"])
                if work is None:  # read again, locked: this batch rewrites it
                    fresh = grouping.issues_by_id(session=self.session, ids={match["id"]})
                    work = adopt(fresh[0] if fresh else match)
                f.issue_key = work.row["fingerprint"]
                self._new_aliases[f.fingerprint] = (f.issue_key, reason)
                continue
            work = self._new_issue(f, now)
            works[f.fingerprint] = work
            if not f.storm:
                candidates.setdefault(key, []).insert(0, work.row)
                rows_by_fp[f.fingerprint] = work.row
                if key in miners and cluster_id is not None:
                    miners[key][1].setdefault(cluster_id, f.fingerprint)
        if budget.exhausted:
            self.summary.warnings.append(
                f"fuzzy grouping budget spent after {budget.checks} comparisons; "
                "the remaining templates were grouped exactly"
            )

    def _new_issue(self, f: _Failure, now: datetime) -> _IssueWork:
        title = _title(f, checks=1)
        row: dict[str, Any] = {
            "id": None,
            "repository_id": f.repo_id,
            "fingerprint": f.fingerprint,
            "normalizer_version": self.version,
            "source": f.report.source,
            "scope": f.scope.value,
            "check_id": f.check_pk if f.scope is Scope.CHECK else None,
            "pattern_id": None,
            "title": title[:300],
            "template": f.template,
            "template_hash": template_hash(f.template),
            "sample_message": f.message[:4096],
            "state": IssueState.OPEN.value,
            "category": "pending_classification",
            "kind": f.kind.kind.value,
            "severity": "medium",
            "priority": "medium",
            "history_class": HistoryClass.NEW.value,
            "decision": "pending",
            "rationale": "",
            "confidence": 0.0,
            "classification_source": "rules",
            "expert": None,
            "assignee": None,
            "labels": [],
            "overrides": {},
            "affected_models": [],
            "spec_change": None,
            "llm_verdict": None,
            "sla_due_at": None,
            "escalate_after_hours": None,
            "first_seen": f.at,
            "last_seen": f.at,
            "occurrences": 0,
            "checks_count": 0,
            "resolved_at": None,
            "snoozed_until": None,
            "snooze_occurrences": None,
            "escalation_level": 0,
            "escalated_at": None,
            "escalations": {},
            "sla_breached_at": None,
            "github_repo": None,
            "github_number": None,
            "github_node_id": None,
            "github_url": None,
            "github_status": None,
            "github_synced_at": None,
            "github_synced_version": None,
            "github_body_hash": None,
            "github_body_at": None,
            "github_state": None,
            "github_labels": [],
            "github_event_cursor": None,
            "github_agent_at": None,
            "created_at": now,
            "updated_at": now,
        }
        work = _IssueWork(row, True, ())
        work.events.append(
            self._event("created", f.at, f.run_pk, {"title": row["title"], "scope": row["scope"]})
        )
        return work

    @staticmethod
    def _event(kind: str, at: datetime, run_pk: int | None, data: dict[str, Any]) -> dict[str, Any]:
        return {"kind": kind, "at": at, "run_id": run_pk, "data": data, "actor": "triagehub"}

    def _history(
        self, work: _IssueWork, f: _Failure, stats: dict[int, CheckHistory]
    ) -> HistoryClass:
        h = self.settings.history
        occurrences = int(work.row["occurrences"])
        if f.storm:  # a storm counts once per run, not once per failed check
            return HistoryClass.NEW if work.is_new else HistoryClass.RECURRING
        return stats[f.check_pk].history_class(
            issue_occurrences=occurrences,
            recurring_threshold=h.recurring_threshold,
            persistent_threshold=h.persistent_threshold,
        )

    def _classify_into(self, work: _IssueWork, inp: ClassifyInput) -> None:
        _classify_row(self.classifier, work.row, inp)

    def _input_of(
        self, f: _Failure, work: _IssueWork, stats: dict[int, CheckHistory]
    ) -> ClassifyInput:
        return ClassifyInput(
            source=f.report.source,
            repository=f.report.repository,
            check=f.result.check,
            text=f.template,
            status=f.result.status,
            branch=f.report.branch,
            history=self._history(work, f, stats),
            kind=f.kind,
            storm=f.storm,
            message=f.message,
            log=f.excerpt,
            attempt=f.report.attempt,
            exit_code=f.exit_code,
            duration_s=f.result.duration_s,
            owner=f.result.owner,
        )

    def _apply_failure(self, work: _IssueWork, f: _Failure, now: datetime) -> None:
        row = work.row
        work.touched = True
        latest = f.at >= row["last_seen"] or (work.is_new and row["occurrences"] == 0)
        if f.at < row["first_seen"] or (work.is_new and work.earliest is None):
            work.earliest = f
        row["occurrences"] += 1
        work.new_occurrences += 1
        row["first_seen"] = min(row["first_seen"], f.at)
        row["last_seen"] = max(row["last_seen"], f.at)
        row["updated_at"] = now
        entry = work.checks.get(f.check_pk)
        if entry is None:
            work.checks[f.check_pk] = [f.at, f.at, 1]
        else:
            entry[0], entry[1], entry[2] = min(entry[0], f.at), max(entry[1], f.at), entry[2] + 1

        state = IssueState(row["state"])
        if state in (IssueState.RESOLVED, IssueState.AUTO_RESOLVED):
            resolved_at = row["resolved_at"]
            if resolved_at is None or f.at > resolved_at:
                row["state"] = IssueState.REGRESSED.value
                row["resolved_at"] = None
                self.summary.regressions += 1
                work.events.append(
                    self._event(
                        "state_changed",
                        f.at,
                        f.run_pk,
                        {
                            "from": state.value,
                            "to": IssueState.REGRESSED.value,
                            "reason": f"failed again at commit {f.report.commit or 'unknown'} "
                            f"after it was resolved",
                        },
                    )
                )
        remaining = row["snooze_occurrences"]
        if remaining is not None:
            if remaining > 1:
                row["snooze_occurrences"] = remaining - 1
            else:
                row["snooze_occurrences"] = None
                row["snoozed_until"] = None
                work.events.append(
                    self._event(
                        "unsnoozed",
                        f.at,
                        f.run_pk,
                        {"reason": "the occurrences it was snoozed for have arrived"},
                    )
                )
        if f.result.affected:
            known = row["affected_models"]
            merged = list(dict.fromkeys((*known, *f.result.affected)))[:MAX_AFFECTED]
            if merged != known:
                row["affected_models"] = merged
        if latest:
            work.latest = f

    def _classify_latest(
        self, works: dict[str, _IssueWork], stats: dict[int, CheckHistory]
    ) -> None:
        """Classify each touched issue once per batch, from its latest failure and the history
        as it stands after the batch."""
        for work in works.values():
            f = work.latest
            if f is None:
                continue
            self._classify_into(work, self._input_of(f, work, stats))

    def _reclassify_flaky(
        self,
        check_pks: set[int],
        stats: dict[int, CheckHistory],
        works: dict[str, _IssueWork],
        now: datetime,
    ) -> None:
        """A pass that proves a check flaky reclassifies that check's open issues."""
        if not check_pks:
            return
        closed = [s.value for s in IssueState if s.is_closed]
        for chunk in grouping.chunks(sorted(check_pks)):
            rows = self.session.execute(
                select(t.issues, t.repositories.c.name.label("repository_name"), t.checks.c.key)
                .join(t.repositories, t.repositories.c.id == t.issues.c.repository_id)
                .join(t.checks, t.checks.c.id == t.issues.c.check_id)
                .where(t.issues.c.check_id.in_(chunk), t.issues.c.state.not_in(closed))
                .order_by(t.issues.c.id)
                .with_for_update(of=t.issues)
            ).mappings()
            for row in rows:
                data = dict(row)
                repository = data.pop("repository_name")
                check = data.pop("key")
                work = works.get(data["fingerprint"])
                if work is None:
                    work = _IssueWork(data, False, tuple(data[k] for k in _CLASSIFIED_FIELDS))
                    works[data["fingerprint"]] = work
                if not stats[data["check_id"]].flaky:
                    continue
                work.touched = True
                work.row["updated_at"] = now
                self._classify_into(
                    work,
                    ClassifyInput(
                        source=data["source"],
                        repository=repository,
                        check=check,
                        text=data["template"],
                        status=Status.FAIL,
                        branch=None,
                        history=HistoryClass.FLAKY,
                        kind=detect_kind(data["source"], check, data["template"]),
                        message=data["sample_message"],
                    ),
                )

    # -- writes ---------------------------------------------------------------------------------

    def _write(
        self,
        failures: list[_Failure],
        works: dict[str, _IssueWork],
        stats: dict[int, CheckHistory],
        stats_new: set[int],
        touched_stats: set[int],
        now: datetime,
    ) -> None:
        session = self.session
        touched = [w for w in works.values() if w.touched]
        new = [w for w in touched if w.is_new]
        old = [w for w in touched if not w.is_new]
        self._count_checks(new, old)
        for w in touched:  # the title follows the latest occurrence's values
            if w.latest is not None:
                w.row["title"] = _title(w.latest, checks=w.row["checks_count"])
        self._assign_patterns(touched, now)
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
                        **{c: bindparam(f"b_{c}") for c in _ISSUE_MUTABLE},
                        # A delta in SQL, not the value read earlier: no update is ever lost.
                        "occurrences": t.issues.c.occurrences + bindparam("b_new_occurrences"),
                    }
                ),
                [
                    {
                        "b_id": w.row["id"],
                        "b_new_occurrences": w.new_occurrences,
                        **{f"b_{c}": w.row[c] for c in _ISSUE_MUTABLE},
                    }
                    for w in old
                ],
            )
        self.summary.new_issues += len(new)
        self.summary.updated_issues += len(old)
        self.touched_ids.update(w.row["id"] for w in touched)
        by_run: dict[int, tuple[RunReport, set[int]]] = {}
        for f in failures:
            entry = by_run.setdefault(f.run_pk, (f.report, set()))
            entry[1].add(works[f.issue_key].row["id"])
        self.failed_runs.extend(by_run.values())
        grouping.insert_aliases(
            session=session,
            rows=[
                {
                    "fingerprint": fingerprint,
                    "issue_id": works[issue_key].row["id"],
                    "reason": reason,
                    "created_at": now,
                }
                for fingerprint, (issue_key, reason) in sorted(self._new_aliases.items())
            ],
        )
        grouping.bump_patterns(
            session=session,
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

        if failures:
            session.execute(
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
                        "normalizer_version": self.version,
                        "duration_s": f.result.duration_s,
                        "occurred_at": f.at,
                        "links": list(f.result.links[:MAX_LINKS]),
                    }
                    for f in failures
                ],
            )
            self.summary.occurrences += len(failures)
            self._upsert_issue_checks(touched)

        # ``created`` is stamped with the issue's first failure in event time, whatever failure
        # arrived first: a late, earlier failure moves it back.
        for w in touched:
            first = w.earliest
            if first is None:
                continue
            if w.is_new:
                for e in w.events:
                    if e["kind"] == "created":
                        e["at"], e["run_id"] = first.at, first.run_pk
            else:
                session.execute(
                    update(t.issue_events)
                    .where(
                        t.issue_events.c.issue_id == w.row["id"],
                        t.issue_events.c.kind == "created",
                        t.issue_events.c.at > first.at,
                    )
                    .values(at=first.at, run_id=first.run_pk)
                )
        events: list[dict[str, Any]] = []
        for w in touched:
            issue_id = w.row["id"]
            events.extend({**e, "issue_id": issue_id} for e in w.events)
            after = tuple(w.row[k] for k in _CLASSIFIED_FIELDS)
            if after != w.before:
                data = dict(zip(_CLASSIFIED_FIELDS, after, strict=True))
                data["rationale"] = w.row["rationale"]
                data["source"] = w.row["classification_source"]
                events.append(
                    {
                        **self._event("classified", w.row["last_seen"], None, data),
                        "issue_id": issue_id,
                    }
                )
        if events:
            session.execute(insert(t.issue_events), events)

        inserts = [pk for pk in touched_stats if pk in stats_new]
        updates = [pk for pk in touched_stats if pk not in stats_new]
        if inserts:
            session.execute(
                insert(t.check_stats),
                [
                    {"check_id": pk, **{f: getattr(stats[pk], f) for f in _STATS_FIELDS}}
                    for pk in inserts
                ],
            )
            stats_new.difference_update(inserts)
        if updates:
            session.execute(
                update(t.check_stats)
                .where(t.check_stats.c.check_id == bindparam("b_check_id"))
                .values({f: bindparam(f"b_{f}") for f in _STATS_FIELDS}),
                [
                    {"b_check_id": pk, **{f"b_{f}": getattr(stats[pk], f) for f in _STATS_FIELDS}}
                    for pk in updates
                ],
            )

    def _upsert_issue_checks(self, touched: list[_IssueWork]) -> None:
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
        stmt = self._upsert(t.issue_checks)
        excluded = stmt.excluded
        current = t.issue_checks.c
        self.session.execute(
            stmt.on_conflict_do_update(
                index_elements=[current.issue_id, current.check_id],
                set_={
                    "occurrences": current.occurrences + excluded.occurrences,
                    "first_seen": self._least(current.first_seen, excluded.first_seen),
                    "last_seen": self._greatest(current.last_seen, excluded.last_seen),
                },
            ),
            rows,
        )

    def _assign_patterns(self, touched: list[_IssueWork], now: datetime) -> None:
        """Give every issue without one a pattern: the family of its exact template, else of a
        near-identical template (MinHash LSH prefilter, bounded exact check), else a new one."""
        todo = [w for w in touched if w.row["pattern_id"] is None]
        if not todo:
            return
        session = self.session
        by_hash = grouping.patterns_by_hash(
            session=session, hashes={w.row["template_hash"] for w in todo}
        )
        fuzzy = [w for w in todo if w.row["template_hash"] not in by_hash]
        bands_of = {id(w): band_keys(w.row["template"]) for w in fuzzy}
        stored = grouping.band_members(
            session=session, bands={b for bands in bands_of.values() for b in bands}
        )
        templates = grouping.pattern_templates(
            session=session, ids={pk for members in stored.values() for pk in members}
        )
        budget = FuzzyBudget()
        batch_bands: dict[str, list[str]] = {}  # band -> keys of patterns made in this batch
        batch_templates: dict[str, str] = {}
        new_patterns: dict[str, dict[str, Any]] = {}
        member_of: dict[int, str] = {}  # id(work) -> key of a pattern made in this batch
        for w in todo:
            w.new_pattern_member = True
            found = by_hash.get(w.row["template_hash"])
            if found is not None:
                w.row["pattern_id"] = found
                continue
            key = pattern_key(w.row["template_hash"])
            if key in new_patterns:
                member_of[id(w)] = key
                continue
            template = w.row["template"]
            bands = bands_of[id(w)]
            match = self._near_pattern(template, bands, stored, templates, budget)
            if match is not None:
                w.row["pattern_id"] = match
                continue
            batch_match = self._near_pattern(template, bands, batch_bands, batch_templates, budget)
            if batch_match is not None:
                member_of[id(w)] = batch_match
                continue
            new_patterns[key] = {
                "key": key,
                "template": template,
                "template_hash": w.row["template_hash"],
                "normalizer_version": w.row["normalizer_version"],
                "issues_count": 0,
                "occurrences": 0,
                "first_seen": w.row["first_seen"],
                "last_seen": w.row["last_seen"],
                "created_at": now,
                "updated_at": now,
            }
            batch_templates[key] = template
            for band in bands:
                batch_bands.setdefault(band, []).append(key)
            member_of[id(w)] = key
        ids = grouping.insert_patterns(session=session, rows=list(new_patterns.values()))
        grouping.insert_bands(
            session=session,
            rows=[
                {"band": band, "pattern_id": ids[key]}
                for band, keys in batch_bands.items()
                for key in keys
            ],
        )
        for w in todo:
            member = member_of.get(id(w))
            if member is not None:
                w.row["pattern_id"] = ids[member]

    @staticmethod
    def _near_pattern(
        template: str,
        bands: Sequence[str],
        members: Mapping[str, Sequence[_K]],
        templates: Mapping[_K, str],
        budget: FuzzyBudget,
    ) -> _K | None:
        """The pattern sharing the most LSH bands with ``template`` that is a near duplicate."""
        hits: Counter[_K] = Counter(k for band in bands for k in members.get(band, ()))
        for candidate, _ in hits.most_common(MAX_PATTERN_CANDIDATES):
            if not budget.spend():
                return None
            other = templates.get(candidate)
            if other is not None and near_duplicate(template, other):
                return candidate
        return None

    def _count_checks(self, new: list[_IssueWork], old: list[_IssueWork]) -> None:
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


def _classify_row(classifier: Classifier, row: dict[str, Any], inp: ClassifyInput) -> None:
    """Classify with the rules, then lay the LLM's verdict and the humans' overrides over the
    result (a human's word is never overwritten by a machine)."""
    c = classifier.classify(inp)
    fields: dict[str, Any] = {
        "category": c.category.value,
        "kind": c.kind.value,
        "severity": c.severity.value,
        "priority": c.priority.value,
        "history_class": c.history_class.value,
        "decision": c.decision.value,
        "rationale": c.rationale,
        "confidence": c.confidence,
        "expert": c.expert,
        "labels": list(c.labels),
        "escalate_after_hours": c.escalate_after,
    }
    source = "rules"
    llm = row.get("llm_verdict")
    if llm:
        fields.update({k: v for k, v in llm.items() if k in LLM_FIELDS})
        fields["rationale"] = f"{c.rationale}; llm: {llm.get('rationale', '')}"
        source = "llm"
    level = int(row.get("escalation_level") or 0)
    if level:  # escalation raised the priority; a new classification keeps it raised
        fields["priority"] = escalated_priority(
            Level(fields["priority"]),
            severity=Level(fields["severity"]),
            kind=fields["kind"],
            level=level,
        ).value
    overrides = row.get("overrides") or {}
    if overrides:
        fields.update({k: v for k, v in overrides.items() if k in fields})
        if any(k in CLASSIFICATION_FIELDS for k in overrides):
            source = "human"
    fields["classification_source"] = source
    fields["sla_due_at"] = row["first_seen"] + timedelta(hours=c.sla_hours) if c.sla_hours else None
    if "sla_due_at" in overrides:
        fields["sla_due_at"] = row["sla_due_at"]
    row.update(fields)


_RECLASSIFIED = (
    *_CLASSIFIED_FIELDS,
    "rationale",
    "labels",
    "escalate_after_hours",
    "classification_source",
    "sla_due_at",
)


def reclassify_issue(
    session: Session,
    classifier: Classifier,
    row: dict[str, Any],
    inp: ClassifyInput,
    *,
    at: datetime,
    now: datetime,
) -> bool:
    """Classify a stored issue again (the monitor's event-time history) and, when anything
    changed, write it with a ``classified`` event stamped ``at``; ``row`` is updated in place."""
    before = tuple(row[k] for k in _CLASSIFIED_FIELDS)
    _classify_row(classifier, row, inp)
    after = tuple(row[k] for k in _CLASSIFIED_FIELDS)
    if after == before:
        return False
    row["updated_at"] = now
    session.execute(
        update(t.issues)
        .where(t.issues.c.id == row["id"])
        .values({k: row[k] for k in (*_RECLASSIFIED, "updated_at")})
    )
    data: dict[str, Any] = dict(zip(_CLASSIFIED_FIELDS, after, strict=True))
    data["rationale"] = row["rationale"]
    data["source"] = row["classification_source"]
    session.execute(
        insert(t.issue_events).values(
            issue_id=row["id"], kind="classified", at=at, run_id=None, data=data, actor="triagehub"
        )
    )
    return True


ProgressCallback = Callable[[int], None]


def ingest_reports(
    engine: Engine,
    reports: Iterable[RunReport],
    settings: Settings,
    *,
    clock: Clock | None = None,
    llm: LLMClassifier | None = None,
) -> IngestSummary:
    """Ingest already-parsed reports in one transaction (then the optional LLM step)."""
    batch = list(reports)

    def attempt() -> Ingestor:
        with Session(engine) as session, session.begin():
            ingestor = Ingestor(session, settings, clock=clock)
            ingestor.add_all(batch)
            ingestor.flush()
        return ingestor

    ingestor = run_transaction(attempt)
    _refine(engine, settings, llm, ingestor, clock)
    return ingestor.summary


def run_transaction(work: Callable[[], _T], *, attempts: int = TRANSACTION_ATTEMPTS) -> _T:
    """Run ``work`` (one whole transaction) again when the database gave up on it for a reason
    that another try may not meet: a deadlock between concurrent ingests, a serialization
    failure, a SQLite lock wait that ran out. Anything else is raised at once."""
    for n in range(1, attempts + 1):
        try:
            return work()
        except DBAPIError as exc:
            if n == attempts or not is_transient(exc):
                raise
            wait = min(0.05 * 2**n, 2.0) * random.uniform(0.5, 1.0)
            log.warning(
                "transaction failed (%s); trying again in %.2f s (attempt %d of %d)",
                type(exc.orig).__name__,
                wait,
                n + 1,
                attempts,
            )
            time.sleep(wait)
    raise AssertionError("unreachable")


def _refine(
    engine: Engine,
    settings: Settings,
    llm: LLMClassifier | None,
    ingestor: Ingestor,
    clock: Clock | None,
) -> None:
    if llm is None or not ingestor.touched_ids:
        return
    from triagehub.engine.refine import refine_with_llm

    result = refine_with_llm(engine, settings, llm, issue_ids=ingestor.touched_ids, clock=clock)
    ingestor.summary.llm_refined += result.refined
    ingestor.summary.llm_fallbacks += sum(result.fallbacks.values())


def ingest_file(
    engine: Engine,
    path: Path,
    settings: Settings,
    *,
    fmt: SourceFormat | None = None,
    options: ParseOptions | None = None,
    clock: Clock | None = None,
    progress: ProgressCallback | None = None,
    llm: LLMClassifier | None = None,
) -> IngestSummary:
    """Ingest one file in one transaction: all of it, or (on an ``InputError``) none of it."""
    return _ingest_set(
        engine, [path], settings, fmt=fmt, options=options, clock=clock, progress=progress, llm=llm
    )


def _ingest_set(
    engine: Engine,
    paths: Sequence[Path],
    settings: Settings,
    *,
    fmt: SourceFormat | None,
    options: ParseOptions | None,
    clock: Clock | None,
    progress: ProgressCallback | None,
    llm: LLMClassifier | None,
) -> IngestSummary:
    """One file, or the files of one run (a format's ``parse_set``), in one transaction."""
    summary = IngestSummary(files=len(paths))
    try:
        chosen = fmt or detect_format(paths[0])
        for path in paths:
            summary.formats[str(path)] = chosen.name
        if len(paths) > 1 and chosen.parse_set is None:
            raise InputError(str(paths[0]), "", f"{chosen.name} reads one file per run")

        def attempt() -> Ingestor:
            summary.warnings.clear()  # the parse warnings of this attempt only
            parse_options = replace(options or ParseOptions(), warn=summary.warnings.append)
            if len(paths) == 1:
                reports = chosen.parse(paths[0], parse_options)
            else:
                assert chosen.parse_set is not None
                reports = chosen.parse_set(paths, parse_options)
            with Session(engine) as session, session.begin():
                ingestor = Ingestor(session, settings, clock=clock)
                for report in reports:
                    ingestor.add(report)
                    if progress is not None:
                        progress(len(report.results))
                ingestor.flush()
            return ingestor

        ingestor = run_transaction(attempt)
        _refine(engine, settings, llm, ingestor, clock)
        summary.add(ingestor.summary)
    except InputError as exc:
        summary.errors.append(exc)
    except DataError as exc:
        # A value the database refuses (past the sanitiser): this file's input, not a crash;
        # nothing of it was stored and the other files of the call go on.
        reason = (str(exc.orig).strip().splitlines() or ["invalid value"])[0]
        log.warning("the database refused a value of %s: %s", paths[0], reason)
        summary.errors.append(
            InputError(str(paths[0]), "", f"the database refused a value: {reason}")
        )
    return summary


def ingest_files(
    engine: Engine,
    paths: Sequence[Path],
    settings: Settings,
    *,
    fmt: SourceFormat | None = None,
    options: ParseOptions | None = None,
    clock: Clock | None = None,
    progress: ProgressCallback | None = None,
    llm: LLMClassifier | None = None,
) -> IngestSummary:
    """Ingest several files, one transaction each; a bad file does not stop the others. With a
    format that reads a run from several files (JUnit), the files are one run, one
    transaction."""
    if fmt is not None and fmt.parse_set is not None and len(paths) > 1:
        return _ingest_set(
            engine,
            paths,
            settings,
            fmt=fmt,
            options=options,
            clock=clock,
            progress=progress,
            llm=llm,
        )
    total = IngestSummary()
    for path in paths:
        total.add(
            ingest_file(
                engine,
                path,
                settings,
                fmt=fmt,
                options=options,
                clock=clock,
                progress=progress,
                llm=llm,
            )
        )
    return total
