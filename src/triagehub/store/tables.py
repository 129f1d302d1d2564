"""The tables (SQLAlchemy Core). The schema itself is created by the Alembic migrations."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Dialect,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.types import DateTime, TypeDecorator

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)


def as_utc(value: datetime) -> datetime:
    """An aware UTC datetime (a naive one is taken as UTC): what PostgreSQL is given."""
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def sqlite_time(value: datetime) -> str:
    """The text SQLite stores for a time: UTC, naive, to the microsecond (SQLAlchemy's SQLite
    DATETIME format, so stored values compare and sort alike)."""
    zone = value.tzinfo
    if zone is None:
        return value.isoformat(" ", "microseconds")
    if zone is not UTC and value.utcoffset():
        value = value.astimezone(UTC)
    # UTC now: its text but the offset (a four-digit year: 26 characters, not counting it)
    return value.isoformat(" ", "microseconds")[:26]


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes in, aware UTC datetimes out, on every backend."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        value = as_utc(value)
        if dialect.name == "sqlite":
            return value.replace(tzinfo=None)
        return value

    def bind_processor(self, dialect: Dialect) -> Callable[[Any], Any] | None:
        if dialect.name != "sqlite":
            return super().bind_processor(dialect)

        # One step instead of two (this decorator, then SQLite's DATETIME formatting).
        def process(value: datetime | None) -> str | None:
            return None if value is None else sqlite_time(value)

        return process

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        return _utc_or_none(value)

    def result_processor(
        self, dialect: Dialect, coltype: Any
    ) -> Callable[[Any], datetime | None] | None:
        # Where the driver reads datetimes itself (psycopg: aware ones), the conversion alone,
        # not TypeDecorator's wrapper calling ``process_result_value``: five times a row of an
        # issue page, the wrapper cost as much as the conversion. SQLite: its DATETIME parser,
        # then ``process_result_value``.
        if self.impl_instance.result_processor(dialect, coltype) is not None:
            return super().result_processor(dialect, coltype)
        return _utc_or_none


def _utc_or_none(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def _id() -> Column[Any]:
    return Column("id", Integer, primary_key=True, autoincrement=True)


repositories = Table(
    "repositories",
    metadata,
    _id(),
    Column("name", String(200), nullable=False, unique=True),
    Column("priority_level", String(16), nullable=False, default="medium"),
    Column("created_at", UTCDateTime, nullable=False),
)

runs = Table(
    "runs",
    metadata,
    _id(),
    Column("repository_id", ForeignKey("repositories.id"), nullable=False),
    Column("source", String(40), nullable=False),
    Column("external_id", String(200), nullable=False),
    Column("attempt", Integer, nullable=False, default=1),
    Column("commit_sha", String(64)),
    Column("branch", String(255)),
    Column("url", Text),
    Column("status", String(40)),
    Column("started_at", UTCDateTime),
    Column("finished_at", UTCDateTime),
    Column("occurred_at", UTCDateTime, nullable=False),
    Column("ingested_at", UTCDateTime, nullable=False),
    Column("results_total", Integer, nullable=False, default=0),
    Column("results_failed", Integer, nullable=False, default=0),
    Column("storm", Boolean, nullable=False, default=False),
    Column("digest", String(64), nullable=False),
    UniqueConstraint("repository_id", "source", "external_id", "attempt"),
    Index(None, "repository_id", "occurred_at"),
)

checks = Table(
    "checks",
    metadata,
    _id(),
    Column("repository_id", ForeignKey("repositories.id"), nullable=False),
    Column("key", String(1000), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    UniqueConstraint("repository_id", "key"),
)

check_stats = Table(
    "check_stats",
    metadata,
    Column("check_id", ForeignKey("checks.id"), primary_key=True),
    Column("runs", Integer, nullable=False, default=0),
    Column("failures", Integer, nullable=False, default=0),
    Column("consecutive_failures", Integer, nullable=False, default=0),
    Column("last_status", String(16)),
    Column("last_run_at", UTCDateTime),
    Column("last_pass_at", UTCDateTime),
    Column("last_fail_at", UTCDateTime),
    Column("last_pass_commit", String(64)),
    Column("last_fail_commit", String(64)),
    Column("last_run_key", String(300)),
    Column("recent", BigInteger, nullable=False, default=0),
    Column("flaky", Boolean, nullable=False, default=False),
    Column("flaky_clean_runs", Integer, nullable=False, default=0),
    # Finish times of the latest green runs (epoch microseconds, ascending, bounded).
    Column("pass_times", JSON),
)

issues = Table(
    "issues",
    metadata,
    _id(),
    Column("repository_id", ForeignKey("repositories.id"), nullable=False),
    Column("fingerprint", String(64), nullable=False, unique=True),
    Column("normalizer_version", Integer, nullable=False),
    Column("source", String(40), nullable=False),
    Column("scope", String(16), nullable=False),
    Column("check_id", ForeignKey("checks.id")),
    Column("pattern_id", Integer),
    Column("title", String(300), nullable=False),
    Column("template", Text, nullable=False),
    Column("template_hash", String(16), nullable=False),
    Column("sample_message", Text, nullable=False),
    Column("state", String(20), nullable=False),
    Column("category", String(32), nullable=False),
    Column("kind", String(20), nullable=False),
    Column("severity", String(10), nullable=False),
    Column("priority", String(10), nullable=False),
    Column("history_class", String(12), nullable=False),
    Column("decision", String(12), nullable=False),
    Column("rationale", Text, nullable=False),
    Column("confidence", Float, nullable=False),
    Column("classification_source", String(8), nullable=False, default="rules"),
    Column("expert", String(100)),
    Column("assignee", String(100)),
    Column("labels", JSON, nullable=False, default=list, server_default=text("'[]'")),
    Column("overrides", JSON, nullable=False, default=dict, server_default=text("'{}'")),
    # What the failures reach (dbt: tested nodes, downstream models and exposures), capped.
    Column("affected_models", JSON, nullable=False, default=list, server_default=text("'[]'")),
    # The OpenSpec change this issue is planned in (``triagehub specs create --from-issue``).
    Column("spec_change", String(200)),
    Column("llm_verdict", JSON(none_as_null=True)),
    Column("sla_due_at", UTCDateTime),
    Column("escalate_after_hours", Float),
    Column("first_seen", UTCDateTime, nullable=False),
    Column("last_seen", UTCDateTime, nullable=False),
    Column("occurrences", Integer, nullable=False, default=0),
    Column("checks_count", Integer, nullable=False, default=0),
    Column("resolved_at", UTCDateTime),
    # Snoozed: no alerts or escalation until this time / for this many more occurrences.
    Column("snoozed_until", UTCDateTime),
    Column("snooze_occurrences", Integer),
    # Escalation: how many times, when last, and which triggers fired ({trigger: iso time}).
    Column("escalation_level", Integer, nullable=False, default=0, server_default=text("0")),
    Column("escalated_at", UTCDateTime),
    Column("escalations", JSON, nullable=False, default=dict, server_default=text("'{}'")),
    Column("sla_breached_at", UTCDateTime),
    # The GitHub issue this issue is mirrored to (actions.sync) and what was last sent to it:
    # target repository (lower case) and number, status (linked, gone, forbidden), the
    # ``updated_at`` last synced, the body's hash and edit time (throttling), the state and
    # triagehub labels last set, the last timeline event commented, the agent comment's time.
    Column("github_repo", String(200)),
    Column("github_number", Integer),
    Column("github_node_id", String(100)),
    Column("github_url", Text),
    Column("github_status", String(16)),
    Column("github_synced_at", UTCDateTime),
    Column("github_synced_version", UTCDateTime),
    Column("github_body_hash", String(64)),
    Column("github_body_at", UTCDateTime),
    Column("github_state", String(10)),
    Column("github_labels", JSON, nullable=False, default=list, server_default=text("'[]'")),
    Column("github_event_cursor", Integer),
    Column("github_agent_at", UTCDateTime),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    Index(None, "last_seen", "id"),  # keyset pages: ties in order without a sort (0021)
    Index("ix_issues_state_sla_due_at", "state", "sla_due_at"),
    Index(None, "repository_id", "state", "last_seen", "id"),  # filtered pages (0023)
    Index(None, "repository_id", "last_seen", "id"),  # a repository's pages in order (0024)
    Index(None, "state", "last_seen", "id"),  # a state's pages in order (0023)
    Index(None, "priority", "last_seen", "id"),  # sort=priority, level by level (0025)
    Index(None, "pattern_id", "last_seen", "id"),  # similar issues, newest first (0021)
    Index(None, "repository_id", "check_id"),
    Index(None, "github_repo", "github_number"),
)

issue_checks = Table(
    "issue_checks",
    metadata,
    Column("issue_id", ForeignKey("issues.id"), primary_key=True),
    Column("check_id", ForeignKey("checks.id"), primary_key=True),
    Column("first_seen", UTCDateTime, nullable=False),
    Column("last_seen", UTCDateTime, nullable=False),
    Column("occurrences", Integer, nullable=False, default=0),
)

occurrences = Table(
    "occurrences",
    metadata,
    _id(),
    Column("issue_id", ForeignKey("issues.id"), nullable=False),
    Column("run_id", ForeignKey("runs.id"), nullable=False),
    Column("check_id", ForeignKey("checks.id"), nullable=False),
    Column("status", String(10), nullable=False),
    Column("message", Text, nullable=False),
    Column("log_excerpt", Text, nullable=False),
    Column("template", Text, nullable=False),
    Column("fingerprint", String(64), nullable=False),
    Column("normalizer_version", Integer, nullable=False),
    Column("duration_s", Float),
    Column("occurred_at", UTCDateTime, nullable=False),
    # Evidence the source attached (Playwright trace / screenshot / video paths or URLs).
    Column("links", JSON, nullable=False, default=list, server_default=text("'[]'")),
    UniqueConstraint("run_id", "check_id"),
    Index(None, "issue_id", "occurred_at"),
)

issue_events = Table(
    "issue_events",
    metadata,
    _id(),
    Column("issue_id", ForeignKey("issues.id"), nullable=False),
    Column("kind", String(24), nullable=False),
    Column("at", UTCDateTime, nullable=False),
    Column("actor", String(100), nullable=False, default="triagehub"),
    Column("run_id", ForeignKey("runs.id")),
    Column("data", JSON, nullable=False),
    Index(None, "issue_id", "id"),
    Index(None, "run_id"),  # a prune deletes runs: the foreign key check reads it
)

patterns = Table(
    "patterns",
    metadata,
    _id(),
    Column("key", String(64), nullable=False, unique=True),
    Column("template", Text, nullable=False),
    Column("template_hash", String(16), nullable=False),
    Column("normalizer_version", Integer, nullable=False),
    Column("issues_count", Integer, nullable=False, default=0),
    Column("occurrences", Integer, nullable=False, default=0),
    Column("first_seen", UTCDateTime, nullable=False),
    Column("last_seen", UTCDateTime, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    Index(None, "template_hash"),
    Index(None, "last_seen"),
)

# MinHash LSH bands of each pattern's template: the persistent prefilter of fuzzy clustering.
pattern_bands = Table(
    "pattern_bands",
    metadata,
    Column("band", String(24), primary_key=True),
    Column("pattern_id", ForeignKey("patterns.id"), primary_key=True),
)

# Fingerprints that were joined to an existing issue (an older normaliser version's, or a
# near-identical template's): the decision is kept so that it is stable and fast next time.
issue_aliases = Table(
    "issue_aliases",
    metadata,
    Column("fingerprint", String(64), primary_key=True),
    Column("issue_id", ForeignKey("issues.id"), nullable=False),
    Column("reason", String(40), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
)

# Calls made to the LLM per UTC day, shared by every process (the per-day budget).
llm_usage = Table(
    "llm_usage",
    metadata,
    Column("day", String(10), primary_key=True),
    Column("calls", Integer, nullable=False, default=0),
)

# Webhook deliveries seen (GitHub's X-GitHub-Delivery): a redelivery is stored once.
webhook_deliveries = Table(
    "webhook_deliveries",
    metadata,
    Column("delivery_id", String(100), primary_key=True),
    Column("event", String(60), nullable=False),
    Column("action", String(60)),
    Column("status", String(20), nullable=False),
    Column("detail", Text, nullable=False, default=""),
    Column("received_at", UTCDateTime, nullable=False),
)

# Durable background work: a webhook delivery to ingest, a log to fetch. Written in the same
# transaction as what caused it, picked up again after a restart.
jobs = Table(
    "jobs",
    metadata,
    _id(),
    Column("kind", String(40), nullable=False),
    Column("key", String(200), nullable=False, unique=True),
    Column("data", JSON, nullable=False),
    Column("status", String(12), nullable=False, default="pending"),
    Column("attempts", Integer, nullable=False, default=0),
    Column("next_try_at", UTCDateTime, nullable=False),
    Column("last_error", Text),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    Index(None, "status", "next_try_at"),
)

# Where each poller stopped (e.g. the newest workflow run seen per repository).
cursors = Table(
    "cursors",
    metadata,
    Column("name", String(300), primary_key=True),
    Column("value", String(100), nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
)

# AI agent sessions (Claude Code and others, through their hooks): one row per session with its
# running activity figures, and exactly one work item (an issue or an OpenSpec change id).
agent_sessions = Table(
    "agent_sessions",
    metadata,
    _id(),
    Column("session_key", String(200), nullable=False, unique=True),
    Column("agent", String(40), nullable=False),
    Column("session_type", String(24), nullable=False),
    Column("status", String(16), nullable=False),
    Column("issue_id", ForeignKey("issues.id")),
    Column("spec_change", String(200)),
    Column("cwd", Text),
    Column("started_at", UTCDateTime, nullable=False),
    Column("last_activity_at", UTCDateTime, nullable=False),
    Column("ended_at", UTCDateTime),
    Column("end_reason", String(60)),
    Column("current_tool", String(100)),
    Column("current_tool_use_id", String(200)),
    Column("events_count", Integer, nullable=False, default=0),
    Column("tool_count", Integer, nullable=False, default=0),
    Column("tool_successes", Integer, nullable=False, default=0),
    Column("duration_total_ms", Float, nullable=False, default=0.0),
    Column("durations_count", Integer, nullable=False, default=0),
    Column("summary", JSON(none_as_null=True)),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    # The key a remediation hand-off gave the agent (``TRIAGEHUB_REMEDIATION``): the agent's
    # first hook event carrying it takes this session over (status ``pending`` until then).
    Column("handoff_key", String(64), unique=True),
    Index(None, "status", "last_activity_at"),
    Index(None, "issue_id"),
)

# The hook events of each session (tool uses with duration, success and a redacted excerpt).
agent_events = Table(
    "agent_events",
    metadata,
    _id(),
    Column("session_id", ForeignKey("agent_sessions.id"), nullable=False),
    # sha256 of the sender's event id: a replayed event is stored once.
    Column("event_key", String(64), unique=True),
    Column("kind", String(24), nullable=False),
    Column("hook_event", String(40), nullable=False),
    Column("tool_name", String(100)),
    Column("tool_use_id", String(200)),
    Column("at", UTCDateTime, nullable=False),
    Column("duration_ms", Float),
    Column("success", Boolean),
    Column("excerpt", Text),
    Column("data", JSON, nullable=False),
    Index(None, "session_id", "id"),
    Index(None, "session_id", "tool_use_id"),
)

# Bearer tokens of the REST API (``triagehub token create``): only the SHA-256 of the token is
# kept; ``prefix`` (its first characters) tells tokens apart in listings. Revoked rows stay.
api_tokens = Table(
    "api_tokens",
    metadata,
    _id(),
    Column("name", String(100), nullable=False),
    Column("scope", String(8), nullable=False),
    Column("token_hash", String(64), nullable=False, unique=True),
    Column("prefix", String(16), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("last_used_at", UTCDateTime),
    Column("revoked_at", UTCDateTime),
    Index(None, "name"),
)

# Dashboard sessions signed out before their cookie expired (the cookie's nonce): refused
# until ``expires_at``, then pruned.
dashboard_logouts = Table(
    "dashboard_logouts",
    metadata,
    Column("session_nonce", String(32), primary_key=True),
    Column("expires_at", UTCDateTime, nullable=False),
    Index(None, "expires_at"),
)

# Sorts and a filter of the REST API's issue list (``sort=-occurrences``, ``sort=first_seen``,
# ``assignee=``): keyset pages read these indexes in order instead of sorting every match.
Index("ix_issues_occurrences_id", issues.c.occurrences, issues.c.id)
Index("ix_issues_first_seen_id", issues.c.first_seen, issues.c.id)
Index("ix_issues_assignee_last_seen_id", issues.c.assignee, issues.c.last_seen, issues.c.id)

# The last passing log of each check, where the source gives one (its tail, bounded): what the
# evidence pack diffs a failing log against ("lines the green run did not print").
check_pass_logs = Table(
    "check_pass_logs",
    metadata,
    Column("check_id", ForeignKey("checks.id"), primary_key=True),
    Column("run_id", ForeignKey("runs.id"), nullable=False),
    Column("commit_sha", String(64)),
    Column("at", UTCDateTime, nullable=False),
    Column("log", Text, nullable=False),
    Index(None, "run_id"),
)

# The diff against green of a failure whose log was given: computed at ingest (the full log is not
# kept), against the check's last passing log stored before the failure's time.
green_diffs = Table(
    "green_diffs",
    metadata,
    Column("run_id", ForeignKey("runs.id"), primary_key=True),
    Column("check_id", ForeignKey("checks.id"), primary_key=True),
    Column("pass_run_id", ForeignKey("runs.id"), nullable=False),
    Column("new_lines", Integer, nullable=False),
    Column("total_lines", Integer, nullable=False),
    Column("lines", JSON, nullable=False),
    Index(None, "pass_run_id"),
)

# The investigation briefs written by the LLM, one per issue and evidence digest (the cache).
investigations = Table(
    "investigations",
    metadata,
    _id(),
    Column("issue_id", ForeignKey("issues.id"), nullable=False),
    Column("digest", String(64), nullable=False),
    Column("model", String(100), nullable=False),
    Column("brief", JSON, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    UniqueConstraint("issue_id", "digest"),
)

# Pull requests that reference an issue (an agent's fix, or a person's): linked from
# ``pull_request`` webhooks; ``merged_at`` once merged. Listed as ``related_prs``.
issue_prs = Table(
    "issue_prs",
    metadata,
    Column("issue_id", ForeignKey("issues.id"), primary_key=True),
    Column("url", String(500), primary_key=True),
    Column("repo", String(200), nullable=False),
    Column("number", Integer, nullable=False),
    Column("author", String(100), nullable=False),
    Column("by_agent", Boolean, nullable=False, default=False),
    Column("state", String(10), nullable=False),
    Column("merged_at", UTCDateTime),
    Column("linked_at", UTCDateTime, nullable=False),
    # The pull request's head branch: an agent session that names it works on the issue.
    Column("head_ref", String(255)),
    Index(None, "repo", "number"),
    Index(None, "head_ref"),
)

# The issues an agent session works on: its declared work item (``via`` work_item) and the
# issues its hook events reference (an issue id, a fingerprint, the GitHub issue, the linked
# pull request or its branch). One row per pair: the timeline's ``session_linked`` is written
# once, by the transaction whose insert took.
agent_session_issues = Table(
    "agent_session_issues",
    metadata,
    Column("session_id", ForeignKey("agent_sessions.id"), primary_key=True),
    Column("issue_id", ForeignKey("issues.id"), primary_key=True),
    Column("via", String(20), nullable=False),
    Column("ref", String(300), nullable=False),
    Column("linked_at", UTCDateTime, nullable=False),
    Index(None, "issue_id"),
)

# What an agent session's events named that may only later lead to an issue: GitHub issues and
# pull requests (``gh``: ``owner/name#12``, lower case) and branches (``branch``). A pull request
# recorded afterwards links the sessions that named it or its head branch.
agent_session_refs = Table(
    "agent_session_refs",
    metadata,
    Column("session_id", ForeignKey("agent_sessions.id"), primary_key=True),
    Column("kind", String(8), primary_key=True),
    Column("value", String(300), primary_key=True),
    Column("at", UTCDateTime, nullable=False),
    Index(None, "kind", "value"),
)

# The Specs tab's activity: a change created, its tasks done count changed, archived, removed.
# Written by the actions that do them (dashboard, API, CLI) and by the scan that finds what
# others did on disk (:mod:`triagehub.work.specs.activity`). (project, change_id, kind, marker)
# is the event's natural key: ``marker`` is the archive folder of an ``archived`` event, else
# ``after:<id of the change's previous event>`` (0: none), so two writers seeing the same
# change of state store it once, and the same move made again later is a new event.
spec_events = Table(
    "spec_events",
    metadata,
    _id(),
    Column("project", String(200), nullable=False),
    Column("change_id", String(200), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("marker", String(300), nullable=False),
    Column("at", UTCDateTime, nullable=False),
    Column("actor", String(100), nullable=False),
    Column("tasks_done", Integer, nullable=False),
    Column("tasks_total", Integer, nullable=False),
    Column("archived_as", String(300)),
    Column("data", JSON, nullable=False),
    UniqueConstraint("project", "change_id", "kind", "marker"),
    Index(None, "project", "change_id", "id"),
)
