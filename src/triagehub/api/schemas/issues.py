"""The issue shapes: an issue, its page, its detail (timeline, occurrences, lifecycle), the triage
patch, and the sorts and export formats of the issue routes."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from triagehub.api.common import NO_NUL
from triagehub.api.schemas.common import Out
from triagehub.api.schemas.remediation import AttemptOut
from triagehub.core.models import Category, Decision, HistoryClass, IssueState, Kind, Level


class IssueOut(Out):
    id: int
    repository: str
    title: str
    state: IssueState
    category: Category
    kind: Kind
    severity: Level
    priority: Level
    history_class: HistoryClass
    decision: Decision
    confidence: float
    rationale: str
    fingerprint: str
    template: str
    occurrences: int
    checks: list[str]
    checks_count: int
    first_seen: datetime
    last_seen: datetime
    assignee: str | None
    expert: str | None
    sla_due_at: datetime | None
    scope: str
    source: str
    normalizer_version: int
    classification_source: str
    sample_message: str
    pattern_id: int | None
    labels: list[str]
    affected_models: list[str]
    resolved_at: datetime | None
    sla_breached_at: datetime | None
    escalation_level: int
    similar_issues: list[int]


class IssuePage(Out):
    items: list[IssueOut]
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page; null: done.")


class EventOut(Out):
    id: int | None
    kind: str
    at: datetime
    actor: str
    data: dict[str, Any]


class OccurrenceOut(Out):
    id: int
    check: str
    run: str
    attempt: int
    commit: str | None
    branch: str | None
    url: str | None
    status: str
    message: str
    log_excerpt: str
    occurred_at: datetime
    links: list[str]


class OccurrencePage(Out):
    items: list[OccurrenceOut]
    next_cursor: str | None


class LifecycleOut(Out):
    resolved_at: datetime | None
    snoozed_until: datetime | None
    snooze_occurrences: int | None
    escalation_level: int
    escalated_at: datetime | None
    sla_breached_at: datetime | None
    spec_change: str | None
    overrides: dict[str, Any]
    created_at: datetime
    updated_at: datetime


class RelatedSessionOut(Out):
    """An agent session linked to the issue: its declared work item, or its hook events
    referenced the issue (`via`: work_item, issue_id, fingerprint, github_issue, pull_request,
    branch; `ref`: what they named)."""

    session_id: str
    agent: str
    session_type: str
    status: str
    handoff_key: str | None = Field(
        description="The remediation hand-off key the session was started under, if any."
    )
    work_item: dict[str, Any] | None
    cwd: str | None
    started_at: datetime
    last_activity_at: datetime
    ended_at: datetime | None
    current_tool: str | None
    tool_count: int
    tool_failures: int
    success_rate: float | None
    avg_duration_ms: float | None
    idle_for_s: float
    events: int
    summary: dict[str, Any] | None
    via: str
    ref: str
    linked_at: datetime


class IssueDetailOut(IssueOut):
    timeline: list[EventOut]
    recent_occurrences: list[OccurrenceOut]
    lifecycle: LifecycleOut
    related_prs: list[str] = Field(
        description="URLs of the pull requests that reference the issue's GitHub issue "
        "(from webhooks or polling)."
    )
    related_sessions: list[RelatedSessionOut] = Field(
        description="Agent sessions working on the issue, most recently started first."
    )
    remediation_attempts: list[AttemptOut]


class SnoozeIn(BaseModel):
    """Exactly one of: until a time, for N more occurrences, or forever (ignores the issue)."""

    model_config = ConfigDict(extra="forbid")

    until: datetime | None = None
    occurrences: int | None = Field(default=None, ge=1, le=1_000_000)
    forever: bool = False


class IssuePatch(BaseModel):
    """A human triage decision. ``reason`` is required and goes on the timeline; every other
    field is optional. Fields set here are kept over the automatic classification."""

    model_config = ConfigDict(extra="forbid")

    reason: str = Field(min_length=1, max_length=2000, pattern=NO_NUL)
    state: IssueState | None = None
    category: Category | None = None
    kind: Kind | None = None
    severity: Level | None = None
    priority: Level | None = None
    decision: Decision | None = None
    assignee: str | None = Field(default=None, min_length=1, max_length=100, pattern=NO_NUL)
    expert: str | None = Field(default=None, min_length=1, max_length=100, pattern=NO_NUL)
    snooze: SnoozeIn | None = None


class IssueSort(StrEnum):
    last_seen_desc = "-last_seen"
    last_seen = "last_seen"
    first_seen_desc = "-first_seen"
    first_seen = "first_seen"
    occurrences_desc = "-occurrences"
    occurrences = "occurrences"
    priority = "priority"
    priority_desc = "-priority"
    severity = "severity"
    severity_desc = "-severity"
    id_desc = "-id"
    id = "id"


class ExportFormat(StrEnum):
    json = "json"
    csv = "csv"
