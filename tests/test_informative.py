"""The informative-message rule: a message that names no error (a CI or build-tool footer, an
exit code, "see above", a runner's tally) is neither fingerprinted nor used as a title; the key
lines come from the log or from the rest of the message.

Every footer below is copied from the output of the tool that prints it (the versions named).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from triagehub.core.excerpt import error_text
from triagehub.core.informative import informative_part, is_footer, is_informative

DATA = Path(__file__).resolve().parent / "data" / "informative"

REAL_FOOTERS = {
    "GitHub Actions": "Process completed with exit code 1.",
    "GitHub Actions annotation": "##[error]Process completed with exit code 2.",
    "GitHub Actions annotation (API)": "Error: Process completed with exit code 1.",
    "Travis CI": 'The command "npm test" exited with 1.',
    "Travis CI script phase": 'The command "bundle exec rake" failed and exited with 1 during .',
    "Travis CI end": "Done. Your build exited with 1.",
    "GitLab CI": "ERROR: Job failed: exit code 1",
    "GitLab CI (k8s)": "ERROR: Job failed: command terminated with exit code 1",
    "Jenkins": "Finished: FAILURE",
    "Jenkins pipeline": "ERROR: script returned exit code 1",
    "Jenkins pipeline (bare)": "script returned exit code 1",
    "npm 6": "npm ERR! Test failed.  See above for more details.",
    "npm 6 lifecycle": "npm ERR! code ELIFECYCLE",
    "npm 10": "npm error Lifecycle script `test` failed with error:",
    "yarn": "error Command failed with exit code 1.",
    "make": "make: *** [all] Error 2",
    "make (recursive)": "make[1]: *** [Makefile:3: app] Error 1",
    "gcc/ld": "collect2: error: ld returned 1 exit status",
    "cargo": "error: could not compile `widget` (lib) due to 2 previous errors",
    "Gradle task": "Execution failed for task ':app:testDebugUnitTest'.",
    "Gradle end": "BUILD FAILED in 1m 3s",
    "Gradle banner": "FAILURE: Build failed with an exception.",
    "Gradle tests": "> There were failing tests. See the report at: file:///w/build/reports/index.html",
    "Maven": "[ERROR] BUILD FAILURE",
    "Maven goal": (
        "[ERROR] Failed to execute goal org.apache.maven.plugins:maven-surefire-plugin:2.22.2:test"
        " (default-test) on project core: There are test failures."
    ),
    "Maven compile goal": (
        "[ERROR] Failed to execute goal org.apache.maven.plugins:maven-compiler-plugin:3.8.1:"
        "compile (default-compile) on project app: Compilation failure -> [Help 1]"
    ),
    "pytest": "=== 1 failed, 2 passed in 0.1s ===",
    "pytest (wide)": (
        "==================== 1 failed, 1 passed, 1 skipped in 0.05s ===================="
    ),
    "tox 3": "ERROR: InvocationError for command /w/.tox/py311/bin/pytest (exited with code 1)",
    "tox 3 summary": "ERROR:   py311: commands failed",
    "tox 4": "  py311: FAIL code 1 (2.31=setup[0.50]+cmd[1.81] seconds)",
    "tox 4 end": "  evaluation failed :( (2.40 seconds)",
    "ExUnit tally": "5 tests, 1 failure, 2 excluded",
    "jest tally": "Tests:       1 failed, 5 passed, 6 total",
    "go test": "FAIL\tgithub.com/acme/widget\t0.012s",
    "mypy": "Found 3 errors in 2 files (checked 10 source files)",
}

REAL_ERRORS = [
    "AssertionError: assert 8080 == 8081",
    "FAILED test_calc.py::test_parse_port - AssertionError: assert 8080 == 8081",
    "main.c:(.text+0xf): undefined reference to `compute_checksum'",
    'psycopg.errors.UndefinedColumn: column "email" does not exist',
    "[ERROR] Failed to execute goal on project app: Could not resolve dependencies for project "
    "a:b:jar:1.0: Could not find artifact c:d:jar:2.0 in central",
    "Error: Cannot find module 'left-pad'",
    "fatal: unable to access 'https://github.com/acme/widget/': The requested URL returned error: "
    "503",
    # A time limit, a cancellation, a lost runner: they say what happened (the classifier needs
    # them), so they are not footers.
    "ERROR: Job failed: execution took longer than 1h0m0s seconds",
    "##[error]The job running on runner GitHub Actions 2 has exceeded the maximum execution time "
    "of 360 minutes.",
    "##[error]The operation was canceled.",
    "Error: The runner has received a shutdown signal.",
    "Killed",
]


@pytest.mark.parametrize("footer", REAL_FOOTERS.values(), ids=REAL_FOOTERS.keys())
def test_a_real_footer_names_no_error(footer: str) -> None:
    assert is_footer(footer)
    assert not is_informative(footer)
    assert informative_part(footer) == ""


@pytest.mark.parametrize("line", REAL_ERRORS)
def test_a_real_error_line_is_informative(line: str) -> None:
    assert not is_footer(line)
    assert is_informative(line)


@pytest.mark.parametrize("footer", REAL_FOOTERS.values(), ids=REAL_FOOTERS.keys())
def test_a_footer_message_takes_its_key_lines_from_the_log(footer: str) -> None:
    log = (DATA / "make_link.log").read_text()
    text = error_text(footer, log)
    assert "undefined reference to `compute_checksum'" in text
    assert footer.strip() not in text


def test_the_rest_of_a_message_is_kept_without_its_footers() -> None:
    message = (
        "AssertionError: max picks the larger value\n"
        "npm ERR! Test failed.  See above for more details.\n"
        "##[error]Process completed with exit code 1."
    )
    assert informative_part(message) == "AssertionError: max picks the larger value"
    assert error_text(message, "irrelevant log") == "AssertionError: max picks the larger value"


def test_an_informative_message_is_trusted_over_the_log() -> None:
    log = (DATA / "make_link.log").read_text()
    assert error_text("KeyError: 'customer_id'", log) == "KeyError: 'customer_id'"


def test_a_footer_without_a_log_is_all_there_is() -> None:
    assert error_text("Process completed with exit code 1.", "") == (
        "Process completed with exit code 1."
    )


def test_a_real_pytest_log_gives_the_assertion_not_the_summary() -> None:
    log = (DATA / "pytest_run.log").read_text()
    text = error_text("==================== 1 failed, 1 passed, 1 skipped in 0.05s ====", log)
    assert "assert 8080 == 8081" in text
    assert "passed" not in text
