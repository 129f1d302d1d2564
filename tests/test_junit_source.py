"""The JUnit/xUnit XML source: real pytest output, tool samples, merging, safety and limits."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from triagehub.config import Settings
from triagehub.core.classify import ClassifyInput, classify, detect_kind
from triagehub.core.excerpt import error_text
from triagehub.core.fingerprint import normalize
from triagehub.core.models import CheckResult, HistoryClass, RunReport, Status
from triagehub.errors import InputError
from triagehub.sources import junit
from triagehub.sources.junit import parse_files, sniff

DATA = Path(__file__).parent / "data" / "junit"
REPO = "acme/app"

SUREFIRE = DATA / "surefire_TEST-com.example.checkout.CartServiceTest.xml"
GRADLE = DATA / "gradle_TEST-com.example.billing.InvoiceCalculatorTest.xml"
JEST = DATA / "jest-junit.xml"
GO = DATA / "go-junit-report.xml"
PLAYWRIGHT = DATA / "playwright_junit.xml"

# --------------------------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------------------------


def _parse(*paths: Path, **kw: str) -> RunReport:
    return parse_files(list(paths), repository=REPO, **kw)


def _by_check(report: RunReport) -> dict[str, CheckResult]:
    return {r.check: r for r in report.results}


def _statuses(report: RunReport) -> dict[str, str]:
    return {r.check: r.status.value for r in report.results}


def _write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text).lstrip(), encoding="utf-8")
    return path


def _error(path: Path) -> InputError:
    with pytest.raises(InputError) as info:
        parse_files([path], repository=REPO)
    return info.value


# --------------------------------------------------------------------------------------------
# Real pytest output (one pytest run per junit family, once per module)
# --------------------------------------------------------------------------------------------

_SUITE = """
import sys

import pytest


@pytest.fixture
def broken_db():
    raise ConnectionError("could not connect to db at 127.0.0.1:5432")


def test_pass():
    assert 1 + 1 == 2


def test_fail_assertion():
    assert {"status": "failure"} == {"status": "success"}


def test_setup_error(broken_db):
    pass


@pytest.mark.xfail(reason="known bug #12")
def test_xfail():
    assert False


def test_skipped():
    pytest.skip("not implemented yet")


@pytest.mark.parametrize(("n", "s"), [(1, "a"), (2, "b")])
def test_param(n, s):
    assert n == 1


def test_output(record_property):
    record_property("owner", "team-data")
    print("hello from stdout")
    print("warning on stderr", file=sys.stderr)
    assert False, "custom failure message"


def test_timeout():
    raise TimeoutError("operation timed out after 30s")
"""

PYTEST_STATUSES = {
    "test_demo::test_pass": "pass",
    "test_demo::test_fail_assertion": "fail",
    "test_demo::test_setup_error": "error",
    "test_demo::test_xfail": "skip",
    "test_demo::test_skipped": "skip",
    "test_demo::test_param[1-a]": "pass",
    "test_demo::test_param[2-b]": "fail",
    "test_demo::test_output": "fail",
    "test_demo::test_timeout": "fail",
}


@pytest.fixture(scope="module")
def pytest_reports(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """JUnit XML written by a real pytest run of a small suite, for xunit1 and xunit2."""
    root = tmp_path_factory.mktemp("pytest_junit")
    suite = root / "suite"
    suite.mkdir()
    (suite / "test_demo.py").write_text(_SUITE, encoding="utf-8")
    ini = suite / "pytest.ini"
    ini.write_text("[pytest]\n", encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if k != "PYTEST_ADDOPTS"}
    env["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = "1"
    reports: dict[str, Path] = {}
    for family in ("xunit1", "xunit2"):
        out = root / f"{family}.xml"
        proc = subprocess.run(
            [
                sys.executable,
                "-m",
                "pytest",
                str(suite),
                f"--junitxml={out}",
                "-o",
                f"junit_family={family}",
                "-o",
                "junit_logging=all",
                "-c",
                str(ini),
                "--rootdir",
                str(suite),
                "-p",
                "no:cacheprovider",
                "-q",
            ],
            cwd=suite,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert proc.returncode == 1, proc.stdout + proc.stderr  # tests failed, as intended
        assert out.is_file()
        reports[family] = out
    return reports


@pytest.fixture(scope="module", params=["xunit1", "xunit2"])
def pytest_report(request: pytest.FixtureRequest, pytest_reports: dict[str, Path]) -> RunReport:
    return _parse(pytest_reports[request.param])


def test_pytest_gives_one_status_per_case(pytest_report: RunReport) -> None:
    assert _statuses(pytest_report) == PYTEST_STATUSES
    assert pytest_report.source == "junit"
    assert pytest_report.repository == REPO
    assert pytest_report.status == "failure"


def test_pytest_assertion_failure_has_message_and_traceback(pytest_report: RunReport) -> None:
    result = _by_check(pytest_report)["test_demo::test_fail_assertion"]
    assert result.message.startswith(
        "AssertionError: assert {'status': 'failure'} == {'status': 'success'}"
    )
    assert "E       AssertionError: assert {'status': 'failure'}" in result.log
    assert re.search(r"^test_demo\.py:\d+: AssertionError$", result.log, re.M)
    assert result.attempts == 1


def test_pytest_setup_error_is_an_error(pytest_report: RunReport) -> None:
    result = _by_check(pytest_report)["test_demo::test_setup_error"]
    assert result.status is Status.ERROR
    assert result.message == (
        'failed on setup with "ConnectionError: could not connect to db at 127.0.0.1:5432"'
    )
    assert "E       ConnectionError: could not connect to db" in result.log


def test_pytest_xfail_and_skip_are_skips_with_their_reason(pytest_report: RunReport) -> None:
    results = _by_check(pytest_report)
    assert results["test_demo::test_xfail"].message == "pytest.xfail: known bug #12"
    assert results["test_demo::test_skipped"].message == "pytest.skip: not implemented yet"
    assert results["test_demo::test_skipped"].log == ""


def test_pytest_parametrised_ids_are_kept(pytest_report: RunReport) -> None:
    results = _by_check(pytest_report)
    assert results["test_demo::test_param[1-a]"].status is Status.PASS
    failed = results["test_demo::test_param[2-b]"]
    assert failed.message == "assert 2 == 1"
    assert "n = 2, s = 'b'" in failed.log


def test_pytest_stdout_and_stderr_excerpts_are_in_the_log(pytest_report: RunReport) -> None:
    log = _by_check(pytest_report)["test_demo::test_output"].log
    trace_at = log.index("E       AssertionError: custom failure message")
    out_at = log.index("--- system-out ---")
    err_at = log.index("--- system-err ---")
    assert trace_at < out_at < err_at
    assert "hello from stdout" in log[out_at:err_at]
    assert "warning on stderr" in log[err_at:]
    # pytest's headers of empty captures are dropped
    assert "Captured Log" not in log


def test_pytest_record_property_sets_the_owner(pytest_report: RunReport) -> None:
    result = _by_check(pytest_report)["test_demo::test_output"]
    assert result.owner == "team-data"
    assert "--- properties ---\nowner = team-data" in result.log


def test_pytest_cases_without_output_have_no_output_section(pytest_report: RunReport) -> None:
    log = _by_check(pytest_report)["test_demo::test_param[2-b]"].log
    assert "system-out" not in log and "system-err" not in log


def test_pytest_durations_and_run_times(pytest_report: RunReport) -> None:
    durations = [r.duration_s for r in pytest_report.results]
    assert all(d is not None and 0 <= d < 60 for d in durations)
    assert pytest_report.started_at is not None and pytest_report.finished_at is not None
    assert pytest_report.started_at.tzinfo is not None
    assert (
        timedelta(0) <= pytest_report.finished_at - pytest_report.started_at < timedelta(minutes=1)
    )
    # real time: the report was just written by a real pytest process, which no offset shifts
    assert abs(datetime.now(UTC) - pytest_report.started_at) < timedelta(hours=1)


def test_passing_and_skipped_results_carry_no_log(pytest_report: RunReport) -> None:
    passed = _by_check(pytest_report)["test_demo::test_pass"]
    assert (passed.message, passed.log, passed.links) == ("", "", ())


def test_pytest_families_give_the_same_checks(pytest_reports: dict[str, Path]) -> None:
    one, two = (_parse(pytest_reports[f]) for f in ("xunit1", "xunit2"))
    assert [(r.check, r.status, r.message) for r in one.results] == [
        (r.check, r.status, r.message) for r in two.results
    ]
    assert one.run_id != two.run_id


# --------------------------------------------------------------------------------------------
# The shared fixtures (real pytest and Playwright output)
# --------------------------------------------------------------------------------------------

SHARED_STATUSES = {
    "test_demo::test_pass": "pass",
    "test_demo::test_fail_assertion": "fail",
    "test_demo::test_error_in_fixture": "error",
    "test_demo::test_exception_in_test": "fail",
    "test_demo::test_skipped": "skip",
    "test_demo::test_xfail": "skip",
    "test_demo::test_param[1]": "pass",
    "test_demo::test_param[2]": "fail",
    "test_demo::test_with_output": "fail",
}


SHARED_STARTS = {
    "junit.xml": datetime(2026, 11, 21, 23, 20, 53, 718924, tzinfo=UTC),
    "junit.pretty.xml": datetime(2026, 11, 21, 23, 20, 53, 718924, tzinfo=UTC),
    "junit_xunit1.xml": datetime(2026, 11, 21, 23, 20, 54, 31841, tzinfo=UTC),
}
SHARED_TIMES = {"junit.xml": 0.069, "junit.pretty.xml": 0.069, "junit_xunit1.xml": 0.061}


@pytest.mark.parametrize("name", sorted(SHARED_STARTS))
def test_shared_pytest_fixtures(name: str) -> None:
    report = _parse(DATA / name)
    assert _statuses(report) == SHARED_STATUSES
    results = _by_check(report)
    assert results["test_demo::test_exception_in_test"].message == (
        "ValueError: unexpected payload: missing 'workflow_run'"
    )
    # XML turns a literal newline inside an attribute (the pretty file) into a space
    assert " ".join(results["test_demo::test_with_output"].message.split()) == (
        "AssertionError: custom failure message assert False"
    )
    assert report.started_at == SHARED_STARTS[name]
    assert report.finished_at == SHARED_STARTS[name] + timedelta(seconds=SHARED_TIMES[name])


def test_pretty_printed_report_reads_like_the_compact_one() -> None:
    compact, pretty = _parse(DATA / "junit.xml"), _parse(DATA / "junit.pretty.xml")
    assert [(r.check, r.status, r.log, r.duration_s) for r in compact.results] == [
        (r.check, r.status, r.log, r.duration_s) for r in pretty.results
    ]
    # messages differ only where XML normalised the newlines of the pretty file's attributes
    assert [" ".join(r.message.split()) for r in compact.results] == [
        " ".join(r.message.split()) for r in pretty.results
    ]
    assert compact.run_id != pretty.run_id  # different bytes, different run


def test_shared_xunit1_fixture_keeps_captured_stdout() -> None:
    results = _by_check(_parse(DATA / "junit_xunit1.xml"))
    assert "--- system-out ---" in results["test_demo::test_with_output"].log
    assert "some stdout line" in results["test_demo::test_with_output"].log
    assert "system-out" not in results["test_demo::test_param[2]"].log  # only empty captures


def test_playwright_junit_report() -> None:
    report = _parse(PLAYWRIGHT)
    results = _by_check(report)
    prefix = "demo.spec.js::triage demo › "
    assert _statuses(report) == {
        f"{prefix}passes: title and click": "pass",
        f"{prefix}fails: wrong heading text": "fail",
        f"{prefix}times out: waits for missing element": "error",
        f"{prefix}flaky: fails first attempt, passes on retry": "pass",  # JUnit cannot tell
        "demo.spec.js::skipped test": "skip",
    }
    failed = results[f"{prefix}fails: wrong heading text"]
    assert failed.message == "expect.toHaveText: expect(locator).toHaveText(expected) failed"
    assert 'Expected: "Something Else"' in failed.log
    assert (
        failed.links[0]
        == "test-results/demo-triage-demo-fails-wrong-heading-text/test-failed-1.png"
    )
    assert len(failed.links) == 4
    timeout = results[f"{prefix}times out: waits for missing element"]
    assert timeout.message == "Error: Test timeout of 3000ms exceeded."
    assert timeout.duration_s == pytest.approx(6.165)
    assert report.started_at == datetime(2026, 11, 21, 23, 19, 27, 340000, tzinfo=UTC)
    assert report.finished_at == report.started_at + timedelta(seconds=9.639)


# --------------------------------------------------------------------------------------------
# Maven Surefire / Failsafe
# --------------------------------------------------------------------------------------------

CART = "com.example.checkout.CartServiceTest::"


def test_surefire_statuses() -> None:
    assert _statuses(_parse(SUREFIRE)) == {
        f"{CART}addsItemToEmptyCart": "pass",
        f"{CART}appliesDiscountCode": "flaky",
        f"{CART}reservesStock": "flaky",
        f"{CART}computesShippingForOversizedParcel": "fail",
        f"{CART}loadsTaxRates": "error",
        f"{CART}exportsInvoicePdf": "skip",
    }


def test_surefire_flaky_failure_is_flaky_with_attempts() -> None:
    results = _by_check(_parse(SUREFIRE))
    once = results[f"{CART}appliesDiscountCode"]
    assert once.attempts == 2
    assert once.message == (
        "org.opentest4j.AssertionFailedError: expected: <90.00> but was: <100.00>"
    )
    assert "CartServiceTest.java:42" in once.log
    assert "discount service slow to answer" in once.log  # the failed attempt's own output
    twice = results[f"{CART}reservesStock"]
    assert twice.attempts == 3  # a flakyError and a flakyFailure, then a pass
    assert twice.message.startswith("io.lettuce.core.RedisConnectionException: Connection refused")
    assert "flakyError (attempt 1)" in twice.log and "flakyFailure (attempt 2)" in twice.log


def test_surefire_rerun_failures_fail_with_every_attempt_counted() -> None:
    results = _by_check(_parse(SUREFIRE))
    failed = results[f"{CART}computesShippingForOversizedParcel"]
    assert (failed.status, failed.attempts) == (Status.FAIL, 3)
    assert failed.log.startswith("org.opentest4j.AssertionFailedError: expected: <12.50>")
    assert failed.log.count("--- rerunFailure (attempt") == 2
    assert "parcel 120x80x60 cm" in failed.log
    errored = results[f"{CART}loadsTaxRates"]
    assert (errored.status, errored.attempts) == (Status.ERROR, 2)
    assert errored.message.startswith("java.lang.NullPointerException: Cannot invoke")


def test_surefire_report_has_no_timestamps() -> None:
    report = _parse(SUREFIRE)
    assert (report.started_at, report.finished_at) == (None, None)
    assert _by_check(report)[f"{CART}exportsInvoicePdf"].message == (
        "PDF renderer not available on CI"
    )


# --------------------------------------------------------------------------------------------
# Gradle, jest-junit, go-junit-report
# --------------------------------------------------------------------------------------------

INVOICE = "com.example.billing.InvoiceCalculatorTest::"


def test_gradle_report() -> None:
    report = _parse(GRADLE)
    assert _statuses(report) == {
        f"{INVOICE}sumsLineItems()": "pass",
        f"{INVOICE}roundsVatHalfUp()": "fail",
        f"{INVOICE}fetchesExchangeRate()": "flaky",
        f"{INVOICE}printsPdf()": "skip",
    }
    failed = _by_check(report)[f"{INVOICE}roundsVatHalfUp()"]
    # Gradle's message already starts with the type: it is not repeated
    assert failed.message == (
        "org.opentest4j.AssertionFailedError: expected: <19.99> but was: <19.98>"
    )
    assert "InvoiceCalculatorTest.java:38" in failed.log
    assert report.started_at == datetime(2026, 11, 20, 10, 15, 30, tzinfo=UTC)  # naive is UTC
    assert report.finished_at == report.started_at + timedelta(seconds=0.846)


def test_gradle_retry_written_twice_is_one_flaky_result() -> None:
    retried = _by_check(_parse(GRADLE))[f"{INVOICE}fetchesExchangeRate()"]
    assert retried.attempts == 2
    assert retried.message == "java.net.SocketTimeoutException: Read timed out"
    assert retried.duration_s == pytest.approx(0.502 + 0.288)
    # no output of its own: the suite's output, labelled
    assert "--- system-out (suite) ---" in retried.log
    assert "rates.internal did not answer within 500 ms" in retried.log


def test_jest_junit_report() -> None:
    report = _parse(JEST)
    assert _statuses(report) == {
        "sum adds positive numbers": "pass",  # classname == name: the name alone
        "sum adds negative numbers": "fail",
        "sum adds zero": "skip",
        "sum handles large numbers": "pass",
        "Test suite failed to run::src/__tests__/db.test.js": "error",
    }
    results = _by_check(report)
    failed = results["sum adds negative numbers"]
    # no message attribute: the first line of the text
    assert failed.message == "Error: expect(received).toBe(expected) // Object.is equality"
    assert "Received: -5" in failed.log
    broken = results["Test suite failed to run::src/__tests__/db.test.js"]
    assert broken.message == "Cannot find module '../db' from 'src/__tests__/db.test.js'"
    assert report.started_at == datetime(2026, 11, 20, 10, 15, 2, tzinfo=UTC)
    assert report.finished_at == datetime(2026, 11, 20, 10, 15, 3, 312000, tzinfo=UTC)


def test_go_junit_report() -> None:
    report = _parse(GO)
    assert _statuses(report) == {
        "example.com/shop/cart::TestAddItem": "pass",
        "example.com/shop/cart::TestTotal/with_discount": "fail",
        "example.com/shop/cart::TestCheckoutRemote": "skip",
        "example.com/shop/payments::[build failed]": "error",
        "example.com/shop/api::TestHealth": "pass",
    }
    results = _by_check(report)
    failed = results["example.com/shop/cart::TestTotal/with_discount"]
    # go-junit-report's placeholder "Failed" gives way to the first line of the output
    assert failed.message == "cart_test.go:42: Total() = 95, want 90"
    assert "--- system-out (suite) ---\nexit status 1" in failed.log
    assert results["example.com/shop/cart::TestCheckoutRemote"].message == (
        "cart_test.go:61: set CART_REMOTE=1 to run"
    )
    build = results["example.com/shop/payments::[build failed]"]
    assert build.message == "Build error"
    assert "undefined: chargeRequest" in build.log
    assert report.started_at == datetime(2026, 11, 20, 10, 15, 58, tzinfo=UTC)
    assert report.finished_at == datetime(2026, 11, 20, 10, 16, 1, 20000, tzinfo=UTC)


# --------------------------------------------------------------------------------------------
# One run from several files
# --------------------------------------------------------------------------------------------


def _one_case(tmp_path: Path, name: str, body: str, stamp: str = "2026-11-20T10:00:00") -> Path:
    return _write(
        tmp_path,
        name,
        f"""
        <testsuite name="s" timestamp="{stamp}" time="2.0">
          <testcase classname="pkg.Mod" name="test_x" time="1.5">{body}</testcase>
          <testcase classname="pkg.Mod" name="test_ok" time="0.5"/>
        </testsuite>
        """,
    )


def test_a_case_failing_in_one_file_and_passing_in_another_is_flaky(tmp_path: Path) -> None:
    first = _one_case(tmp_path, "a.xml", '<failure message="boom">trace a</failure>')
    retry = _one_case(tmp_path, "b.xml", "", stamp="2026-11-20T10:05:00")
    report = _parse(first, retry)
    results = _by_check(report)
    flaky = results["pkg.Mod::test_x"]
    assert (flaky.status, flaky.attempts, flaky.message) == (Status.FLAKY, 2, "boom")
    assert flaky.log == "trace a"
    assert flaky.duration_s == pytest.approx(3.0)
    assert results["pkg.Mod::test_ok"].status is Status.PASS
    assert results["pkg.Mod::test_ok"].attempts == 1
    assert report.status == "success"
    assert report.started_at == datetime(2026, 11, 20, 10, 0, tzinfo=UTC)
    assert report.finished_at == datetime(2026, 11, 20, 10, 5, 2, tzinfo=UTC)


def test_a_case_failing_in_every_file_fails_with_its_attempts(tmp_path: Path) -> None:
    first = _one_case(tmp_path, "a.xml", '<failure message="boom">trace a</failure>')
    second = _one_case(tmp_path, "b.xml", '<failure message="boom again">trace b</failure>')
    result = _by_check(_parse(first, second))["pkg.Mod::test_x"]
    assert (result.status, result.attempts, result.message) == (Status.FAIL, 2, "boom")


def test_run_id_is_stable_and_independent_of_file_order(tmp_path: Path) -> None:
    a = _one_case(tmp_path, "a.xml", '<failure message="boom"/>')
    b = _one_case(tmp_path, "b.xml", "")
    ids = {_parse(a, b).run_id, _parse(b, a).run_id, _parse(a, b).run_id}
    assert len(ids) == 1
    assert ids.pop().startswith("junit-")


def test_run_id_changes_with_the_content(tmp_path: Path) -> None:
    a = _one_case(tmp_path, "a.xml", '<failure message="boom"/>')
    b = _one_case(tmp_path, "b.xml", '<failure message="bang"/>')
    assert _parse(a).run_id != _parse(b).run_id
    assert _parse(a).run_id != _parse(a, b).run_id


def test_the_same_file_twice_is_read_once(tmp_path: Path) -> None:
    a = _one_case(tmp_path, "a.xml", '<failure message="boom"/>')
    twice = _parse(a, a)
    assert twice.run_id == _parse(a).run_id
    assert _by_check(twice)["pkg.Mod::test_x"].attempts == 1


def test_given_run_id_and_metadata_are_kept(tmp_path: Path) -> None:
    a = _one_case(tmp_path, "a.xml", "")
    report = parse_files(
        [a],
        repository=REPO,
        run_id="gha-991-2",
        commit="3f2c1e9",
        branch="main",
        url="https://ci.example/run/991",
        source="pytest",
    )
    assert (report.run_id, report.commit, report.branch, report.url, report.source) == (
        "gha-991-2",
        "3f2c1e9",
        "main",
        "https://ci.example/run/991",
        "pytest",
    )
    assert report.status == "success"


# --------------------------------------------------------------------------------------------
# Shapes: namespaces, nesting, ids, times
# --------------------------------------------------------------------------------------------


def test_nested_suites_and_suite_output(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        "nested.xml",
        """
        <?xml version="1.0" encoding="UTF-8"?>
        <!-- written by a custom runner -->
        <testsuites>
          <testsuite name="outer" timestamp="2026-11-20T09:00:00+02:00" time="3">
            <testsuite name="inner" timestamp="2026-11-20T07:00:01Z" time="1">
              <testcase classname="inner" name="a"><error message="bad" type="IOError"/></testcase>
              <system-err>inner stderr</system-err>
            </testsuite>
            <testcase name="b" time="not-a-number"><failure type="AssertionError"/></testcase>
            <system-out>outer stdout</system-out>
          </testsuite>
        </testsuites>
        """,
    )
    report = _parse(path)
    results = _by_check(report)
    assert results["inner::a"].message == "IOError: bad"
    assert "--- system-err (suite) ---\ninner stderr" in results["inner::a"].log
    assert "outer stdout" not in results["inner::a"].log
    assert results["b"].message == "AssertionError"  # no classname: the name alone
    assert results["b"].duration_s is None
    assert "outer stdout" in results["b"].log
    assert report.started_at == datetime(2026, 11, 20, 7, 0, tzinfo=UTC)  # offset to UTC
    assert report.finished_at == datetime(2026, 11, 20, 7, 0, 3, tzinfo=UTC)


def test_a_default_namespace_is_ignored(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        "ns.xml",
        """
        <testsuite xmlns="http://maven.apache.org/surefire" name="S" tests="2">
          <testcase classname="C" name="ok" time="1,234.5"/>
          <testcase classname="C" name="flaky"><flakyFailure message="first try"/></testcase>
        </testsuite>
        """,
    )
    results = _by_check(_parse(path))
    assert results["C::ok"].duration_s == pytest.approx(1234.5)
    assert (results["C::flaky"].status, results["C::flaky"].attempts) == (Status.FLAKY, 2)


def test_a_failure_then_a_teardown_error_is_a_failure_with_both_in_the_log(
    tmp_path: Path,
) -> None:
    path = _write(
        tmp_path,
        "both.xml",
        """
        <testsuite name="s">
          <testcase classname="t" name="x">
            <failure message="assert 1 == 2">E   assert 1 == 2</failure>
            <error message="failed on teardown with &quot;OSError: busy&quot;"
              >E   OSError: busy</error>
          </testcase>
        </testsuite>
        """,
    )
    result = _by_check(_parse(path))["t::x"]
    assert (result.status, result.message) == (Status.FAIL, "assert 1 == 2")
    assert result.log.startswith("E   assert 1 == 2")
    assert '--- error: failed on teardown with "OSError: busy" ---\nE   OSError: busy' in result.log


def test_an_undeclared_entity_is_malformed_xml(tmp_path: Path) -> None:
    path = _write(tmp_path, "ent.xml", '<testsuite name="s"><testcase name="&xxe;"/></testsuite>')
    error = _error(path)
    assert error.reason == "malformed XML: undefined entity"
    assert error.location == "line 1, column 21"  # the <testcase> that uses it


def test_check_ids() -> None:
    assert junit.check_id("tests.test_a.TestX", "test_y[1-a]") == "tests.test_a.TestX::test_y[1-a]"
    assert junit.check_id(None, "  spaced\n name ") == "spaced name"
    assert junit.check_id("same title", "same title") == "same title"
    long = junit.check_id("c", "x" * 5000)
    assert len(long) == junit.MAX_CHECK_CHARS
    assert long != junit.check_id("c", "x" * 4999)


def test_a_testcase_without_a_name_is_an_error(tmp_path: Path) -> None:
    path = _write(tmp_path, "noname.xml", '<testsuite>\n  <testcase classname="c"/>\n</testsuite>')
    error = _error(path)
    assert error.source == str(path)
    assert error.location == "line 2"
    assert "without a name" in error.reason


# --------------------------------------------------------------------------------------------
# Bad input
# --------------------------------------------------------------------------------------------

BILLION_LAUGHS = """<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
 <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
 <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
 <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
 <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
 <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
]>
<testsuites><testsuite name="s"><testcase name="t"><failure message="&lol9;">&lol9;</failure>
</testcase></testsuite></testsuites>
"""


def test_billion_laughs_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "bomb.xml"
    path.write_text(BILLION_LAUGHS, encoding="utf-8")
    assert sniff(path.read_bytes())  # it looks like JUnit: the parser must refuse it
    error = _error(path)
    assert error.source == str(path)
    assert error.location.startswith("line 2")
    assert "DTD" in error.reason and "refused" in error.reason
    assert "lollol" not in str(error)


@pytest.mark.parametrize(
    "doctype",
    [
        '<!DOCTYPE testsuite [<!ENTITY xxe SYSTEM "file://{target}">]>',
        '<!DOCTYPE testsuite [<!ENTITY % dtd SYSTEM "file://{target}"> %dtd;]>',
        '<!DOCTYPE testsuite SYSTEM "file://{target}">',
    ],
    ids=["entity", "parameter-entity", "external-dtd"],
)
def test_external_entities_are_refused_and_never_read(tmp_path: Path, doctype: str) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET-TOKEN-4242", encoding="utf-8")
    for target in (secret, Path("/etc/passwd")):
        path = tmp_path / "xxe.xml"
        path.write_text(
            '<?xml version="1.0"?>\n'
            + doctype.format(target=target)
            + '\n<testsuite name="s"><testcase name="t"><failure message="&xxe;">&xxe;'
            "</failure></testcase></testsuite>\n",
            encoding="utf-8",
        )
        error = _error(path)
        assert error.source == str(path)
        assert "refused" in error.reason
        text = str(error)
        assert "TOP-SECRET-TOKEN-4242" not in text
        assert "root:" not in text and "/bin/" not in text


def test_etc_passwd_never_appears_in_a_report(tmp_path: Path) -> None:
    passwd = Path("/etc/passwd")
    if not passwd.is_file():
        pytest.skip("no /etc/passwd on this machine")
    first_line = passwd.read_text(encoding="utf-8", errors="replace").splitlines()[0]
    path = tmp_path / "xxe.xml"
    path.write_text(
        '<?xml version="1.0"?>\n<!DOCTYPE testsuite [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>\n'
        '<testsuite name="s"><testcase name="t"><failure message="&xxe;">&xxe;</failure>'
        "</testcase></testsuite>\n",
        encoding="utf-8",
    )
    with pytest.raises(InputError) as info:
        parse_files([path], repository=REPO)
    assert first_line not in str(info.value)
    assert first_line.split(":")[0] + ":x:" not in str(info.value)


def test_truncated_xml_names_the_file_line_and_column(tmp_path: Path) -> None:
    full = (DATA / "junit.pretty.xml").read_text(encoding="utf-8")
    path = tmp_path / "cut.xml"
    path.write_text(full[: len(full) // 2], encoding="utf-8")
    error = _error(path)
    assert error.source == str(path)
    assert error.location.startswith("line ") and ", column " in error.location
    assert "malformed XML" in error.reason and "truncated" in error.reason


def test_malformed_xml_names_the_line(tmp_path: Path) -> None:
    path = _write(tmp_path, "bad.xml", '<testsuite name="s">\n<testcase name="a">\n</testsuite>\n')
    error = _error(path)
    assert error.location == "line 3, column 3"
    assert error.reason == "malformed XML: mismatched tag"


def test_a_wrong_root_element_is_refused(tmp_path: Path) -> None:
    path = _write(tmp_path, "pom.xml", '<?xml version="1.0"?>\n<project><testsuite/></project>')
    error = _error(path)
    assert error.source == str(path)
    assert "root element is <project>" in error.reason
    assert "<testsuites> or <testsuite>" in error.reason


@pytest.mark.parametrize("content", ["", "  \n\n"])
def test_an_empty_file_is_refused(tmp_path: Path, content: str) -> None:
    path = tmp_path / "empty.xml"
    path.write_text(content, encoding="utf-8")
    assert "empty" in _error(path).reason


def test_a_missing_file_is_an_input_error(tmp_path: Path) -> None:
    error = _error(tmp_path / "nope.xml")
    assert error.source == str(tmp_path / "nope.xml")
    assert "cannot read" in error.reason


def test_the_bad_file_of_a_set_is_the_one_named(tmp_path: Path) -> None:
    good = _one_case(tmp_path, "good.xml", "")
    bad = _write(tmp_path, "bad.xml", "<testsuite><testcase name='x'>")
    with pytest.raises(InputError) as info:
        parse_files([good, bad], repository=REPO)
    assert info.value.source == str(bad)


def test_a_repository_that_is_not_owner_name_is_refused(tmp_path: Path) -> None:
    with pytest.raises(InputError) as info:
        parse_files([_one_case(tmp_path, "a.xml", "")], repository="not a repo")
    assert info.value.location == "repository"
    assert "OWNER/NAME" in info.value.reason


def test_no_files_is_an_input_error() -> None:
    with pytest.raises(InputError):
        parse_files([], repository=REPO)


# --------------------------------------------------------------------------------------------
# Limits
# --------------------------------------------------------------------------------------------


def test_huge_output_and_traces_are_bounded(tmp_path: Path) -> None:
    trace = "".join(f"  frame {i}\n" for i in range(200_000))  # ~2.6 MB
    out = "".join(f"log line {i}\n" for i in range(400_000))  # ~6 MB
    path = tmp_path / "huge.xml"
    path.write_text(
        '<testsuite name="s"><testcase classname="c" name="big">'
        f'<failure message="{"m" * 300_000}">first line\n{trace}last frame</failure>'
        f"<system-out>{out}</system-out></testcase>"
        '<testcase classname="c" name="quiet"><system-out>' + "x" * 3_000_000 + "</system-out>"
        "</testcase></testsuite>",
        encoding="utf-8",
    )
    results = _by_check(_parse(path))
    big = results["c::big"]
    assert len(big.message) <= junit.MAX_MESSAGE_CHARS + 100
    assert len(big.log) <= junit.MAX_LOG_CHARS + 100
    assert big.log.startswith("first line")
    assert "last frame" in big.log  # the tail of the trace is kept
    assert "characters cut" in big.log
    assert "log line 399999" in big.log  # the end of the output is kept
    assert results["c::quiet"].log == ""  # passing: nothing kept


def test_too_many_nested_elements_are_refused(tmp_path: Path) -> None:
    depth = junit.MAX_DEPTH + 5
    path = tmp_path / "deep.xml"
    path.write_text(
        "<testsuites>" + "<testsuite>" * depth + "</testsuite>" * depth + "</testsuites>",
        encoding="utf-8",
    )
    error = _error(path)
    assert "nested more than" in error.reason
    assert error.location.startswith("line 1")


# --------------------------------------------------------------------------------------------
# Sniffing
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path", sorted(DATA.glob("*.xml")), ids=lambda p: p.name if isinstance(p, Path) else str(p)
)
def test_sniff_recognises_every_sample(path: Path) -> None:
    assert sniff(path.read_bytes()[: 64 * 1024])


@pytest.mark.parametrize(
    "head",
    [
        b'<?xml version="1.0" encoding="UTF-8"?>\n<testsuites name="x">',
        b"\xef\xbb\xbf<?xml version='1.0'?><!-- generated -->\n<!-- two -->\n<testsuite>",
        b'<testsuite xmlns="http://maven.apache.org/surefire" name="S">',
        b"<ns:testsuites xmlns:ns='urn:x'>",
        b"\n\n  <testsuite/>",
        '<?xml version="1.0" encoding="UTF-16"?><testsuites>'.encode("utf-16"),
    ],
)
def test_sniff_accepts_junit_heads(head: bytes) -> None:
    assert sniff(head)


@pytest.mark.parametrize(
    "head",
    [
        b"",
        b'{"repository": "acme/app"}',
        b'<?xml version="1.0"?><project>',
        b"<html><body><testsuites>",
        b"<testsuitesx>",
        b"<!-- <testsuites> -->\n<checkstyle>",
        b".FEFsx.FF   [100%]",
    ],
)
def test_sniff_rejects_other_content(head: bytes) -> None:
    assert not sniff(head)


# --------------------------------------------------------------------------------------------
# What the classifier makes of it (the classifier is not changed here)
# --------------------------------------------------------------------------------------------


def _classify(report: RunReport, result: CheckResult) -> str:
    template = normalize(error_text(result.message, result.log))
    kind = detect_kind(report.source, result.check, template)
    return classify(
        ClassifyInput(
            source=report.source,
            repository=report.repository,
            check=result.check,
            text=template,
            status=result.status,
            branch="main",
            history=HistoryClass.NEW,
            kind=kind,
            message=result.message,
            log=result.log,
            duration_s=result.duration_s,
        ),
        Settings(),
    ).kind.value


def test_a_pytest_assertion_failure_is_classified_as_a_test_failure(
    pytest_reports: dict[str, Path],
) -> None:
    report = _parse(pytest_reports["xunit2"])
    results = _by_check(report)
    assert _classify(report, results["test_demo::test_fail_assertion"]) == "test"
    assert _classify(report, results["test_demo::test_output"]) == "test"


def test_a_timeout_failure_is_classified_as_a_timeout(pytest_reports: dict[str, Path]) -> None:
    report = _parse(pytest_reports["xunit2"])
    assert _classify(report, _by_check(report)["test_demo::test_timeout"]) == "timeout"
    playwright = _parse(PLAYWRIGHT)
    timed_out = _by_check(playwright)[
        "demo.spec.js::triage demo › times out: waits for missing element"
    ]
    assert _classify(playwright, timed_out) == "timeout"


def test_the_real_failure_wins_over_the_timeout_that_followed(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        "timeout.xml",
        """
        <testsuite name="e2e" tests="1" failures="2">
          <testcase classname="e2e.checkout" name="totals per region" time="30.1">
            <failure message="Test timeout of 30000ms exceeded."/>
            <failure message="Error: expect(locator).toHaveText(expected) failed"
                     type="Error">Expected: "EMEA: 1250"
        Received: "EMEA: 1200"</failure>
          </testcase>
        </testsuite>
        """,
    )
    (result,) = _parse(path).results
    assert result.status is Status.FAIL
    assert result.message.startswith("Error: expect(locator).toHaveText(expected) failed")
    assert "Test timeout of 30000ms exceeded." in result.log  # kept as context
    assert detect_kind("junit", result.check, normalize(result.message)).kind.value == "test"
