"""Key-line selection on the formats of common runners and linters, and on the noise that CI logs
put around a failure (git output, set-up probes, skipped tests, post-failure consequences, cache
and upload lines, runner tallies).

Files in tests/data/informative/ are real output produced on this machine (see its README). The
other samples are written in each tool's output format (ExUnit 1.15, Pester 5, Quick/Nimble
through xcodebuild, GHC 9.4, vim's ``make test`` report, tldr-lint, markdownlint-cli,
markdown-link-check, lychee), as the tools are not installed here.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from triagehub.core.excerpt import error_lines, extract, headline

DATA = Path(__file__).resolve().parent / "data" / "informative"


def read(name: str) -> str:
    return (DATA / name).read_text()


def key(text: str) -> str:
    return error_lines(text)


# --------------------------------------------------------------------------------------------
# Real output
# --------------------------------------------------------------------------------------------


def test_linker_undefined_reference_is_the_key_not_collect2_or_make() -> None:
    text = key(read("make_link.log"))
    assert "undefined reference to `compute_checksum'" in text
    assert "collect2" not in text and "make: ***" not in text


def test_shellcheck_findings_are_key_lines_in_both_formats() -> None:
    gcc = key(read("shellcheck_gcc.log"))
    assert "[SC3014]" in gcc and "[SC2086]" in gcc
    tty = key(read("shellcheck_tty.log"))
    assert "SC2086 (info): Double quote to prevent globbing" in tty
    assert "SC3014 (warning)" in tty


def test_a_skipped_test_named_after_an_error_is_not_the_key() -> None:
    text = key(read("pytest_run.log"))
    assert "assert 8080 == 8081" in text
    assert "Segmentation fault" not in text


def test_npm_assertion_is_the_key() -> None:
    assert "AssertionError [ERR_ASSERTION]: max picks the larger value" in key(read("npm_test.log"))


# --------------------------------------------------------------------------------------------
# Runner formats
# --------------------------------------------------------------------------------------------

EXUNIT = """\
Compiling 3 files (.ex)
Generated my_app app
Running ExUnit with seed: 482913, max_cases: 4
Excluding tags: [:integration]

...

  1) test parses ISO dates (MyApp.DateTest)
     test/my_app/date_test.exs:12
     ** (ArgumentError) cannot parse "2020-13-01" as date, reason: :invalid_date
     code: MyApp.Date.parse!("2020-13-01")
     stacktrace:
       (elixir 1.15.7) lib/calendar/date.ex:371: Date.from_iso8601!/2
       test/my_app/date_test.exs:13: (test)

.....
Finished in 0.1 seconds (0.05s async, 0.05s sync)
9 tests, 1 failure, 2 excluded

Randomized with seed 482913
"""

PESTER = """\
Starting discovery in 1 files.
Discovery found 4 tests in 41ms.
Running tests.
[+] /home/runner/work/tools/tools/tests/Get-Thing.Tests.ps1 120ms (80ms|35ms)
[-] Get-Thing.returns the configured port 12ms (10ms|2ms)
 Expected 8080, but got 8081.
 at $port | Should -Be 8080, /home/runner/work/tools/tools/tests/Get-Thing.Tests.ps1:9
 at <ScriptBlock>, /home/runner/work/tools/tools/tests/Get-Thing.Tests.ps1:9
Tests completed in 402ms
Tests Passed: 3, Failed: 1, Skipped: 0 NotRun: 0
"""

QUICK = """\
Test Suite 'All tests' started at 2026-12-05 10:20:33.120
Test Case '-[WidgetTests.LoaderSpec Loader__loads_the_manifest]' started.
/Users/runner/work/widget/widget/Tests/LoaderSpec.swift:23: error: -[WidgetTests.LoaderSpec \
Loader__loads_the_manifest] : expected to eventually equal <3>, got <0>
Test Case '-[WidgetTests.LoaderSpec Loader__loads_the_manifest]' failed (1.013 seconds).
Executed 12 tests, with 1 failure (0 unexpected) in 1.204 (1.210) seconds
** TEST FAILED **
"""

QUICK_BARE = """\
Loader
  loads the manifest
    expected to eventually equal <3>, got <0>
Executed 12 tests, with 1 failure (0 unexpected) in 1.204 (1.210) seconds
"""

GHC_WERROR = """\
Building library for widget-0.1.0.0..
[1 of 3] Compiling Widget.Types ( src/Widget/Types.hs, dist/build/Widget/Types.o )
[2 of 3] Compiling Widget.Parse ( src/Widget/Parse.hs, dist/build/Widget/Parse.o )

src/Widget/Parse.hs:14:1: warning: [GHC-66111] [-Wunused-imports]
    The import of \u2018Data.List\u2019 is redundant
      except perhaps to import instances from \u2018Data.List\u2019
    To import instances alone, use: import Data.List()
   |
14 | import Data.List (sortOn)
   | ^^^^^^^^^^^^^^^^^^^^^^^^^

<no location info>: error:
Failing due to -Werror.
Error: cabal: Failed to build widget-0.1.0.0.
"""

VIM_REPORT = """\
Executed:  5284 Tests
 Skipped:    47 Tests
  FAILED:     1 Tests


Failures:
\tFrom test_terminal.vim:
\tFound errors in Test_terminal_env():
\tRun 1, 10:41:52 - 10:42:00:
\tcommand line..script /home/runner/work/vim/vim/src/testdir/runtest.vim[607]..function \
RunTheTest[57]..Test_terminal_env line 12: Expected 'xyz' but got ''

TEST FAILURE
make[1]: *** [Makefile:47: report] Error 1
make: *** [Makefile:40: test] Error 2
"""

TLDR_LINT = """\
> tldr-pages@1.0.0 lint-markdown
> markdownlint pages*/**/*.md && tldr-lint ./pages
pages/common/git-worktree.md:7: TLDR004 Command example should end with a period
npm ERR! Lifecycle script `lint-tldr-pages` failed with error:
npm ERR! Error: command failed
"""

MARKDOWNLINT = """\
> docs@1.0.0 lint
> markdownlint '**/*.md' --ignore node_modules

docs/install.md:12:81 MD013/line-length Line length [Expected: 80; Actual: 96]
docs/install.md:30 MD040/fenced-code-language Fenced code blocks should have a language specified
##[error]Process completed with exit code 1.
"""

LINK_CHECK = """\
FILE: README.md
  [\u2713] https://github.com/acme/widget
  [\u2716] https://docs.acme.dev/v1/setup \u2192 Status: 404
  [\u2713] https://acme.dev

  3 links checked.

  ERROR: 1 dead links found!
  [\u2716] https://docs.acme.dev/v1/setup \u2192 Status: 404
"""

LYCHEE = """\
Issues found in 1 input. Find details below.

[README.md]:
\u2717 [404] https://docs.acme.dev/v1/setup | Network error: Not Found

\U0001f50d 14 Total (in 0s) \u2705 13 OK \U0001f6ab 1 Error
"""


@pytest.mark.parametrize(
    ("log", "wanted", "unwanted"),
    [
        (EXUNIT, ['** (ArgumentError) cannot parse "2020-13-01"'], ["9 tests, 1 failure"]),
        (PESTER, ["Expected 8080, but got 8081."], ["Tests Passed: 3, Failed: 1"]),
        (QUICK, ["expected to eventually equal <3>, got <0>"], ["Executed 12 tests"]),
        (QUICK_BARE, ["expected to eventually equal <3>, got <0>"], []),
        (GHC_WERROR, ["[-Wunused-imports]", "The import of"], ["Failing due to -Werror"]),
        (VIM_REPORT, ["Expected 'xyz' but got ''"], ["make: ***", "FAILED:     1 Tests"]),
        (TLDR_LINT, ["TLDR004 Command example should end with a period"], ["npm ERR!"]),
        (MARKDOWNLINT, ["MD013/line-length", "MD040/fenced-code-language"], ["exit code"]),
        (LINK_CHECK, ["https://docs.acme.dev/v1/setup \u2192 Status: 404"], ["3 links"]),
        (LYCHEE, ["[404] https://docs.acme.dev/v1/setup"], ["14 Total"]),
    ],
    ids=[
        "exunit",
        "pester",
        "quick-xcodebuild",
        "nimble",
        "ghc-werror",
        "vim",
        "tldr-lint",
        "markdownlint",
        "markdown-link-check",
        "lychee",
    ],
)
def test_runner_and_linter_failures_are_the_key(
    log: str, wanted: list[str], unwanted: list[str]
) -> None:
    text = key(log)
    for part in wanted:
        assert part in text
    for part in unwanted:
        assert part not in text


def test_exunit_failure_header_is_in_the_excerpt() -> None:
    excerpt = extract(EXUNIT)
    assert any("1) test parses ISO dates (MyApp.DateTest)" in line for line in excerpt.lines)


# --------------------------------------------------------------------------------------------
# Noise classes
# --------------------------------------------------------------------------------------------

FAILURE = """\
Run python -m pytest
============================= test session starts ==============================
collected 3 items

tests/test_orders.py F..                                                 [100%]

=================================== FAILURES ===================================
_______________________________ test_totals ____________________________________

    def test_totals():
>       assert total([1, 2]) == 4
E       assert 3 == 4

tests/test_orders.py:7: AssertionError
=========================== short test summary info ============================
FAILED tests/test_orders.py::test_totals - assert 3 == 4
========================= 1 failed, 2 passed in 0.04s ==========================
"""

GIT_STEP = """\
Syncing repository: acme/widget
Cloning into 'widget'...
HEAD is now at 9f3e2a1 Fix Segmentation fault in parser when input is empty
Merge 4c1d2b7e8f into 1a2b3c4d5e
Author: Dev <dev@acme.dev>
    Fix: TypeError: cannot read property 'x' of undefined
"""

SETUP_PROBE = """\
Installing Python 3.11 with pyenv
curl: (22) The requested URL returned error: 404
Falling back to building from source
Python 3.11.7 installed
"""

CONSEQUENCES = """\
ls: cannot access 'dist/*.whl': No such file or directory
cp: cannot stat 'build/report.xml': No such file or directory
Warning: No files were found with the provided path: coverage.xml. No artifacts will be uploaded.
Cache not found for input keys: pip-Linux-3f2a
Failed to save: Unable to reserve cache with key pip-Linux-3f2a, another job may be creating \
this cache.
##[error]Process completed with exit code 1.
"""


@pytest.mark.parametrize(
    ("before", "after"),
    [(GIT_STEP, ""), (SETUP_PROBE, ""), ("", CONSEQUENCES), (GIT_STEP + SETUP_PROBE, CONSEQUENCES)],
    ids=["git-step", "setup-probe", "consequences-and-cache", "all"],
)
def test_noise_around_a_failure_does_not_change_the_key(before: str, after: str) -> None:
    alone = key(FAILURE)
    assert "assert 3 == 4" in alone
    assert key(before + FAILURE + after) == alone


def test_consequences_are_the_key_only_when_nothing_else_failed() -> None:
    assert "cannot access 'dist/*.whl'" in key(CONSEQUENCES)


def test_a_runner_tally_is_never_a_key_line_beside_the_failure() -> None:
    assert "1 failure" not in key(EXUNIT)
    assert "9 tests" not in key(EXUNIT)


# --------------------------------------------------------------------------------------------
# Headlines (the line a title quotes)
# --------------------------------------------------------------------------------------------

GRADLE_CAUSE = """\
FAILURE: Build failed with an exception.

* What went wrong:
Execution failed for task ':cidiff:checkstyleMain'.
> Unable to create Root Module: config {/w/checkstyle.xml}

* Try:
> Run with --stacktrace option to get the stack trace.

BUILD FAILED in 15s
"""


@pytest.mark.parametrize(
    ("text", "title"),
    [
        (read("npm_test.log"), "AssertionError [ERR_ASSERTION]: max picks the larger value"),
        (read("pytest_run.log"), "AssertionError: assert 8080 == 8081"),
        (read("make_link.log"), "main.c:(.text+0xf): undefined reference to `compute_checksum'"),
        (
            GRADLE_CAUSE,
            "Unable to create Root Module: config {/w/checkstyle.xml}",
        ),
        (
            "Cloning into 'rk'...\nTraceback (most recent call last):\n"
            "  File \"run.py\", line 3, in <module>\n    raise KeyError(name)\nKeyError: 'rk'",
            "KeyError: 'rk'",
        ),
        (
            "Looking in indexes: https://pypi.org/simple\n"
            "ERROR: No matching distribution found for widget==9.9",
            "ERROR: No matching distribution found for widget==9.9",
        ),
        (
            "Runtime Error in model stg_orders (models/stg_orders.sql)\n"
            '  Binder Error: Referenced column "amount" not found in FROM clause!',
            'Binder Error: Referenced column "amount" not found in FROM clause!',
        ),
        ("Process completed with exit code 1.", "Process completed with exit code 1."),
    ],
    ids=["npm", "pytest", "linker", "gradle", "traceback", "pip", "dbt", "footer-only"],
)
def test_headline_is_the_line_a_human_would_quote(text: str, title: str) -> None:
    assert headline(text) == title
