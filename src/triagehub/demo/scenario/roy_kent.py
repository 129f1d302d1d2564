"""acme/roy_kent's runs: a GitHub Actions ``CI`` workflow (scenarios 1, 3, 6, one-off lint,
type and test failures, a leaked database URL)."""

from __future__ import annotations

import random
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta
from typing import Final

from triagehub.demo.scenario.data import (
    CI_REPO,
    DAYS,
    FAKE_DB_PASSWORD,
    FAKE_GITHUB_TOKEN,
    NETWORK_MARKER,
    REPEATED_CHECK,
    REPEATED_DAYS,
    STORM_DAY,
    STORM_MARKER,
    TRANSIENT_DAY,
)
from triagehub.demo.scenario.plan import (
    Result,
    Run,
    actions_log,
    assign_commits,
    hex_digits,
    minute_offsets,
    tag_run,
    uuid4_of,
)

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


def _pytest_failed(rng: random.Random, error: str, message: str, seconds: float) -> list[str]:
    """The end of a failed pytest step's log: the error, the summary, the exit code."""
    return [
        f"E   {error}",
        "=" * 27 + " short test summary info " + "=" * 28,
        message,
        _pytest_summary("1 failed", rng.randint(205, 231), seconds),
        "##[error]Process completed with exit code 1.",
    ]


def _rk_repeated(rng: random.Random, run: Run) -> Result:
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
        *_pytest_failed(rng, error, message, seconds),
    ]
    log = actions_log(rng, stamp, lines)
    return Result(REPEATED_CHECK, "fail", message, log, round(seconds + 1.5, 2))


def _rk_transient(rng: random.Random, run: Run, job: str) -> Result:
    """Scenario 3: DNS failure while pip clones a git dependency. The step's env leaks a token."""
    version = job.removeprefix("test (").removesuffix(")")
    tmp = f"/tmp/pip-install-{hex_digits(rng, 8)}/shared-utils_{hex_digits(rng, 32)}"
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
    return Result(check, "fail", message, actions_log(rng, at, lines), round(rng.uniform(4, 9), 2))


def _rk_ruff(rng: random.Random, at: datetime) -> Result:
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
    log = actions_log(rng, at, lines)
    return Result("CI / lint / Run ruff", "fail", message, log, round(rng.uniform(0.4, 2), 2))


def _rk_mypy(rng: random.Random, at: datetime) -> Result:
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
    log = actions_log(rng, at, lines)
    return Result("CI / lint / Run mypy", "fail", message, log, round(rng.uniform(12, 31), 2))


def _rk_pytest_one_off(rng: random.Random, at: datetime) -> Result:
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
        *_pytest_failed(rng, error, message, seconds),
    ]
    log = actions_log(rng, at, lines)
    return Result("CI / test (3.12) / Run pytest", "fail", message, log, round(seconds + 1.2, 2))


def _rk_integration_secret(rng: random.Random, at: datetime) -> Result:
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
    log = actions_log(rng, at, lines)
    return Result(
        "CI / integration / Run integration tests", "error", message, log, round(seconds + 1, 2)
    )


_RK_ONE_OFFS: Final[dict[str, Callable[[random.Random, datetime], Result]]] = {
    "ruff": _rk_ruff,
    "mypy": _rk_mypy,
    "pytest_one_off": _rk_pytest_one_off,
    "integration_secret": _rk_integration_secret,
}


def _rk_storm(rng: random.Random, run: Run, check: str) -> Result:
    """Scenario 6: the runner's disk is full; every step dies with the same I/O error."""
    step = check.rsplit(" / ", 1)[1]
    message = (
        f"System.IO.IOException: {STORM_MARKER} : '/home/runner/work/_temp/{uuid4_of(rng)}.sh'"
    )
    lines = [*_rk_group(step), f"##[error]{message}"]
    if rng.random() < 0.5:
        lines.append(
            "##[error]The runner has received a shutdown signal. This can happen when the runner "
            "service is stopped, or a manually started runner is canceled."
        )
    at = run.start + timedelta(seconds=rng.uniform(5, 60))
    log = actions_log(rng, at, lines)
    return Result(check, "error", message, log, round(rng.uniform(0.1, 2.5), 2))


def roy_kent_runs(rng: random.Random, origin: datetime) -> list[Run]:
    feature = ("feature/export-v2", "fix/cli-timeouts", "chore/ruff-0.8", "feature/pg-pool")
    runs: list[Run] = []
    for day in range(DAYS):
        base = origin + timedelta(days=day)
        for minute in minute_offsets(rng, rng.choice((3, 4, 4, 5)), 7 * 60, 21 * 60, 30):
            branch = "main" if rng.random() < 0.75 else rng.choice(feature)
            runs.append(Run(CI_REPO, 0, day, base + timedelta(minutes=minute), branch=branch))
    for index, run in enumerate(runs):
        run.index = index

    tag_run(runs, STORM_DAY, "storm", branch="main")
    tag_run(runs, TRANSIENT_DAY, "transient_1", branch="main")
    tag_run(runs, TRANSIENT_DAY, "transient_2", branch="main")
    for day in REPEATED_DAYS:
        tag_run(runs, day, "repeated", last=True, branch="main")
    tag_run(runs, 6, "ruff", branch="chore/ruff-0.8")
    tag_run(runs, 8, "mypy", branch="feature/export-v2")
    tag_run(runs, 10, "pytest_one_off", branch="main")
    tag_run(runs, 12, "integration_secret", branch="feature/pg-pool")

    assign_commits(rng, runs, lambda r: bool(r.tag) and r.tag != "storm")

    for run in runs:
        planned: list[Result] = []
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
                    result = Result(check, "skip")
                elif check in failures:
                    result = failures[check]
                    broken = True
                else:
                    result = Result(check, "pass", duration_s=duration)
                total += result.duration_s
                run.results.append(result)
            job_seconds.append(total)
        elapsed = max(job_seconds) + rng.uniform(15, 45)
        run.finished = run.start + timedelta(seconds=round(elapsed))
    return runs
