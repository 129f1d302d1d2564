"""Runs and checks: paged listings and one run or check with its failures or issues."""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from triagehub.errors import InputError
from triagehub.store import tables as t
from triagehub.store.fulltext import CHECKS, text_condition
from triagehub.store.queries.paging import (
    MAX_TEXT_QUERY,
    Page,
    _after,
    _check_limit,
    _cut,
    _first_line,
    _iso,
    _repository_ids,
    decode_cursor,
    encode_cursor,
)


@dataclass(frozen=True, slots=True)
class RunView:
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
    failures: list[dict[str, Any]] | None = None

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        for key in ("started_at", "finished_at", "occurred_at", "ingested_at"):
            data[key] = _iso(data[key])
        if self.failures is None:
            del data["failures"]
        return data


_RUN_COLUMNS = (
    t.runs.c.id,
    t.repositories.c.name.label("repository"),
    t.runs.c.source,
    t.runs.c.external_id,
    t.runs.c.attempt,
    t.runs.c.commit_sha,
    t.runs.c.branch,
    t.runs.c.url,
    t.runs.c.status,
    t.runs.c.started_at,
    t.runs.c.finished_at,
    t.runs.c.occurred_at,
    t.runs.c.ingested_at,
    t.runs.c.results_total,
    t.runs.c.results_failed,
    t.runs.c.storm,
)
MAX_RUN_FAILURES = 500


def list_runs(
    *,
    session: Session,
    repository: str | None = None,
    source: str | None = None,
    status: str | None = None,
    branch: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: int = 50,
    cursor: str | None = None,
) -> Page[RunView]:
    """Runs, newest first (by the run's own time), keyset pages over ``(occurred_at, id)``."""
    _check_limit(limit)
    r = t.runs.c
    parts = (repository, source, status, branch, _iso(since), _iso(until))
    digest = hashlib.sha256("\x1f".join(p or "" for p in parts).encode()).hexdigest()[:12]
    stmt = select(*_RUN_COLUMNS).join(t.repositories, t.repositories.c.id == r.repository_id)
    if repository:
        ids = _repository_ids(session, (repository,))
        if not ids:
            return Page([], None)
        stmt = stmt.where(r.repository_id == ids[0])
    for column, value in ((r.source, source), (r.status, status), (r.branch, branch)):
        if value:
            stmt = stmt.where(column == value)
    if since is not None:
        stmt = stmt.where(r.occurred_at >= since)
    if until is not None:
        stmt = stmt.where(r.occurred_at < until)
    if cursor is not None:
        at, last_id = decode_cursor(cursor, "runs", digest, (datetime, int))
        stmt = stmt.where(_after(r.occurred_at, r.id, at, last_id, True))
    rows = (
        session.execute(stmt.order_by(r.occurred_at.desc(), r.id.desc()).limit(limit + 1))
        .mappings()
        .all()
    )
    rows, next_cursor = _cut(
        rows,
        limit,
        lambda last: encode_cursor("runs", digest, [_iso(last["occurred_at"]), last["id"]]),
    )
    return Page([RunView(**dict(row)) for row in rows], next_cursor)


def get_run(*, session: Session, run_id: int) -> RunView | None:
    """A run with its failures (the first :data:`MAX_RUN_FAILURES`, by check)."""
    row = (
        session.execute(
            select(*_RUN_COLUMNS)
            .join(t.repositories, t.repositories.c.id == t.runs.c.repository_id)
            .where(t.runs.c.id == run_id)
        )
        .mappings()
        .first()
    )
    if row is None:
        return None
    occ = t.occurrences.c
    failures = [
        {
            "occurrence_id": f.id,
            "issue_id": f.issue_id,
            "check": f.key,
            "status": f.status,
            "message": _first_line(f.message),
            "occurred_at": _iso(f.occurred_at),
        }
        for f in session.execute(
            select(occ.id, occ.issue_id, t.checks.c.key, occ.status, occ.message, occ.occurred_at)
            .join(t.checks, t.checks.c.id == occ.check_id)
            .where(occ.run_id == run_id)
            .order_by(t.checks.c.key)
            .limit(MAX_RUN_FAILURES)
        )
    ]
    return RunView(**dict(row), failures=failures)


@dataclass(frozen=True, slots=True)
class CheckView:
    """A check and its rolling history (``CheckStats``); ``recent`` is the outcomes of its
    latest runs (at most 63), newest first: ``fail`` (a failure or flaky evidence) or
    ``pass``."""

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
    recent: list[str]
    issues: list[dict[str, Any]] | None = None

    @property
    def failure_rate(self) -> float | None:
        return None if not self.runs else self.failures / self.runs

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        for key in ("last_run_at", "last_pass_at", "last_fail_at"):
            data[key] = _iso(data[key])
        data["failure_rate"] = self.failure_rate
        if self.issues is None:
            del data["issues"]
        return data


_CHECK_COLUMNS = (
    t.checks.c.id,
    t.repositories.c.name.label("repository"),
    t.checks.c.key,
    t.check_stats.c.runs,
    t.check_stats.c.failures,
    t.check_stats.c.consecutive_failures,
    t.check_stats.c.last_status,
    t.check_stats.c.last_run_at,
    t.check_stats.c.last_pass_at,
    t.check_stats.c.last_fail_at,
    t.check_stats.c.last_pass_commit,
    t.check_stats.c.last_fail_commit,
    t.check_stats.c.flaky,
    t.check_stats.c.recent,
)


def _check_view(row: Any, issues: list[dict[str, Any]] | None = None) -> CheckView:
    data = dict(row)
    runs = int(data["runs"] or 0)
    bits = int(data.pop("recent") or 0)
    recent = ["fail" if bits >> n & 1 else "pass" for n in range(min(runs, 63))]
    data.update(
        runs=runs,
        failures=int(data["failures"] or 0),
        consecutive_failures=int(data["consecutive_failures"] or 0),
        flaky=bool(data["flaky"]),
    )
    return CheckView(**data, recent=recent, issues=issues)


def _checks_select() -> Any:
    return (
        select(*_CHECK_COLUMNS)
        .join(t.repositories, t.repositories.c.id == t.checks.c.repository_id)
        .outerjoin(t.check_stats, t.check_stats.c.check_id == t.checks.c.id)
    )


def list_checks(
    *,
    session: Session,
    repository: str | None = None,
    flaky: bool | None = None,
    failing: bool | None = None,
    text: str | None = None,
    limit: int = 50,
    cursor: str | None = None,
) -> Page[CheckView]:
    """Checks in the order they were first seen, with their history. ``failing``: the last
    run failed; ``text``: a case-insensitive substring of the check key."""
    _check_limit(limit)
    c, s = t.checks.c, t.check_stats.c
    digest = hashlib.sha256(
        f"{repository or ''}\x1f{flaky}\x1f{failing}\x1f{text or ''}".encode()
    ).hexdigest()[:12]
    stmt = _checks_select()
    if repository:
        ids = _repository_ids(session, (repository,))
        if not ids:
            return Page([], None)
        stmt = stmt.where(c.repository_id == ids[0])
    if flaky is not None:
        clean = or_(s.flaky.is_(False), s.flaky.is_(None))
        stmt = stmt.where(s.flaky.is_(True) if flaky else clean)
    if failing is not None:
        failed = s.last_status.in_(("fail", "error"))
        stmt = stmt.where(failed if failing else or_(~failed, s.last_status.is_(None)))
    if text:
        if len(text) > MAX_TEXT_QUERY:
            raise InputError("q", "", f"at most {MAX_TEXT_QUERY} characters")
        held = text_condition(session, CHECKS, text)  # by index (store.fulltext)
        if held is None:
            return Page([], None)
        stmt = stmt.where(held)
    if cursor is not None:
        (last_id,) = decode_cursor(cursor, "checks", digest, (int,))
        stmt = stmt.where(c.id > last_id)
    rows = session.execute(stmt.order_by(c.id).limit(limit + 1)).mappings().all()
    rows, next_cursor = _cut(
        rows, limit, lambda last: encode_cursor("checks", digest, [last["id"]])
    )
    return Page([_check_view(r) for r in rows], next_cursor)


def get_check(*, session: Session, check_id: int, max_issues: int = 100) -> CheckView | None:
    """A check with its history and the issues it took part in (newest activity first)."""
    row = session.execute(_checks_select().where(t.checks.c.id == check_id)).mappings().first()
    if row is None:
        return None
    i = t.issues.c
    issues = [
        {
            "id": r.id,
            "title": r.title,
            "state": r.state,
            "category": r.category,
            "priority": r.priority,
            "occurrences": r.occurrences,
            "last_seen": _iso(r.last_seen),
        }
        for r in session.execute(
            select(i.id, i.title, i.state, i.category, i.priority, t.issue_checks.c.occurrences)
            .add_columns(t.issue_checks.c.last_seen)
            .join(t.issue_checks, t.issue_checks.c.issue_id == i.id)
            .where(t.issue_checks.c.check_id == check_id)
            .order_by(t.issue_checks.c.last_seen.desc(), i.id.desc())
            .limit(max_issues)
        )
    ]
    return _check_view(row, issues)
