"""Retention: ``triagehub db prune`` on the ``api_latency.py`` store, and what an ingest waits
while it runs, on SQLite and PostgreSQL.

The store is ``api_latency.py``'s (bulk inserts, 90 days of runs and occurrences; ``--quick``:
10,000 issues and 100,000 occurrences, else 100,000 and 1,000,000), aged: nine issues in ten
were resolved 60 days ago, as in an installation that has run for a while (``api_latency.py``
keeps 57% of them working, a stress test of the open list). Timed: a dry run, then the
prune of what is older than 30 days (clock at the store's end). Beside it, a second process
ingests one small run (two failing checks) every 20 ms through ``ingest_reports``, first for 15 s
with nothing else running (the peer), then for as long as the prune runs: their
p50/p99/max show how long a prune batch holds a writer up. Afterwards the issues' occurrence
counters must equal those before plus what the probe added.

    python benchmarks/prune.py [--quick] [--backend sqlite|postgresql|both] [--batch-size N]
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from rich.console import Console
from sqlalchemy import Engine, func, select

from api_latency import FULL, PG_DEFAULT, PG_ENV, QUICK, T_END, Postgres, Size, load
from triagehub.clock import FixedClock
from triagehub.config import Settings
from triagehub.core.models import CheckResult, RunReport, Status
from triagehub.engine.ingest import ingest_reports
from triagehub.engine.retention import prune
from triagehub.store import tables as t
from triagehub.store.db import make_engine, open_database
from triagehub.store.retention import DEFAULT_BATCH
from webhooks import pct

RETENTION = timedelta(days=30)
PROBE_EVERY_S = 0.02
PEER_S = 15.0


def _probe(url: str, tag: str, stop: Any, out: Any) -> None:
    """Ingest one small run every ``PROBE_EVERY_S`` until ``stop`` is set; put the latencies."""
    engine = make_engine(url)
    latencies: list[float] = []
    n = 0
    try:
        while not stop.is_set():
            at = T_END - timedelta(minutes=30) + timedelta(milliseconds=n)
            report = RunReport(
                source="generic",
                repository="acme/repo00",
                run_id=f"probe-{tag}-{n}",
                commit=f"p{n:07x}",
                finished_at=at,
                results=tuple(
                    CheckResult(f"probe/check_{k}", Status.FAIL, f"AssertionError: {n} != 0")
                    for k in range(2)
                ),
            )
            started = time.perf_counter()
            ingest_reports(engine, [report], Settings(), clock=FixedClock(T_END))
            latencies.append(time.perf_counter() - started)
            n += 1
            time.sleep(PROBE_EVERY_S)
        out.put(latencies)
    except BaseException as exc:  # reported to the parent
        out.put(f"{type(exc).__name__}: {exc}")
    finally:
        engine.dispose()


def _probing(url: str, tag: str) -> tuple[Any, Any, Any]:
    ctx = multiprocessing.get_context("fork")
    stop, out = ctx.Event(), ctx.Queue()
    proc = ctx.Process(target=_probe, args=(url, tag, stop, out))
    proc.start()
    return proc, stop, out


def _stop(proc: Any, stop: Any, out: Any) -> list[float]:
    stop.set()
    got = out.get(timeout=600)
    proc.join(timeout=60)
    if isinstance(got, str):
        raise RuntimeError(f"the ingest probe failed: {got}")
    return list(got)


def _occurrence_total(engine: Engine) -> tuple[int, int]:
    with engine.connect() as conn:
        counted = conn.execute(select(func.sum(t.issues.c.occurrences))).scalar_one()
        rows = conn.execute(select(func.count()).select_from(t.occurrences)).scalar_one()
    return int(counted or 0), int(rows)


def run_backend(url: str, name: str, size: Size, batch: int, console: Console) -> dict[str, Any]:
    console.print(f"[bold]{name}[/bold]")
    engine = open_database(url)
    try:
        load(engine, size, console)
        with engine.begin() as conn:
            i = t.issues.c
            conn.execute(
                sa.update(t.issues)
                .where(i.id % 10 != 0)
                .values(state="resolved", updated_at=T_END - timedelta(days=60))
            )
        clock = FixedClock(T_END)
        started = time.perf_counter()
        dry = prune(engine, older_than=RETENTION, clock=clock, dry_run=True, batch_size=batch)
        dry_s = time.perf_counter() - started
        proc, stop, out = _probing(url, "peer")
        time.sleep(PEER_S)
        alone = _stop(proc, stop, out)
        counted_before, rows_before = _occurrence_total(engine)
        proc, stop, out = _probing(url, "prune")
        started = time.perf_counter()
        done = prune(engine, older_than=RETENTION, clock=clock, batch_size=batch)
        prune_s = time.perf_counter() - started
        during = _stop(proc, stop, out)
        counted_after, rows_after = _occurrence_total(engine)
    finally:
        engine.dispose()
    return {
        "name": name,
        "dry": dry,
        "dry_s": dry_s,
        "done": done,
        "prune_s": prune_s,
        "alone": alone,
        "during": during,
        # every probe run adds two occurrences to the counters and two rows
        "counters_exact": counted_after == counted_before + 2 * len(during),
        "rows": (rows_before, rows_after),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="100,000 occurrences")
    parser.add_argument("--backend", choices=("sqlite", "postgresql", "both"), default="both")
    parser.add_argument("--batch-size", type=int, default=DEFAULT_BATCH)
    args = parser.parse_args(argv)
    size = QUICK if args.quick else FULL
    console = Console(width=None if sys.stdout.isatty() else 140)
    results: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="triagehub-prune-") as tmp:
        if args.backend in ("sqlite", "both"):
            url = f"sqlite:///{Path(tmp) / 'prune.db'}"
            results.append(run_backend(url, "SQLite", size, args.batch_size, console))
        if args.backend in ("postgresql", "both"):
            pg = Postgres(os.environ.get(PG_ENV, PG_DEFAULT))
            try:
                pg.create()
                results.append(run_backend(pg.url, "PostgreSQL", size, args.batch_size, console))
            except sa.exc.OperationalError as exc:
                console.print(f"PostgreSQL not measured: {exc.orig}")
            finally:
                pg.drop()
    print(
        f"{size.issues:,} issues, {size.occurrences:,} occurrences over 90 days; prune of what "
        f"is older than {RETENTION.days} days, {args.batch_size:,} ids per transaction"
    )
    for r in results:
        done, dry = r["done"], r["dry"]
        gone = sum(done.rows.values())
        print(
            f"  {r['name']}: dry run {r['dry_s']:.1f} s; prune {r['prune_s']:.1f} s, "
            f"{gone:,} rows ({gone / r['prune_s']:,.0f}/s) in {done.batches:,} transactions: "
            f"{dict(done.rows)}; kept as evidence {dict(done.kept)}; "
            f"{len(done.issues):,} issues summarized; "
            f"dry run = prune: {dry.rows == done.rows}; occurrence rows {r['rows'][0]:,} -> "
            f"{r['rows'][1]:,}; counters exact: {r['counters_exact']}"
        )
        for label, lat in (("alone", r["alone"]), ("during the prune", r["during"])):
            print(
                f"    ingest of one run {label}: {len(lat)} runs, p50 "
                f"{pct(lat, 0.5):.1f} ms, p99 {pct(lat, 0.99):.1f} ms, max {max(lat) * 1000:.1f} ms"
            )
    figures = "; ".join(
        f"{r['name']} {sum(r['done'].rows.values()) / r['prune_s']:,.0f} rows/s, ingest p99 "
        f"{pct(r['during'], 0.99):.0f} ms during vs {pct(r['alone'], 0.99):.0f} ms alone "
        f"({pct(r['during'], 0.99) / pct(r['alone'], 0.99):.1f}x)"
        for r in results
    )
    exact = all(r["counters_exact"] and r["dry"].rows == r["done"].rows for r in results)
    print(f"SUMMARY prune: {figures}; counters exact and dry run = prune: {exact}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
