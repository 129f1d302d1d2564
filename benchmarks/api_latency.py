"""API latency benchmark: p50/p95 of the REST API's main list and detail queries with common
filters, on 100,000 issues and 1,000,000 occurrences, on SQLite and on PostgreSQL.

Run it as ``.venv/bin/python benchmarks/api_latency.py [--quick]``. The store is filled by bulk
inserts straight into the tables (rows shaped like the pipeline's, from a seeded
``random.Random``), outside the timings. Each query is then timed two ways in the same process:
through the query functions of ``triagehub.store.queries`` (a fresh session per call, as the API
opens one per request) and through the HTTP app (FastAPI's TestClient, in process: routing,
validation, auth check, JSON rendering). Then the judged lists a third way, "server": against a
real ``triagehub serve`` (uvicorn in a subprocess, on loopback, one kept-alive connection), with
``GET /healthz`` on the same server as its peer. Both backends run one after the other.

Targets: p95 < 50 ms for every list and detail query through the query functions and the app
(issue acceptance; the brief's bar is 100 ms), and p95 < 10 ms for every list against the real
server (issue #24), on SQLite and on PostgreSQL. Free-text search (``q``, by the index of
migration 0019; its own benchmark is ``search.py``) is reported but not judged.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import sqlalchemy as sa
from fastapi.testclient import TestClient
from rich.console import Console
from rich.table import Table
from sqlalchemy import Engine
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from triagehub.api.app import WebhookConfig, create_app
from triagehub.config import Settings
from triagehub.store import queries
from triagehub.store.db import normalize_url, open_database

PG_ENV = "TRIAGEHUB_TEST_POSTGRES_URL"
PG_DEFAULT = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
TARGET_P95_MS = 50.0
SERVER_TARGET_P95_MS = 10.0  # issue #24: the issues list against a real server
WARMUP = 10  # calls per query before the timed ones
SEED = 20261122
T_END = datetime(2026, 11, 22, tzinfo=UTC)
DAYS = 90


@dataclass(frozen=True)
class Size:
    repositories: int
    checks_per_repository: int
    runs_per_repository: int
    issues: int
    occurrences: int
    patterns: int
    samples: int


FULL = Size(20, 1000, 1000, 100_000, 1_000_000, 5000, 200)
QUICK = Size(10, 200, 400, 10_000, 100_000, 500, 60)

STATES = (
    ("open", 30),
    ("triaged", 10),
    ("assigned", 10),
    ("in_progress", 5),
    ("resolved", 25),
    ("auto_resolved", 15),
    ("ignored", 3),
    ("regressed", 2),
)
CATEGORIES = (
    ("code_fix_required", 45),
    ("transient_failure", 20),
    ("data_quality_issue", 15),
    ("infrastructure_issue", 15),
    ("false_positive", 5),
)
KINDS = ("test", "lint", "build", "timeout", "infrastructure", "data_test", "schema", "dependency")
LEVELS = (("critical", 5), ("high", 20), ("medium", 55), ("low", 20))
HISTORY = (("new", 40), ("recurring", 35), ("persistent", 10), ("flaky", 15))
DECISIONS = (("one_off_fix", 50), ("needs_spec", 20), ("ignore", 10), ("pending", 20))
PEOPLE = tuple(f"dev{n:02d}" for n in range(20))
WORDS = [
    "orders",
    "customers",
    "payments",
    "invoices",
    "session",
    "cache",
    "queue",
    "worker",
    "login",
    "checkout",
    "search",
    "report",
    "export",
    "import",
    "billing",
    "ledger",
    "shipment",
    "inventory",
    "profile",
    "token",
]
TEMPLATES = (
    "AssertionError: assert <num> == <num> in test_{w}",
    "Got <num> results, configured to fail if != 0 (unique_{w}_id)",
    "Connection refused: connect to <ip>:<num> ({w} service)",
    "TimeoutError: {w} did not answer within <duration>",
    "src/{w}/module.py:<num>:<num>: F401 `{w}` imported but unused",
    "KeyError: '{w}' while building the {w} payload",
    "Compilation Error in model {w}: column <id> does not exist",
    "ERROR: Could not find a version that satisfies the requirement {w}==<num>",
)


def _pick(rng: random.Random, weighted: Sequence[tuple[str, int]]) -> str:
    return rng.choices([v for v, _ in weighted], weights=[w for _, w in weighted])[0]


def _stamp(dt: datetime, dialect: str) -> Any:
    """A datetime as the store writes it (SQLite: UTC text; PostgreSQL: timestamptz)."""
    if dialect == "sqlite":
        return dt.replace(tzinfo=None).isoformat(sep=" ", timespec="microseconds")
    return dt


# -- loading --------------------------------------------------------------------------------------


class Loader:
    """Bulk inserts through the DBAPI: ``executemany`` on SQLite, ``COPY`` on PostgreSQL."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.dialect = engine.dialect.name

    def insert(self, table: str, columns: Sequence[str], rows: Iterator[tuple[Any, ...]]) -> int:
        raw = self.engine.raw_connection()
        count = 0
        try:
            cur = raw.cursor()
            if self.dialect == "postgresql":
                names = ", ".join(columns)
                with cur.copy(f"COPY {table} ({names}) FROM STDIN") as copy:
                    for row in rows:
                        copy.write_row(row)
                        count += 1
            else:
                marks = ", ".join("?" for _ in columns)
                sql = f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})"
                batch: list[tuple[Any, ...]] = []
                for row in rows:
                    batch.append(row)
                    if len(batch) >= 50_000:
                        cur.executemany(sql, batch)
                        count += len(batch)
                        batch.clear()
                if batch:
                    cur.executemany(sql, batch)
                    count += len(batch)
            raw.commit()
        finally:
            raw.close()
        return count


@dataclass
class Loaded:
    issues: int
    occurrences: int
    repositories: list[str]
    seconds: float


def load(engine: Engine, size: Size, console: Console) -> Loaded:
    rng = random.Random(SEED)
    loader = Loader(engine)
    d = loader.dialect
    started = time.perf_counter()
    start = T_END - timedelta(days=DAYS)
    repos = [f"acme/repo{n:02d}" for n in range(size.repositories)]

    loader.insert(
        "repositories",
        ("id", "name", "priority_level", "created_at"),
        (
            (n + 1, name, ("critical", "high", "medium", "low")[n % 4], _stamp(start, d))
            for n, name in enumerate(repos)
        ),
    )
    n_checks = size.repositories * size.checks_per_repository
    kinds_of_check = (
        "tests/test_{w}.py::test_{n}",
        "dbt test / test.{w}_{n}",
        "CI / lint / {w}{n}",
    )
    check_keys = [
        kinds_of_check[c % 3].format(w=WORDS[c % len(WORDS)], n=c) for c in range(n_checks)
    ]
    loader.insert(
        "checks",
        ("id", "repository_id", "key", "created_at"),
        (
            (c + 1, c // size.checks_per_repository + 1, check_keys[c], _stamp(start, d))
            for c in range(n_checks)
        ),
    )
    n_runs = size.repositories * size.runs_per_repository
    run_times = [
        start
        + timedelta(
            seconds=DAYS * 86400 * (r % size.runs_per_repository) / size.runs_per_repository
        )
        for r in range(n_runs)
    ]
    loader.insert(
        "runs",
        (
            "id",
            "repository_id",
            "source",
            "external_id",
            "attempt",
            "commit_sha",
            "branch",
            "status",
            "started_at",
            "finished_at",
            "occurred_at",
            "ingested_at",
            "results_total",
            "results_failed",
            "storm",
            "digest",
        ),
        (
            (
                r + 1,
                r // size.runs_per_repository + 1,
                ("github-actions", "dbt", "junit", "playwright")[r % 4],
                str(100_000 + r),
                1,
                hashlib.sha1(str(r).encode()).hexdigest(),
                "main" if r % 3 else "feature/x",
                "failure",
                _stamp(run_times[r], d),
                _stamp(run_times[r] + timedelta(minutes=5), d),
                _stamp(run_times[r], d),
                _stamp(run_times[r] + timedelta(minutes=6), d),
                120,
                50,
                False,
                hashlib.sha256(str(r).encode()).hexdigest(),
            )
            for r in range(n_runs)
        ),
    )
    loader.insert(
        "patterns",
        (
            "id",
            "key",
            "template",
            "template_hash",
            "normalizer_version",
            "issues_count",
            "occurrences",
            "first_seen",
            "last_seen",
            "created_at",
            "updated_at",
        ),
        (
            (
                p + 1,
                hashlib.sha256(f"p{p}".encode()).hexdigest(),
                TEMPLATES[p % len(TEMPLATES)].format(w=WORDS[p % len(WORDS)]),
                hashlib.sha256(f"p{p}".encode()).hexdigest()[:16],
                1,
                0,
                0,
                _stamp(start, d),
                _stamp(T_END, d),
                _stamp(start, d),
                _stamp(T_END, d),
            )
            for p in range(size.patterns)
        ),
    )

    # Occurrences per issue: skewed (most issues a few, some many), at most one per run of
    # the issue's share of its repository's runs; the total is exact.
    issues_per_check = max(1, size.issues // n_checks)
    share = size.runs_per_repository // issues_per_check
    counts = [min(share, max(1, int(rng.lognormvariate(1.6, 1.0)))) for _ in range(size.issues)]
    missing = size.occurrences - sum(counts)
    while missing != 0:
        i = rng.randrange(size.issues)
        if missing > 0 and counts[i] < share:
            counts[i] += 1
            missing -= 1
        elif missing < 0 and counts[i] > 1:
            counts[i] -= 1
            missing += 1

    issue_rows: list[tuple[Any, ...]] = []
    runs_of: list[list[int]] = []
    for i in range(size.issues):
        check = i % n_checks
        repo = check // size.checks_per_repository
        slot = i // n_checks  # which of the check's issues this is
        local = [r for r in range(slot, size.runs_per_repository, issues_per_check)]
        chosen = sorted(rng.sample(local, counts[i]))
        run_ids = [repo * size.runs_per_repository + r + 1 for r in chosen]
        runs_of.append(run_ids)
        first = run_times[run_ids[0] - 1]
        last = run_times[run_ids[-1] - 1]
        word = WORDS[rng.randrange(len(WORDS))]
        template = TEMPLATES[rng.randrange(len(TEMPLATES))].format(w=word)
        sample = template.replace("<num>", str(rng.randrange(1000))).replace("<ip>", "10.0.0.7")
        state = _pick(rng, STATES)
        closed = state in ("resolved", "auto_resolved", "ignored")
        priority = _pick(rng, LEVELS)
        issue_rows.append(
            (
                i + 1,
                repo + 1,
                hashlib.sha256(f"issue{i}".encode()).hexdigest(),
                1,
                "github-actions",
                "check",
                check + 1,
                rng.randrange(size.patterns) + 1 if rng.random() < 0.5 else None,
                f"{check_keys[check]}: {sample}"[:300],
                template,
                hashlib.sha256(template.encode()).hexdigest()[:16],
                sample,
                state,
                _pick(rng, CATEGORIES),
                KINDS[rng.randrange(len(KINDS))],
                priority,
                priority,
                _pick(rng, HISTORY),
                _pick(rng, DECISIONS),
                "rule test_failures: a failing test",
                0.9,
                "rules",
                "qa-expert",
                PEOPLE[rng.randrange(len(PEOPLE))] if rng.random() < 0.3 else None,
                "[]",
                "{}",
                "[]",
                "{}",
                _stamp(first, d),
                _stamp(last, d),
                counts[i],
                1,
                _stamp(last + timedelta(hours=2), d) if closed else None,
                0,
                _stamp(first, d),
                _stamp(last, d),
            )
        )
    loader.insert(
        "issues",
        (
            "id",
            "repository_id",
            "fingerprint",
            "normalizer_version",
            "source",
            "scope",
            "check_id",
            "pattern_id",
            "title",
            "template",
            "template_hash",
            "sample_message",
            "state",
            "category",
            "kind",
            "severity",
            "priority",
            "history_class",
            "decision",
            "rationale",
            "confidence",
            "classification_source",
            "expert",
            "assignee",
            "labels",
            "overrides",
            "affected_models",
            "escalations",
            "first_seen",
            "last_seen",
            "occurrences",
            "checks_count",
            "resolved_at",
            "escalation_level",
            "created_at",
            "updated_at",
        ),
        iter(issue_rows),
    )
    loader.insert(
        "issue_checks",
        ("issue_id", "check_id", "first_seen", "last_seen", "occurrences"),
        ((r[0], r[6], r[28], r[29], r[30]) for r in issue_rows),
    )
    loader.insert(
        "issue_events",
        ("issue_id", "kind", "at", "actor", "data"),
        (
            (r[0], kind, r[28], "triagehub", data)
            for r in issue_rows
            for kind, data in (
                ("created", json.dumps({"title": r[8], "scope": "check"})),
                ("classified", json.dumps({"category": r[13], "kind": r[14]})),
            )
        ),
    )
    del issue_rows

    def occurrence_rows() -> Iterator[tuple[Any, ...]]:
        pk = 0
        for i, run_ids in enumerate(runs_of):
            check = i % n_checks + 1
            for run_id in run_ids:
                pk += 1
                at = run_times[run_id - 1]
                yield (
                    pk,
                    i + 1,
                    run_id,
                    check,
                    "fail",
                    f"AssertionError: assert {pk % 977} == {pk % 13} in case {i}",
                    f"E   AssertionError\nE   assert {pk % 977} == {pk % 13}\n\nsrc/x.py:12",
                    "AssertionError: assert <num> == <num> in case <num>",
                    hashlib.sha256(f"issue{i}".encode()).hexdigest(),
                    1,
                    1.5,
                    _stamp(at, d),
                    "[]",
                )

    occurrences = loader.insert(
        "occurrences",
        (
            "id",
            "issue_id",
            "run_id",
            "check_id",
            "status",
            "message",
            "log_excerpt",
            "template",
            "fingerprint",
            "normalizer_version",
            "duration_s",
            "occurred_at",
            "links",
        ),
        occurrence_rows(),
    )
    loader.insert(
        "check_stats",
        (
            "check_id",
            "runs",
            "failures",
            "consecutive_failures",
            "last_status",
            "recent",
            "flaky",
            "flaky_clean_runs",
        ),
        ((c + 1, 100, 10, 0, "pass", 0b1011, c % 7 == 0, 0) for c in range(n_checks)),
    )
    with engine.begin() as conn:
        if d == "postgresql":
            for table in ("repositories", "checks", "runs", "patterns", "issues", "occurrences"):
                conn.execute(
                    sa.text(
                        f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                        f"(SELECT max(id) FROM {table}))"
                    )
                )
        if d == "sqlite":
            conn.execute(sa.text("ANALYZE"))  # what `PRAGMA optimize` gathers when it runs
    if d == "postgresql":
        # What autovacuum does to a store in use (statistics, visibility map); done here so
        # that it does not run in the middle of the measurements.
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(sa.text("VACUUM (ANALYZE)"))
    seconds = time.perf_counter() - started
    console.print(
        f"  loaded {size.issues:,} issues and {occurrences:,} occurrences in {seconds:.1f} s",
        highlight=False,
    )
    return Loaded(size.issues, occurrences, repos, seconds)


# -- measuring ------------------------------------------------------------------------------------


@dataclass
class Result:
    backend: str
    path: str  # "queries" or "http"
    name: str
    judged: bool
    times_ms: list[float]
    cpu_ms: float | None = None  # the server process's CPU time per request (server paths)

    @property
    def p50(self) -> float:
        return statistics.median(self.times_ms)

    @property
    def p95(self) -> float:
        ordered = sorted(self.times_ms)
        return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]

    @property
    def target(self) -> float:
        return SERVER_TARGET_P95_MS if self.path == "server" else TARGET_P95_MS

    @property
    def ok(self) -> bool:
        return self.p95 < self.target


@dataclass(frozen=True)
class Workload:
    name: str
    judged: bool
    params: Callable[[random.Random], dict[str, Any]]


def workloads(loaded: Loaded) -> list[Workload]:
    repo = loaded.repositories

    def r(rng: random.Random) -> str:
        return repo[rng.randrange(len(repo))]

    return [
        Workload("list: newest activity", True, lambda rng: {}),
        Workload("list: state=open", True, lambda rng: {"state": ["open"]}),
        Workload(
            "list: working states (4)",
            True,
            lambda rng: {"state": ["open", "triaged", "assigned", "regressed"]},
        ),
        Workload("list: repository", True, lambda rng: {"repository": [r(rng)]}),
        Workload(
            "list: repository + state=open",
            True,
            lambda rng: {"repository": [r(rng)], "state": ["open"]},
        ),
        Workload(
            "list: category + state",
            True,
            lambda rng: {"category": ["transient_failure"], "state": ["open"]},
        ),
        Workload(
            "list: priority critical + open, by priority",
            True,
            lambda rng: {"priority": ["critical"], "state": ["open"], "sort": "priority"},
        ),
        Workload("list: assignee", True, lambda rng: {"assignee": [PEOPLE[rng.randrange(20)]]}),
        Workload("list: last 7 days", True, lambda rng: {"since": T_END - timedelta(days=7)}),
        Workload("list: sort -occurrences", True, lambda rng: {"sort": "-occurrences"}),
        Workload("list: sort priority", True, lambda rng: {"sort": "priority"}),
        Workload("list: sort first_seen", True, lambda rng: {"sort": "first_seen"}),
        Workload("list: regressed (rare)", True, lambda rng: {"state": ["regressed"]}),
        Workload("list: page 10 (cursor)", True, lambda rng: {"_page": 10}),
        Workload("search: q=word", False, lambda rng: {"q": WORDS[rng.randrange(len(WORDS))]}),
        Workload("search: q=absent word", False, lambda rng: {"q": "zz-absent"}),
    ]


_QUERY_FIELDS = {
    "repository": "repositories",
    "state": "states",
    "category": "categories",
    "priority": "priorities",
    "assignee": "assignees",
}


def _query(params: dict[str, Any]) -> queries.IssueQuery:
    kwargs: dict[str, Any] = {}
    for key, value in params.items():
        if key in _QUERY_FIELDS:
            kwargs[_QUERY_FIELDS[key]] = tuple(value)
        elif key == "q":
            kwargs["text"] = value
        elif key in ("since", "sort"):
            kwargs[key] = value
    return queries.IssueQuery(**kwargs)


def _http_params(params: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in params.items():
        if key.startswith("_"):
            continue
        out[key] = value.isoformat() if isinstance(value, datetime) else value
    return out


def _cursor_of_page(engine: Engine, page: int) -> str | None:
    cursor = None
    with Session(engine) as session:
        for _ in range(page - 1):
            cursor = queries.search_issues(
                session=session, query=queries.IssueQuery(), limit=50, cursor=cursor
            ).next_cursor
    return cursor


def measure(engine: Engine, backend: str, loaded: Loaded, samples: int) -> list[Result]:
    results: list[Result] = []
    app = create_app(engine, Settings(), WebhookConfig(None, insecure=True), run_worker=False)
    deep = _cursor_of_page(engine, 10)
    with TestClient(app) as client:
        for work in workloads(loaded):
            for path in ("queries", "http"):
                rng = random.Random(SEED)
                times: list[float] = []
                for n in range(samples + WARMUP):
                    params = work.params(rng)
                    cursor = deep if params.get("_page") else None
                    started = time.perf_counter()
                    if path == "queries":
                        with Session(engine) as session:
                            page = queries.search_issues(
                                session=session, query=_query(params), limit=50, cursor=cursor
                            )
                        assert page.items or params.get("q") or params.get("assignee")
                    else:
                        query = _http_params(params)
                        if cursor:
                            query["cursor"] = cursor
                        answer = client.get("/api/v1/issues", params=query)
                        assert answer.status_code == 200, answer.text
                    if n >= WARMUP:  # warm-up calls are not counted
                        times.append((time.perf_counter() - started) * 1000)
                results.append(Result(backend, path, work.name, work.judged, times))
        for path in ("queries", "http"):
            for name in ("detail: issue + timeline + 20 occurrences", "detail: occurrences page"):
                rng = random.Random(SEED + 1)
                times = []
                for n in range(samples + WARMUP):
                    issue_id = rng.randrange(loaded.issues) + 1
                    started = time.perf_counter()
                    if name.startswith("detail: issue"):
                        if path == "queries":
                            with Session(engine) as session:
                                found = queries.get_issue(session=session, issue_id=issue_id)
                                queries.issue_lifecycle(session=session, issue_id=issue_id)
                            assert found is not None
                        else:
                            answer = client.get(f"/api/v1/issues/{issue_id}")
                            assert answer.status_code == 200, answer.text
                    elif path == "queries":
                        with Session(engine) as session:
                            queries.issue_occurrences(session=session, issue_id=issue_id)
                    else:
                        answer = client.get(f"/api/v1/issues/{issue_id}/occurrences")
                        assert answer.status_code == 200, answer.text
                    if n >= WARMUP:
                        times.append((time.perf_counter() - started) * 1000)
                results.append(Result(backend, path, name, True, times))
    return results


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _tree_env(src: Path | None) -> dict[str, str] | None:
    """The environment of a process that imports ``triagehub`` from ``src`` (None: this one's)."""
    return None if src is None else {**os.environ, "PYTHONPATH": str(src)}


def _serve(url: str, src: Path | None = None) -> tuple[subprocess.Popen[bytes], str]:
    """``triagehub serve`` (uvicorn, no worker, no monitor) on ``url``, answering; from the
    source tree ``src`` when given."""
    port = _free_port()
    command = [sys.executable, "-m", "triagehub", "--db", url, "serve", "--port", str(port)]
    command += ["--no-worker", "--no-monitor"]
    server = subprocess.Popen(
        command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=_tree_env(src)
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            httpx.get(f"{base}/healthz", timeout=1)
            return server, base
        except httpx.HTTPError:
            if time.monotonic() > deadline or server.poll() is not None:
                server.terminate()
                raise SystemExit("the server did not start") from None
            time.sleep(0.2)


def _cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (Linux ``/proc``; NaN elsewhere)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return float("nan")
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def measure_server(
    url: str, backend: str, loaded: Loaded, samples: int, src: Path | None = None
) -> list[Result]:
    """The judged lists against a real ``triagehub serve`` (a subprocess on loopback, one
    kept-alive connection, one request at a time); the peer is ``GET /healthz`` on the same
    server (a query of the database, the framework's and the connection's floor). Each row also
    has the server's CPU time per request. ``src``: serve another source tree (``--compare-src``;
    its rows are labelled with the tree and not judged)."""
    engine = open_database(url, migrate=src is None)
    try:
        deep = _cursor_of_page(engine, 10)
    finally:
        engine.dispose()
    tree = " (peer tree)" if src is not None else ""
    server, base = _serve(url, src)
    results: list[Result] = []
    try:
        with httpx.Client(base_url=base, timeout=30) as client:
            for work in workloads(loaded):
                if not work.judged:
                    continue
                rng = random.Random(SEED)
                times: list[float] = []
                cpu = 0.0
                for n in range(samples + WARMUP):
                    params = work.params(rng)
                    query = _http_params(params)
                    if params.get("_page") and deep:
                        query["cursor"] = deep
                    if n == WARMUP:
                        cpu = _cpu_seconds(server.pid)
                    started = time.perf_counter()
                    answer = client.get("/api/v1/issues", params=query)
                    if n >= WARMUP:
                        times.append((time.perf_counter() - started) * 1000)
                    assert answer.status_code == 200, answer.text
                cpu = _cpu_seconds(server.pid) - cpu
                results.append(
                    Result(
                        backend,
                        "server" + tree,
                        work.name,
                        src is None,
                        times,
                        cpu / samples * 1000,
                    )
                )
            times = []
            cpu = 0.0
            for n in range(samples + WARMUP):
                if n == WARMUP:
                    cpu = _cpu_seconds(server.pid)
                started = time.perf_counter()
                answer = client.get("/healthz")
                if n >= WARMUP:
                    times.append((time.perf_counter() - started) * 1000)
            cpu = _cpu_seconds(server.pid) - cpu
            results.append(
                Result(
                    backend,
                    "server peer" + tree,
                    "GET /healthz",
                    False,
                    times,
                    cpu / samples * 1000,
                )
            )
    finally:
        server.terminate()
        server.wait(timeout=30)
    return results


# -- backends -------------------------------------------------------------------------------------


class Postgres:
    """A throwaway database ``triagehub_bench_<pid>`` on the server, dropped by ``drop``."""

    def __init__(self, admin_url: str) -> None:
        self.admin_url = make_url(normalize_url(admin_url))
        self.name = f"triagehub_bench_{os.getpid()}"
        self.admin = sa.create_engine(self.admin_url, isolation_level="AUTOCOMMIT")
        self.created = False

    @property
    def url(self) -> str:
        return self.admin_url.set(database=self.name).render_as_string(hide_password=False)

    def create(self) -> str:
        with self.admin.connect() as conn:
            version = str(conn.execute(sa.text("SHOW server_version")).scalar_one())
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{self.name}"'))
            conn.execute(sa.text(f'CREATE DATABASE "{self.name}"'))
        self.created = True
        return version

    def drop(self) -> None:
        try:
            if self.created:
                with self.admin.connect() as conn:
                    conn.execute(
                        sa.text(
                            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                            "WHERE datname = :n AND pid <> pg_backend_pid()"
                        ),
                        {"n": self.name},
                    )
                    conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{self.name}"'))
                self.created = False
        finally:
            self.admin.dispose()


def _migrate_with(url: str, src: Path) -> None:
    """The store migrated to the newest revision of the source tree ``src``, by that tree."""
    script = (
        "import sys; from triagehub.store.db import open_database as o; o(sys.argv[1]).dispose()"
    )
    subprocess.run([sys.executable, "-c", script, url], env=_tree_env(src), check=True)


def run_backend(
    url: str,
    backend: str,
    size: Size,
    console: Console,
    peer_src: Path | None = None,
    in_process: bool = True,
) -> list[Result]:
    """Load, measure in process, then against a server. With ``peer_src`` (``--compare-src``)
    the store is first at that tree's schema and served by it, then migrated by this tree (its
    newer migrations, e.g. an index) and served by this one: before and after in one run."""
    console.print(f"[bold]{backend}[/bold]")
    results: list[Result] = []
    if peer_src is None:
        engine = open_database(url)
        loaded = load(engine, size, console)
    else:
        _migrate_with(url, peer_src)
        engine = open_database(url, migrate=False)
        try:
            loaded = load(engine, size, console)
        finally:
            engine.dispose()
        results += measure_server(url, backend, loaded, size.samples, peer_src)
        engine = open_database(url)
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(sa.text("ANALYZE"))  # the statistics of this tree's new indexes too
    try:
        if in_process:
            results += measure(engine, backend, loaded, size.samples)
    finally:
        engine.dispose()
    return results + measure_server(url, backend, loaded, size.samples)


# -- report ---------------------------------------------------------------------------------------


def report(results: list[Result], console: Console, quick: bool, notes: list[str]) -> int:
    table = Table(title="API latency (ms, per call)", title_justify="left")
    numbers = ("p50", "p95", "CPU/req")
    for column in ("backend", "via", "query", *numbers, "target", "verdict"):
        table.add_column(column, justify="right" if column in numbers else "left")
    for r in results:
        verdict = ("[green]PASS[/green]" if r.ok else "[red]MISS[/red]") if r.judged else "info"
        table.add_row(
            r.backend,
            r.path,
            r.name,
            f"{r.p50:.1f}",
            f"{r.p95:.1f}",
            f"{r.cpu_ms:.2f}" if r.cpu_ms is not None else "",
            f"p95 < {r.target:.0f}" if r.judged else "",
            verdict,
        )
    console.print(table)
    for note in notes:
        console.print(note, highlight=False)
    judged = [r for r in results if r.judged]
    met = sum(r.ok for r in judged)
    parts = []
    for backend in dict.fromkeys(r.backend for r in results):
        for path in ("queries", "http", "server"):
            mine = [r for r in judged if r.backend == backend and r.path == path]
            if not mine:
                continue
            if path == "server":
                parts += _server_summary(results, backend)
                continue
            worst = max(mine, key=lambda r: r.p95)
            lists = [r for r in mine if r.name.startswith("list")]
            details = [r for r in mine if r.name.startswith("detail")]
            parts.append(
                f"{backend} {path}: list p50 {statistics.median(r.p50 for r in lists):.1f} ms, "
                f"worst list p95 {max(r.p95 for r in lists):.1f} ms, detail p95 "
                f"{max(r.p95 for r in details):.1f} ms (worst: {worst.name} {worst.p95:.1f} ms)"
            )
    searches = [r for r in results if not r.judged and r.name.startswith("search")]
    if searches:
        parts.append(
            "search p95 "
            + ", ".join(
                f"{r.backend}/{r.path} {r.name.split(': ')[1].split(' ')[0]} {r.p95:.0f} ms"
                for r in searches
            )
            + " (not judged)"
        )
    mode = " [quick]" if quick else ""
    console.print(
        f"SUMMARY api_latency{mode}: "
        + "; ".join(parts)
        + f"; {met}/{len(judged)} p95 under target",
        soft_wrap=True,
        markup=False,
        highlight=False,
    )
    return len(judged) - met


def _server_summary(results: list[Result], backend: str) -> list[str]:
    """The server rows of a backend, this tree's and (``--compare-src``) the other tree's."""
    parts = []
    trees = dict.fromkeys(
        r.path[len("server") :]
        for r in results
        if r.backend == backend and r.path.startswith("server") and r.name.startswith("list")
    )
    for tree in trees:
        mine = [r for r in results if r.backend == backend and r.path == "server" + tree]
        floor = [r for r in results if r.backend == backend and r.path == "server peer" + tree]
        cpu = statistics.median(r.cpu_ms or 0.0 for r in mine)
        parts.append(
            f"{backend} server{tree}: list p50 "
            f"{statistics.median(r.p50 for r in mine):.1f} ms, worst list p95 "
            f"{max(r.p95 for r in mine):.1f} ms, CPU {cpu:.2f} ms/request "
            f"(target < {SERVER_TARGET_P95_MS:.0f}; peer GET /healthz p95 "
            f"{floor[0].p95 if floor else float('nan'):.1f} ms, CPU "
            f"{floor[0].cpu_ms if floor and floor[0].cpu_ms else float('nan'):.2f} ms)"
        )
    return parts


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="10,000 issues (a smoke run)")
    parser.add_argument(
        "--backend", choices=("sqlite", "postgresql", "both"), default="both", help="which store"
    )
    parser.add_argument("--samples", type=int, default=None, help="calls per query")
    parser.add_argument("--strict", action="store_true", help="exit 1 when a target is missed")
    parser.add_argument(
        "--compare-src",
        type=Path,
        metavar="DIR",
        help="also serve the store from this source tree first (e.g. main's src), at its schema",
    )
    parser.add_argument(
        "--server-only",
        action="store_true",
        help="skip the in-process measurements (queries and http): only the real servers",
    )
    args = parser.parse_args(argv)
    results: list[Result] = []
    notes: list[str] = []
    peer = args.compare_src.resolve() if args.compare_src else None
    if peer is not None:
        notes.append(f"peer tree (--compare-src): {peer}, at its own schema; then this tree's")
    size = QUICK if args.quick else FULL
    if args.samples:
        size = Size(**{**size.__dict__, "samples": args.samples})
    console = Console(width=None if sys.stdout.isatty() else 140)
    console.print(
        f"{size.issues:,} issues, {size.occurrences:,} occurrences, {size.repositories} "
        f"repositories, {size.samples} calls per query",
        highlight=False,
    )
    with tempfile.TemporaryDirectory(prefix="triagehub-bench-") as tmp:
        if args.backend in ("sqlite", "both"):
            url = f"sqlite:///{Path(tmp) / 'api.db'}"
            results += run_backend(url, "SQLite", size, console, peer, not args.server_only)
        if args.backend in ("postgresql", "both"):
            pg = Postgres(os.environ.get(PG_ENV, PG_DEFAULT))
            try:
                version = pg.create()
                notes.append(f"PostgreSQL {version}, database {pg.name} (dropped at the end)")
                results += run_backend(
                    pg.url, "PostgreSQL", size, console, peer, not args.server_only
                )
            except sa.exc.OperationalError as exc:
                notes.append(f"PostgreSQL not measured: {exc.orig}")
            finally:
                pg.drop()
    notes.append(f"load average at the end: {', '.join(f'{v:.1f}' for v in os.getloadavg())}")
    missed = report(results, console, args.quick, notes)
    return 1 if args.strict and missed else 0


if __name__ == "__main__":
    sys.exit(main())
