"""The shapes of patterns, runs and checks (lists, pages and details)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from triagehub.api.schemas.common import Out


class PatternOut(Out):
    id: int
    template: str
    occurrences: int
    occurrences_in_range: int
    issues: int
    repositories: list[str]
    checks: int
    first_seen: datetime
    last_seen: datetime


class RunFailureOut(Out):
    occurrence_id: int
    issue_id: int
    check: str
    status: str
    message: str
    occurred_at: datetime


class RunOut(Out):
    id: int
    repository: str
    source: str
    external_id: str
    attempt: int
    commit_sha: str | None
    branch: str | None
    url: str | None
    status: str | None
    started_at: datetime | None
    finished_at: datetime | None
    occurred_at: datetime
    ingested_at: datetime
    results_total: int
    results_failed: int
    storm: bool


class RunDetailOut(RunOut):
    failures: list[RunFailureOut]


class RunPage(Out):
    items: list[RunOut]
    next_cursor: str | None


class CheckIssueOut(Out):
    id: int
    title: str
    state: str
    category: str
    priority: str
    occurrences: int
    last_seen: datetime


class CheckOut(Out):
    id: int
    repository: str
    key: str
    runs: int
    failures: int
    consecutive_failures: int
    last_status: str | None
    last_run_at: datetime | None
    last_pass_at: datetime | None
    last_fail_at: datetime | None
    last_pass_commit: str | None
    last_fail_commit: str | None
    flaky: bool
    recent: list[Literal["pass", "fail"]]
    failure_rate: float | None


class CheckDetailOut(CheckOut):
    issues: list[CheckIssueOut]


class CheckPage(Out):
    items: list[CheckOut]
    next_cursor: str | None
