"""Ingest benchmark: results/s for failing and passing results on SQLite and PostgreSQL, and the
peak RSS of a process that ingests a 1,000,000-result JSON Lines file.

Run it as ``.venv/bin/python benchmarks/ingest.py [--quick]``. The data is generated into a
temporary directory with a seeded ``random.Random`` (the same bytes on every run); generation,
schema migration and a small warm-up ingest (the lazy imports) are outside the timings. Both
backends ingest the same file into a fresh, empty database in the same process, so that the
PostgreSQL/SQLite ratio holds on a noisy machine.

Targets (issue #24): >= 20,000 failing results/s and >= 50,000 passing results/s on SQLite,
PostgreSQL at >= 0.8x SQLite's rate, and a peak RSS under 200 MB (10^6 bytes) for the
1,000,000-result file, ingested in a process of its own and through the CLI.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import random
import resource
import sqlite3
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import sqlalchemy as sa
from rich.console import Console, JustifyMethod
from rich.table import Table
from sqlalchemy.engine import URL, make_url

sys.path.insert(0, str(Path(__file__).resolve().parent))
from benchlib import vm_hwm_kib
from triagehub.config import Settings
from triagehub.engine.ingest import IngestSummary, ingest_files
from triagehub.sources import get_format
from triagehub.store.db import normalize_url, open_database

PG_ENV = "TRIAGEHUB_TEST_POSTGRES_URL"
PG_DEFAULT = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"

TARGET_FAILING_PER_S = 20_000.0
TARGET_PASSING_PER_S = 50_000.0
TARGET_PG_RATE_RATIO = 0.8  # PostgreSQL at least 0.8x SQLite's rate
TARGET_RSS_MB = 200.0  # MB = 10^6 bytes

SEED = 20261121
REPOSITORIES = tuple(f"acme/repo{i}" for i in range(1, 6))
CHECKS_PER_REPOSITORY = 400  # ~2,000 checks in all
FAILING_RUN_SIZE = 50
PASSING_RUN_SIZE = 100
RSS_RUN_SIZE = 100
RSS_FAIL_SHARE = 0.02
BASE_TIME = datetime(2026, 11, 1, tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class Sizes:
    failing: int
    passing: int
    rss: int


FULL = Sizes(failing=20_000, passing=200_000, rss=1_000_000)
QUICK = Sizes(failing=4_000, passing=40_000, rss=100_000)


# -- data ---------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Check:
    """One check of the catalogue, with the failures it usually shows."""

    repository: str
    key: str
    subject: str  # the module, model, page or package its messages name
    primary: Template
    secondary: Template


Template = Callable[[random.Random, Check], str]


def _ip(rng: random.Random) -> str:
    return f"10.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(1, 255)}"


def _hex(rng: random.Random, n: int) -> str:
    return "".join(rng.choice("0123456789abcdef") for _ in range(n)) + "a1"


def _py_assert(rng: random.Random, c: Check) -> str:
    a, b = rng.randrange(100), rng.randrange(100)
    return (
        f"tests/{c.subject}.py:{rng.randrange(10, 400)}: in test_case\n"
        f"    assert result.total == expected\nAssertionError: assert {a} == {b}"
    )


def _py_status(rng: random.Random, c: Check) -> str:
    code = rng.choice((500, 502, 404, 422))
    return (
        f"AssertionError: unexpected status for /api/{c.subject}/{rng.randrange(10_000)}\n"
        f"assert {code} == 200\n +  where {code} = <Response [{code}]>.status_code"
    )


def _py_keyerror(rng: random.Random, c: Check) -> str:
    return f"KeyError: 'order-{rng.randrange(100_000)}' (while loading fixture {c.subject})"


def _py_typeerror(rng: random.Random, c: Check) -> str:
    return (
        f"TypeError: unsupported operand type(s) for +: 'int' and 'NoneType'\n"
        f'  File "src/acme/{c.subject}.py", line {rng.randrange(20, 900)}, in compute'
    )


def _py_tmpfile(rng: random.Random, c: Check) -> str:
    return (
        "FileNotFoundError: [Errno 2] No such file or directory: "
        f"'/tmp/pytest-of-runner/pytest-{rng.randrange(9999)}/test_{c.subject}0/out.json'"
    )


def _py_len(rng: random.Random, c: Check) -> str:
    return f"AssertionError: expected {rng.randrange(1, 9)} items, got {rng.randrange(10, 99)}"


def _py_uuid(rng: random.Random, c: Check) -> str:
    return f"LookupError: no {c.subject} with id {uuid.UUID(int=rng.getrandbits(128))}"


def _dbt_rows(rng: random.Random, c: Check) -> str:
    return f"Got {rng.randrange(1, 5000)} results, configured to fail if != 0"


def _dbt_column(rng: random.Random, c: Check) -> str:
    return (
        f"Database Error in test {c.subject} (models/staging/schema.yml)\n"
        f'  column "{c.subject.split("_")[-1]}_id" does not exist\n'
        f"  LINE {rng.randrange(1, 60)}: select count(*) as failures"
    )


def _dbt_relation(rng: random.Random, c: Check) -> str:
    return (
        f'Runtime Error in model {c.subject}: relation "analytics.stg_{c.subject}" does not exist'
        f" (query id {rng.randrange(10**9)})"
    )


def _dbt_freshness(rng: random.Random, c: Check) -> str:
    day = rng.randrange(1, 28)
    return (
        f"Source raw.{c.subject} is past due: max_loaded_at 2026-11-{day:02d} "
        f"0{rng.randrange(10)}:{rng.randrange(60):02d}:00 is older than 24 hours"
    )


def _dbt_compile(rng: random.Random, c: Check) -> str:
    return (
        f"Compilation Error in model {c.subject} (models/marts/{c.subject}.sql)\n"
        f"  'dbt_utils' is undefined. line {rng.randrange(1, 80)}"
    )


def _pw_timeout(rng: random.Random, c: Check) -> str:
    return "Test timeout of 30000ms exceeded."


def _pw_text(rng: random.Random, c: Check) -> str:
    return (
        "Error: expect(locator).toHaveText(expected) failed\n\n"
        f"Locator: getByRole('heading', {{ name: '{c.subject}' }})\n"
        f'Expected string: "Order #{rng.randrange(100_000)} confirmed"\n'
        'Received string: "Loading…"\nTimeout: 5000ms'
    )


def _pw_tobe(rng: random.Random, c: Check) -> str:
    return (
        "Error: expect(received).toBe(expected) // Object.is equality\n\n"
        f"Expected: {rng.randrange(100)}\nReceived: {rng.randrange(100)}"
    )


def _pw_click(rng: random.Random, c: Check) -> str:
    return (
        f"TimeoutError: locator.click: Timeout {rng.choice((5000, 10000, 15000))}ms exceeded.\n"
        f"  - waiting for getByTestId('{c.subject}-submit')"
    )


def _ruff(rng: random.Random, c: Check) -> str:
    return (
        f"src/acme/{c.subject}.py:{rng.randrange(1, 900)}:{rng.randrange(1, 100)}: "
        f"E501 Line too long ({rng.randrange(101, 180)} > 100)\n"
        f"Found {rng.randrange(1, 40)} errors."
    )


def _mypy(rng: random.Random, c: Check) -> str:
    return (
        f"src/acme/{c.subject}.py:{rng.randrange(1, 900)}: error: Incompatible return value type "
        '(got "str | None", expected "str")  [return-value]\n'
        f"Found {rng.randrange(1, 30)} errors in {rng.randrange(1, 9)} files"
    )


def _format(rng: random.Random, c: Check) -> str:
    return (
        f"Would reformat: src/acme/{c.subject}.py\n"
        f"{rng.randrange(1, 20)} files would be reformatted, {rng.randrange(50, 400)} files "
        "already formatted"
    )


def _pip(rng: random.Random, c: Check) -> str:
    version = f"{rng.randrange(1, 5)}.{rng.randrange(20)}.{rng.randrange(10)}"
    return (
        f"ERROR: Could not find a version that satisfies the requirement acme-{c.subject}=="
        f"{version} (from versions: none)\nERROR: No matching distribution found"
    )


def _tsc(rng: random.Random, c: Check) -> str:
    return (
        f"src/{c.subject}.ts({rng.randrange(1, 500)},{rng.randrange(1, 80)}): error TS2322: "
        "Type 'string' is not assignable to type 'number'."
    )


def _deploy(rng: random.Random, c: Check) -> str:
    return (
        f"Deployment failed: pod {c.subject}-{_hex(rng, 8)}-{rng.randrange(10_000)} is in "
        f"CrashLoopBackOff (restarts: {rng.randrange(1, 30)})"
    )


def _conn_refused(rng: random.Random, c: Check) -> str:
    return (
        f'psycopg.OperationalError: connection to server at "{_ip(rng)}", port 5432 failed: '
        "Connection refused\n\tIs the server running on that host and accepting TCP/IP "
        "connections?"
    )


def _econnrefused(rng: random.Random, c: Check) -> str:
    return f"Error: connect ECONNREFUSED {_ip(rng)}:{rng.randrange(1024, 65535)}"


def _curl(rng: random.Random, c: Check) -> str:
    return (
        f"curl: (7) Failed to connect to {_ip(rng)} port {rng.randrange(1024, 65535)} after "
        f"{rng.randrange(1, 3000)} ms: Connection refused"
    )


def _http_503(rng: random.Random, c: Check) -> str:
    return (
        "requests.exceptions.HTTPError: 503 Server Error: Service Unavailable for url: "
        f"https://registry.acme.dev/v2/packages/{rng.randrange(10**6)}"
    )


def _disk_full(rng: random.Random, c: Check) -> str:
    return (
        "OSError: [Errno 28] No space left on device: "
        f"'/var/lib/docker/overlay2/{_hex(rng, 24)}/diff'"
    )


def _runner_lost(rng: random.Random, c: Check) -> str:
    return (
        "The runner has received a shutdown signal. This can happen when the runner service is "
        f"stopped, or a manually started runner is canceled. (job {rng.randrange(10**8)})"
    )


def _read_timeout(rng: random.Random, c: Check) -> str:
    return (
        f"httpx.ReadTimeout: timed out after {rng.randrange(5, 120)}s waiting for "
        f"{_ip(rng)}:{rng.randrange(1024, 65535)}"
    )


def _dns(rng: random.Random, c: Check) -> str:
    return (
        f"getaddrinfo EAI_AGAIN cache-{rng.randrange(1, 9)}.internal.acme.dev "
        f"(attempt {rng.randrange(1, 5)})"
    )


# Per family of check: (how the key is spelled, the failures its checks usually show).
FAMILIES: dict[str, tuple[Callable[[str, int], str], tuple[Template, ...]]] = {
    "pytest": (
        lambda subject, i: f"tests/unit/test_{subject}.py::test_case_{i}",
        (_py_assert, _py_status, _py_keyerror, _py_typeerror, _py_tmpfile, _py_len, _py_uuid),
    ),
    "dbt": (
        lambda subject, i: f"test.analytics.not_null_{subject}_{i}",
        (_dbt_rows, _dbt_column, _dbt_relation, _dbt_freshness, _dbt_compile),
    ),
    "playwright": (
        lambda subject, i: f"e2e/{subject}.spec.ts › flow {i} works",
        (_pw_timeout, _pw_text, _pw_tobe, _pw_click),
    ),
    "ci": (
        lambda subject, i: f"ci / {subject} ({i})",
        (_ruff, _mypy, _format, _pip, _tsc, _deploy),
    ),
}
FAMILY_WEIGHTS = {"pytest": 55, "dbt": 15, "playwright": 15, "ci": 15}
# Environmental failures: grouped per repository across checks.
ENVIRONMENTAL: tuple[Template, ...] = (
    _conn_refused,
    _econnrefused,
    _curl,
    _http_503,
    _disk_full,
    _runner_lost,
    _read_timeout,
    _dns,
)
SUBJECTS = (
    "orders",
    "billing",
    "users",
    "checkout",
    "inventory",
    "search",
    "auth",
    "reports",
    "shipping",
    "catalog",
    "payments",
    "notifications",
)


def catalogue(rng: random.Random) -> dict[str, list[Check]]:
    """~2,000 checks over the repositories, each with its two usual failure templates."""
    families = list(FAMILY_WEIGHTS)
    weights = [FAMILY_WEIGHTS[f] for f in families]
    checks: dict[str, list[Check]] = {}
    for repo in REPOSITORIES:
        seen: set[str] = set()
        repo_checks: list[Check] = []
        for i in range(CHECKS_PER_REPOSITORY):
            family = rng.choices(families, weights)[0]
            spell, templates = FAMILIES[family]
            subject = rng.choice(SUBJECTS)
            key = spell(subject, i)
            if key in seen:
                continue
            seen.add(key)
            primary, secondary = rng.sample(templates, 2)
            repo_checks.append(Check(repo, key, subject, primary, secondary))
        checks[repo] = repo_checks
    return checks


def failure_message(rng: random.Random, check: Check) -> str:
    roll = rng.random()
    if roll < 0.70:
        return check.primary(rng, check)
    if roll < 0.88:
        return check.secondary(rng, check)
    return rng.choice(ENVIRONMENTAL)(rng, check)


def generate_runs(
    rng: random.Random,
    checks: dict[str, list[Check]],
    *,
    total: int,
    run_size: int,
    fail_share: float,
    prefix: str,
) -> Iterator[dict[str, Any]]:
    """Runs of ``run_size`` distinct checks of one repository, ``total`` results in all."""
    produced = 0
    run_no = 0
    while produced < total:
        size = min(run_size, total - produced)
        repo = rng.choice(REPOSITORIES)
        results: list[dict[str, Any]] = []
        for check in rng.sample(checks[repo], size):
            duration = round(rng.uniform(0.005, 30.0), 3)
            if fail_share >= 1.0 or (fail_share > 0.0 and rng.random() < fail_share):
                results.append(
                    {
                        "check": check.key,
                        "status": "error" if rng.random() < 0.1 else "fail",
                        "message": failure_message(rng, check),
                        "duration_s": duration,
                    }
                )
            else:
                results.append({"check": check.key, "status": "pass", "duration_s": duration})
        finished = BASE_TIME + timedelta(seconds=37 * run_no)
        yield {
            "source": "generic",
            "repository": repo,
            "run": {
                "id": f"{prefix}-{run_no}",
                "attempt": 1,
                "commit": f"{rng.getrandbits(28):07x}",
                "branch": "main" if rng.random() < 0.8 else f"feature/{rng.choice(SUBJECTS)}",
                "finished_at": finished.strftime("%Y-%m-%dT%H:%M:%SZ"),
            },
            "results": results,
        }
        produced += size
        run_no += 1


def write_jsonl(path: Path, runs: Iterator[dict[str, Any]]) -> Path:
    """Stream the runs to ``path``, one per line (never the whole workload in memory)."""
    with path.open("wb") as fh:
        for run in runs:
            fh.write(orjson.dumps(run))
            fh.write(b"\n")
    return path


# -- measurement --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Measurement:
    workload: str
    backend: str
    results: int
    failures: int
    new_issues: int
    seconds: float

    @property
    def rate(self) -> float:
        return self.results / self.seconds if self.seconds > 0 else 0.0


def _checked(summary: IngestSummary, path: Path, expected: int) -> IngestSummary:
    if summary.errors:
        raise SystemExit(f"ingest of {path} failed: {'; '.join(str(e) for e in summary.errors)}")
    if summary.results != expected:
        raise SystemExit(f"ingest of {path} stored {summary.results} results, expected {expected}")
    return summary


def measure(workload: str, backend: str, url: str, path: Path, expected: int) -> Measurement:
    """Time ``ingest_files`` of one file into an empty, migrated database."""
    engine = open_database(url)
    settings = Settings()
    fmt = get_format("event")
    try:
        gc.collect()
        start = time.perf_counter()
        summary = ingest_files(engine, [path], settings, fmt=fmt)
        seconds = time.perf_counter() - start
    finally:
        engine.dispose()
    _checked(summary, path, expected)
    return Measurement(
        workload, backend, summary.results, summary.failures, summary.new_issues, seconds
    )


@dataclass(frozen=True, slots=True)
class RssResult:
    results: int
    failures: int
    new_issues: int
    seconds: float
    peak_kib: int  # getrusage(RUSAGE_CHILDREN).ru_maxrss after the child exited
    hwm_kib: int | None  # the child's own VmHWM (Linux /proc), a cross-check
    baseline_kib: int | None  # the child's VmHWM after imports and migration, before ingesting
    parent_kib: int  # the parent's peak RSS when it started the child

    @property
    def rate(self) -> float:
        return self.results / self.seconds if self.seconds > 0 else 0.0


def _kib(maxrss: int) -> int:
    """``ru_maxrss`` in KiB (Linux reports KiB, macOS bytes)."""
    return maxrss // 1024 if sys.platform == "darwin" else maxrss


def rss_child(path: Path, url: str) -> None:
    """The child side of the RSS measurement: ingest ``path`` and print a JSON line."""
    engine = open_database(url)
    settings = Settings()
    fmt = get_format("event")
    baseline = vm_hwm_kib()
    try:
        start = time.perf_counter()
        summary = ingest_files(engine, [path], settings, fmt=fmt)
        seconds = time.perf_counter() - start
    finally:
        engine.dispose()
    report = {
        "results": summary.results,
        "failures": summary.failures,
        "new_issues": summary.new_issues,
        "seconds": seconds,
        "baseline_kib": baseline,
        "hwm_kib": vm_hwm_kib(),
        "errors": [str(e) for e in summary.errors],
    }
    print(json.dumps(report))


def measure_rss(path: Path, url: str, expected: int) -> RssResult:
    """Ingest ``path`` in a child process and read its peak RSS after it exits.

    Linux carries the parent's peak RSS into the child's ``ru_maxrss`` across fork and exec, so
    this runs before the parent does anything large (it has only imported the same modules the
    child imports); the child's own ``VmHWM`` is reported beside it as a cross-check.
    """
    parent = _kib(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
    before = _kib(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
    proc = subprocess.run(
        [sys.executable, str(Path(__file__).resolve()), "--rss-child", str(path), url],
        capture_output=True,
        text=True,
        check=False,
    )
    peak = _kib(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
    if proc.returncode != 0:
        raise SystemExit(f"the RSS child failed (exit {proc.returncode}):\n{proc.stderr}")
    if before and peak <= before:
        raise SystemExit("cannot tell the RSS child's peak from an earlier child's")
    data = json.loads(proc.stdout.strip().splitlines()[-1])
    if data["errors"]:
        raise SystemExit(f"ingest of {path} failed: {'; '.join(data['errors'])}")
    if data["results"] != expected:
        raise SystemExit(f"ingest of {path} stored {data['results']} results, expected {expected}")
    return RssResult(
        results=int(data["results"]),
        failures=int(data["failures"]),
        new_issues=int(data["new_issues"]),
        seconds=float(data["seconds"]),
        peak_kib=peak,
        hwm_kib=data["hwm_kib"],
        baseline_kib=data["baseline_kib"],
        parent_kib=parent,
    )


# A fresh interpreter that imports only the standard library runs the CLI and reports the
# CLI's peak RSS: its own children's ``ru_maxrss``, which nothing large precedes (see measure_rss).
_CLI_WRAPPER = """
import json, resource, subprocess, sys, time
start = time.perf_counter()
proc = subprocess.run(sys.argv[1:], capture_output=True, text=True, check=False)
seconds = time.perf_counter() - start
print(json.dumps({
    "returncode": proc.returncode, "stdout": proc.stdout, "stderr": proc.stderr,
    "seconds": seconds,
    "peak": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss,
}))
"""


def measure_cli_rss(path: Path, url: str, expected: int) -> RssResult:
    """``triagehub --db URL ingest FILE --format event -o json`` in a process of its own: its
    peak RSS and its wall time (start-up and migration included)."""
    cli = [sys.executable, "-m", "triagehub", "--db", url, "ingest", str(path)]
    proc = subprocess.run(
        [sys.executable, "-c", _CLI_WRAPPER, *cli, "--format", "event", "-o", "json"],
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        raise SystemExit(f"the CLI wrapper failed (exit {proc.returncode}):\n{proc.stderr}")
    run = json.loads(proc.stdout)
    if run["returncode"] != 0:
        raise SystemExit(f"the CLI ingest failed (exit {run['returncode']}):\n{run['stderr']}")
    data = json.loads(run["stdout"])
    if data["results"] != expected:
        raise SystemExit(f"the CLI stored {data['results']} results of {path}, not {expected}")
    return RssResult(
        results=int(data["results"]),
        failures=int(data["failures"]),
        new_issues=int(data["new_issues"]),
        seconds=float(run["seconds"]),
        peak_kib=_kib(int(run["peak"])),
        hwm_kib=None,
        baseline_kib=None,
        parent_kib=0,  # the wrapper's own peak is not the CLI's (see _CLI_WRAPPER)
    )


class Postgres:
    """A throwaway database ``triagehub_bench_<random>`` on the server, dropped by ``drop``."""

    def __init__(self, admin_url: str) -> None:
        self.admin_url: URL = make_url(normalize_url(admin_url))
        self.name = f"triagehub_bench_{uuid.uuid4().hex[:12]}"
        self.admin = sa.create_engine(self.admin_url, isolation_level="AUTOCOMMIT")
        self.created = False

    @property
    def url(self) -> str:
        return self.admin_url.set(database=self.name).render_as_string(hide_password=False)

    def create(self) -> str:
        """Create the database; returns the server version."""
        with self.admin.connect() as conn:
            version = str(conn.execute(sa.text("SHOW server_version")).scalar_one())
            conn.execute(sa.text(f'CREATE DATABASE "{self.name}"'))
        self.created = True
        return version

    def reset(self) -> None:
        """Empty the database (the next ``open_database`` migrates it again)."""
        engine = sa.create_engine(self.url, isolation_level="AUTOCOMMIT")
        try:
            with engine.connect() as conn:
                conn.execute(sa.text("DROP SCHEMA public CASCADE"))
                conn.execute(sa.text("CREATE SCHEMA public"))
        finally:
            engine.dispose()

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


# -- report -------------------------------------------------------------------------------------


def _mb(kib: int) -> float:
    return kib * 1024 / 1_000_000


def _verdict(ok: bool) -> str:
    return "[green]PASS[/green]" if ok else "[red]MISS[/red]"


def _plain(ok: bool) -> str:
    return "PASS" if ok else "MISS"


@dataclass(frozen=True, slots=True)
class Pair:
    """One workload on both backends, with its SQLite target."""

    workload: str
    target: float
    sqlite: Measurement
    postgres: Measurement | None

    @property
    def sqlite_ok(self) -> bool:
        return self.sqlite.rate >= self.target

    @property
    def ratio(self) -> float | None:
        if self.postgres is None or self.sqlite.rate == 0:
            return None
        return self.postgres.rate / self.sqlite.rate

    @property
    def ratio_ok(self) -> bool:
        return self.ratio is not None and self.ratio >= TARGET_PG_RATE_RATIO


def render(
    console: Console,
    pairs: Sequence[Pair],
    rss: RssResult,
    cli: RssResult,
    rss_total: int,
    pg_note: str | None,
    quick: bool,
) -> int:
    """Print the table and the summary line; returns the number of missed targets."""
    table = Table(title="triagehub ingest" + (" (--quick)" if quick else ""))
    columns: tuple[tuple[str, JustifyMethod], ...] = (
        ("Workload", "left"),
        ("Backend", "left"),
        ("Results", "right"),
        ("Failing", "right"),
        ("New issues", "right"),
        ("Seconds", "right"),
        ("Figure", "right"),
        ("Target", "right"),
        ("", "center"),
    )
    for name, justify in columns:
        table.add_column(name, justify=justify)
    for p in pairs:
        s = p.sqlite
        table.add_row(
            p.workload,
            "SQLite",
            f"{s.results:,}",
            f"{s.failures:,}",
            f"{s.new_issues:,}",
            f"{s.seconds:.2f}",
            f"{s.rate:,.0f} results/s",
            f"≥ {p.target:,.0f} results/s",
            _verdict(p.sqlite_ok),
        )
        g = p.postgres
        if g is None:
            table.add_row(p.workload, "PostgreSQL", "", "", "", "", "not run", "", "[red]MISS")
            continue
        table.add_row(
            p.workload,
            "PostgreSQL",
            f"{g.results:,}",
            f"{g.failures:,}",
            f"{g.new_issues:,}",
            f"{g.seconds:.2f}",
            f"{g.rate:,.0f} results/s",
            "",
            "",
        )
        table.add_row(
            p.workload,
            "PostgreSQL/SQLite",
            "",
            "",
            "",
            "",
            f"{p.ratio or 0:.2f}x the rate",
            f"≥ {TARGET_PG_RATE_RATIO:.2f}x",
            _verdict(p.ratio_ok),
        )
    rss_ok = _mb(rss.peak_kib) < TARGET_RSS_MB
    label = f"{rss_total:,}-result file"
    table.add_row(
        label,
        "SQLite, child",
        f"{rss.results:,}",
        f"{rss.failures:,}",
        f"{rss.new_issues:,}",
        f"{rss.seconds:.2f}",
        f"peak RSS {_mb(rss.peak_kib):,.1f} MB",
        f"< {TARGET_RSS_MB:.0f} MB",
        _verdict(rss_ok),
    )
    table.add_row(label, "SQLite, child", "", "", "", "", f"{rss.rate:,.0f} results/s", "", "info")
    cli_ok = _mb(cli.peak_kib) < TARGET_RSS_MB
    table.add_row(
        label,
        "SQLite, CLI",
        f"{cli.results:,}",
        f"{cli.failures:,}",
        f"{cli.new_issues:,}",
        f"{cli.seconds:.2f}",
        f"peak RSS {_mb(cli.peak_kib):,.1f} MB",
        f"< {TARGET_RSS_MB:.0f} MB",
        _verdict(cli_ok),
    )
    console.print(table)
    notes = ["MB = 10^6 bytes; peak RSS is getrusage(RUSAGE_CHILDREN).ru_maxrss of the child"]
    if rss.hwm_kib is not None and rss.baseline_kib is not None:
        notes.append(
            f"the child's own VmHWM: {_mb(rss.hwm_kib):,.1f} MB "
            f"({_mb(rss.baseline_kib):,.1f} MB after imports and migration, before ingesting)"
        )
    notes.append(f"the parent's peak RSS when it started the child: {_mb(rss.parent_kib):,.1f} MB")
    notes.append(
        "the CLI row: `triagehub ingest` in a process of its own (its seconds include start-up "
        "and migration), run by a fresh standard-library wrapper that reads its children's "
        "ru_maxrss"
    )
    console.print("; ".join(notes), highlight=False)
    if pg_note:
        console.print(f"[yellow]PostgreSQL not measured: {pg_note}[/yellow]")

    parts: list[str] = []
    met = 0
    total = 0
    for p in pairs:
        total += 2
        met += int(p.sqlite_ok) + int(p.ratio_ok)
        pg = (
            f"PostgreSQL {p.postgres.rate:,.0f}/s ({p.ratio or 0:.2f}x, "
            f"≥{TARGET_PG_RATE_RATIO:.1f}x {_plain(p.ratio_ok)})"
            if p.postgres is not None
            else "PostgreSQL not run (MISS)"
        )
        parts.append(
            f"{p.workload} SQLite {p.sqlite.rate:,.0f}/s (≥{p.target:,.0f} "
            f"{_plain(p.sqlite_ok)}), {pg}"
        )
    total += 2
    met += int(rss_ok) + int(cli_ok)
    parts.append(
        f"{rss_total:,}-result file peak RSS {_mb(rss.peak_kib):,.1f} MB "
        f"(<{TARGET_RSS_MB:.0f} MB {_plain(rss_ok)}) at {rss.rate:,.0f} results/s, "
        f"through the CLI {_mb(cli.peak_kib):,.1f} MB ({_plain(cli_ok)})"
    )
    mode = " [quick]" if quick else ""
    # soft_wrap: the summary stays one line however narrow the terminal.
    console.print(
        f"SUMMARY ingest{mode}: " + "; ".join(parts) + f"; {met}/{total} targets met",
        soft_wrap=True,
        markup=False,
        highlight=False,
    )
    return total - met


# -- two trees side by side ------------------------------------------------------------------


def _server_cpu(url: str) -> float | None:
    """The CPU seconds of the PostgreSQL backends connected to ``url``'s database, read from
    ``/proc`` (None unless the server runs on this machine and its processes are readable)."""
    if not url.startswith("postgresql"):
        return None
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            pids = conn.execute(
                sa.text(
                    "SELECT pid FROM pg_stat_activity "
                    "WHERE datname = current_database() AND pid <> pg_backend_pid()"
                )
            ).scalars()
            ticks = 0
            for pid in pids:
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
                ticks += int(fields[11]) + int(fields[12])  # utime + stime
    except OSError:
        return None
    finally:
        engine.dispose()
    return ticks / os.sysconf("SC_CLK_TCK")


def warm_up() -> None:
    """A small ingest into a throwaway SQLite file: the lazy imports and first-use caches of
    the ingest are paid here, not inside the first timed ingest (whichever backend it is)."""
    with tempfile.TemporaryDirectory(prefix="triagehub-warm-") as tmp:
        warm = write_jsonl(
            Path(tmp) / "warm.jsonl",
            generate_runs(
                random.Random(SEED + 9),
                catalogue(random.Random(SEED)),
                total=200,
                run_size=9,
                fail_share=1.0,
                prefix="warm",
            ),
        )
        measure("warm", "sqlite", f"sqlite:///{Path(tmp) / 'warm.db'}", warm, 200)


def measure_child(workload: str, path: Path, url: str, expected: int) -> None:
    """The child side of ``--compare-src``: warm up (imports, a small ingest into a throwaway
    SQLite file), then time ``path`` into ``url``; prints one JSON line (wall and CPU seconds,
    and on a local PostgreSQL server the CPU seconds of the ingest's server backend)."""
    warm_up()
    engine = open_database(url)  # migrated, and its connection (the ingest's backend) kept
    try:
        with engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
        server = _server_cpu(url)
        cpu = time.process_time()
        gc.collect()
        start = time.perf_counter()
        summary = ingest_files(engine, [path], Settings(), fmt=get_format("event"))
        seconds = time.perf_counter() - start
        cpu = time.process_time() - cpu
        after = _server_cpu(url)
    finally:
        engine.dispose()
    _checked(summary, path, expected)
    used = None if server is None or after is None else after - server
    print(json.dumps({"seconds": seconds, "cpu": cpu, "server": used, "new": summary.new_issues}))


def compare_trees(
    other_src: Path, workload: str, total: int, rounds: int, console: Console
) -> None:
    """The failing (or passing) workload ingested by this tree and by ``other_src`` (another
    checkout's ``src``), alternating, each run in a fresh process on an empty database; the
    best of ``rounds`` per tree and backend."""
    settings = Settings()
    if workload == "passing":
        size, share, seed = PASSING_RUN_SIZE, 0.0, SEED + 2
    else:
        size, share, seed = (
            min(FAILING_RUN_SIZE, settings.grouping.storm_min_checks - 1),
            1.0,
            SEED + 1,
        )
    trees = {"this tree": Path(__file__).resolve().parent.parent / "src", "other": other_src}
    best: dict[tuple[str, str], tuple[float, float, float | None]] = {}
    with tempfile.TemporaryDirectory(prefix="triagehub-bench-") as tmp:
        root = Path(tmp)
        checks = catalogue(random.Random(SEED))
        path = write_jsonl(
            root / f"{workload}.jsonl",
            generate_runs(
                random.Random(seed),
                checks,
                total=total,
                run_size=size,
                fail_share=share,
                prefix=workload[:4],
            ),
        )
        pg = Postgres(os.environ.get(PG_ENV, PG_DEFAULT))
        pg.create()
        try:
            for _ in range(rounds):
                for name, src in trees.items():
                    for backend in ("sqlite", "postgresql"):
                        if backend == "sqlite":
                            url = f"sqlite:///{root / f'{uuid.uuid4().hex}.db'}"
                        else:
                            pg.reset()
                            url = pg.url
                        env = {**os.environ, "PYTHONPATH": str(src.resolve())}
                        args = ["--measure-child", workload, str(path), url, str(total)]
                        proc = subprocess.run(
                            [sys.executable, __file__, *args],
                            capture_output=True,
                            text=True,
                            env=env,
                            check=False,
                        )
                        if proc.returncode != 0:
                            raise SystemExit(f"{name} failed on {backend}:\n{proc.stderr}")
                        got = json.loads(proc.stdout.strip().splitlines()[-1])
                        old = best.get((name, backend))
                        if old is None or got["seconds"] < old[0]:
                            best[name, backend] = (got["seconds"], got["cpu"], got.get("server"))
        finally:
            pg.drop()
    load = Path("/proc/loadavg").read_text().split()[0] if Path("/proc/loadavg").exists() else "?"
    parts = []
    for name in trees:
        lite, post = best[name, "sqlite"], best[name, "postgresql"]
        rate_l, rate_p = total / lite[0], total / post[0]
        server = post[2]
        # Under load the server's work overlaps the client's wait for a CPU: the CPU seconds of
        # both (SQLite's process does all of its work itself) are the steadier comparison.
        by_cpu = "" if server is None else f", by CPU {lite[1] / (post[1] + server):.2f}x"
        parts.append(
            f"{name}: SQLite {rate_l:,.0f}/s (CPU {lite[1]:.2f} s), PostgreSQL {rate_p:,.0f}/s "
            f"(CPU {post[1]:.2f} s"
            + ("" if server is None else f" + server {server:.2f} s")
            + f"), PostgreSQL ÷ SQLite {rate_p / rate_l:.2f}x{by_cpu}"
        )
    this_l, other_l = best["this tree", "sqlite"][0], best["other", "sqlite"][0]
    this_p, other_p = best["this tree", "postgresql"][0], best["other", "postgresql"][0]
    console.print(
        f"SUMMARY ingest compare ({total:,} {workload} results, best of {rounds}, load {load}; "
        f"other = {other_src}): " + "; ".join(parts) + f"; this tree ÷ other: SQLite "
        f"{other_l / this_l:.2f}x, PostgreSQL {other_p / this_p:.2f}x",
        soft_wrap=True,
        markup=False,
        highlight=False,
    )


# -- main ---------------------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="smaller workloads (a smoke run)")
    parser.add_argument(
        "--strict", action="store_true", help="exit with status 1 when a target is missed"
    )
    parser.add_argument("--rss-child", nargs=2, metavar=("FILE", "DB_URL"), help=argparse.SUPPRESS)
    parser.add_argument(
        "--compare-src",
        type=Path,
        metavar="DIR",
        help="only one workload (--workload), ingested by this tree and by DIR (another "
        "checkout's src) alternately, each in a fresh process",
    )
    parser.add_argument(
        "--workload",
        choices=("failing", "passing"),
        default="failing",
        help="the workload of --compare-src",
    )
    parser.add_argument("--rounds", type=int, default=2, help="rounds of --compare-src")
    parser.add_argument("--measure-child", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.rss_child:
        rss_child(Path(args.rss_child[0]), args.rss_child[1])
        return 0
    if args.measure_child:
        workload, file, url, expected = args.measure_child
        measure_child(workload, Path(file), url, int(expected))
        return 0
    if args.compare_src:
        sizes = QUICK if args.quick else FULL
        total = sizes.passing if args.workload == "passing" else sizes.failing
        rounds = max(1, args.rounds)
        compare_trees(args.compare_src, args.workload, total, rounds, Console(width=150))
        return 0

    sizes = QUICK if args.quick else FULL
    # A table wider than 80 columns when the output is a file or a pipe.
    console = Console(width=None if sys.stdout.isatty() else 150)
    settings = Settings()
    # A run where at least storm_min_checks checks mostly fail is rolled up into one storm issue
    # per run; failing runs stay below it so that every failure is fingerprinted and grouped.
    failing_run_size = min(FAILING_RUN_SIZE, settings.grouping.storm_min_checks - 1)
    with tempfile.TemporaryDirectory(prefix="triagehub-bench-") as tmp:
        root = Path(tmp)
        checks = catalogue(random.Random(SEED))
        n_checks = sum(len(v) for v in checks.values())

        # The RSS child first, while this process is still small (see measure_rss).
        big = write_jsonl(
            root / "rss.jsonl",
            generate_runs(
                random.Random(SEED + 3),
                checks,
                total=sizes.rss,
                run_size=RSS_RUN_SIZE,
                fail_share=RSS_FAIL_SHARE,
                prefix="rss",
            ),
        )
        rss = measure_rss(big, f"sqlite:///{root / 'rss.db'}", sizes.rss)
        cli = measure_cli_rss(big, f"sqlite:///{root / 'cli.db'}", sizes.rss)
        big.unlink()

        failing = write_jsonl(
            root / "failing.jsonl",
            generate_runs(
                random.Random(SEED + 1),
                checks,
                total=sizes.failing,
                run_size=failing_run_size,
                fail_share=1.0,
                prefix="fail",
            ),
        )
        passing = write_jsonl(
            root / "passing.jsonl",
            generate_runs(
                random.Random(SEED + 2),
                checks,
                total=sizes.passing,
                run_size=PASSING_RUN_SIZE,
                fail_share=0.0,
                prefix="pass",
            ),
        )

        pg: Postgres | None = Postgres(os.environ.get(PG_ENV, PG_DEFAULT))
        pg_note: str | None = None
        pg_version = "not reachable"
        pairs: list[Pair] = []
        try:
            assert pg is not None
            try:
                pg_version = pg.create()
            except sa.exc.OperationalError as exc:
                reason = str(exc.orig).splitlines()[0]
                pg_note = (
                    f"{pg.admin_url.render_as_string()} is not reachable ({reason}); "
                    f"start it or set {PG_ENV}"
                )
                pg.drop()
                pg = None
            console.print(
                f"Python {platform.python_version()}, SQLite {sqlite3.sqlite_version}, "
                f"PostgreSQL {pg_version}; {n_checks:,} checks in {len(REPOSITORIES)} "
                f"repositories; failing runs of {failing_run_size} results (below the storm "
                f"guard's {settings.grouping.storm_min_checks}), passing runs of "
                f"{PASSING_RUN_SIZE}, {RSS_FAIL_SHARE:.0%} failing in the "
                f"{sizes.rss:,}-result file; seed {SEED}",
                highlight=False,
            )
            # (SQLite is timed first: without a warm-up it alone would pay the imports)
            warm_up()
            for workload, path, expected, target in (
                ("failing", failing, sizes.failing, TARGET_FAILING_PER_S),
                ("passing", passing, sizes.passing, TARGET_PASSING_PER_S),
            ):
                lite = measure(
                    workload, "sqlite", f"sqlite:///{root / f'{workload}.db'}", path, expected
                )
                other: Measurement | None = None
                if pg is not None:
                    pg.reset()
                    other = measure(workload, "postgresql", pg.url, path, expected)
                pairs.append(Pair(workload, target, lite, other))
        finally:
            if pg is not None:
                pg.drop()
        missed = render(console, pairs, rss, cli, sizes.rss, pg_note, args.quick)
    return 1 if args.strict and missed else 0


if __name__ == "__main__":
    sys.exit(main())
