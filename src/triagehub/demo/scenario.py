"""Deterministic demo data: 14 days of CI, dbt and Playwright runs in the generic event format.

``demo_events(end)`` returns one generic event per run (``source: generic``) for the 14 days
ending at ``end``, sorted by ``finished_at``. Everything comes from ``random.Random`` instances
seeded with fixed values, never from the global generator or the clock: the same ``end`` gives the
same events, and a different ``end`` gives the same runs, checks, ids and outcomes, only shifted
in time. Days below are counted 0..13 from the start of the window (day 13 ends at ``end``).

Three repositories (``DEMO_REPOSITORIES``), each with 2-5 runs a day, mostly green:

``acme/dbt_cloud`` (critical)
    A ``dbt build`` of a small DuckDB project (3 seeds, 6 models, 11 data tests; 20 checks named
    ``dbt build / <unique_id>``). Scheduled runs on ``main`` three times a day, plus CI runs on
    feature branches. ``dbt build`` semantics: everything downstream of an error or a failing test
    is skipped. Messages are the real ones from dbt-core 1.11 / dbt-duckdb.
``acme/roy_kent`` (high)
    A GitHub Actions workflow ``CI`` (jobs lint, test (3.11/3.12/3.13), integration, build; 26
    checks named ``CI / <job> / <step>``). A failing step skips the later steps of its job. Logs
    are Actions logs with ISO timestamp prefixes.
``acme/da-agent-hub`` (medium)
    A Playwright suite on chromium and firefox (16 checks named
    ``<project> › <file> › <title path>``). Messages keep Playwright's ANSI colour codes.

The scenarios (named in ``EXPECTED``):

1. **Repeated failure** (``repeated_check``): roy_kent's ``CI / test (3.11) / Run pytest`` fails
   on days 4, 7, 9, 11 and 13 with the same ``FileNotFoundError``, but every occurrence has a
   different pytest temp dir, file-name timestamp, pass count and duration. It must collapse into
   one issue (recurring). Each failing run has its own commit, so it never looks flaky.
2. **Data test failure** (``data_test_check``): dbt's ``unique_stg_customers_customer_id`` fails
   on days 1, 3, 6 and 8 with ``Got N results, configured to fail if != 0`` (N = 3, 5, 7, 4): one
   recurring data-quality issue once the number is masked. Its downstream nodes are skipped.
3. **Transient failure that heals** (``transient_check``): on day 8 the dependency install of
   roy_kent's test jobs cannot resolve ``github.com`` (two checks in the first run, one in the
   second: one environmental issue across checks), then passes in every later run, so it should
   auto-resolve. Its log leaks a GitHub token in a header (see 8).
4. **Flaky test** (``flaky_check``): da-agent-hub's ``chromium › tests/dashboard.spec.ts ›
   filters › applies the date range filter`` hits ``Test timeout of 30000ms exceeded.``: on days
   1, 5, 9 and 12 the run fails and a re-run (same run id, attempt 2, same commit) passes; on days
   3, 7 and 11 Playwright's own retry passes (status ``flaky``); on day 10 a run fails and the next
   run of the same commit passes.
5. **Persistent failure** (``persistent_check``): from the first run of day 9 on, dbt's
   ``model.jaffle.customer_ltv`` fails in every run of acme/dbt_cloud (18 runs) with the same
   ``Catalog Error: Table with name dim_customers does not exist!`` (the model hard-codes
   ``analytics.dim_customers`` and a commit moved the table to a custom schema). Never passes
   again.
6. **Infrastructure storm** (``storm_run``): on day 2 one roy_kent run loses its runner disk:
   24 of its 26 checks fail with ``No space left on device`` (each with a different temp path).
   It must roll up into one infrastructure issue and not count as flaky evidence (the next run,
   on the same commit, is green). Checks of the other scenarios fail in it too; tests look past it.
7. **One-off failures** (``one_off_checks``), each failing once (outside the storm): a dbt
   ``Binder Error`` on a feature branch (day 2), a ruff F841 (day 6) and a mypy ``[arg-type]``
   error (day 8) on feature branches, a pytest ``ValueError`` on main (day 10), an integration test
   that cannot log in to PostgreSQL (day 12, its log prints a ``postgresql://`` URL with a
   password), and a Playwright ``toHaveText`` failure on both browsers on a feature branch (day 6).
8. **Secrets** (``secrets``): an ``Authorization: Bearer ghp_...`` header (scenario 3) and a
   ``postgresql://roy:hunter2@...`` URL (scenario 7) appear in logs; redaction must remove them.

``DEMO_CONFIG_YAML`` is a ``triagehub.yaml`` for the three repositories.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from typing import Any, Final

__all__ = [
    "DAYS",
    "DEMO_CONFIG_YAML",
    "DEMO_REPOSITORIES",
    "EXPECTED",
    "SEED",
    "Expected",
    "demo_events",
]

SEED: Final = 20261120
DAYS: Final = 14

DBT_REPO: Final = "acme/dbt_cloud"
CI_REPO: Final = "acme/roy_kent"
WEB_REPO: Final = "acme/da-agent-hub"

DEMO_REPOSITORIES: Final[dict[str, str]] = {
    DBT_REPO: "critical",
    CI_REPO: "high",
    WEB_REPO: "medium",
}

DEMO_CONFIG_YAML: Final = """\
# triagehub.yaml for the bundled demo (acme/* repositories).
repositories:
  acme/dbt_cloud:
    priority_level: critical
    dbt_project: triage_demo  # the real dbt Core artifacts of the demo belong here
    automation_rules:
      schema_errors: {priority: critical, auto_assign: dbt-expert, sla_hours: 4, escalate_after: 8}
      test_failures: {priority: high, auto_assign: dbt-expert, sla_hours: 24, pattern_check: true}
      performance_issues: {priority: medium, auto_assign: snowflake-expert, sla_hours: 48}
  acme/roy_kent:
    priority_level: high
    automation_rules:
      workflow_failures: {priority: high, auto_assign: github-sleuth-expert, sla_hours: 24}
  acme/da-agent-hub:
    priority_level: medium
    automation_rules:
      dashboard_failures: {priority: medium, auto_assign: tableau-expert, sla_hours: 72}
escalation_triggers:
  high_volume_threshold: 5
  critical_response_time: 4
  recurring_issue_threshold: 3
  cross_repo_correlation_threshold: 2
experts:  # who each expert is; a group is balanced by open workload
  dbt-expert: {github: [priya, dmitri], slack: "#data-alerts"}
  snowflake-expert: {github: [sam], slack: "#warehouse"}
  github-sleuth-expert: {github: [alice, bo], slack: "#ci-alerts"}
  tableau-expert: {github: [lee], slack: "#dashboards"}
  da-architect: {github: [robin]}
"""

# Fake credentials planted in logs so that redaction is exercised. Not real, never were.
FAKE_GITHUB_TOKEN: Final = "ghp_" + "DEMO" * 9
FAKE_DB_PASSWORD: Final = "hunter2"

STORM_MARKER: Final = "No space left on device"
NETWORK_MARKER: Final = "Could not resolve host: github.com"
TIMEOUT_MARKER: Final = "Test timeout of 30000ms exceeded."

CheckRef = tuple[str, str]


@dataclass(frozen=True)
class Expected:
    """What the demo contains, for tests and for the demo command's own sanity checks."""

    repeated_check: CheckRef
    repeated_days: tuple[int, ...]
    data_test_check: CheckRef
    data_test_counts: tuple[int, ...]
    transient_check: CheckRef
    transient_checks: tuple[CheckRef, ...]
    flaky_check: CheckRef
    flaky_rerun_days: tuple[int, ...]
    persistent_check: CheckRef
    persistent_from_day: int
    storm_run: tuple[str, str]
    storm_marker: str
    one_off_checks: tuple[CheckRef, ...]
    secrets: tuple[str, ...]


_DBT = "dbt build / "
_REPEATED_CHECK = "CI / test (3.11) / Run pytest"
_TRANSIENT_CHECKS = (
    "CI / test (3.11) / Install dependencies",
    "CI / test (3.12) / Install dependencies",
)
_FLAKY_CHECK = "chromium › tests/dashboard.spec.ts › filters › applies the date range filter"
_DATA_TEST = "test.jaffle.unique_stg_customers_customer_id"
_PERSISTENT = "model.jaffle.customer_ltv"

_REPEATED_DAYS = (4, 7, 9, 11, 13)
_DATA_TEST_DAYS = (1, 3, 6, 8)
_DATA_TEST_COUNTS = (3, 5, 7, 4)
_FLAKY_RERUN_DAYS = (1, 5, 9, 12)
_FLAKY_RETRY_DAYS = (3, 7, 11)
_FLAKY_FAIL_DAY = 10
_PERSISTENT_DAY = 9
_STORM_DAY = 2
_TRANSIENT_DAY = 8

EXPECTED: Final = Expected(
    repeated_check=(CI_REPO, _REPEATED_CHECK),
    repeated_days=_REPEATED_DAYS,
    data_test_check=(DBT_REPO, _DBT + _DATA_TEST),
    data_test_counts=_DATA_TEST_COUNTS,
    transient_check=(CI_REPO, _TRANSIENT_CHECKS[0]),
    transient_checks=tuple((CI_REPO, check) for check in _TRANSIENT_CHECKS),
    flaky_check=(WEB_REPO, _FLAKY_CHECK),
    flaky_rerun_days=_FLAKY_RERUN_DAYS,
    persistent_check=(DBT_REPO, _DBT + _PERSISTENT),
    persistent_from_day=_PERSISTENT_DAY,
    storm_run=(CI_REPO, "11873713521"),
    storm_marker=STORM_MARKER,
    one_off_checks=(
        (DBT_REPO, _DBT + "model.jaffle.stg_orders"),
        (CI_REPO, "CI / lint / Run ruff"),
        (CI_REPO, "CI / lint / Run mypy"),
        (CI_REPO, "CI / test (3.12) / Run pytest"),
        (CI_REPO, "CI / integration / Run integration tests"),
        (WEB_REPO, "chromium › tests/export.spec.ts › exports the workbook as CSV"),
        (WEB_REPO, "firefox › tests/export.spec.ts › exports the workbook as CSV"),
    ),
    secrets=(FAKE_GITHUB_TOKEN, f"postgresql://roy:{FAKE_DB_PASSWORD}@"),
)

# run id = base + index * stride: numeric, unique per repository, independent of ``end``.
_RUN_IDS: Final[dict[str, tuple[int, int]]] = {
    DBT_REPO: (8_731, 3),
    CI_REPO: (11_873_640_112, 10_487),
    WEB_REPO: (11_902_310_555, 8_219),
}


# --------------------------------------------------------------------------- plan


@dataclass
class _Result:
    check: str
    status: str
    message: str = ""
    log: str = ""
    duration_s: float = 0.0


@dataclass
class _Run:
    repo: str
    index: int
    day: int
    start: datetime
    branch: str = "main"
    tag: str = ""
    commit: str = ""
    attempt: int = 1
    results: list[_Result] = field(default_factory=list)
    finished: datetime | None = None

    @property
    def run_id(self) -> str:
        base, stride = _RUN_IDS[self.repo]
        return str(base + self.index * stride)


def _rng(name: str) -> random.Random:
    return random.Random(f"triagehub-demo:{SEED}:{name}")


def _times(rng: random.Random, count: int, lo: int, hi: int, gap: int) -> list[int]:
    """``count`` sorted minute offsets in ``[lo, hi)``, at least ``gap`` minutes apart."""
    while True:
        picks = sorted(rng.sample(range(lo, hi, 5), count))
        if all(b - a >= gap for a, b in pairwise(picks)):
            return picks


def _hex(rng: random.Random, digits: int) -> str:
    return f"{rng.getrandbits(4 * digits):0{digits}x}"


def _uuid(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def _tag(
    runs: list[_Run],
    day: int,
    tag: str,
    *,
    last: bool = False,
    branch: str | None = None,
    on_branch: str | None = None,
) -> _Run:
    """Mark the first (or last) untagged run of ``day`` (on ``on_branch`` if given) with a
    scenario tag, and move it to ``branch`` if given."""
    free = [
        run for run in runs if run.day == day and not run.tag and on_branch in (None, run.branch)
    ]
    if not free:
        raise RuntimeError(f"demo scenario: no free run on day {day} for {tag}")
    run = free[-1] if last else free[0]
    run.tag = tag
    if branch is not None:
        run.branch = branch
    return run


def _assign_commits(rng: random.Random, runs: list[_Run], isolated: Callable[[_Run], bool]) -> None:
    """7-hex commits per branch, each kept for 1-3 runs. An isolated run gets a commit of its
    own (the run after it on the same branch starts a new one), so it never shares a commit
    with a green run and cannot look flaky."""
    current: dict[str, str] = {}
    left: dict[str, int] = {}
    fresh_next: dict[str, bool] = {}
    for run in runs:
        branch = run.branch
        alone = isolated(run)
        if branch not in current or left[branch] <= 0 or alone or fresh_next.get(branch, False):
            current[branch] = _hex(rng, 7)
            left[branch] = rng.randint(1, 3)
        fresh_next[branch] = alone
        run.commit = current[branch]
        left[branch] -= 1


def _iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _actions_log(rng: random.Random, at: datetime, lines: Iterable[str]) -> str:
    """GitHub Actions log lines: ``2026-11-20T06:31:02.1234567Z <text>``."""
    out: list[str] = []
    moment = at
    for line in lines:
        moment += timedelta(microseconds=rng.randint(2_000, 900_000))
        stamp = f"{moment:%Y-%m-%dT%H:%M:%S}.{moment.microsecond:06d}{rng.randrange(10)}Z"
        out.append(f"{stamp} {line}")
    return "\n".join(out)


def _status_of(results: list[_Result]) -> str:
    return "failure" if any(r.status in ("fail", "error") for r in results) else "success"


# --------------------------------------------------------------------------- acme/dbt_cloud

# (unique_id, upstream nodes) in build order. Tests hang off the models they test.
_DBT_NODES: Final[tuple[tuple[str, tuple[str, ...]], ...]] = (
    ("seed.jaffle.raw_customers", ()),
    ("seed.jaffle.raw_orders", ()),
    ("seed.jaffle.raw_payments", ()),
    ("model.jaffle.stg_customers", ("seed.jaffle.raw_customers",)),
    ("model.jaffle.stg_orders", ("seed.jaffle.raw_orders",)),
    ("model.jaffle.stg_payments", ("seed.jaffle.raw_payments",)),
    (_DATA_TEST, ("model.jaffle.stg_customers",)),
    ("test.jaffle.not_null_stg_customers_customer_id", ("model.jaffle.stg_customers",)),
    ("test.jaffle.not_null_stg_customers_email", ("model.jaffle.stg_customers",)),
    ("test.jaffle.unique_stg_orders_order_id", ("model.jaffle.stg_orders",)),
    ("test.jaffle.not_null_stg_orders_order_id", ("model.jaffle.stg_orders",)),
    (
        "test.jaffle.accepted_values_stg_orders_status__placed__shipped__completed__returned",
        ("model.jaffle.stg_orders",),
    ),
    ("test.jaffle.unique_stg_payments_payment_id", ("model.jaffle.stg_payments",)),
    ("model.jaffle.dim_customers", ("model.jaffle.stg_customers", "model.jaffle.stg_orders")),
    ("model.jaffle.fct_orders", ("model.jaffle.stg_orders", "model.jaffle.stg_payments")),
    ("test.jaffle.unique_dim_customers_customer_id", ("model.jaffle.dim_customers",)),
    ("test.jaffle.not_null_fct_orders_amount", ("model.jaffle.fct_orders",)),
    (
        "test.jaffle.relationships_fct_orders_customer_id__customer_id__ref_dim_customers_",
        ("model.jaffle.fct_orders", "model.jaffle.dim_customers"),
    ),
    (_PERSISTENT, ("model.jaffle.dim_customers", "model.jaffle.fct_orders")),
    ("test.jaffle.not_null_customer_ltv_customer_id", (_PERSISTENT,)),
)


def _dbt_blockers() -> dict[str, tuple[str, ...]]:
    """``dbt build`` skips a node when an upstream node, or a test on an upstream model, failed."""
    tests_on: dict[str, list[str]] = {}
    for uid, parents in _DBT_NODES:
        if uid.startswith("test."):
            for parent in parents:
                tests_on.setdefault(parent, []).append(uid)
    blockers: dict[str, tuple[str, ...]] = {}
    for uid, parents in _DBT_NODES:
        found = list(parents)
        if not uid.startswith("test."):
            for parent in parents:
                found.extend(tests_on.get(parent, []))
        blockers[uid] = tuple(found)
    return blockers


_DBT_BLOCKERS: Final = _dbt_blockers()

_BINDER_ERROR: Final = (
    "Runtime Error in model stg_orders (models/stg_orders.sql)\n"
    '  Binder Error: Referenced column "total_amount" not found in FROM clause!\n'
    '  Candidate bindings: "status"'
)
_CATALOG_ERROR: Final = (
    "Runtime Error in model customer_ltv (models/customer_ltv.sql)\n"
    "  Catalog Error: Table with name dim_customers does not exist!\n"
    '  Did you mean "analytics_marts.dim_customers"?\n'
    "  \n"
    "  LINE 9:     from analytics.dim_customers as c\n"
    "                   ^"
)


def _dbt_duration(rng: random.Random, uid: str) -> float:
    if uid.startswith("seed."):
        return round(rng.uniform(0.05, 0.4), 2)
    if uid.startswith("model."):
        return round(rng.uniform(0.2, 6.0), 2)
    return round(rng.uniform(0.03, 0.8), 2)


def _dbt_line(clock: str, position: int, total: int, left: str, right: str) -> str:
    text = f"{position} of {total} {left} "
    return f"{clock}  {text}{'.' * max(3, 78 - len(text))} {right}"


def _dbt_failure_log(
    rng: random.Random, run: _Run, position: int, uid: str, message: str, duration: float
) -> str:
    """The console lines of ``dbt build`` around one failing node (as dbt-core 1.11 prints)."""
    total = len(_DBT_NODES)
    began = run.start + timedelta(seconds=rng.uniform(30, 90))
    node_at = began + timedelta(seconds=rng.uniform(2, 20))
    done_at = node_at + timedelta(seconds=duration + rng.uniform(1, 15))
    first, node, last = f"{began:%H:%M:%S}", f"{node_at:%H:%M:%S}", f"{done_at:%H:%M:%S}"
    name = uid.split(".")[2]
    lines = [
        f"{first}  Running with dbt=1.11.16",
        f"{first}  Registered adapter: duckdb=1.11.1",
        f"{first}  Found 6 models, 3 seeds, 11 data tests, 517 macros",
        f"{first}  ",
        f"{first}  Concurrency: 4 threads (target='prod')",
        f"{first}  ",
    ]
    if uid.startswith("test."):
        got = message.split()[1]
        lines += [
            _dbt_line(node, position, total, f"START test {name}", "[RUN]"),
            _dbt_line(
                node, position, total, f"FAIL {got} {name}", f"[FAIL {got} in {duration:.2f}s]"
            ),
        ]
        what, where = f"test {name} (models/schema.yml)", f"models/schema.yml/{name}.sql"
    else:
        relation = f"sql table model analytics.{name}"
        lines += [
            _dbt_line(node, position, total, f"START {relation}", "[RUN]"),
            _dbt_line(
                node, position, total, f"ERROR creating {relation}", f"[ERROR in {duration:.2f}s]"
            ),
        ]
        what, where = f"model {name} (models/{name}.sql)", f"models/{name}.sql"
    elapsed = (done_at - began).total_seconds()
    lines += [
        f"{last}  ",
        f"{last}  Finished running 3 seeds, 11 data tests, 6 table models in 0 hours 0 minutes "
        f"and {elapsed:.2f} seconds ({elapsed:.2f}s).",
        f"{last}  ",
        f"{last}  Completed with 1 error, 0 partial successes, and 0 warnings:",
        f"{last}  ",
        f"{last}  Failure in {what}",
        f"{last}    {message}",
        f"{last}  ",
        f"{last}    compiled code at target/compiled/jaffle/{where}",
    ]
    return "\n".join(lines)


def _dbt_cloud(rng: random.Random, origin: datetime) -> list[_Run]:
    runs: list[_Run] = []
    for day in range(DAYS):
        base = origin + timedelta(days=day)
        starts = [slot * 60 + rng.randint(0, 9) for slot in (2, 8, 14)]
        branches = ["main", "main", "main"]
        if day == 2:
            starts.append(rng.randrange(9 * 60, 19 * 60))
            branches.append("feature/order-amounts")
        elif rng.random() < 0.45:
            starts.append(rng.randrange(9 * 60, 19 * 60))
            branches.append(rng.choice(("fix/ltv-window", "chore/dbt-1.11", "feature/ltv-v2")))
        for minute, branch in sorted(zip(starts, branches, strict=True)):
            runs.append(_Run(DBT_REPO, 0, day, base + timedelta(minutes=minute), branch=branch))
    for index, run in enumerate(runs):
        run.index = index

    for day in _DATA_TEST_DAYS:
        _tag(runs, day, "data_test", last=True, on_branch="main")
    _tag(runs, 2, "binder", on_branch="feature/order-amounts")
    first_broken = _tag(runs, _PERSISTENT_DAY, "persistent_start", branch="main")
    for run in runs:
        if run.index > first_broken.index:
            run.tag = "persistent"

    _assign_commits(rng, runs, lambda r: r.tag in ("data_test", "binder", "persistent_start"))

    data_counts = iter(_DATA_TEST_COUNTS)
    for run in runs:
        failures: dict[str, tuple[str, str]] = {}
        if run.tag == "data_test":
            failures[_DATA_TEST] = (
                "fail",
                f"Got {next(data_counts)} results, configured to fail if != 0",
            )
        elif run.tag == "binder":
            failures["model.jaffle.stg_orders"] = ("error", _BINDER_ERROR)
        elif run.tag in ("persistent_start", "persistent"):
            failures[_PERSISTENT] = ("error", _CATALOG_ERROR)
        outcome: dict[str, str] = {}
        for position, (uid, _parents) in enumerate(_DBT_NODES, start=1):
            duration = _dbt_duration(rng, uid)
            if any(outcome[b] != "pass" for b in _DBT_BLOCKERS[uid]):
                result = _Result(_DBT + uid, "skip", duration_s=0.0)
            elif uid in failures:
                status, message = failures[uid]
                log = _dbt_failure_log(rng, run, position, uid, message, duration)
                result = _Result(_DBT + uid, status, message, log, duration)
            else:
                result = _Result(_DBT + uid, "pass", duration_s=duration)
            outcome[uid] = result.status
            run.results.append(result)
        elapsed = sum(r.duration_s for r in run.results) + rng.uniform(240, 600)
        run.finished = run.start + timedelta(seconds=round(elapsed))
    return runs


# --------------------------------------------------------------------------- acme/roy_kent

_CHECKOUT = "Run actions/checkout@v4"
_RK_JOBS: Final[tuple[tuple[str, tuple[str, ...]], ...]] = (
    (
        "lint",
        (
            _CHECKOUT,
            "Set up Python",
            "Install dependencies",
            "Run ruff",
            "Run ruff format --check",
            "Run mypy",
        ),
    ),
    ("test (3.11)", (_CHECKOUT, "Set up Python", "Install dependencies", "Run pytest")),
    ("test (3.12)", (_CHECKOUT, "Set up Python", "Install dependencies", "Run pytest")),
    ("test (3.13)", (_CHECKOUT, "Set up Python", "Install dependencies", "Run pytest")),
    (
        "integration",
        (
            _CHECKOUT,
            "Set up Python",
            "Install dependencies",
            "Wait for Postgres",
            "Run integration tests",
        ),
    ),
    ("build", (_CHECKOUT, "Build sdist and wheel", "Check metadata")),
)
_RK_STEP_SECONDS: Final[dict[str, tuple[float, float]]] = {
    _CHECKOUT: (0.8, 3.0),
    "Set up Python": (1.0, 6.0),
    "Install dependencies": (14.0, 45.0),
    "Run ruff": (0.4, 2.0),
    "Run ruff format --check": (0.3, 1.2),
    "Run mypy": (12.0, 31.0),
    "Run pytest": (38.0, 75.0),
    "Wait for Postgres": (2.0, 9.0),
    "Run integration tests": (60.0, 130.0),
    "Build sdist and wheel": (6.0, 14.0),
    "Check metadata": (1.0, 3.0),
}
_RK_COMMANDS: Final[dict[str, str]] = {
    "Install dependencies": 'pip install -e ".[dev]"',
    "Run ruff": "ruff check --output-format=concise .",
    "Run ruff format --check": "ruff format --check .",
    "Run mypy": "mypy src",
    "Run pytest": "pytest -q --junitxml=reports/junit.xml",
    "Wait for Postgres": "until pg_isready -h 127.0.0.1; do sleep 1; done",
    "Run integration tests": "pytest -q tests/integration",
    "Build sdist and wheel": "python -m build",
    "Check metadata": "twine check dist/*",
}
_RK_STORM_SURVIVORS: Final = ("CI / lint / " + _CHECKOUT, "CI / test (3.11) / " + _CHECKOUT)
_PYTHON_PATCH: Final[dict[str, str]] = {"3.11": "3.11.10", "3.12": "3.12.7", "3.13": "3.13.0"}


def _rk_group(step: str, env: Iterable[str] = ()) -> list[str]:
    """The header Actions prints before a step: the command (or action), shell and env."""
    if step == _CHECKOUT:
        return [f"##[group]{step}", "with:", "  repository: acme/roy_kent", "##[endgroup]"]
    if step == "Set up Python":
        return ["##[group]Run actions/setup-python@v5", "with:", "  cache: pip", "##[endgroup]"]
    command = _RK_COMMANDS[step]
    lines = [f"##[group]Run {command}", command, "shell: /usr/bin/bash -e {0}"]
    env_lines = list(env)
    if env_lines:
        lines += ["env:", *(f"  {line}" for line in env_lines)]
    return [*lines, "##[endgroup]"]


def _pytest_summary(failed: str, passed: int, seconds: float) -> str:
    return f"{failed}, {passed} passed, 2 skipped in {seconds:.2f}s"


def _rk_repeated(rng: random.Random, run: _Run) -> _Result:
    """Scenario 1: same error, new temp dir, timestamp, counts and duration every time."""
    stamp = run.start + timedelta(seconds=rng.randint(60, 200))
    tmp = f"/tmp/pytest-of-runner/pytest-{rng.randint(0, 40)}/test_export_report_writes_csv0"
    path = f"{tmp}/reports/report-{stamp:%Y%m%dT%H%M%S}.csv"
    error = f"FileNotFoundError: [Errno 2] No such file or directory: '{path}'"
    message = f"FAILED tests/test_export.py::test_export_report_writes_csv - {error}"
    seconds = round(rng.uniform(38.0, 71.0), 2)
    lines = [
        *_rk_group("Run pytest"),
        "." * 72 + " [ 33%]",
        "." * 27 + "F" + "." * 44 + " [ 66%]",
        "." * 68 + "s.s." + " [100%]",
        "=" * 35 + " FAILURES " + "=" * 35,
        "_" * 24 + " test_export_report_writes_csv " + "_" * 25,
        "",
        f"tmp_path = PosixPath('{tmp}')",
        "",
        "    def test_export_report_writes_csv(tmp_path):",
        '        out = export_report(tmp_path / "reports", fmt="csv")',
        '>       assert out.read_text().startswith("id,status")',
        "",
        "tests/test_export.py:41: ",
        "_ " * 39 + "_",
        f"/opt/hostedtoolcache/Python/{_PYTHON_PATCH['3.11']}/x64/lib/python3.11/pathlib.py"
        ":1058: in read_text",
        "    with self.open(mode='r', encoding=encoding, errors=errors) as f:",
        f"E   {error}",
        "=" * 27 + " short test summary info " + "=" * 28,
        message,
        _pytest_summary("1 failed", rng.randint(205, 231), seconds),
        "##[error]Process completed with exit code 1.",
    ]
    log = _actions_log(rng, stamp, lines)
    return _Result(_REPEATED_CHECK, "fail", message, log, round(seconds + 1.5, 2))


def _rk_transient(rng: random.Random, run: _Run, job: str) -> _Result:
    """Scenario 3: DNS failure while pip clones a git dependency. The step's env leaks a token."""
    version = job.removeprefix("test (").removesuffix(")")
    tmp = f"/tmp/pip-install-{_hex(rng, 8)}/shared-utils_{_hex(rng, 32)}"
    repo_url = "https://github.com/acme/shared-utils.git"
    message = f"fatal: unable to access '{repo_url}/': {NETWORK_MARKER}"
    env = (
        f"pythonLocation: /opt/hostedtoolcache/Python/{_PYTHON_PATCH[version]}/x64",
        "GIT_CONFIG_PARAMETERS: 'http.https://github.com/.extraheader="
        f"Authorization: Bearer {FAKE_GITHUB_TOKEN}'",
    )
    lines = [
        *_rk_group("Install dependencies", env),
        "Obtaining file:///home/runner/work/roy_kent/roy_kent",
        "  Installing build dependencies: started",
        "  Installing build dependencies: finished with status 'done'",
        f"Collecting shared-utils@ git+{repo_url}@v1.4.2 (from roy_kent==0.9.0)",
        f"  Cloning {repo_url} (to revision v1.4.2) to {tmp}",
        f"  Running command git clone --filter=blob:none --quiet {repo_url} {tmp}",
        f"  {message}",
        "  error: subprocess-exited-with-error",
        "  ",
        f"  × git clone --filter=blob:none --quiet {repo_url} {tmp} did not run successfully.",
        "  │ exit code: 128",
        "  ╰─> See above for output.",
        "  ",
        "  note: This error originates from a subprocess, and is likely not a problem with pip.",
        "##[error]Process completed with exit code 1.",
    ]
    at = run.start + timedelta(seconds=rng.uniform(8, 20))
    check = f"CI / {job} / Install dependencies"
    return _Result(
        check, "fail", message, _actions_log(rng, at, lines), round(rng.uniform(4, 9), 2)
    )


def _rk_ruff(rng: random.Random, at: datetime) -> _Result:
    message = (
        "src/roy_kent/cli.py:87:9: F841 Local variable `payload` is assigned to but never used"
    )
    lines = [
        *_rk_group("Run ruff"),
        message,
        "Found 1 error.",
        "No fixes available (1 hidden fix can be enabled with the `--unsafe-fixes` option).",
        "##[error]Process completed with exit code 1.",
    ]
    log = _actions_log(rng, at, lines)
    return _Result("CI / lint / Run ruff", "fail", message, log, round(rng.uniform(0.4, 2), 2))


def _rk_mypy(rng: random.Random, at: datetime) -> _Result:
    message = (
        'src/roy_kent/models.py:88: error: Argument 1 to "parse_time" has incompatible type '
        '"str | None"; expected "str"  [arg-type]'
    )
    lines = [
        *_rk_group("Run mypy"),
        message,
        "Found 1 error in 1 file (checked 42 source files)",
        "##[error]Process completed with exit code 1.",
    ]
    log = _actions_log(rng, at, lines)
    return _Result("CI / lint / Run mypy", "fail", message, log, round(rng.uniform(12, 31), 2))


def _rk_pytest_one_off(rng: random.Random, at: datetime) -> _Result:
    """The ``ValueError`` of the real pytest fixture run (fixtures/junit), once, on 3.12."""
    error = "ValueError: unexpected payload: missing 'workflow_run'"
    message = f"FAILED tests/test_webhooks.py::test_rejects_payload_without_run - {error}"
    seconds = round(rng.uniform(38, 71), 2)
    lines = [
        *_rk_group("Run pytest"),
        "." * 45 + "F" + "." * 26 + " [ 33%]",
        "." * 72 + " [ 66%]",
        "." * 68 + "s.s." + " [100%]",
        "=" * 35 + " FAILURES " + "=" * 35,
        "_" * 23 + " test_rejects_payload_without_run " + "_" * 23,
        "",
        "    def test_rejects_payload_without_run():",
        ">       handle_event({'action': 'completed'})",
        "",
        "tests/test_webhooks.py:19: ",
        "_ " * 39 + "_",
        "src/roy_kent/webhooks.py:52: in handle_event",
        "    raise ValueError(\"unexpected payload: missing 'workflow_run'\")",
        f"E   {error}",
        "=" * 27 + " short test summary info " + "=" * 28,
        message,
        _pytest_summary("1 failed", rng.randint(205, 231), seconds),
        "##[error]Process completed with exit code 1.",
    ]
    log = _actions_log(rng, at, lines)
    return _Result("CI / test (3.12) / Run pytest", "fail", message, log, round(seconds + 1.2, 2))


def _rk_integration_secret(rng: random.Random, at: datetime) -> _Result:
    """An integration test cannot log in; the step's env prints the database URL (a secret)."""
    error = (
        "sqlalchemy.exc.OperationalError: (psycopg.OperationalError) connection failed: "
        'connection to server at "127.0.0.1", port 5432 failed: FATAL:  password '
        'authentication failed for user "roy"'
    )
    message = f"ERROR tests/integration/test_store.py::test_roundtrip - {error}"
    url = f"postgresql://roy:{FAKE_DB_PASSWORD}@127.0.0.1:5432/roy_kent_test"
    seconds = round(rng.uniform(3, 6), 2)
    env = (f"pythonLocation: /opt/hostedtoolcache/Python/{_PYTHON_PATCH['3.12']}/x64",)
    lines = [
        *_rk_group("Run integration tests", (*env, f"DATABASE_URL: {url}")),
        "E" + "s" * 3 + "." * 8 + " [100%]",
        "=" * 36 + " ERRORS " + "=" * 36,
        "_" * 23 + " ERROR at setup of test_roundtrip " + "_" * 23,
        f"E   {error}",
        "E   (Background on this error at: https://sqlalche.me/e/20/e3q8)",
        "=" * 27 + " short test summary info " + "=" * 28,
        message,
        f"8 passed, 3 skipped, 1 error in {seconds:.2f}s",
        "##[error]Process completed with exit code 1.",
    ]
    log = _actions_log(rng, at, lines)
    return _Result(
        "CI / integration / Run integration tests", "error", message, log, round(seconds + 1, 2)
    )


_RK_ONE_OFFS: Final[dict[str, Callable[[random.Random, datetime], _Result]]] = {
    "ruff": _rk_ruff,
    "mypy": _rk_mypy,
    "pytest_one_off": _rk_pytest_one_off,
    "integration_secret": _rk_integration_secret,
}


def _rk_storm(rng: random.Random, run: _Run, check: str) -> _Result:
    """Scenario 6: the runner's disk is full; every step dies with the same I/O error."""
    step = check.rsplit(" / ", 1)[1]
    message = f"System.IO.IOException: {STORM_MARKER} : '/home/runner/work/_temp/{_uuid(rng)}.sh'"
    lines = [*_rk_group(step), f"##[error]{message}"]
    if rng.random() < 0.5:
        lines.append(
            "##[error]The runner has received a shutdown signal. This can happen when the runner "
            "service is stopped, or a manually started runner is canceled."
        )
    at = run.start + timedelta(seconds=rng.uniform(5, 60))
    log = _actions_log(rng, at, lines)
    return _Result(check, "error", message, log, round(rng.uniform(0.1, 2.5), 2))


def _roy_kent(rng: random.Random, origin: datetime) -> list[_Run]:
    feature = ("feature/export-v2", "fix/cli-timeouts", "chore/ruff-0.8", "feature/pg-pool")
    runs: list[_Run] = []
    for day in range(DAYS):
        base = origin + timedelta(days=day)
        for minute in _times(rng, rng.choice((3, 4, 4, 5)), 7 * 60, 21 * 60, 30):
            branch = "main" if rng.random() < 0.75 else rng.choice(feature)
            runs.append(_Run(CI_REPO, 0, day, base + timedelta(minutes=minute), branch=branch))
    for index, run in enumerate(runs):
        run.index = index

    _tag(runs, _STORM_DAY, "storm", branch="main")
    _tag(runs, _TRANSIENT_DAY, "transient_1", branch="main")
    _tag(runs, _TRANSIENT_DAY, "transient_2", branch="main")
    for day in _REPEATED_DAYS:
        _tag(runs, day, "repeated", last=True, branch="main")
    _tag(runs, 6, "ruff", branch="chore/ruff-0.8")
    _tag(runs, 8, "mypy", branch="feature/export-v2")
    _tag(runs, 10, "pytest_one_off", branch="main")
    _tag(runs, 12, "integration_secret", branch="feature/pg-pool")

    _assign_commits(rng, runs, lambda r: bool(r.tag) and r.tag != "storm")

    for run in runs:
        planned: list[_Result] = []
        if run.tag == "repeated":
            planned.append(_rk_repeated(rng, run))
        elif run.tag == "transient_1":
            planned += [
                _rk_transient(rng, run, "test (3.11)"),
                _rk_transient(rng, run, "test (3.12)"),
            ]
        elif run.tag == "transient_2":
            planned.append(_rk_transient(rng, run, "test (3.11)"))
        elif run.tag in _RK_ONE_OFFS:
            at = run.start + timedelta(seconds=rng.uniform(20, 200))
            planned.append(_RK_ONE_OFFS[run.tag](rng, at))
        failures = {result.check: result for result in planned}
        job_seconds: list[float] = []
        for job, steps in _RK_JOBS:
            broken = False
            total = 0.0
            for step in steps:
                check = f"CI / {job} / {step}"
                low, high = _RK_STEP_SECONDS[step]
                duration = round(rng.uniform(low, high), 2)
                if run.tag == "storm" and check not in _RK_STORM_SURVIVORS:
                    result = _rk_storm(rng, run, check)
                elif broken:
                    result = _Result(check, "skip")
                elif check in failures:
                    result = failures[check]
                    broken = True
                else:
                    result = _Result(check, "pass", duration_s=duration)
                total += result.duration_s
                run.results.append(result)
            job_seconds.append(total)
        elapsed = max(job_seconds) + rng.uniform(15, 45)
        run.finished = run.start + timedelta(seconds=round(elapsed))
    return runs


# --------------------------------------------------------------------------- acme/da-agent-hub

# (file, title path, line of the test) for each Playwright test.
_PW_TESTS: Final[tuple[tuple[str, str, int], ...]] = (
    ("tests/dashboard.spec.ts", "loads the dashboard", 8),
    ("tests/dashboard.spec.ts", "shows the KPI tiles", 17),
    ("tests/dashboard.spec.ts", "filters › applies the date range filter", 38),
    ("tests/dashboard.spec.ts", "filters › clears all filters", 52),
    ("tests/export.spec.ts", "exports the workbook as CSV", 11),
    ("tests/auth.spec.ts", "redirects anonymous users to the login page", 5),
    ("tests/auth.spec.ts", "signs in with SSO", 14),
    ("tests/agents.spec.ts", "lists the agent sessions", 9),
)
_PW_PROJECTS: Final = ("chromium", "firefox")
_PW_TIMEOUT: Final = f"\x1b[31m{TIMEOUT_MARKER}\x1b[39m"
_PW_EXPORT_ERROR: Final = (
    "Error: \x1b[2mexpect(\x1b[22m\x1b[31mlocator\x1b[39m\x1b[2m).\x1b[22mtoHaveText"
    "\x1b[2m(\x1b[22m\x1b[32mexpected\x1b[39m\x1b[2m)\x1b[22m failed\n\n"
    "Locator:  getByTestId('export-status')\n"
    'Expected: \x1b[32m"Export complete"\x1b[39m\n'
    'Received: \x1b[31m"Export failed: 413 Payload Too Large"\x1b[39m\n'
    "Timeout:  5000ms\n\n"
    "Call log:\n"
    "\x1b[2m  - Expect \"toHaveText\" getByTestId('export-status') with timeout 5000ms\x1b[22m\n"
    "\x1b[2m  - waiting for getByTestId('export-status')\x1b[22m\n"
    '\x1b[2m    {n} × locator resolved to <span data-testid="export-status">Export failed: 413 '
    "Payload Too Large</span>\x1b[22m\n"
    '\x1b[2m      - unexpected value "Export failed: 413 Payload Too Large"\x1b[22m\n'
)


def _pw_header(project: str, file: str, title: str, line: int, number: int) -> str:
    text = f"  {number}) [{project}] › {file}:{line}:3 › {title} "
    return text + "─" * max(3, 100 - len(text))


def _pw_timeout_block(rng: random.Random, file: str, line: int) -> list[str]:
    """One attempt of the date-range test hitting the test timeout, as the list reporter prints."""
    attempts = rng.randint(38, 61)
    return [
        f"    {TIMEOUT_MARKER}",
        "",
        f"    Error: locator.click: {TIMEOUT_MARKER}",
        "    Call log:",
        "      - waiting for getByRole('button', { name: 'Apply' })",
        '        - locator resolved to <button disabled type="submit" class="btn-apply">Apply'
        "</button>",
        "      - attempting click action",
        f"        {attempts} × waiting for element to be visible, enabled and stable",
        "          - element is not enabled",
        f"        - retrying click action, attempt #{attempts}",
        "",
        f"      {line + 2} |     await page.getByLabel('To').fill('2026-11-14');",
        f"    > {line + 3} |     await page.getByRole('button', {{ name: 'Apply' }}).click();",
        "         |                                                       ^",
        f"      {line + 4} |     await expect(page.getByTestId('kpi-revenue'))"
        ".not.toHaveText('—');",
        f"        at /home/runner/work/da-agent-hub/da-agent-hub/{file}:{line + 3}:55",
        "",
    ]


def _pw_timeout_log(
    rng: random.Random, project: str, file: str, title: str, line: int, *, retry_passed: bool
) -> str:
    """Console output of the flaky test: attempt 1 times out; the retry times out again (a
    failure) or passes (Playwright reports the test as flaky)."""
    lines = [_pw_header(project, file, title, line, 1), "", *_pw_timeout_block(rng, file, line)]
    passed = rng.randint(12, 14)
    if retry_passed:
        lines += ["  1 flaky", f"    [{project}] › {file}:{line}:3 › {title}"]
    else:
        lines += ["    Retry #1 " + "─" * 87, "", *_pw_timeout_block(rng, file, line)]
        lines += ["  1 failed", f"    [{project}] › {file}:{line}:3 › {title}"]
    lines.append(f"  1 skipped\n  {passed} passed ({rng.uniform(1.1, 2.4):.1f}m)")
    return "\n".join(lines)


def _pw_export_log(project: str, file: str, title: str, line: int, message: str) -> str:
    plain = message.replace("\x1b[2m", "").replace("\x1b[22m", "")
    for code in ("\x1b[31m", "\x1b[32m", "\x1b[39m"):
        plain = plain.replace(code, "")
    body = ["    " + text if text else "" for text in plain.splitlines()]
    return "\n".join(
        [
            _pw_header(project, file, title, line, 1),
            "",
            *body,
            "",
            f"      {line + 4} |     await page.getByRole('button', {{ name: 'Export' }}).click();",
            f"    > {line + 5} |     await expect(page.getByTestId('export-status'))"
            ".toHaveText('Export complete');",
            f"        at /home/runner/work/da-agent-hub/da-agent-hub/{file}:{line + 5}:52",
        ]
    )


def _da_agent_hub(rng: random.Random, origin: datetime) -> list[_Run]:
    feature = ("feature/csv-export", "fix/kpi-rounding", "feature/agent-sessions")
    runs: list[_Run] = []
    for day in range(DAYS):
        base = origin + timedelta(days=day)
        for minute in _times(rng, rng.choice((2, 3, 3, 4)), 8 * 60, 20 * 60, 45):
            branch = "main" if rng.random() < 0.8 else rng.choice(feature)
            runs.append(_Run(WEB_REPO, 0, day, base + timedelta(minutes=minute), branch=branch))
    for index, run in enumerate(runs):
        run.index = index

    for day in _FLAKY_RERUN_DAYS:
        _tag(runs, day, "flaky_rerun")
    for day in _FLAKY_RETRY_DAYS:
        _tag(runs, day, "flaky_retry")
    flaky_fail = _tag(runs, _FLAKY_FAIL_DAY, "flaky_fail", branch="main")
    _tag(runs, 6, "export", branch="feature/csv-export")

    _assign_commits(rng, runs, lambda r: r.tag == "export")
    # The run after the day-10 failure builds the same commit again, and passes.
    following = runs[flaky_fail.index + 1]
    if following.tag:
        raise RuntimeError("demo scenario: the run after the flaky failure must be untagged")
    following.branch, following.commit = flaky_fail.branch, flaky_fail.commit

    reruns: list[_Run] = []
    for run in runs:
        _pw_fill(rng, run)
        if run.tag == "flaky_rerun":
            assert run.finished is not None
            again = _Run(
                WEB_REPO,
                run.index,
                run.day,
                run.finished + timedelta(minutes=rng.randint(4, 18)),
                branch=run.branch,
                tag="flaky_rerun_pass",
                commit=run.commit,
                attempt=2,
            )
            _pw_fill(rng, again)
            reruns.append(again)
    return runs + reruns


def _pw_fill(rng: random.Random, run: _Run) -> None:
    fails_flaky = run.tag in ("flaky_rerun", "flaky_fail")
    for project in _PW_PROJECTS:
        for file, title, line in _PW_TESTS:
            check = f"{project} › {file} › {title}"
            duration = round(rng.uniform(0.8, 6.5), 2)
            if project == "firefox" and title == "signs in with SSO":
                result = _Result(check, "skip", "SSO popup flow is chromium-only", "", 0.0)
            elif check == _FLAKY_CHECK and fails_flaky:
                log = _pw_timeout_log(rng, project, file, title, line, retry_passed=False)
                result = _Result(check, "fail", _PW_TIMEOUT, log, round(60 + duration, 2))
            elif check == _FLAKY_CHECK and run.tag == "flaky_retry":
                log = _pw_timeout_log(rng, project, file, title, line, retry_passed=True)
                result = _Result(check, "flaky", _PW_TIMEOUT, log, round(30 + duration, 2))
            elif run.tag == "export" and file == "tests/export.spec.ts":
                message = _PW_EXPORT_ERROR.replace("{n}", str(rng.randint(8, 10)))
                log = _pw_export_log(project, file, title, line, message)
                result = _Result(check, "fail", message, log, round(10 + duration, 2))
            else:
                result = _Result(check, "pass", duration_s=duration)
            run.results.append(result)
    elapsed = sum(r.duration_s for r in run.results) / 2 + rng.uniform(70, 140)
    run.finished = run.start + timedelta(seconds=round(elapsed))


# --------------------------------------------------------------------------- events


def _event(run: _Run) -> dict[str, Any]:
    assert run.finished is not None
    url = f"https://github.com/{run.repo}/actions/runs/{run.run_id}"
    if run.attempt > 1:
        url += f"/attempts/{run.attempt}"
    return {
        "source": "generic",
        "repository": run.repo,
        "run": {
            "id": run.run_id,
            "attempt": run.attempt,
            "commit": run.commit,
            "branch": run.branch,
            "url": url,
            "started_at": _iso(run.start),
            "finished_at": _iso(run.finished),
            "status": _status_of(run.results),
        },
        "results": [
            {
                "check": r.check,
                "status": r.status,
                "message": r.message,
                "log": r.log,
                "duration_s": r.duration_s,
            }
            for r in run.results
        ],
    }


def demo_events(end: datetime) -> list[dict[str, Any]]:
    """Generic events for every demo run in the 14 days ending at ``end``, by ``finished_at``.

    ``end`` must be timezone-aware; it is converted to UTC and truncated to whole seconds.
    Deterministic: the same ``end`` always gives the same list (fixed seeds, no clock).
    """
    if end.tzinfo is None or end.utcoffset() is None:
        raise ValueError("demo_events needs a timezone-aware end time (e.g. datetime.now(UTC))")
    end = end.astimezone(UTC).replace(microsecond=0)
    origin = end - timedelta(days=DAYS)
    runs = [
        *_dbt_cloud(_rng(DBT_REPO), origin),
        *_roy_kent(_rng(CI_REPO), origin),
        *_da_agent_hub(_rng(WEB_REPO), origin),
    ]
    events = [_event(run) for run in runs]
    events.sort(
        key=lambda e: (
            e["run"]["finished_at"],
            e["repository"],
            int(e["run"]["id"]),
            e["run"]["attempt"],
        )
    )
    return events
