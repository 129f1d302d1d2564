"""Dashboard render benchmark: the server time of every dashboard page (p50/p95) on the API
benchmark's data set (100,000 issues, 1,000,000 occurrences, 20 repositories), on SQLite and on
PostgreSQL.

Run it as ``.venv/bin/python benchmarks/dashboard_render.py [--quick] [--backend ...]``. The
store is filled by ``api_latency.load`` (bulk inserts, outside the timings), plus 200 agent
sessions and an OpenSpec project of 30 changes that name issues. Each page is then fetched
through the whole app in process (FastAPI's TestClient: routing, the query functions, the Jinja2
render), a fresh request per sample, after three warm-up requests.

Target (issue acceptance): p95 < 200 ms for every page. The Health and Patterns pages read slow
aggregates (a second or more on this data) through the dashboard's cache: they are timed warm
(the figures cached) and cold (a date range never asked before: the page answers within its wait
budget with a placeholder and the figures are computed off the request path, whose time is
reported beside). Search (``q``) is judged, with a word, a typo and no match (every title and
message of the history is searched through the index of migration 0016).
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import sqlalchemy as sa
from fastapi.testclient import TestClient
from rich.console import Console
from rich.table import Table
from sqlalchemy import Engine
from sqlalchemy.orm import Session

sys.path.insert(0, str(Path(__file__).resolve().parent))
from api_latency import (
    FULL,
    QUICK,
    T_END,
    WORDS,
    Loaded,
    Postgres,
    Size,
    load,
)
from triagehub.api.app import WebhookConfig, create_app
from triagehub.clock import FixedClock
from triagehub.config import Settings
from triagehub.store import queries
from triagehub.store.db import open_database
from triagehub.work import agents

PG_ENV = "TRIAGEHUB_TEST_POSTGRES_URL"
PG_DEFAULT = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
TARGET_P95_MS = 200.0
SEED = 20261123
NOW = T_END  # the data set ends here; the app's clock stands at its end
SESSIONS = 200
CHANGES = 30


@dataclass
class Result:
    backend: str
    name: str
    judged: bool
    times_ms: list[float]

    @property
    def p50(self) -> float:
        return statistics.median(self.times_ms)

    @property
    def p95(self) -> float:
        ordered = sorted(self.times_ms)
        return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]

    @property
    def ok(self) -> bool:
        return self.p95 < TARGET_P95_MS


def add_sessions(engine: Engine, loaded: Loaded) -> str:
    """Agent sessions working on issues (a start and two tool calls each)."""
    rng = random.Random(SEED)
    key = ""
    with Session(engine) as session, session.begin():
        for n in range(SESSIONS):
            key = f"bench-session-{n:04d}"
            at = NOW - timedelta(minutes=SESSIONS - n)
            work = {
                "issue_id": rng.randrange(loaded.issues) + 1,
                "session_type": "error_remediation",
            }
            for m, event in enumerate(
                (
                    {"hook_event_name": "SessionStart", "cwd": f"/work/{WORDS[n % len(WORDS)]}"},
                    {"hook_event_name": "PreToolUse", "tool_name": "Bash", "tool_use_id": f"t{n}"},
                    {"hook_event_name": "PostToolUse", "tool_name": "Bash", "tool_use_id": f"t{n}"},
                )
            ):
                payload = {
                    "session_id": key,
                    **event,
                    "timestamp": (at + timedelta(seconds=m)).isoformat(),
                    "triagehub": {**work, "agent": "claude-code", "event_id": f"{key}-{m}"},
                }
                agents.ingest_hook(session, payload, now=at + timedelta(seconds=m))
    return key


def add_openspec(folder: Path, loaded: Loaded) -> Path:
    """An OpenSpec project of ``CHANGES`` changes whose proposals name issues."""
    rng = random.Random(SEED)
    root = folder / "specs"
    changes = root / "bench" / "openspec" / "changes"
    (root / "bench" / "openspec" / "specs").mkdir(parents=True)
    for n in range(CHANGES):
        change = changes / f"change-{n:03d}"
        change.mkdir(parents=True)
        issue = rng.randrange(loaded.issues) + 1
        (change / "proposal.md").write_text(
            f"## Why\ntriagehub issue #{issue} keeps failing.\n\n## What Changes\n"
            f"- Specify it and close triagehub issue #{issue}.\n",
            encoding="utf-8",
        )
        done = n % 4
        tasks = "\n".join(
            f"- [{'x' if t < done else ' '}] 1.{t + 1} step {t + 1}" for t in range(3)
        )
        (change / "tasks.md").write_text(f"## 1. Work\n{tasks}\n", encoding="utf-8")
    return root


def pending(html: str) -> bool:
    return "data-pending" in html


def settle(client: TestClient, path: str, timeout: float = 300.0) -> float:
    """Ask for ``path`` until its figures are computed; returns how long that took."""
    started = time.perf_counter()
    while True:
        answer = client.get(path)
        assert answer.status_code == 200, answer.text[:300]
        if not pending(answer.text):
            return time.perf_counter() - started
        if time.perf_counter() - started > timeout:
            raise TimeoutError(f"{path}: figures not computed in {timeout:.0f} s")
        time.sleep(0.2)


def constant(path: str) -> Callable[[int], str]:
    return lambda n: path


def timed(client: TestClient, paths: Callable[[int], str], samples: int) -> list[float]:
    times = []
    for n in range(samples + 3):
        path = paths(n)
        started = time.perf_counter()
        answer = client.get(path)
        elapsed = (time.perf_counter() - started) * 1000
        assert answer.status_code == 200, f"{path}: {answer.status_code} {answer.text[:300]}"
        if n >= 3:
            times.append(elapsed)
    return times


def measure(
    engine: Engine, backend: str, loaded: Loaded, samples: int, folder: Path, console: Console
) -> tuple[list[Result], list[str]]:
    session_key = add_sessions(engine, loaded)
    settings = Settings.model_validate({"openspec": {"roots": [str(add_openspec(folder, loaded))]}})
    app = create_app(
        engine,
        settings,
        WebhookConfig(None, insecure=True),
        clock=FixedClock(NOW),
        run_worker=False,
    )
    rng = random.Random(SEED)
    repos = loaded.repositories
    with Session(engine) as session:
        cursor = None
        query = queries.IssueQuery()
        for _ in range(9):
            cursor = queries.search_issues(
                session=session, query=query, limit=50, cursor=cursor
            ).next_cursor
    assert cursor
    week = (NOW - timedelta(days=7)).date()
    pages: list[tuple[str, bool, Callable[[int], str]]] = [
        ("All Work", True, lambda n: "/"),
        (
            "All Work: repository + priority",
            True,
            lambda n: f"/?repo={repos[n % len(repos)]}&priority=high",
        ),
        ("Errors", True, lambda n: "/errors"),
        (
            "Errors: repository + status",
            True,
            lambda n: f"/errors?repo={repos[n % len(repos)]}&status=open",
        ),
        (
            "Errors: 3 states, sort priority",
            True,
            lambda n: "/errors?status=open&status=triaged&status=regressed&sort=priority",
        ),
        ("Errors: date range", True, lambda n: f"/errors?since={week}&until={NOW.date()}"),
        ("Errors: page 10", True, lambda n: f"/errors?cursor={cursor}"),
        ("Errors: search q=word", True, lambda n: f"/errors?q={WORDS[n % 20]}"),
        ("Errors: search q with a typo", True, lambda n: "/errors?q=custmers"),
        ("Errors: search with no match", True, lambda n: "/errors?q=zz-absent"),
        ("Issue page", True, lambda n: f"/issues/{rng.randrange(loaded.issues) + 1}"),
        ("Specs", True, lambda n: "/specs"),
        ("Spec change", True, lambda n: f"/specs/bench/change-{n % CHANGES:03d}"),
        ("Sessions", True, lambda n: "/sessions"),
        ("Session", True, lambda n: f"/sessions/{session_key}"),
        ("Login", True, lambda n: "/login"),
    ]
    results: list[Result] = []
    notes: list[str] = []
    with TestClient(app) as client:
        for name, judged, paths in pages:
            results.append(Result(backend, name, judged, timed(client, paths, samples)))
        # Slow aggregates: the first computation (off the request path), then warm pages.
        for name, path in (("Health", "/health"), ("Patterns", "/patterns")):
            seconds = settle(client, path)
            notes.append(
                f"{backend}: {name} figures computed off the request path in {seconds:.1f} s"
            )
            results.append(
                Result(backend, f"{name} (warm)", True, timed(client, constant(path), samples))
            )
        one = f"/health?repo={repos[0]}"
        settle(client, one)
        results.append(
            Result(
                backend,
                "Health: one repository (warm)",
                True,
                timed(client, lambda n: one, samples),
            )
        )
        # Cold: a range never asked for; the placeholder answers, the figures follow.
        for name, path in (("Health", "/health"), ("Patterns", "/patterns")):
            times = []
            cold_samples = max(5, samples // 6)
            for n in range(cold_samples):
                day = (NOW - timedelta(days=30 + n)).date()
                url = f"{path}?since={day}"
                started = time.perf_counter()
                answer = client.get(url)
                times.append((time.perf_counter() - started) * 1000)
                assert answer.status_code == 200
                settle(client, url)  # let the computation finish outside the timing
            results.append(Result(backend, f"{name} (cold: placeholder)", True, times))
    console.print(f"  {backend}: measured {len(results)} pages", highlight=False)
    return results, notes


def run_backend(
    url: str, backend: str, size: Size, samples: int, folder: Path, console: Console
) -> tuple[list[Result], list[str]]:
    console.print(f"[bold]{backend}[/bold]")
    engine = open_database(url)
    try:
        loaded = load(engine, size, console)
        return measure(engine, backend, loaded, samples, folder, console)
    finally:
        engine.dispose()


def report(results: list[Result], notes: list[str], console: Console, quick: bool) -> int:
    table = Table(title="Dashboard server render time (ms, per page)", title_justify="left")
    for column in ("backend", "page", "p50", "p95", "target", "verdict"):
        table.add_column(column, justify="right" if column in ("p50", "p95") else "left")
    for r in results:
        verdict = ("[green]PASS[/green]" if r.ok else "[red]MISS[/red]") if r.judged else "info"
        table.add_row(
            r.backend,
            r.name,
            f"{r.p50:.1f}",
            f"{r.p95:.1f}",
            f"p95 < {TARGET_P95_MS:.0f}" if r.judged else "",
            verdict,
        )
    console.print(table)
    for note in notes:
        console.print(note, highlight=False)
    judged = [r for r in results if r.judged]
    met = sum(r.ok for r in judged)
    parts = []
    for backend in dict.fromkeys(r.backend for r in results):
        mine = [r for r in judged if r.backend == backend]
        worst = max(mine, key=lambda r: r.p95)
        parts.append(
            f"{backend}: median page p50 {statistics.median(r.p50 for r in mine):.1f} ms, "
            f"worst p95 {worst.p95:.1f} ms ({worst.name})"
        )
    mode = " [quick]" if quick else ""
    console.print(
        f"SUMMARY dashboard_render{mode}: "
        + "; ".join(parts)
        + f"; {met}/{len(judged)} pages p95 < {TARGET_P95_MS:.0f} ms",
        soft_wrap=True,
        markup=False,
        highlight=False,
    )
    return len(judged) - met


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="10,000 issues (a smoke run)")
    parser.add_argument(
        "--backend", choices=("sqlite", "postgresql", "both"), default="both", help="which store"
    )
    parser.add_argument("--samples", type=int, default=30, help="requests per page")
    parser.add_argument("--strict", action="store_true", help="exit 1 when a target is missed")
    args = parser.parse_args(argv)
    size = QUICK if args.quick else FULL
    console = Console(width=None if sys.stdout.isatty() else 140)
    console.print(
        f"{size.issues:,} issues, {size.occurrences:,} occurrences, {size.repositories} "
        f"repositories, {args.samples} requests per page",
        highlight=False,
    )
    results: list[Result] = []
    notes: list[str] = []
    with tempfile.TemporaryDirectory(prefix="triagehub-bench-") as tmp:
        if args.backend in ("sqlite", "both"):
            folder = Path(tmp) / "sqlite"
            folder.mkdir()
            url = f"sqlite:///{folder / 'dashboard.db'}"
            found, said = run_backend(url, "SQLite", size, args.samples, folder, console)
            results += found
            notes += said
        if args.backend in ("postgresql", "both"):
            pg = Postgres(os.environ.get(PG_ENV, PG_DEFAULT))
            folder = Path(tmp) / "postgresql"
            folder.mkdir()
            try:
                version = pg.create()
                notes.append(f"PostgreSQL {version}, database {pg.name} (dropped at the end)")
                found, said = run_backend(pg.url, "PostgreSQL", size, args.samples, folder, console)
                results += found
                notes += said
            except sa.exc.OperationalError as exc:
                notes.append(f"PostgreSQL not measured: {exc.orig}")
            finally:
                pg.drop()
    missed = report(results, notes, console, args.quick)
    return 1 if args.strict and missed else 0


if __name__ == "__main__":
    sys.exit(main())
