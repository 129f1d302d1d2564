"""What the ingest stages pass along: the summary, the batch context, prepared failures and the
pending changes of each issue."""

from __future__ import annotations

import gc
import hashlib
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from triagehub.core.models import CheckResult, RunReport, Scope
from triagehub.errors import InputError

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from triagehub.config import Settings
    from triagehub.core.classify import KindMatch
    from triagehub.core.fingerprint import Normalizer

MAX_STORED_MESSAGE = 64 * 1024
MAX_EXCERPT = 8 * 1024
EXCERPT_LINES = 30
MAX_AFFECTED = 200  # affected models kept on an issue
MAX_LINKS = 20  # evidence links kept on an occurrence
MAX_SCOPE_CANDIDATES = 200
MAX_PATTERN_CANDIDATES = 50
CLASSIFIED_FIELDS = (
    "category",
    "kind",
    "severity",
    "priority",
    "history_class",
    "decision",
    "expert",
    "confidence",
)
STATS_FIELDS = (
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
ISSUE_MUTABLE = (
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
# The counters of a summary, in the order ``as_dict`` gives them.
_COUNTERS = (
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
)

RunKey = tuple[int, str, str, int]  # (repository id, source, external run id, attempt)


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
        for name in _COUNTERS:
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
            **{name: getattr(self, name) for name in _COUNTERS[1:]},
            "errors": [str(e) for e in self.errors],
            "warnings": self.warnings,
        }


@dataclass
class IngestContext:
    """What every stage of one ``Ingestor`` shares: its transaction, settings, summary and the
    normalisers (the newest, ``version``, makes fingerprints; the older ones are tried so that
    a new version never re-splits the issues made by an older one)."""

    session: Session
    settings: Settings
    summary: IngestSummary
    normalizers: Mapping[int, Normalizer]
    version: int
    normalize: Callable[[str, int], str]


@dataclass(slots=True)
class Failure:
    """One failed (or flaky) result, cleaned and fingerprinted, on its way to an issue."""

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
    headline: str | None = None  # ``core.excerpt.headline(text)`` once a title asked for it


@dataclass(frozen=True, slots=True)
class FailedRun:
    """What follow-up actions (re-runs) need of a run with failures: which run it is, and the
    issues its failures went to. Kept for the whole file instead of the run's report, so an
    ingest's memory stays bounded by its batch."""

    repository: str
    source: str
    run_id: str
    attempt: int
    issue_ids: frozenset[int]


@dataclass(slots=True)
class IssueWork:
    """An issue's row as this batch changes it, and what the batch adds to it."""

    row: dict[str, Any]
    is_new: bool
    before: tuple[Any, ...]
    checks: dict[int, list[Any]] = field(default_factory=dict)  # check -> [first, last, n]
    events: list[dict[str, Any]] = field(default_factory=list)
    touched: bool = False
    latest: Failure | None = None
    earliest: Failure | None = None  # the earliest failure of the batch, when before first_seen
    new_occurrences: int = 0
    new_pattern_member: bool = False


def digest(report: RunReport) -> str:
    """A digest of a run's results: a run sent again is compared with the stored one by it."""
    h = hashlib.sha256()
    update = h.update
    for r in report.results:
        # ``r.status`` is a ``str``: concatenated, it is its value (without ``.value``'s call).
        update(
            (r.check + "\x1f" + r.status + "\x1f" + r.message + "\x1f" + r.log + "\x1e").encode()
        )
    return h.hexdigest()


def stored_work(row: dict[str, Any]) -> IssueWork:
    """The work of a stored issue, remembering its classification as it was read."""
    return IssueWork(row, False, tuple(row[k] for k in CLASSIFIED_FIELDS))


def event(kind: str, at: datetime, run_pk: int | None, data: dict[str, Any]) -> dict[str, Any]:
    """A row of the issue timeline written by the ingest."""
    return {"kind": kind, "at": at, "run_id": run_pk, "data": data, "actor": "triagehub"}


@contextmanager
def collector_paused() -> Iterator[None]:
    """Python's cyclic garbage collector paused while a batch is processed, then resumed.

    A batch holds tens of thousands of young objects (reports, failures, rows) that live until
    its end and are freed by reference counting; the collector, run every few hundred
    allocations, would walk them again and again (about a seventh of a failing ingest's CPU)
    and find nothing to free. Memory stays bounded by one batch: whatever cycles it leaves are
    collected once the collector runs again. Process-wide, so it is resumed only by the call
    that paused it (another thread's batch, or a caller that paused it first, is left alone)."""
    paused = gc.isenabled()
    if paused:
        gc.disable()
    try:
        yield
    finally:
        if paused:
            gc.enable()
