"""Free-text search on 100,000 issues: the search index (migration 0019) against the scan it
replaced, in the same run, on SQLite and on PostgreSQL.

Run it as ``.venv/bin/python benchmarks/search.py [--quick] [--backend sqlite|postgresql|both]``.
The store is migrated to 0018 (no index), filled by bulk inserts (``api_latency.Loader``):
20 repositories, 20,000 checks (pytest, dbt and Playwright names) and 100,000 issues whose
messages are real log lines (Loghub-2k, 16 systems, numbers drawn anew; one to three lines),
titled ``check — first line`` and templated by triagehub's normaliser. Then migration 0019 is
timed (it builds and fills the index) and the store's size is read before and after.

Each query text is timed, a fresh session per call as the API opens one per request:

- scan (the peer, before migration 0019, on the same data): the first page of 50, newest
  activity first, by the plain test over title, template and sample message, which is what
  ``search_issues`` ran before the index (10 calls: it is slow);
- indexed (after 0019): ``queries.search_issues(IssueQuery(text=...))``, the API's ``q``
  (``--samples`` calls after 3 warm-ups);
- PostgreSQL only, "planner's choice" (after 0019): the plain test again; on PostgreSQL it is
  ``ILIKE``, which the GIN indexes can serve when the planner picks them.

Also reported: the checks' ``q`` (``list_checks``) and the dashboard's search (window, check
names, the index, typo halves). Target (issue #24): a search with no match < 30 ms p95.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import os
import random
import re
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from rich.console import Console
from rich.table import Table
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from api_latency import PG_DEFAULT, PG_ENV, Loader, Postgres, _stamp
from triagehub.core.fingerprint import normalize
from triagehub.store import db, queries
from triagehub.store import tables as t
from triagehub.store.fulltext import ISSUES, contains
from triagehub.store.queries.issues import _ISSUE_COLUMNS, _issue_views
from triagehub.web.views import search_issues as dashboard_search

LOGHUB = Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "loghub2k"
SEED = 20261206
T_END = datetime(2026, 12, 6, tzinfo=UTC)
TARGET_MS = 30.0
SCAN = "scan (0018: before)"
PEER_SAMPLES = 10  # a scan takes a second or more on a loaded machine
AREAS = ("orders", "billing", "search", "auth", "checkout", "inventory", "export", "profile")
VERBS = ("creates", "rejects", "retries", "loads", "renders", "syncs", "parses", "exports")

# (label, text, judged): the texts the API is asked for; "judged" rows carry the target.
QUERIES = (
    ("no match, rare letters", "zz-absent", True),
    ("no match, common letters", "permission denied for the warehouse", True),
    ("no match, FTS syntax", '"NEAR(orders* -x)"', True),
    ("rare match (one check's name)", "", False),  # the text is the name of a loaded check
    ("a phrase", "Connection refused", False),
    ("a common word", "error", False),
    ("two letters (not indexed)", "zq", False),
)


@dataclass(frozen=True)
class Size:
    issues: int
    checks: int
    samples: int


FULL = Size(100_000, 20_000, 50)
QUICK = Size(10_000, 2_000, 20)


def log_lines() -> list[str]:
    lines: list[str] = []
    for path in sorted(LOGHUB.glob("*/*_2k.log_structured.csv")):
        with path.open(newline="", encoding="utf-8", errors="replace") as fh:
            lines += [row["Content"].strip() for row in csv.DictReader(fh) if row["Content"]]
    return lines


def check_keys(rng: random.Random, n: int) -> list[str]:
    keys = []
    for i in range(n):
        area, verb = AREAS[i % len(AREAS)], VERBS[rng.randrange(len(VERBS))]
        shape = i % 3
        if shape == 0:
            keys.append(f"tests/{area}/test_{verb}.py::test_{verb}_{area}_{i}")
        elif shape == 1:
            keys.append(f"test.acme.not_null_stg_{area}_{i}_id")
        else:
            keys.append(f"tests/e2e/{area}.spec.ts > {area} {verb} page {i}")
    return keys


def load(engine: Engine, size: Size, console: Console) -> str:
    """Bulk-load the store; return the name of the check of an issue in the middle."""
    started = time.perf_counter()
    rng = random.Random(SEED)
    lines = log_lines()
    loader = Loader(engine)
    d = loader.dialect
    start = T_END - timedelta(days=90)
    repos = 20
    loader.insert(
        "repositories",
        ("id", "name", "priority_level", "created_at"),
        ((n + 1, f"acme/repo{n:02d}", "medium", _stamp(start, d)) for n in range(repos)),
    )
    keys = check_keys(rng, size.checks)
    loader.insert(
        "checks",
        ("id", "repository_id", "key", "created_at"),
        ((n + 1, n % repos + 1, key, _stamp(start, d)) for n, key in enumerate(keys)),
    )
    digits = re.compile(r"\d+")

    def issue_rows() -> Iterator[tuple[Any, ...]]:
        for i in range(size.issues):
            check = rng.randrange(size.checks)
            picked = [lines[rng.randrange(len(lines))] for _ in range(rng.choice((1, 1, 2, 3)))]
            message = "\n".join(
                digits.sub(lambda _m: str(rng.randrange(100_000)), line) for line in picked
            )
            template = normalize(message)
            seen = _stamp(start + timedelta(seconds=rng.randrange(90 * 86400)), d)
            yield (
                i + 1,
                check % repos + 1,
                hashlib.sha256(f"issue{i}".encode()).hexdigest(),
                2,
                "generic",
                "check",
                check + 1,
                f"{keys[check]} — {picked[0]}"[:300],
                template,
                hashlib.sha256(template.encode()).hexdigest()[:16],
                message,
                ("open", "triaged", "resolved", "auto_resolved")[i % 4],
                "code_fix_required",
                "test",
                "medium",
                "medium",
                "recurring",
                "one_off_fix",
                "",
                0.9,
                "rules",
                seen,
                seen,
                1,
                1,
                seen,
                seen,
            )

    rows = list(issue_rows())
    loader.insert(
        "issues",
        (
            *("id", "repository_id", "fingerprint", "normalizer_version", "source", "scope"),
            *("check_id", "title", "template", "template_hash", "sample_message", "state"),
            *("category", "kind", "severity", "priority", "history_class", "decision"),
            *("rationale", "confidence", "classification_source", "first_seen", "last_seen"),
            *("occurrences", "checks_count", "created_at", "updated_at"),
        ),
        iter(rows),
    )
    loader.insert(
        "issue_checks",
        ("issue_id", "check_id", "first_seen", "last_seen", "occurrences"),
        ((r[0], r[6], r[21], r[22], 1) for r in rows),
    )
    console.print(
        f"  loaded {size.issues:,} issues in {time.perf_counter() - started:.0f} s "
        f"({len(lines):,} log lines to draw from)"
    )
    middle: int = rows[len(rows) // 2][6]
    return keys[middle - 1]


def store_mb(engine: Engine) -> float:
    with engine.connect() as conn:
        if engine.dialect.name == "postgresql":
            size = conn.execute(sa.text("SELECT pg_database_size(current_database())")).scalar()
        else:
            pages = conn.exec_driver_sql("PRAGMA page_count").scalar() or 0
            size = pages * (conn.exec_driver_sql("PRAGMA page_size").scalar() or 0)
    return float(size or 0) / 1e6


def scan_page(session: Session, needle: str) -> list[Any]:
    """The peer: the first page as ``search_issues`` read it before the index."""
    i = t.issues.c
    rows = (
        session.execute(
            select(*_ISSUE_COLUMNS)
            .join(t.repositories, t.repositories.c.id == i.repository_id)
            .where(contains(ISSUES, needle))
            .order_by(i.last_seen.desc(), i.id.desc())
            .limit(51)
        )
        .mappings()
        .all()
    )
    return _issue_views(session, rows[:50])


@dataclass
class Row:
    backend: str
    what: str
    path: str
    found: int
    times: list[float]
    judged: bool = False

    @property
    def p50(self) -> float:
        return statistics.median(self.times)

    @property
    def p95(self) -> float:
        ordered = sorted(self.times)
        return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]


def timed(engine: Engine, call: Callable[[Session], Sequence[Any]], samples: int) -> Row:
    times: list[float] = []
    found = 0
    warmups = min(3, samples)
    for n in range(samples + warmups):
        with Session(engine) as session:
            started = time.perf_counter()
            found = len(call(session))
            elapsed = (time.perf_counter() - started) * 1000
        if n >= warmups:
            times.append(elapsed)
    return Row("", "", "", found, times)


Call = Callable[[Session], Sequence[Any]]


def api_q(needle: str) -> Call:
    query = queries.IssueQuery(text=needle)
    return lambda s: queries.search_issues(session=s, query=query, limit=50).items


def scan_q(needle: str) -> Call:
    return lambda s: scan_page(s, needle)


def checks_q(needle: str) -> Call:
    return lambda s: queries.list_checks(session=s, text=needle, limit=50).items


def dashboard_q(needle: str) -> Call:
    return lambda s: dashboard_search(s, queries.IssueQuery(), needle)


class Rows(list[Row]):
    """The rows of one backend, added as they are timed."""

    def __init__(self, engine: Engine, backend: str) -> None:
        super().__init__()
        self.engine, self.backend = engine, backend

    def add(self, what: str, path: str, call: Call, samples: int, judged: bool = False) -> None:
        row = timed(self.engine, call, samples)
        row.backend, row.what, row.path, row.judged = self.backend, what, path, judged
        self.append(row)


def texts(rare: str) -> list[tuple[str, str, bool]]:
    return [(label, text or rare, judged) for label, text, judged in QUERIES]


def measure_scan(rows: Rows, samples: int, rare: str) -> None:
    """The peer, before migration 0019: every text by the plain test (fewer calls: slow)."""
    for label, needle, _ in texts(rare):
        rows.add(f"q: {label}", SCAN, scan_q(needle), min(samples, PEER_SAMPLES))


def measure_indexed(rows: Rows, samples: int, rare: str) -> None:
    postgres = rows.engine.dialect.name == "postgresql"
    for label, needle, judged in texts(rare):
        rows.add(f"q: {label}", "indexed", api_q(needle), samples, judged)
        if postgres:  # the plain test again: ILIKE, which the GIN index serves when chosen
            rows.add(f"q: {label}", "planner's choice", scan_q(needle), samples)
    for label, needle in (("no match", "zz-absent"), ("a name", "not_null_stg_orders_9")):
        rows.add(f"checks q: {label}", "indexed", checks_q(needle), samples)
    for label, needle in (("no match", "zz-absent"), ("a typo", "Conection refused")):
        rows.add(f"dashboard search: {label}", "indexed + window", dashboard_q(needle), samples)


def run_backend(url: str, backend: str, size: Size, console: Console) -> tuple[list[Row], str]:
    console.print(f"[bold]{backend}[/bold]")
    engine = db.make_engine(url)
    try:
        db.upgrade(engine, "0018")
        rare = load(engine, size, console)
        if engine.dialect.name == "postgresql":
            with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                conn.exec_driver_sql("VACUUM ANALYZE")
        before = store_mb(engine)
        rows = Rows(engine, backend)
        measure_scan(rows, size.samples, rare)
        started = time.perf_counter()
        db.upgrade(engine, "0019")  # builds and fills the index
        built = time.perf_counter() - started
        db.upgrade(engine)  # later revisions (untimed): the code below reads the head schema
        if engine.dialect.name == "postgresql":
            with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                conn.exec_driver_sql("ANALYZE")
        after = store_mb(engine)
        note = (
            f"{backend}: migration 0019 built the index in {built:.1f} s; store {before:.0f} MB "
            f"-> {after:.0f} MB (+{after - before:.0f} MB)"
        )
        console.print("  " + note)
        measure_indexed(rows, size.samples, rare)
        order = {key: n for n, key in enumerate(dict.fromkeys(r.what for r in rows))}
        return sorted(rows, key=lambda r: order[r.what]), note
    finally:
        engine.dispose()


def report(rows: list[Row], console: Console, notes: list[str]) -> None:
    table = Table(title="Free-text search (ms per call)", title_justify="left")
    for name in ("backend", "query", "path", "found", "p50", "p95", "scan p95 / this"):
        table.add_column(name, justify="right" if name in ("found", "p50", "p95") else "left")
    peers = {(r.backend, r.what): r for r in rows if r.path == SCAN}
    for r in rows:
        peer = peers.get((r.backend, r.what))
        ratio = f"{peer.p95 / r.p95:.0f}x" if peer is not None and r is not peer else ""
        mark = " *" if r.judged and r.p95 >= TARGET_MS else ""
        table.add_row(
            r.backend, r.what, r.path, str(r.found), f"{r.p50:.1f}", f"{r.p95:.1f}{mark}", ratio
        )
    console.print(table)
    for note in notes:
        console.print(note, highlight=False)
    judged = [r for r in rows if r.judged]
    backends = list(dict.fromkeys(r.backend for r in rows))
    worst = {b: max((r.p95 for r in judged if r.backend == b), default=0.0) for b in backends}
    no_match = {(r.backend, r.what) for r in judged}
    scans = {
        b: max(
            (r.p95 for (rb, what), r in peers.items() if rb == b and (b, what) in no_match),
            default=0.0,
        )
        for b in backends
    }
    met = all(r.p95 < TARGET_MS for r in judged)
    figures = "; ".join(
        f"{b} no match p95 <= {worst[b]:.1f} ms (the scan before: up to {scans[b]:.0f} ms)"
        for b in worst
    )
    console.print(
        f"SUMMARY search: {figures}; target no match < {TARGET_MS:.0f} ms: "
        f"{'met' if met else 'MISSED'}",
        highlight=False,
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="10,000 issues (a smoke run)")
    parser.add_argument("--backend", choices=("sqlite", "postgresql", "both"), default="both")
    parser.add_argument("--samples", type=int, default=None, help="calls per query")
    args = parser.parse_args(argv)
    if not LOGHUB.is_dir():
        print(f"Loghub-2k not found at {LOGHUB} (see ../shared/data/README.md)", file=sys.stderr)
        return 2
    size = QUICK if args.quick else FULL
    if args.samples:
        size = Size(size.issues, size.checks, args.samples)
    console = Console(width=None if sys.stdout.isatty() else 140)
    console.print(f"{size.issues:,} issues, {size.samples} calls per query", highlight=False)
    rows: list[Row] = []
    notes: list[str] = []
    with tempfile.TemporaryDirectory(prefix="triagehub-search-") as tmp:
        if args.backend in ("sqlite", "both"):
            found, note = run_backend(f"sqlite:///{Path(tmp) / 's.db'}", "SQLite", size, console)
            rows, notes = rows + found, [*notes, note]
        if args.backend in ("postgresql", "both"):
            pg = Postgres(os.environ.get(PG_ENV, PG_DEFAULT))
            try:
                version = pg.create()
                label = f"PostgreSQL {version.split()[0]}"
                found, note = run_backend(pg.url, label, size, console)
                rows, notes = rows + found, [*notes, note]
            except sa.exc.OperationalError as exc:
                notes.append(f"PostgreSQL not measured: {exc.orig}")
            finally:
                pg.drop()
    report(rows, console, notes)
    return 0


if __name__ == "__main__":
    sys.exit(main())
