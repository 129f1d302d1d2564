"""The Playwright source: JSON reports of a real Playwright run (tests/playwright_project/, on
Debian's Chromium) and of the shared fixtures, then through the whole pipeline."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from triagehub.config import Settings
from triagehub.core.classify import _check_facts, detect_kind
from triagehub.core.fingerprint import normalize
from triagehub.core.models import CheckResult, RunReport, Status
from triagehub.engine.ingest import ingest_reports
from triagehub.errors import InputError
from triagehub.sources import playwright as pw
from triagehub.store.queries import list_issues

REPO_ROOT = Path(__file__).resolve().parent.parent
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")  # as in conftest.py
DATA = Path(__file__).parent / "data" / "playwright"
PROJECT = Path(__file__).parent / "playwright_project"
PLAYWRIGHT = REPO_ROOT / "node_modules" / ".bin" / "playwright"
CHROMIUM = Path("/usr/bin/chromium")
REPO = "acme/web"
ESC = "\x1b"

CART = "checkout/cart.spec.js"
PASSING = f"{CART} › checkout › shows the title"
NESTED_PASS = f"{CART} › checkout › cart › totals › starts empty"
FAILING = f"{CART} › checkout › cart › totals › heading names the cart"
TIMEOUT = "[chromium] timing.spec.js › waits for a banner that never appears"
FLAKY = "[chromium] timing.spec.js › flaky: fails on the first attempt, passes on retry"
SKIPPED = "[chromium] timing.spec.js › skipped: not relevant here"
DECLARED_SKIP = "[chromium] timing.spec.js › declared skip"
DATA_URL = "[chromium] timing.spec.js › data url renders"

F = TypeVar("F", bound=Callable[..., Any])


def real(fn: F) -> F:
    """A test that needs the real Playwright run (npm package and Chromium; a few seconds)."""
    marked: F = pytest.mark.node(pytest.mark.browser(pytest.mark.slow(fn)))
    return marked


def by_check(report: RunReport) -> dict[str, CheckResult]:
    return {r.check: r for r in report.results}


# ---------------------------------------------------------------------------------------------
# The real run: once per module
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RealRun:
    report: Path  # the main project's JSON report
    broken: Path  # the report of the project whose specs fail to load
    output: Path  # Playwright's output folder (screenshots, traces)
    seconds: float


def _prerequisites() -> None:
    missing = []
    if shutil.which("node") is None:
        missing.append("node (apt-get install nodejs)")
    if not PLAYWRIGHT.exists():
        missing.append(
            f"{PLAYWRIGHT} (from the repository root: PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci)"
        )
    if not CHROMIUM.exists():
        missing.append(f"{CHROMIUM} (apt-get install chromium; never `playwright install`)")
    if missing:
        message = "real Playwright run needs " + "; ".join(missing)
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)


def _run(config: Path, report: Path, output: Path) -> None:
    env = {
        **os.environ,
        "CI": "1",
        "PLAYWRIGHT_JSON_OUTPUT_NAME": str(report),
        "PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD": "1",
    }
    proc = subprocess.run(
        [str(PLAYWRIGHT), "test", "--config", str(config), "--output", str(output), "--workers=2"],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    if proc.returncode not in (0, 1) or not report.is_file():
        pytest.fail(
            f"playwright exited {proc.returncode} without a report at {report}:\n"
            f"{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
        )


@pytest.fixture(scope="module")
def real_run(tmp_path_factory: pytest.TempPathFactory) -> RealRun:
    _prerequisites()
    folder = tmp_path_factory.mktemp("playwright")
    started = time.monotonic()
    _run(PROJECT / "playwright.config.js", folder / "report.json", folder / "results")
    _run(PROJECT / "broken" / "playwright.config.js", folder / "broken.json", folder / "broken")
    return RealRun(
        folder / "report.json",
        folder / "broken.json",
        folder / "results",
        time.monotonic() - started,
    )


@pytest.fixture(scope="module")
def real_report(real_run: RealRun) -> RunReport:
    return pw.parse_report(real_run.report, repository=REPO, commit="abc1234", branch="main")


@pytest.fixture(scope="module")
def broken_report(real_run: RealRun) -> RunReport:
    return pw.parse_report(real_run.broken, repository=REPO)


@real
def test_real_report_is_recognised_by_its_first_bytes(real_run: RealRun) -> None:
    for path in (real_run.report, real_run.broken):
        with path.open("rb") as fh:
            assert pw.sniff(fh.read(64 * 1024))


@real
def test_every_test_maps_to_its_status(real_report: RunReport) -> None:
    statuses = {c: r.status for c, r in by_check(real_report).items()}
    for project in ("chromium", "mobile"):
        assert statuses[f"[{project}] {PASSING}"] is Status.PASS
        assert statuses[f"[{project}] {NESTED_PASS}"] is Status.PASS
        assert statuses[f"[{project}] {FAILING}"] is Status.FAIL
    assert statuses[TIMEOUT] is Status.FAIL
    assert statuses[FLAKY] is Status.FLAKY
    assert statuses[SKIPPED] is Status.SKIP
    assert statuses[DECLARED_SKIP] is Status.SKIP
    assert statuses[DATA_URL] is Status.PASS
    assert len(statuses) == 13  # 9 tests in chromium, the 4 checkout tests in mobile


@real
def test_check_ids_name_project_file_and_describe_blocks_without_line_numbers(
    real_report: RunReport,
) -> None:
    checks = set(by_check(real_report))
    assert f"[chromium] {FAILING}" in checks and f"[mobile] {FAILING}" in checks
    assert {c.split("]", 1)[0] + "]" for c in checks} == {"[chromium]", "[mobile]"}
    assert not any(":" in c.split(" › ", 1)[0] for c in checks)  # no file:line


@real
def test_the_flaky_test_is_flaky_after_a_retry(real_report: RunReport) -> None:
    flaky = by_check(real_report)[FLAKY]
    assert flaky.status is Status.FLAKY
    assert flaky.attempts >= 2
    assert "first attempt fails on purpose" in flaky.message
    assert "attempt 1 of 2: failed" in flaky.log
    assert "attempt 2: passed" in flaky.log


@real
def test_a_failing_test_keeps_every_retry(real_report: RunReport) -> None:
    failing = by_check(real_report)[f"[chromium] {FAILING}"]
    assert failing.attempts == 3  # retries: 2
    assert failing.message.startswith("Error: expect(locator).toHaveText(expected) failed")
    assert 'Expected: "Shopping Cart"' in failing.message
    assert failing.duration_s is not None and 0 < failing.duration_s < 30


@real
def test_the_missing_selector_wins_over_the_test_timeout(real_report: RunReport) -> None:
    timeout = by_check(real_report)[TIMEOUT]
    assert timeout.message.startswith("Error: locator.click: Test timeout of 1000ms exceeded.")
    assert "waiting for locator('#banner')" in timeout.message
    # the test's own timeout (Playwright's first error) is kept as context, after the real one
    assert timeout.log.index("waiting for locator") < timeout.log.index(
        "\n\nTest timeout of 1000ms exceeded."
    )


@real
def test_ansi_colour_codes_are_stripped(real_run: RealRun, real_report: RunReport) -> None:
    assert "\\u001b" in real_run.report.read_text()  # Playwright does write them (escaped)
    for r in real_report.results:
        assert ESC not in r.message and ESC not in r.log, r.check


@real
def test_the_log_has_location_code_frame_and_other_attempts(real_report: RunReport) -> None:
    log = by_check(real_report)[f"[chromium] {FAILING}"].log
    assert log.startswith("attempt 3 of 3: failed")
    assert "cart.spec.js:31:46" in log
    assert "> 31 |         await expect(page.locator('#title')).toHaveText('Shopping Cart');" in log
    assert "attempt 1: failed: Error: expect(locator).toHaveText(expected) failed" in log
    assert "attempt 2: failed" in log


@real
def test_links_are_the_screenshots_and_traces_of_failing_attempts(
    real_run: RealRun, real_report: RunReport
) -> None:
    checks = by_check(real_report)
    links = checks[f"[mobile] {FAILING}"].links
    screenshots = [link for link in links if link.endswith(".png")]
    traces = [link for link in links if link.endswith("trace.zip")]
    assert len(screenshots) == 3 and len(traces) == 3  # one of each per attempt
    for link in screenshots + traces:
        assert Path(link).is_file() and Path(link).is_relative_to(real_run.output)
    flaky_links = checks[FLAKY].links  # only the failing first attempt left attachments
    assert any(link.endswith(".png") for link in flaky_links)
    assert all("retry1" not in link for link in flaky_links)


@real
def test_passes_and_skips_carry_no_failure_detail(real_report: RunReport) -> None:
    for r in real_report.results:
        if r.status in (Status.PASS, Status.SKIP):
            assert (r.message, r.log, r.links, r.attempts) == ("", "", (), 1), r.check


@real
def test_run_metadata_comes_from_the_stats(real_run: RealRun, real_report: RunReport) -> None:
    stats = json.loads(real_run.report.read_text())["stats"]
    assert real_report.source == "playwright"
    assert (real_report.repository, real_report.commit, real_report.branch) == (
        REPO,
        "abc1234",
        "main",
    )
    assert real_report.started_at is not None and real_report.finished_at is not None
    assert real_report.started_at.isoformat().startswith(stats["startTime"][:19])
    elapsed = (real_report.finished_at - real_report.started_at).total_seconds()
    assert elapsed == pytest.approx(stats["duration"] / 1000, abs=0.001)
    assert real_report.status == "failure"


@real
def test_the_run_id_is_derived_from_the_content(real_run: RealRun, real_report: RunReport) -> None:
    again = pw.parse_report(real_run.report, repository=REPO)
    assert again.run_id == real_report.run_id and again.run_id.startswith("playwright-")
    broken = pw.parse_report(real_run.broken, repository=REPO)
    assert broken.run_id != real_report.run_id
    given = pw.parse_report(real_run.report, repository=REPO, run_id="gh-123")
    assert given.run_id == "gh-123"


@real
def test_specs_that_fail_to_load_become_error_results(broken_report: RunReport) -> None:
    checks = by_check(broken_report)
    assert set(checks) == {"[load] import_error.spec.js", "[load] missing_module.spec.js"}
    thrown = checks["[load] import_error.spec.js"]
    assert thrown.status is Status.ERROR
    assert thrown.message == ("Error: fixture file users.json not found: run `make fixtures` first")
    assert "import_error.spec.js:7:9" in thrown.log
    missing = checks["[load] missing_module.spec.js"]
    assert missing.message.startswith("Error: Cannot find module './helpers/session'")
    assert broken_report.status == "failure"


@real
def test_the_real_run_is_quick(real_run: RealRun) -> None:
    assert real_run.seconds < 120, f"the real Playwright run took {real_run.seconds:.0f} s"


# ---------------------------------------------------------------------------------------------
# The shared fixtures (tests/data/playwright/README.md)
# ---------------------------------------------------------------------------------------------


def test_fixture_report_statuses_and_messages() -> None:
    report = pw.parse_report(DATA / "report.json", repository=REPO)
    checks = by_check(report)
    base = "demo.spec.js › triage demo › "
    assert checks["demo.spec.js › skipped test"].status is Status.SKIP
    assert checks[base + "passes: title and click"].status is Status.PASS
    failing = checks[base + "fails: wrong heading text"]
    assert (failing.status, failing.attempts) == (Status.FAIL, 2)
    assert 'Received: "Triage Demo"' in failing.message
    timeout = checks[base + "times out: waits for missing element"]
    assert timeout.status is Status.FAIL
    assert "waiting for locator('#never-there')" in timeout.message
    flaky = checks[base + "flaky: fails first attempt, passes on retry"]
    assert (flaky.status, flaky.attempts) == (Status.FLAKY, 2)
    assert all(ESC not in r.message + r.log for r in report.results)
    assert any(link.endswith("test-failed-1.png") for link in failing.links)
    assert report.started_at is not None and report.started_at.isoformat() == (
        "2026-11-21T23:19:27.286000+00:00"
    )


def test_fixture_load_error_is_one_error_result() -> None:
    report = pw.parse_report(DATA / "report_load_error.json", repository=REPO)
    (result,) = report.results
    assert (result.check, result.status) == ("[load] bad.spec.js", Status.ERROR)
    assert result.message.startswith("SyntaxError:") and "Missing semicolon" in result.message
    assert "bad.spec.js:1:77" in result.log and ESC not in result.log


def test_sniff_recognises_reports_and_nothing_else() -> None:
    for name in ("report.json", "report_load_error.json"):
        assert pw.sniff((DATA / name).read_bytes()[: 64 * 1024])
    assert pw.sniff(b'\xef\xbb\xbf\n{"config": {"rootDir": "/x"')  # a long config, cut short
    assert not pw.sniff(b'{"repository": "a/b", "check": "x", "message": "boom"}')
    assert not pw.sniff(b'{"metadata": {"dbt_schema_version": "x"}, "results": []}')
    assert not pw.sniff(b'<?xml version="1.0"?><testsuites/>')
    assert not pw.sniff(b'{"config": {}}')
    assert not pw.sniff(b"")


# ---------------------------------------------------------------------------------------------
# Mapping details, on small hand-made reports
# ---------------------------------------------------------------------------------------------


def _result(status: str, retry: int = 0, **extra: Any) -> dict[str, Any]:
    return {"status": status, "retry": retry, "duration": 10, "errors": [], **extra}


def _doc(*tests: dict[str, Any], suites: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    spec = {"title": "t", "file": "a.spec.ts", "tests": list(tests)}
    return {
        "config": {"rootDir": "/r"},
        "suites": suites
        if suites is not None
        else [{"title": "a.spec.ts", "file": "a.spec.ts", "specs": [spec], "suites": []}],
        "errors": [],
        "stats": {"startTime": "2026-11-21T10:00:00.000Z", "duration": 1500.5},
    }


def _test(status: str, *results: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {
        "projectName": "p",
        "expectedStatus": "passed",
        "timeout": 2000,
        "status": status,
        "results": list(results),
        **extra,
    }


def _parse(tmp_path: Path, doc: Any) -> RunReport:
    path = tmp_path / "report.json"
    path.write_text(json.dumps(doc))
    return pw.parse_report(path, repository=REPO)


def test_an_interrupted_test_is_an_error(tmp_path: Path) -> None:
    report = _parse(tmp_path, _doc(_test("skipped", _result("interrupted"))))
    (r,) = report.results
    assert r.status is Status.ERROR and "interrupted" in r.message


def test_an_assertion_before_the_timeout_is_the_message(tmp_path: Path) -> None:
    timeout = {"message": "Test timeout of 2000ms exceeded."}
    failed = {
        "message": 'Error: expect(locator).toHaveText(expected) failed\n\nExpected: "EMEA: 1250"'
        '\nReceived: "EMEA: 1200"',
        "stack": "Error: expect(locator).toHaveText(expected) failed\n    at e2e/a.spec.ts:9:5",
    }
    result = _result("timedOut", errors=[timeout, failed], error=timeout)
    (r,) = _parse(tmp_path, _doc(_test("unexpected", result))).results
    assert r.message.startswith("Error: expect(locator).toHaveText(expected) failed")
    assert "Test timeout of 2000ms exceeded." not in r.message
    assert r.log.index("toHaveText") < r.log.index("Test timeout of 2000ms exceeded.")
    kind = detect_kind("playwright", r.check, normalize(r.message))
    assert kind.kind.value == "test"


def test_a_spec_ts_file_alone_is_not_end_to_end() -> None:
    assert not _check_facts("[chromium] components/button.spec.ts › renders")[0]
    assert _check_facts("[chromium] e2e/checkout.spec.ts › pays")[0]


def test_a_time_out_without_an_error_still_says_so(tmp_path: Path) -> None:
    report = _parse(tmp_path, _doc(_test("unexpected", _result("timedOut"))))
    assert report.results[0].message == "Test timeout of 2000ms exceeded."


def test_a_test_expected_to_fail_that_passed_fails(tmp_path: Path) -> None:
    test = _test("unexpected", _result("passed"), expectedStatus="failed")
    (r,) = _parse(tmp_path, _doc(test)).results
    assert r.status is Status.FAIL and "expected to be failed" in r.message


def test_a_test_expected_to_fail_that_failed_passes(tmp_path: Path) -> None:
    test = _test("expected", _result("failed"), expectedStatus="failed")
    assert _parse(tmp_path, _doc(test)).results[0].status is Status.PASS


def test_repeated_tests_keep_the_worst_outcome(tmp_path: Path) -> None:
    failed = _result("failed", errors=[{"message": "boom"}])
    report = _parse(
        tmp_path, _doc(_test("expected", _result("passed")), _test("unexpected", failed))
    )
    (r,) = report.results
    assert (r.check, r.status, r.message) == ("[p] a.spec.ts › t", Status.FAIL, "boom")


def test_attachments_without_a_path_are_named(tmp_path: Path) -> None:
    att = [{"name": "console-log", "contentType": "text/plain", "body": "eA=="}]
    failed = _result("failed", errors=[{"message": "boom"}], attachments=att)
    assert _parse(tmp_path, _doc(_test("unexpected", failed))).results[0].links == ("console-log",)


def test_messages_and_logs_are_bounded(tmp_path: Path) -> None:
    huge = "x" * (pw.MAX_LOG_CHARS * 2)
    errors = [{"message": f"Error: {i} {huge}", "stack": huge} for i in range(30)]
    failed = _result("failed", errors=errors)
    (r,) = _parse(tmp_path, _doc(_test("unexpected", _result("failed"), failed))).results
    assert len(r.message) <= pw.MAX_MESSAGE_CHARS and r.message.endswith("(truncated)")
    assert len(r.log) <= pw.MAX_LOG_CHARS
    assert r.log.rstrip().endswith("attempt 1: failed")  # the other attempts survive the cut


def test_deeply_nested_describe_blocks_are_walked(tmp_path: Path) -> None:
    inner: dict[str, Any] = {
        "title": "d",
        "file": "a.spec.ts",
        "specs": [{"title": "t", "tests": [_test("expected", _result("passed"))]}],
    }
    for _ in range(300):
        inner = {"title": "d", "file": "a.spec.ts", "specs": [], "suites": [inner]}
    top = {"title": "a.spec.ts", "file": "a.spec.ts", "specs": [], "suites": [inner]}
    (r,) = _parse(tmp_path, _doc(suites=[top])).results
    assert r.check.startswith("[p] a.spec.ts › d › d") and len(r.check) <= pw.MAX_CHECK_CHARS


def test_run_times_come_from_the_stats(tmp_path: Path) -> None:
    report = _parse(tmp_path, _doc(_test("expected", _result("passed"))))
    assert report.started_at is not None and report.finished_at is not None
    assert report.finished_at.isoformat() == "2026-11-21T10:00:01.500500+00:00"
    assert report.status == "success"


# ---------------------------------------------------------------------------------------------
# Bad input: an InputError naming the file and the JSON path, never a traceback
# ---------------------------------------------------------------------------------------------


def test_a_truncated_report_is_an_input_error(tmp_path: Path) -> None:
    path = tmp_path / "report.json"
    path.write_bytes((DATA / "report.json").read_bytes()[:5000])
    with pytest.raises(InputError) as info:
        pw.parse_report(path, repository=REPO)
    assert info.value.source == str(path)
    assert "truncated" in info.value.reason


def _set(doc: dict[str, Any], dotted: str, value: Any) -> None:
    node: Any = doc
    parts = dotted.replace("[", ".").replace("]", "").split(".")
    for part in parts[:-1]:
        node = node[int(part)] if part.isdigit() else node[part]
    last = parts[-1]
    if last.isdigit():
        node[int(last)] = value
    else:
        node[last] = value


@pytest.mark.parametrize(
    ("location", "value", "reason"),
    [
        ("suites[0].suites[0].specs[2].tests[0].results", {"a": 1}, "expected an array"),
        ("suites[0].suites[0].specs[2].tests[0].status", "weird", "unknown status"),
        ("suites[0].suites[0].specs[1].tests[0].results[1].status", 3, "expected a string"),
        ("suites[0].suites[0].specs[1].title", None, "missing required string"),
        ("suites[0].suites[0].specs[1].tests[0].results[0].attachments[0].path", 7, "a string"),
        ("suites[0].suites[0].specs[1].tests[0].results[0].errors[0]", "boom", "an object"),
        ("suites[0].suites[0].specs[1].tests[0].results[0].retry", "1", "an integer"),
        ("suites[0].specs", "none", "expected an array"),
        ("stats.startTime", "yesterday", "ISO 8601"),
        ("errors", {}, "expected an array"),
        ("config", [], "expected an object"),
    ],
)
def test_wrong_types_name_the_json_path(
    tmp_path: Path, location: str, value: Any, reason: str
) -> None:
    doc = json.loads((DATA / "report.json").read_text())
    _set(doc, location, value)
    path = tmp_path / "report.json"
    path.write_text(json.dumps(doc))
    with pytest.raises(InputError) as info:
        pw.parse_report(path, repository=REPO)
    assert (info.value.source, info.value.location) == (str(path), location)
    assert reason in info.value.reason


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (b"", "empty"),
        (b"[]", "expected a JSON object"),
        (b'{"suites": []}', "missing required object"),
        (b'{"config": {}}', "missing required field"),
        (b"\xff\xfe{", "malformed JSON"),
    ],
)
def test_what_is_not_a_report_is_an_input_error(
    tmp_path: Path, content: bytes, reason: str
) -> None:
    path = tmp_path / "report.json"
    path.write_bytes(content)
    with pytest.raises(InputError, match=reason):
        pw.parse_report(path, repository=REPO)


def test_a_bad_repository_or_a_missing_file_is_an_input_error(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="OWNER/NAME"):
        pw.parse_report(DATA / "report.json", repository="not a repo")
    with pytest.raises(InputError, match="cannot read"):
        pw.parse_report(tmp_path / "missing.json", repository=REPO)


# ---------------------------------------------------------------------------------------------
# Through the pipeline (SQLite and PostgreSQL)
# ---------------------------------------------------------------------------------------------


@real
def test_real_reports_through_the_pipeline(
    engine: Engine, real_report: RunReport, broken_report: RunReport
) -> None:
    summary = ingest_reports(engine, [real_report, broken_report], Settings())
    assert summary.storms == 0 and not summary.errors
    with Session(engine) as session:
        issues = list_issues(session=session)
    by_checks: dict[str, Any] = {}
    for issue in issues:
        for check in issue.checks:
            by_checks[check] = issue

    flaky = by_checks[FLAKY]
    assert flaky.history_class == "flaky"
    timeout = by_checks[TIMEOUT]
    assert timeout.kind == "test"  # a selector the page never showed, then the time limit
    assert "waiting for locator(" in timeout.template
    for project in ("chromium", "mobile"):
        assert by_checks[f"[{project}] {FAILING}"].kind == "test"
    load = by_checks["[load] import_error.spec.js"]
    assert load.state == "open" and "users.json not found" in load.sample_message
    assert "[load] missing_module.spec.js" in by_checks
    assert f"[chromium] {PASSING}" not in by_checks  # passes are history, not issues

    again = ingest_reports(engine, [real_report, broken_report], Settings())
    assert again.duplicate_runs == 2 and again.new_issues == 0 and again.updated_issues == 0
