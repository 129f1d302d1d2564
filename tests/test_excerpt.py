"""The excerpt: which lines of a failure message or CI log carry the error.

Fixture logs are real (see tests/data/excerpt/README.md); the snippets of other tools below are
written in each tool's output format.
"""

from __future__ import annotations

import itertools
import random
import tracemalloc
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from triagehub.core.excerpt import (
    MAX_LINE_CHARS,
    Excerpt,
    clean_line,
    error_lines,
    extract,
    extract_key,
    extract_lines,
    iter_lines,
)
from triagehub.core.fingerprint import normalize

DATA = Path(__file__).resolve().parent / "data" / "excerpt"


def read(name: str) -> str:
    """A fixture log as it was written: its bytes decoded, line ends untouched."""
    return (DATA / name).read_bytes().decode("utf-8")


def with_gha_timestamps(lines: list[str], start_second: int) -> list[str]:
    """Lines as the GitHub Actions log archive serves them: an ISO timestamp before each one."""
    return [
        f"2026-11-20T06:{(start_second + i // 50) % 60:02d}:{i % 60:02d}.{i * 7919 % 10**7:07d}Z "
        f"{line}"
        for i, line in enumerate(lines)
    ]


def hits(excerpt: Excerpt, first: int, last: int) -> bool:
    """Whether the excerpt holds a line of the 1-based inclusive range first-last."""
    return any(first - 1 <= n <= last - 1 for n in excerpt.line_numbers)


# --------------------------------------------------------------------------------------------
# Real logs
# --------------------------------------------------------------------------------------------


def test_pytest_excerpt_holds_the_assertion_and_the_summary() -> None:
    excerpt = extract(read("pytest_failure.log"))

    assert "E       assert 17 == 18" in excerpt.lines
    assert "tests/test_orders.py:17: AssertionError" in excerpt.lines
    assert "FAILED tests/test_orders.py::test_total_of_two_items - assert 17 == 18" in excerpt.lines
    assert not any("test session starts" in line or "collected" in line for line in excerpt.lines)
    assert not excerpt.fallback


def test_pytest_key_is_the_failed_summary_line() -> None:
    assert error_lines(read("pytest_failure.log")) == (
        "FAILED tests/test_orders.py::test_total_of_two_items - assert 17 == 18"
    )


def test_pytest_excerpt_ignores_passing_tests_and_warnings() -> None:
    excerpt = extract(read("pytest_failure_verbose.log"))

    assert not any("PASSED" in line for line in excerpt.lines)
    assert not any("DeprecationWarning" in line for line in excerpt.lines)
    assert "E       assert 17 == 18" in excerpt.lines


def test_python_traceback_key_is_the_final_exception_line() -> None:
    assert error_lines(read("python_traceback.log")) == (
        "json.decoder.JSONDecodeError: Expecting property name enclosed in double quotes: "
        "line 1 column 2 (char 1)"
    )


def test_maven_excerpt_covers_both_ground_truth_error_blocks() -> None:
    # cidiff ground truth for this log: E 421-424 (the compiler error), E 433-446 (Maven's summary)
    excerpt = extract(read("maven_compile_failure.log"))

    assert hits(excerpt, 421, 424)
    assert hits(excerpt, 433, 446)
    assert len(excerpt) <= 20


def test_maven_excerpt_has_no_ansi_info_lines_or_repeats() -> None:
    excerpt = extract(read("maven_compile_failure.log"))

    assert not any("\x1b" in line or line.startswith("[INFO]") for line in excerpt.lines)
    # Maven repeats each compiler error under "Failed to execute goal": shown once.
    assert sum("cannot access spoon.Launcher" in line for line in excerpt.lines) == 1


def test_maven_key_is_the_compiler_error_with_its_detail() -> None:
    key = error_lines(read("maven_compile_failure.log"))

    assert "SachaDocumentationGenerator.java:[3,13] cannot access spoon.Launcher" in key
    assert "class file has wrong version 55.0, should be 52.0" in key
    assert len(key.splitlines()) <= 5


def test_line_numbers_index_splitlines_of_a_log_with_carriage_returns() -> None:
    text = read("maven_compile_failure.log")  # CR and LF line ends
    lines = text.splitlines()
    excerpt = extract(text)

    assert excerpt.total_lines == len(lines)
    for number, line in zip(excerpt.line_numbers, excerpt.lines, strict=True):
        assert clean_line(lines[number]) == line


def test_jenkins_clone_failure_key_names_the_http_error() -> None:
    text = read("jenkins_git_clone_503.log")

    assert "The requested URL returned error: 503" in error_lines(text)
    assert hits(extract(text), 18, 59)  # cidiff ground truth: E 18-59


def test_github_actions_timestamps_are_removed() -> None:
    excerpt = extract(read("gradle_test_failure_gha.log"))

    assert excerpt.lines
    assert not any(line.startswith("2022-05-30T") for line in excerpt.lines)
    assert (
        "    java.lang.IllegalArgumentException: java.nio.file.NoSuchFileException: "
        "../data/astor_399.log"
    ) in excerpt.lines


def test_github_actions_excerpt_holds_the_failing_test_not_the_gradle_summary_only() -> None:
    # cidiff ground truth: C 514, E 515-535 in the original log, i.e. 45, 46-66 in this slice.
    excerpt = extract(read("gradle_test_failure_gha.log"))
    key = error_lines(read("gradle_test_failure_gha.log"))

    assert hits(excerpt, 46, 66)
    assert "NoSuchFileException: ../data/astor_399.log" in key


def test_gh_run_view_prefix_is_removed() -> None:
    raw = "build-test-deploy\tbuild cidiff\t2021-12-01T13:01:04.3807878Z     at Foo.bar(Foo.java:3)"

    assert clean_line(raw) == "    at Foo.bar(Foo.java:3)"


def test_passing_github_actions_step_falls_back_to_its_last_lines() -> None:
    excerpt = extract(read("gha_run_tests_step.txt"), max_lines=3)

    assert excerpt.fallback
    # Separator rows ("-----", a line of dots) are skipped.
    assert excerpt.lines == (
        "modern CPU and around 512 MB of main memory.",
        "Ran 6708 tests in 444.596s",
        "OK (skipped=58)",
    )


def test_info_only_log_falls_back_to_the_last_non_empty_lines() -> None:
    lines = read("maven_compile_failure.log").splitlines()
    info = [ln for ln in lines if "[INFO]" in ln and "BUILD FAILURE" not in ln]
    expected = [clean_line(ln) for ln in info if clean_line(ln).strip()][-20:]

    excerpt = extract("\n".join(info))

    assert excerpt.fallback
    assert list(excerpt.lines) == expected


# --------------------------------------------------------------------------------------------
# Stability under noise: the key is what triagehub fingerprints
# --------------------------------------------------------------------------------------------


def test_same_pytest_failure_with_different_noise_has_the_same_normalized_key() -> None:
    quiet = read("pytest_failure.log")
    # The noisier run (verbose, 12 more passing tests, warnings), inside a GitHub Actions job:
    # a real pip install step before it, the runner's verdict after it, timestamps everywhere.
    noisy_lines = (
        read("gha_install_step.txt").splitlines()
        + with_gha_timestamps(read("pytest_failure_verbose.log").splitlines(), 7)
        + with_gha_timestamps(["##[error]Process completed with exit code 1."], 9)
    )

    assert normalize(error_lines(quiet)) == normalize(error_lines("\n".join(noisy_lines)))


def test_same_maven_failure_with_different_noise_has_the_same_normalized_key() -> None:
    lines = read("maven_compile_failure.log").splitlines()
    # Other noise: the passing GitHub Actions steps' lines spliced in before the failure, and
    # timestamps on every line.
    noise = read("gha_install_step.txt").splitlines() + read("gha_run_tests_step.txt").splitlines()
    noisy = with_gha_timestamps(lines[:300] + [clean_line(n) for n in noise] + lines[300:], 30)

    assert normalize(error_lines("\n".join(lines))) == normalize(error_lines("\n".join(noisy)))


def test_error_looking_noise_far_before_the_failure_does_not_change_the_key() -> None:
    failure = read("pytest_failure.log")
    noise = "\n".join(
        ["Traceback (most recent call last):", '  File "probe.py", line 1, in <module>']
        + ["ModuleNotFoundError: No module named 'optional_speedups'"]
        + [f"[INFO] step {i} done" for i in range(400)]
    )

    assert error_lines(noise + "\n" + failure) == error_lines(failure)


# --------------------------------------------------------------------------------------------
# Heuristics across tools
# --------------------------------------------------------------------------------------------

NOISE_BEFORE = """Run actions/checkout@v4
Syncing repository: acme/shop
[INFO] Scanning for projects...
Downloading https://registry.npmjs.org/react/-/react-18.2.0.tgz
Collecting requests==2.31.0
  Downloading requests-2.31.0-py3-none-any.whl (62 kB)
     ━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━ 62.6/62.6 kB 4.2 MB/s eta 0:00:00
warning: unused variable `x`
"""

TOOL_OUTPUTS = {
    "rustc": (
        """   Compiling shop v0.1.0 (/home/runner/work/shop)
error[E0308]: mismatched types
 --> src/main.rs:4:18
  |
4 |     let n: u32 = "five";
  |            ---   ^^^^^^ expected `u32`, found `&str`

error: could not compile `shop` (bin "shop") due to 1 previous error
""",
        "error[E0308]: mismatched types",
    ),
    "tsc": (
        """> shop@1.0.0 build
> tsc -p .

src/cart.ts(12,7): error TS2322: Type 'string' is not assignable to type 'number'.
npm ERR! code 2
npm ERR! command failed
""",
        "src/cart.ts(12,7): error TS2322: Type 'string' is not assignable to type 'number'.",
    ),
    "gcc_and_make": (
        """gcc -O2 -c blosc_filter.c -o blosc_filter.o
blosc_filter.c:1:10: fatal error: blosc.h: No such file or directory
    1 | #include "blosc.h"
compilation terminated.
make: *** [Makefile:12: blosc_filter.o] Error 1
""",
        "blosc_filter.c:1:10: fatal error: blosc.h: No such file or directory",
    ),
    "npm": (
        """npm ERR! code E404
npm ERR! 404 Not Found - GET https://registry.npmjs.org/left-padd - Not found
npm ERR! A complete log of this run can be found in:
npm ERR!     /home/runner/.npm/_logs/2026-11-20T06_30_00_123Z-debug-0.log
""",
        "npm ERR! 404 Not Found - GET https://registry.npmjs.org/left-padd - Not found",
    ),
    "github_annotation": (
        """Run ruff check --output-format=github .
::error file=src/app.py,line=3,col=8::F401 `os` imported but unused
Error: Process completed with exit code 1.
""",
        "::error file=src/app.py,line=3,col=8::F401 `os` imported but unused",
    ),
    "github_error_marker": (
        """##[group]Run ./deploy.sh
##[endgroup]
Deploying to production
##[error]The operation was canceled.
""",
        "##[error]The operation was canceled.",
    ),
    "dbt_test": (
        """06:30:03  2 of 3 FAIL 7 not_null_stg_orders_order_id .................. [FAIL 7 in 0.03s]
06:30:04
06:30:04  Completed with 1 error and 0 warnings:
06:30:04
06:30:04  Failure in test not_null_stg_orders_order_id (models/staging/schema.yml)
06:30:04    Got 7 results, configured to fail if != 0
06:30:04
06:30:04  Done. PASS=2 WARN=0 ERROR=1 SKIP=0 TOTAL=3
""",
        "Failure in test not_null_stg_orders_order_id (models/staging/schema.yml)",
    ),
    "dbt_database_error": (
        """12:00:01  1 of 1 ERROR creating sql table model main.orders ........ [ERROR in 0.04s]
12:00:01
12:00:01  Completed with 1 error and 0 warnings:
12:00:01
12:00:01    Database Error in model orders (models/orders.sql)
12:00:01    Binder Error: Referenced column "amount_usd" not found in FROM clause!
""",
        "  Database Error in model orders (models/orders.sql)",
    ),
    "dbt_compilation_error": (
        """10:00:00  Encountered an error:
10:00:00  Compilation Error in model customers (models/customers.sql)
10:00:00    'ref' is undefined
""",
        "Compilation Error in model customers (models/customers.sql)",
    ),
    "shell_command_not_found": (
        """+ ./scripts/build.sh
./scripts/build.sh: line 4: jq: command not found
""",
        "./scripts/build.sh: line 4: jq: command not found",
    ),
    "shell_permission_denied": (
        """cp dist/app /usr/local/bin/app
cp: cannot create regular file '/usr/local/bin/app': Permission denied
""",
        "cp: cannot create regular file '/usr/local/bin/app': Permission denied",
    ),
    "jvm_main_thread": (
        """Starting service
Exception in thread "main" java.lang.IllegalStateException: config missing
\tat com.acme.Main.load(Main.java:42)
Caused by: java.io.FileNotFoundException: /etc/acme.conf (No such file or directory)
\tat java.base/java.io.FileInputStream.open0(Native Method)
\t... 2 more
""",
        "Caused by: java.io.FileNotFoundException: /etc/acme.conf (No such file or directory)",
    ),
    "maven_surefire": (
        """[INFO] Tests run: 3, Failures: 0, Errors: 0, Skipped: 0, Time elapsed: 0.1 s - in OkTest
[ERROR] Tests run: 2, Failures: 1, Errors: 0, Skipped: 0, Time elapsed: 0.05 s <<< FAILURE!
[ERROR] com.acme.CartTest.total  Time elapsed: 0.01 s  <<< FAILURE!
org.opentest4j.AssertionFailedError: expected: <18> but was: <17>
\tat com.acme.CartTest.total(CartTest.java:14)
[INFO]
[INFO] Results:
[INFO]
[ERROR] Failures:
[ERROR]   CartTest.total:14 expected: <18> but was: <17>
[INFO]
[ERROR] Tests run: 5, Failures: 1, Errors: 0, Skipped: 0
[INFO] BUILD FAILURE
[ERROR] Failed to execute goal org.apache.maven.plugins:maven-surefire-plugin:3.2.5:test
""",
        "[ERROR]   CartTest.total:14 expected: <18> but was: <17>",
    ),
    "gradle": (
        """> Task :app:compileJava FAILED
/home/runner/work/app/src/main/java/App.java:5: error: cannot find symbol
        Foo foo = new Foo();
  symbol:   class Foo

FAILURE: Build failed with an exception.

* What went wrong:
Execution failed for task ':app:compileJava'.
""",
        "/home/runner/work/app/src/main/java/App.java:5: error: cannot find symbol",
    ),
    "go_test": (
        """=== RUN   TestTotal
    cart_test.go:14: total = 17, want 18
--- FAIL: TestTotal (0.00s)
FAIL
FAIL\tgithub.com/acme/shop\t0.012s
""",
        "    cart_test.go:14: total = 17, want 18",
    ),
    "jest": (
        """ PASS  src/util.test.js
 FAIL  src/cart.test.js
  ● cart › computes the total

    expect(received).toBe(expected) // Object.is equality

    Expected: 18
    Received: 17

Tests:       1 failed, 5 passed, 6 total
""",
        "  ● cart › computes the total",
    ),
    "mypy": (
        """src/app.py:12: error: Incompatible return value type (got "str", expected "int")
Found 1 error in 1 file (checked 14 source files)
""",
        'src/app.py:12: error: Incompatible return value type (got "str", expected "int")',
    ),
    "generic_fatal": (
        """Starting job
FATAL: database connection lost after 3 retries
""",
        "FATAL: database connection lost after 3 retries",
    ),
}


@pytest.mark.parametrize("tool", sorted(TOOL_OUTPUTS))
def test_key_holds_the_tools_error_line(tool: str) -> None:
    output, expected = TOOL_OUTPUTS[tool]

    assert expected in error_lines(NOISE_BEFORE + output).splitlines()


@pytest.mark.parametrize("tool", sorted(TOOL_OUTPUTS))
def test_excerpt_leaves_out_the_noise_before_the_error(tool: str) -> None:
    output, _ = TOOL_OUTPUTS[tool]
    excerpt = extract(NOISE_BEFORE + output)

    assert min(excerpt.line_numbers) >= len(NOISE_BEFORE.splitlines())


def test_excerpt_includes_the_detail_after_an_assertion_header() -> None:
    excerpt = extract(NOISE_BEFORE + TOOL_OUTPUTS["jest"][0])

    assert "    Expected: 18" in excerpt.lines
    assert "    Received: 17" in excerpt.lines


def test_warnings_before_the_error_are_left_out() -> None:
    text = "\n".join(
        [
            "[WARNING] Using platform encoding (UTF-8 actually) to copy filtered resources",
            "warning: variable 'x' set but not used [-Wunused-but-set-variable]",
            "DeprecationWarning: pkg_resources is deprecated as an API",
            "src/io.c:7:3: error: implicit declaration of function 'readx'",
        ]
    )

    assert extract(text).lines == ("src/io.c:7:3: error: implicit declaration of function 'readx'",)


def test_the_last_error_block_is_preferred() -> None:
    first = "RuntimeError: first failure"
    last = "ValueError: second failure"
    text = "\n".join([first, *[f"step {i}" for i in range(500)], last])

    assert error_lines(text) == last
    assert extract(text).lines[-1] == last


def test_consequence_lines_alone_are_still_an_excerpt() -> None:
    text = "cc -c main.c\nmake[1]: *** [Makefile:5: all] Error 2\nmake: *** [Makefile:3] Error 2"

    excerpt = extract(text)

    assert not excerpt.fallback
    assert excerpt.lines[-1] == "make: *** [Makefile:3] Error 2"


def test_short_message_without_markers_is_returned_whole() -> None:
    excerpt = extract("expected 3 rows\nbut the table had 5")

    assert excerpt.fallback
    assert excerpt.text == "expected 3 rows\nbut the table had 5"


# --------------------------------------------------------------------------------------------
# Bounds
# --------------------------------------------------------------------------------------------


def test_excerpt_respects_max_lines_and_max_chars() -> None:
    text = "\n".join(f"src/m{i}.c:{i}:1: error: {'x' * 300}" for i in range(200))

    excerpt = extract(text, max_lines=7, max_chars=1000)

    assert len(excerpt) <= 7
    assert len(excerpt.text) <= 1000


def test_one_huge_line_is_cut() -> None:
    text = "ERROR: " + "x" * 20_000_000 + "\nnext line"

    excerpt = extract(text)

    assert excerpt.lines[0].startswith("ERROR: xxx")
    assert all(len(line) <= MAX_LINE_CHARS for line in excerpt.lines)


def _big_log(lines: int) -> Iterator[str]:
    rng = random.Random(7)
    for i in range(lines):
        roll = rng.random()
        if roll < 0.001:
            yield f"ERROR: worker {i} lost its connection: Connection refused\n"
        elif roll < 0.3:
            yield f"[INFO] Downloaded artifact {i} from https://repo.example/{rng.random()}\n"
        else:
            yield f"2026-11-20T06:30:00.{i:07d}Z processing item {i} of the batch ... ok\n"


def test_streaming_a_huge_log_keeps_memory_bounded() -> None:
    count = 100_000  # about 7 MB of text (13 MB as Python strings), never held whole
    tracemalloc.start()
    try:
        excerpt = extract_lines(_big_log(count))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    assert excerpt.total_lines == count
    assert 0 < len(excerpt) <= 20
    assert peak < 1_000_000  # bytes: a bounded window of candidates, not the log


def test_extract_lines_numbers_the_items_of_the_iterable() -> None:
    lines = [f"[INFO] step {i}" for i in range(50)] + ["fatal: not a git repository"]

    excerpt = extract_lines(iter(lines))

    assert excerpt.line_numbers == (50,)
    assert excerpt.lines == ("fatal: not a git repository",)


# --------------------------------------------------------------------------------------------
# Properties
# --------------------------------------------------------------------------------------------

_LOG_LINES = st.sampled_from(
    [
        "",
        "[INFO] ok",
        "ERROR: boom",
        "E       assert 1 == 2",
        "Traceback (most recent call last):",
        '  File "x.py", line 3, in <module>',
        "ValueError: bad",
        "\tat a.B.c(B.java:1)",
        "\x1b[1;31m[ERROR]\x1b[m fail",
        "2026-11-20T06:30:00.1234567Z npm ERR! code E404",
        "progress \r 50%\r100%",
        "FAILED t.py::x - y",
    ]
)


@settings(max_examples=300, deadline=None)
@given(st.text(), st.integers(min_value=0, max_value=30), st.integers(min_value=0, max_value=500))
def test_arbitrary_unicode_never_crashes_and_stays_in_bounds(
    text: str, max_lines: int, max_chars: int
) -> None:
    excerpt = extract(text, max_lines=max_lines, max_chars=max_chars)
    key = error_lines(text)

    assert len(excerpt) <= max_lines
    assert len(excerpt.text) <= max(max_chars, 0)
    assert list(excerpt.line_numbers) == sorted(set(excerpt.line_numbers))
    assert all(0 <= n < len(text.splitlines()) for n in excerpt.line_numbers)
    assert len(key.splitlines()) <= 5


@settings(max_examples=300, deadline=None)
@given(st.lists(st.one_of(_LOG_LINES, st.text(max_size=40)), max_size=60))
def test_excerpt_lines_are_the_cleaned_input_lines(lines: list[str]) -> None:
    text = "\n".join(lines)
    source = text.splitlines()

    excerpt = extract(text)

    for number, line in zip(excerpt.line_numbers, excerpt.lines, strict=True):
        assert line == clean_line(source[number])


_BREAKY = ["a", "é", "\n", "\r", "\r\n", "\x85", "\u2028", "\x0b"]


@settings(max_examples=500, deadline=None)
@given(
    st.lists(st.sampled_from(_BREAKY)).map("".join),
    st.integers(min_value=1, max_value=9),
)
def test_iter_lines_splits_like_splitlines_whatever_the_chunk(text: str, chunk: int) -> None:
    assert list(iter_lines(text, chunk_chars=chunk, max_chars=10**6)) == text.splitlines()


def test_extract_key_accepts_an_iterable() -> None:
    lines = read("python_traceback.log").splitlines()

    assert extract_key(iter(lines)).text == error_lines("\n".join(lines))


def test_same_key_for_every_order_of_unrelated_info_lines() -> None:
    failure = read("pytest_failure.log").splitlines()
    info = [f"[INFO] task {i}" for i in range(5)]
    keys = {error_lines("\n".join([*perm, *failure])) for perm in itertools.permutations(info, 3)}

    assert len(keys) == 1
