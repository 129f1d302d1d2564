"""Concurrent ingesters against one serial ingest: counter mismatches and throughput.

Generates runs of 12 checks over 3 repositories (checks that always fail, always pass, or
alternate; one file per run), ingests them serially into a fresh SQLite file (the reference,
and the peer for throughput), then with N processes at once (each a share of the files) into an
empty database on SQLite and on PostgreSQL, and compares every counter with the reference:
``issues.occurrences``, ``checks_count``, ``check_stats`` (runs, failures, last pass/fail), the
pattern counters and the run and occurrence sets.

    python benchmarks/concurrent_ingest.py [--quick] [--files N] [--pg URL]
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy import Engine
from sqlalchemy.engine import make_url

from triagehub.clock import FixedClock
from triagehub.config import Settings
from triagehub.engine.ingest import ingest_files
from triagehub.store import db as store_db
from triagehub.store import tables as t

T0 = datetime(2026, 11, 10, 6, 0, tzinfo=UTC)
CLOCK = FixedClock(T0 + timedelta(days=30))
REPOS = ("acme/app", "acme/web", "acme/dbt")
CHECKS = 12
PG_DEFAULT = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
ERRORS = (
    "AssertionError: expected {n} rows, got {m}",
    "KeyError: 'customer_{n}' not found in payload",
    "TypeError: unsupported operand type(s) for +: 'int' and 'str' at line {n}",
)


def write_files(folder: Path, count: int) -> list[Path]:
    paths = []
    for run in range(count):
        results = []
        for check in range(CHECKS):
            fail = check < 4 or (check >= 8 and (run + check) % 2 == 1)
            message = ERRORS[check % 3].format(n=run * 7 + check, m=run) if fail else ""
            results.append(
                {
                    "check": f"tests/test_mod.py::test_{check}",
                    "status": "fail" if fail else "pass",
                    "message": message,
                }
            )
        event = {
            "source": "generic",
            "repository": REPOS[run % len(REPOS)],
            "run": {
                "id": f"run-{run}",
                "commit": f"{run:07x}abc",
                "finished_at": (T0 + timedelta(minutes=run)).isoformat(),
            },
            "results": results,
        }
        path = folder / f"run-{run:05d}.json"
        path.write_bytes(orjson.dumps(event))
        paths.append(path)
    return paths


def counters(engine: Engine) -> dict[str, dict[Any, Any]]:
    with engine.connect() as conn:
        repo = {
            pk: n for pk, n in conn.execute(sa.select(t.repositories.c.id, t.repositories.c.name))
        }
        check = {
            pk: (repo[r], k)
            for pk, r, k in conn.execute(
                sa.select(t.checks.c.id, t.checks.c.repository_id, t.checks.c.key)
            )
        }
        s = t.check_stats.c
        stats = {
            check[r[0]]: tuple(r[1:])
            for r in conn.execute(
                sa.select(s.check_id, s.runs, s.failures, s.last_pass_at, s.last_fail_at)
            )
        }
        i = t.issues.c
        issues = {
            r[0]: tuple(r[1:])
            for r in conn.execute(
                sa.select(i.fingerprint, i.occurrences, i.checks_count, i.first_seen, i.last_seen)
            )
        }
        p = t.patterns.c
        patterns = {
            r[0]: tuple(r[1:])
            for r in conn.execute(sa.select(p.key, p.occurrences, p.issues_count, p.last_seen))
        }
        runs = {
            (repo[r], e): 1
            for r, e in conn.execute(sa.select(t.runs.c.repository_id, t.runs.c.external_id))
        }
        occurrences = {
            (check[c], r): 1
            for c, r in conn.execute(sa.select(t.occurrences.c.check_id, t.occurrences.c.run_id))
        }
    return {
        "check_stats": stats,
        "issues": issues,
        "patterns": patterns,
        "runs": runs,
        "occurrences": {"total": len(occurrences)},
    }


def _child(url: str, paths: list[Path], barrier: Any, out: Any) -> None:
    engine = store_db.make_engine(url)
    try:
        barrier.wait(timeout=120)
        summary = ingest_files(engine, paths, Settings(), clock=CLOCK)
        out.put(("ok", len(summary.errors)))
    except BaseException as exc:
        out.put(("crash", f"{type(exc).__name__}: {str(exc)[:200]}"))
    finally:
        engine.dispose()


def concurrent(url: str, paths: list[Path], workers: int) -> tuple[float, list[Any]]:
    ctx = multiprocessing.get_context("fork")
    barrier, out = ctx.Barrier(workers + 1), ctx.Queue()
    # Overlapping shares: each worker its slice, and every third file to all of them.
    shares = []
    for w in range(workers):
        share = list(paths[w::workers])
        share += [p for n, p in enumerate(paths) if n % 3 == 0 and p not in share]
        shares.append(sorted(share, reverse=bool(w % 2)))
    procs = [ctx.Process(target=_child, args=(url, s, barrier, out)) for s in shares]
    for proc in procs:
        proc.start()
    barrier.wait(timeout=120)
    started = time.perf_counter()
    results = [out.get(timeout=1800) for _ in procs]
    elapsed = time.perf_counter() - started
    for proc in procs:
        proc.join(timeout=60)
    return elapsed, results


def mismatches(want: dict[str, dict[Any, Any]], got: dict[str, dict[Any, Any]]) -> int:
    return sum(
        sum(
            1 for k in want[name].keys() | got[name].keys() if want[name].get(k) != got[name].get(k)
        )
        for name in want
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="60 files instead of 300")
    parser.add_argument("--files", type=int, default=None)
    parser.add_argument("--pg", default=os.environ.get("TRIAGEHUB_TEST_POSTGRES_URL", PG_DEFAULT))
    args = parser.parse_args(argv)
    count = args.files or (60 if args.quick else 300)
    rows: list[tuple[str, int, float, int, str]] = []
    with tempfile.TemporaryDirectory(prefix="triagehub-concurrent-") as tmp:
        folder = Path(tmp)
        paths = write_files(folder, count)
        reference = store_db.open_database(f"sqlite:///{folder / 'serial.db'}")
        started = time.perf_counter()
        ingest_files(reference, paths, Settings(), clock=CLOCK)
        serial_s = time.perf_counter() - started
        want = counters(reference)
        reference.dispose()
        rows.append(("sqlite (serial, peer)", 1, serial_s, 0, "ok"))
        admin = sa.create_engine(store_db.normalize_url(args.pg), isolation_level="AUTOCOMMIT")
        for backend in ("sqlite", "postgresql"):
            for workers in (2, 4):
                if backend == "sqlite":
                    url = f"sqlite:///{folder / f'c{workers}.db'}"
                    name = None
                else:
                    name = f"triagehub_conc_{uuid.uuid4().hex[:10]}"
                    with admin.connect() as conn:
                        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
                    pg = make_url(store_db.normalize_url(args.pg)).set(database=name)
                    url = pg.render_as_string(hide_password=False)
                try:
                    store_db.open_database(url).dispose()
                    elapsed, results = concurrent(url, paths, workers)
                    engine = store_db.make_engine(url)
                    got = counters(engine)
                    engine.dispose()
                    status = "ok" if all(r == ("ok", 0) for r in results) else str(results)[:60]
                    rows.append((backend, workers, elapsed, mismatches(want, got), status))
                finally:
                    if name is not None:
                        with admin.connect() as conn:
                            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
    print(
        f"{count} runs x {CHECKS} checks, 3 repositories; overlapping shares "
        "(every 3rd file to all)"
    )
    print(f"{'backend':<22} {'ingesters':>9} {'seconds':>8} {'mismatches':>10}  processes")
    for backend, workers, seconds, bad, status in rows:
        print(f"{backend:<22} {workers:>9} {seconds:>8.1f} {bad:>10}  {status}")
    total = sum(r[3] for r in rows)
    crashed = sum(1 for r in rows if r[4] != "ok")
    print(
        f"summary: {total} counter mismatches and {crashed} failed runs over "
        f"{len(rows) - 1} concurrent ingests (2 and 4 processes, SQLite and PostgreSQL) "
        f"against a serial ingest of {count} runs"
    )
    return 1 if total or crashed else 0


if __name__ == "__main__":
    sys.exit(main())
