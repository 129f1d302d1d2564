"""The pure data that flows from sources into the pipeline: ``RunReport`` and ``CheckResult``.

Sources produce these and nothing else; they carry no database ids and do no I/O.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property


class Status(enum.StrEnum):
    """Outcome of one check in one run."""

    PASS = "pass"
    FAIL = "fail"
    ERROR = "error"
    SKIP = "skip"
    FLAKY = "flaky"  # failed, then passed on retry within the same run

    @cached_property
    def is_failure(self) -> bool:
        # Read once per member, then from the member's own ``__dict__`` (the ingest asks it
        # several times per result: a property call each time was a measurable share).
        return self in (Status.FAIL, Status.ERROR)


class Category(enum.StrEnum):
    PENDING = "pending_classification"
    TRANSIENT = "transient_failure"
    CODE_FIX = "code_fix_required"
    DATA_QUALITY = "data_quality_issue"
    INFRASTRUCTURE = "infrastructure_issue"
    FALSE_POSITIVE = "false_positive"


class Kind(enum.StrEnum):
    LINT = "lint"
    FORMAT = "format"
    TEST = "test"
    BUILD = "build"
    DEPLOYMENT = "deployment"
    DEPENDENCY = "dependency"
    TIMEOUT = "timeout"
    INFRASTRUCTURE = "infrastructure"
    COMPILATION = "compilation"
    SCHEMA = "schema"
    DATA_TEST = "data_test"
    FRESHNESS = "freshness"
    RUNTIME = "runtime"


class Level(enum.StrEnum):
    """Severity, priority and repository priority share one ordered scale."""

    CRITICAL = "critical"
    HIGH = "high"
    MEDIUM = "medium"
    LOW = "low"

    @property
    def rank(self) -> int:
        return _LEVEL_RANK[self]

    @classmethod
    def from_rank(cls, rank: int) -> Level:
        return _RANK_LEVEL[max(0, min(3, rank))]


_LEVEL_RANK = {Level.LOW: 0, Level.MEDIUM: 1, Level.HIGH: 2, Level.CRITICAL: 3}
_RANK_LEVEL = {v: k for k, v in _LEVEL_RANK.items()}


class HistoryClass(enum.StrEnum):
    NEW = "new"
    FLAKY = "flaky"
    RECURRING = "recurring"
    PERSISTENT = "persistent"


class Decision(enum.StrEnum):
    NEEDS_SPEC = "needs_spec"
    ONE_OFF_FIX = "one_off_fix"
    IGNORE = "ignore"
    PENDING = "pending"


class IssueState(enum.StrEnum):
    OPEN = "open"
    TRIAGED = "triaged"
    ASSIGNED = "assigned"
    IN_PROGRESS = "in_progress"
    RESOLVED = "resolved"
    AUTO_RESOLVED = "auto_resolved"
    IGNORED = "ignored"
    FALSE_POSITIVE = "false_positive"
    REGRESSED = "regressed"

    @property
    def is_closed(self) -> bool:
        return self in _CLOSED


_CLOSED = frozenset(
    {IssueState.RESOLVED, IssueState.AUTO_RESOLVED, IssueState.IGNORED, IssueState.FALSE_POSITIVE}
)


# An AI agent session's status (``work.agents``), here with the other vocabulary so that the CLI
# names it in ``agents list --status`` without loading the agents' package. (A comment, not a
# docstring: the OpenAPI document would show a docstring.)
class SessionStatus(enum.StrEnum):
    PENDING = "pending"  # handed off to an agent, none of its hook events arrived yet
    ACTIVE = "active"
    IDLE = "idle"  # derived: active, but nothing for IDLE_AFTER
    COMPLETED = "completed"
    CANCELLED = "cancelled"  # a pending hand-off called off before any hook event arrived


class Scope(enum.StrEnum):
    """What an issue groups over (the grouping rule of DESIGN.md)."""

    CHECK = "check"  # one check + one template (code, test and data failures)
    REPOSITORY = "repository"  # one repository + one template across checks (environmental)
    STORM = "storm"  # a run where most checks failed at once, rolled up


@dataclass(frozen=True, slots=True)
class CheckResult:
    """One check's outcome in one run."""

    check: str
    status: Status
    message: str = ""
    log: str = ""
    duration_s: float | None = None
    exit_code: int | None = None
    # Evidence a source carries beside the message: attachment paths or URLs (a Playwright
    # trace, screenshot or video), kept on the occurrence.
    links: tuple[str, ...] = ()
    # What a failure reaches (dbt: the tested nodes and every downstream model and exposure;
    # skipped downstream nodes among them) and who owns the check, from the source's metadata.
    affected: tuple[str, ...] = ()
    owner: str | None = None
    # How many attempts the source made (retries + 1); > 1 with a final pass is flaky evidence.
    attempts: int = 1


@dataclass(frozen=True, slots=True)
class RunReport:
    """One execution of a pipeline or suite, as a source saw it."""

    source: str
    repository: str
    run_id: str
    attempt: int = 1
    commit: str | None = None
    branch: str | None = None
    url: str | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None
    status: str | None = None
    results: tuple[CheckResult, ...] = field(default_factory=tuple)

    @property
    def occurred_at(self) -> datetime | None:
        """The run's own time: when it finished, else when it started."""
        return self.finished_at or self.started_at
