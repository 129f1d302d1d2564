"""Concurrent ingesters give exactly what one serial ingest gives.

Real processes (forked, each with its own engine, released together by a barrier) ingest
overlapping sets of files into one database that starts empty, on SQLite and on PostgreSQL. The
counters (issue occurrences, per-check runs and failures, pattern counters), the histories and the
issue set must equal those of a serial ingest of the same files.
"""

from __future__ import annotations

import multiprocessing
import os
import subprocess
import sys
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest
import sqlalchemy as sa
from sqlalchemy import Engine

from triagehub.clock import FixedClock
from triagehub.config import Settings
from triagehub.engine.ingest import ingest_files
from triagehub.store import db as store_db
from triagehub.store import tables as t

T0 = datetime(2026, 11, 10, 6, 0, tzinfo=UTC)
CLOCK = FixedClock(T0 + timedelta(days=30))
REPOS = ("acme/app", "acme/web", "acme/dbt")
CHECKS = 12
FILES = 24

_ERRORS = (
    "AssertionError: expected {n} rows, got {m}",
    "KeyError: 'customer_{n}' not found in payload",
    "TypeError: unsupported operand type(s) for +: 'int' and 'str' at line {n}",
)


def _status(run: int, check: int) -> str:
    """Checks 0-3 always fail, 4-7 always pass, 8-11 alternate with the run number."""
    if check < 4:
        return "fail"
    if check < 8:
        return "pass"
    return "fail" if (run + check) % 2 else "pass"


def write_files(folder: Path) -> list[Path]:
    """``FILES`` runs, each over every check of one repository, with its own commit and time."""
    paths = []
    for run in range(FILES):
        repo = REPOS[run % len(REPOS)]
        results = []
        for check in range(CHECKS):
            status = _status(run, check)
            failed = status == "fail"
            message = _ERRORS[check % 3].format(n=run * 7 + check, m=run) if failed else ""
            results.append(
                {"check": f"tests/test_mod.py::test_{check}", "status": status, "message": message}
            )
        event = {
            "source": "generic",
            "repository": repo,
            "run": {
                "id": f"run-{run}",
                "attempt": 1,
                "commit": f"{run:07x}abc",
                "branch": "main",
                "finished_at": (T0 + timedelta(minutes=run)).isoformat(),
            },
            "results": results,
        }
        path = folder / f"run-{run:03d}.json"
        path.write_bytes(orjson.dumps(event))
        paths.append(path)
    return paths


def overlapping_shares(paths: Sequence[Path], workers: int) -> list[list[Path]]:
    """Each worker gets its slice, plus every third file (ingested by all of them)."""
    shares = [list(paths[i::workers]) for i in range(workers)]
    for share in shares:
        share.extend(p for i, p in enumerate(paths) if i % 3 == 0 and p not in share)
        share.sort(key=lambda p: p.name, reverse=bool(len(share) % 2))
    return shares


def _ingest_worker(url: str, paths: list[Path], barrier: Any, out: Any) -> None:
    engine = store_db.make_engine(url)
    try:
        barrier.wait(timeout=60)
        summary = ingest_files(engine, paths, Settings(), clock=CLOCK)
        out.put(("ok", [str(e) for e in summary.errors]))
    except BaseException as exc:  # reported to the parent, which fails the test
        out.put(("crash", f"{type(exc).__name__}: {exc}"))
    finally:
        engine.dispose()


def concurrent_ingest(url: str, shares: list[list[Path]]) -> list[tuple[str, Any]]:
    ctx = multiprocessing.get_context("fork")
    barrier = ctx.Barrier(len(shares))
    out = ctx.Queue()
    procs = [
        ctx.Process(target=_ingest_worker, args=(url, share, barrier, out)) for share in shares
    ]
    for p in procs:
        p.start()
    results = [out.get(timeout=300) for _ in procs]
    for p in procs:
        p.join(timeout=60)
        assert p.exitcode == 0
    return results


def snapshot(engine: Engine) -> dict[str, Any]:
    """Everything a lost update or a duplicate would change, by natural keys (not ids)."""
    with engine.connect() as conn:
        repo_names = {
            pk: name
            for pk, name in conn.execute(sa.select(t.repositories.c.id, t.repositories.c.name))
        }
        check_names = {
            pk: (repo_names[repo], key)
            for pk, repo, key in conn.execute(
                sa.select(t.checks.c.id, t.checks.c.repository_id, t.checks.c.key)
            )
        }
        stats = {
            check_names[r.check_id]: (
                r.runs,
                r.failures,
                r.last_pass_at,
                r.last_fail_at,
                r.last_run_at,
                bin(r.recent).count("1"),
                # order-free for checks that always pass or always fail
                r.consecutive_failures if r.failures in (0, r.runs) else None,
                r.flaky,
            )
            for r in conn.execute(sa.select(t.check_stats))
        }
        i = t.issues.c
        issue_fp = {pk: fp for pk, fp in conn.execute(sa.select(i.id, i.fingerprint))}
        issues = {
            r.fingerprint: (r.occurrences, r.checks_count, r.first_seen, r.last_seen, r.scope)
            for r in conn.execute(sa.select(t.issues))
        }
        issue_checks = {
            (issue_fp[r.issue_id], check_names[r.check_id]): (r.occurrences, r.first_seen)
            for r in conn.execute(sa.select(t.issue_checks))
        }
        occurrences = sorted(
            (issue_fp[r.issue_id], check_names[r.check_id], r.occurred_at)
            for r in conn.execute(sa.select(t.occurrences))
        )
        patterns = {
            r.key: (r.issues_count, r.occurrences, r.first_seen, r.last_seen)
            for r in conn.execute(sa.select(t.patterns))
        }
        runs = sorted(
            (repo_names[r.repository_id], r.external_id, r.attempt)
            for r in conn.execute(sa.select(t.runs))
        )
        e = t.issue_events.c
        created = sorted(
            (issue_fp[r.issue_id], r.kind)
            for r in conn.execute(sa.select(t.issue_events).where(e.kind == "created"))
        )
    return {
        "repositories": sorted(repo_names.values()),
        "checks": sorted(check_names.values()),
        "runs": runs,
        "stats": stats,
        "issues": issues,
        "issue_checks": issue_checks,
        "occurrences": occurrences,
        "patterns": patterns,
        "created_events": created,
    }


def mismatches(expected: dict[str, Any], got: dict[str, Any]) -> dict[str, int]:
    """How many keys differ, per table (0 everywhere when the ingests agree)."""
    out: dict[str, int] = {}
    for name, want in expected.items():
        have = got[name]
        if isinstance(want, dict):
            keys = want.keys() | have.keys()
            out[name] = sum(1 for k in keys if want.get(k) != have.get(k))
        else:
            out[name] = 0 if want == have else max(1, abs(len(want) - len(have)))
    return out


@pytest.fixture
def serial(tmp_path: Path) -> dict[str, Any]:
    paths = write_files(tmp_path)
    url = f"sqlite:///{tmp_path / 'serial.db'}"
    engine = store_db.open_database(url)
    try:
        summary = ingest_files(engine, paths, Settings(), clock=CLOCK)
        assert not summary.errors
        return snapshot(engine)
    finally:
        engine.dispose()


@pytest.mark.parametrize("workers", [2, 4])
def test_concurrent_ingesters_count_exactly_like_a_serial_ingest(
    engine: Engine, db_url: str, tmp_path: Path, serial: dict[str, Any], workers: int
) -> None:
    paths = sorted(tmp_path.glob("run-*.json"))
    results = concurrent_ingest(db_url, overlapping_shares(paths, workers))
    assert results == [("ok", [])] * workers
    got = snapshot(engine)
    assert mismatches(serial, got) == dict.fromkeys(serial, 0)
    assert got == serial


def test_concurrent_cli_ingests_on_an_empty_database_both_succeed(
    db_url: str, tmp_path: Path, serial: dict[str, Any]
) -> None:
    """Two `triagehub ingest` processes creating the same repositories, checks, patterns and
    issues at once: both exit 0 and the store equals a serial ingest."""
    paths = sorted(tmp_path.glob("run-*.json"))
    env = {**os.environ, "TRIAGEHUB_DATABASE_URL": db_url}
    env.pop("TRIAGEHUB_CONFIG", None)
    store_db.open_database(db_url).dispose()  # migrated first (concurrent migration is not tested)
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "triagehub", "ingest", *map(str, share)],
            env=env,
            cwd=tmp_path,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        for share in overlapping_shares(paths, 2)
    ]
    outputs = [p.communicate(timeout=300) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outputs
    engine = store_db.make_engine(db_url)
    try:
        assert snapshot(engine) == serial
    finally:
        engine.dispose()


# -- workers --------------------------------------------------------------------------------------

DELIVERIES = 36


def deliveries() -> list[dict[str, Any]]:
    """Failed ``workflow_job`` deliveries (GitHub's example) over 3 jobs of 12 runs in two
    repositories: the jobs share checks, issues and patterns."""
    template = (Path(__file__).parent / "data" / "github").joinpath(
        "workflow_job.completed_failure.1.json"
    )
    out = []
    for i in range(DELIVERIES):
        payload = orjson.loads(template.read_bytes())
        job = payload["workflow_job"]
        job["id"] = 9000 + i
        job["run_id"] = 7000 + i // 3
        job["name"] = f"test ({i % 3})"
        job["head_sha"] = f"{i // 3:040x}"
        job["completed_at"] = (T0 + timedelta(minutes=i)).isoformat()
        payload["repository"]["full_name"] = ("octo/one", "octo/two")[i % 2]
        out.append({"event": "workflow_job", "payload": payload, "delivery": f"d-{i}"})
    return out


def queue_deliveries(engine: Engine) -> None:
    from sqlalchemy.orm import Session

    from triagehub.engine.ingest_jobs import INGEST_WEBHOOK
    from triagehub.engine.jobs import enqueue

    with Session(engine) as session, session.begin():
        for data in deliveries():
            enqueue(
                session,
                kind=INGEST_WEBHOOK,
                key=f"github:{data['delivery']}",
                data=data,
                now=CLOCK.now(),
            )


def _work_queue(url: str, barrier: Any, out: Any) -> None:
    from triagehub.engine.jobs import RetryPolicy, process_jobs

    engine = store_db.make_engine(url)
    try:
        barrier.wait(timeout=60)
        done = 0
        policy = RetryPolicy(batch=5, backoff_s=0.05, max_backoff_s=0.2)
        while n := process_jobs(engine, Settings(), clock=CLOCK, policy=policy):
            done += n
        out.put(("ok", done))
    except BaseException as exc:  # reported to the parent, which fails the test
        out.put(("crash", f"{type(exc).__name__}: {exc}"))
    finally:
        engine.dispose()


@pytest.mark.parametrize("workers", [2, 4])
def test_concurrent_workers_count_exactly_like_one_worker(
    engine: Engine, db_url: str, tmp_path: Path, workers: int
) -> None:
    from triagehub.engine.jobs import process_jobs

    one = store_db.open_database(f"sqlite:///{tmp_path / 'one.db'}")
    try:
        queue_deliveries(one)
        while process_jobs(one, Settings(), clock=CLOCK):
            pass
        expected = snapshot(one)
    finally:
        one.dispose()
    queue_deliveries(engine)
    ctx = multiprocessing.get_context("fork")
    barrier, out = ctx.Barrier(workers), ctx.Queue()
    procs = [ctx.Process(target=_work_queue, args=(db_url, barrier, out)) for _ in range(workers)]
    for p in procs:
        p.start()
    results = [out.get(timeout=300) for _ in procs]
    for p in procs:
        p.join(timeout=60)
    assert all(status == "ok" for status, _ in results), results
    assert sum(done for _, done in results) == DELIVERIES
    got = snapshot(engine)
    assert mismatches(expected, got) == dict.fromkeys(expected, 0)
    assert got == expected


# -- an ingest and a human's triage at once --------------------------------------------------------


TRIAGE_ROUNDS = 2


def _triage_all(url: str, barrier: Any, out: Any) -> None:
    from sqlalchemy.orm import Session

    from triagehub.store.triage import apply_override

    engine = store_db.make_engine(url)
    try:
        with engine.connect() as conn:
            ids = sorted(conn.execute(sa.select(t.issues.c.id)).scalars())
        barrier.wait(timeout=60)
        for n in range(TRIAGE_ROUNDS):  # the last round sets critical
            priority = "critical" if (TRIAGE_ROUNDS - 1 - n) % 2 == 0 else "high"
            for pk in ids:
                with Session(engine) as session, session.begin():
                    apply_override(
                        session=session,
                        issue_id=pk,
                        changes={"assignee": "alice", "priority": priority},
                        reason="mine",
                        actor="token:alice",
                        now=CLOCK.now(),
                    )
        out.put(("ok", len(ids)))
    except BaseException as exc:  # reported to the parent, which fails the test
        out.put(("crash", f"{type(exc).__name__}: {exc}"))
    finally:
        engine.dispose()


def test_a_triage_during_an_ingest_is_kept_and_the_counts_are_exact(
    engine: Engine, db_url: str, tmp_path: Path, serial: dict[str, Any]
) -> None:
    paths = sorted(tmp_path.glob("run-*.json"))
    first, rest = paths[: len(paths) // 2], paths[len(paths) // 2 :]
    assert not ingest_files(engine, first, Settings(), clock=CLOCK).errors
    ctx = multiprocessing.get_context("fork")
    barrier, out = ctx.Barrier(2), ctx.Queue()
    procs = [
        ctx.Process(target=_ingest_worker, args=(db_url, rest, barrier, out)),
        ctx.Process(target=_triage_all, args=(db_url, barrier, out)),
    ]
    for p in procs:
        p.start()
    results = [out.get(timeout=300) for _ in procs]
    for p in procs:
        p.join(timeout=60)
    assert [status for status, _ in results] == ["ok", "ok"], results
    with engine.connect() as conn:
        rows = list(
            conn.execute(sa.select(t.issues.c.state, t.issues.c.assignee, t.issues.c.priority))
        )
    # The human's last word on every issue stands: no ingest overwrote it with a stale row.
    assert rows and all(row == ("assigned", "alice", "critical") for row in rows), rows
    got = snapshot(engine)
    assert got["issues"] == serial["issues"]
    assert got["stats"] == serial["stats"]
