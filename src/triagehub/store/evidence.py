"""Tables behind the evidence pack: the last passing log per check and the diffs against green."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import and_, insert, select, update
from sqlalchemy.orm import Session

from triagehub.core.greendiff import bound_pass_log, diff_against_green
from triagehub.core.redact import redact
from triagehub.store import tables as t
from triagehub.store.grouping import chunks

GREEN_DIFF_LINES = 20
MAX_DIFF_CHARS = 4_000_000  # of a failing log compared at ingest (its tail)


@dataclass(frozen=True, slots=True)
class PassLog:
    check_id: int
    run_id: int
    commit: str | None
    at: datetime
    log: str


@dataclass(frozen=True, slots=True)
class FailLog:
    check_id: int
    run_id: int
    at: datetime
    log: str


def _stored_pass_logs(session: Session, check_ids: Sequence[int]) -> dict[int, PassLog]:
    found: dict[int, PassLog] = {}
    c = t.check_pass_logs.c
    for chunk in chunks(sorted(set(check_ids))):
        for r in session.execute(select(t.check_pass_logs).where(c.check_id.in_(chunk))):
            found[r.check_id] = PassLog(r.check_id, r.run_id, r.commit_sha, r.at, r.log)
    return found


def record_logs(*, session: Session, passes: Sequence[PassLog], failures: Sequence[FailLog]) -> int:
    """Keep the newest passing log per check (redacted, its tail bounded) and store, for each
    failure with a log, its diff against the check's newest passing log older than the failure.
    Returns the number of diffs stored. A replayed batch changes nothing (newer-only update, each
    diff inserted once).
    """
    if not passes and not failures:
        return 0
    wanted = {p.check_id for p in passes} | {f.check_id for f in failures}
    stored = _stored_pass_logs(session, sorted(wanted))
    batch: dict[int, list[PassLog]] = {}
    for p in passes:
        batch.setdefault(p.check_id, []).append(p)
    diffs = [d for f in failures if (d := _diff(f, batch, stored)) is not None]
    if diffs:
        diffs = _insert_new_diffs(session, diffs)
    _keep_newest_passes(session, passes, stored)
    return len(diffs)


def _diff(
    f: FailLog, batch: dict[int, list[PassLog]], stored: dict[int, PassLog]
) -> dict[str, Any] | None:
    """The ``green_diffs`` row of a failure: its log against the newest passing log older than
    it (of this batch or stored), or None when there is none or nothing to compare."""
    candidates = [p for p in batch.get(f.check_id, []) if p.at <= f.at]
    old = stored.get(f.check_id)
    if old is not None and old.at <= f.at:
        candidates.append(old)
    if not candidates:
        return None
    green = max(candidates, key=lambda p: p.at)
    log, offset = f.log, 0
    if len(log) > MAX_DIFF_CHARS:  # a huge log: its tail (errors come last), numbered alike
        tail = bound_pass_log(log, max_chars=MAX_DIFF_CHARS)
        offset = log.count("\n", 0, len(log) - len(tail))
        log = tail
    result = diff_against_green(log, green.log, max_lines=GREEN_DIFF_LINES)
    if not result.compared:
        return None
    return {
        "run_id": f.run_id,
        "check_id": f.check_id,
        "pass_run_id": green.run_id,
        "new_lines": result.new_lines,
        "total_lines": offset + result.total_lines,
        "lines": [
            {"line": offset + n + 1, "text": redact(text)}
            for n, text in zip(result.excerpt.line_numbers, result.excerpt.lines, strict=True)
        ],
    }


def _insert_new_diffs(session: Session, diffs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Insert the diffs not stored yet; return them."""
    keys = {(d["run_id"], d["check_id"]) for d in diffs}
    c = t.green_diffs.c
    present = {
        (r.run_id, r.check_id)
        for chunk in chunks(sorted({k[0] for k in keys}))
        for r in session.execute(select(c.run_id, c.check_id).where(c.run_id.in_(chunk)))
    }
    diffs = [d for d in diffs if (d["run_id"], d["check_id"]) not in present]
    if diffs:
        session.execute(insert(t.green_diffs), diffs)
    return diffs


def _keep_newest_passes(
    session: Session, passes: Sequence[PassLog], stored: dict[int, PassLog]
) -> None:
    """Store each check's newest passing log of the batch unless a newer one is stored."""
    newest: dict[int, PassLog] = {}
    for p in passes:
        if p.check_id not in newest or p.at >= newest[p.check_id].at:
            newest[p.check_id] = p
    c2 = t.check_pass_logs.c
    for check_id, p in newest.items():
        values = {
            "run_id": p.run_id,
            "commit_sha": p.commit,
            "at": p.at,
            "log": redact(bound_pass_log(p.log)),
        }
        old = stored.get(check_id)
        if old is None:
            session.execute(insert(t.check_pass_logs).values(check_id=check_id, **values))
        elif p.at >= old.at:
            session.execute(
                update(t.check_pass_logs)
                .where(and_(c2.check_id == check_id, c2.at <= p.at))
                .values(**values)
            )


def pass_log_of(*, session: Session, check_id: int) -> dict[str, Any] | None:
    """The stored last passing log of a check, with its run."""
    c = t.check_pass_logs.c
    row = session.execute(
        select(c.run_id, c.commit_sha, c.at, c.log, t.runs.c.external_id, t.runs.c.url)
        .join(t.runs, t.runs.c.id == c.run_id)
        .where(c.check_id == check_id)
    ).first()
    if row is None:
        return None
    return {
        "run": row.external_id,
        "url": row.url,
        "commit": row.commit_sha,
        "at": row.at,
        "lines": len(row.log.splitlines()),
    }


def green_diff_of(*, session: Session, run_id: int, check_id: int) -> dict[str, Any] | None:
    c = t.green_diffs.c
    row = session.execute(
        select(c.new_lines, c.total_lines, c.lines, t.runs.c.external_id)
        .join(t.runs, t.runs.c.id == c.pass_run_id)
        .where(c.run_id == run_id, c.check_id == check_id)
    ).first()
    if row is None:
        return None
    return {
        "against_run": row.external_id,
        "new_lines": row.new_lines,
        "total_lines": row.total_lines,
        "lines": list(row.lines),
    }


def latest_brief(*, session: Session, issue_id: int) -> dict[str, Any] | None:
    """The newest investigation brief of an issue, with its model, digest and time."""
    c = t.investigations.c
    row = session.execute(
        select(c.model, c.digest, c.brief, c.created_at)
        .where(c.issue_id == issue_id)
        .order_by(c.created_at.desc(), c.id.desc())
        .limit(1)
    ).first()
    if row is None:
        return None
    return {"model": row.model, "digest": row.digest, "at": row.created_at, **dict(row.brief)}
