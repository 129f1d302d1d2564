"""The excerpt gives what it gave before its per-line work was made cheaper (issue #24).

``core/excerpt`` cleans each line on a fast path when it is printable, walks the lines in one
loop with the open block in local variables, keeps a block's lines as tuples, ranks each block
once, and remembers the kinds of the lines by their *shape* (ASCII digits written alike) as well
as by their text. Every output must stay the same: the excerpt's lines, numbers and fallback, the
key lines that are fingerprinted, the text chosen for a failure, each line's kind. So this module
compares the current code with the code of 98ca4f0 (``excerpt_reference.py``, classifying with no
memo at all) on real logs (the classification corpus, CiDiff, the GHALogs run, Loghub), with the
memo cold, warm and overflowing, and on generated hostile text (ANSI, CR, NUL, BOM, tabs, very
long lines, any unicode).
"""

from __future__ import annotations

import random
import re
import sys
import tarfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import excerpt_reference as ref
from corpus_texts import corpus_texts, windows
from triagehub.core.excerpt import (
    clean_line,
    clear_known,
    error_text,
    extract,
    extract_key,
    extract_lines,
    iter_lines,
)
from triagehub.core.excerpt.kinds import line_info

TESTS = Path(__file__).resolve().parent
SHARED_DATA = TESTS.parent.parent / "shared" / "data"


def _shared(folder: str) -> Path:
    path = SHARED_DATA / folder
    if not path.is_dir():  # the shared data is part of the proof: never skipped silently
        pytest.fail(f"{path} is absent (../shared/data beside the repository)")
    return path


def cidiff_logs() -> list[str]:
    paths = sorted(_shared("cidiff").glob("*/*.log"))
    return [p.read_text(encoding="utf-8", errors="surrogateescape") for p in paths]


def gha_logs() -> list[str]:
    logs = []
    with tarfile.open(_shared("ghalogs") / "log.tar.gz") as tar:
        for member in tar.getmembers():
            handle = tar.extractfile(member) if member.isfile() else None
            if handle is not None:
                logs.append(handle.read().decode("utf-8", errors="surrogateescape"))
    return logs


def loghub_logs() -> list[str]:
    paths = sorted(_shared("loghub2k").glob("*/*_2k.log"))
    return [p.read_text(encoding="utf-8", errors="replace") for p in paths]


def _excerpt_view(excerpt: object) -> object:
    return (
        excerpt.lines,  # type: ignore[attr-defined]
        excerpt.line_numbers,  # type: ignore[attr-defined]
        excerpt.total_lines,  # type: ignore[attr-defined]
        excerpt.fallback,  # type: ignore[attr-defined]
    )


_VARIANTS: list[dict[str, int]] = [{"max_lines": 5, "max_chars": 300}, {"max_lines": 1}]


def _differences(text: str, *, full: bool = True) -> Iterator[str]:
    """What the current code gives differently from the reference for ``text`` (``full``: with
    other limits too, and line by line)."""
    for kwargs in [{}, *(_VARIANTS if full else [])]:
        if _excerpt_view(extract(text, **kwargs)) != _excerpt_view(ref.extract(text, **kwargs)):
            yield f"extract {kwargs}"
    if _excerpt_view(extract_key(text)) != _excerpt_view(ref.extract_key(text)):
        yield "extract_key"
    if error_text("", text) != ref.error_text("", text):
        yield "error_text of a log"
    if not full:
        return
    lines = text.splitlines()
    if _excerpt_view(extract_lines(lines, max_lines=8)) != _excerpt_view(
        ref.extract_lines(lines, max_lines=8)
    ):
        yield "extract_lines"
    if _excerpt_view(extract_key(iter(lines))) != _excerpt_view(ref.extract_key(iter(lines))):
        yield "extract_key of lines"
    if error_text(text, text) != ref.error_text(text, text):
        yield "error_text"
    for raw in lines:
        if clean_line(raw) != ref.ref_clean_line(raw):
            yield f"clean_line {raw[:80]!r}"
        cleaned = clean_line(raw)
        if line_info(cleaned) != ref.ref_line_info(cleaned):
            yield f"line_info {cleaned[:80]!r}"


def _assert_same(texts: list[str], what: str, *, full: bool = True) -> None:
    assert texts, f"no {what}"
    clear_known()
    for attempt in ("cold", "warm"):  # the lines' kinds unknown, then remembered
        for text in texts:
            differ = list(_differences(text, full=full and attempt == "cold"))
            assert not differ, (what, attempt, text[:300], differ[:5])


def test_corpus_messages_and_logs_give_the_same_excerpts() -> None:
    texts = corpus_texts(size=6, step=3)
    assert len(texts) > 1000
    _assert_same(texts, "corpus texts")


def test_corpus_logs_with_other_numbers_give_the_same_excerpts() -> None:
    """The benchmark's "fresh numbers in the logs" and a re-run's durations, ids and counts: the
    same lines with other digits, whose kinds are known by their shape."""
    logs = [log for log in corpus_texts(("log",)) if log]
    digits = str.maketrans("0123456789", "5432109876")
    other = str.maketrans("0123456789", "1111111111")
    _assert_same([*logs, *(log.translate(digits) for log in logs)], "renumbered logs")
    _assert_same([log.translate(other) for log in logs] + logs, "logs with digits alike")


def test_corpus_logs_with_fresh_numbers_and_zeros_elsewhere_give_the_same_excerpts() -> None:
    """Lines holding "error", "fail" or "0x" are looked up by a finer shape (zeros kept, digits
    1-9 alike): the same logs with their digits 1-9 permuted (one such shape), with every number
    drawn anew (the benchmark's fresh numbers) and with zeros and ones swapped (other shapes)."""
    rng = random.Random(24)
    logs = [log for log in corpus_texts(("log",)) if log]
    permuted = str.maketrans("123456789", "978563412")
    swapped = str.maketrans("01", "10")

    def fresh(log: str) -> str:
        return re.sub(r"\d+", lambda m: str(rng.randrange(10 ** len(m.group()))), log)

    _assert_same([*logs, *(log.translate(permuted) for log in logs)], "permuted digits")
    _assert_same([*logs, *(fresh(log) for log in logs for _ in range(3))], "fresh numbers")
    _assert_same([*logs, *(log.translate(swapped) for log in logs)], "zeros and ones swapped")


def test_cidiff_logs_give_the_same_excerpts() -> None:
    logs = cidiff_logs()
    assert len(logs) == 72
    _assert_same(logs, "CiDiff logs", full=False)
    _assert_same([w for log in logs for w in windows(log, 60, 400)], "CiDiff windows")


def test_ghalogs_run_gives_the_same_excerpts() -> None:
    logs = gha_logs()
    assert len(logs) > 10
    _assert_same(logs, "GHALogs step logs", full=False)


def test_loghub_logs_give_the_same_excerpts() -> None:
    logs = loghub_logs()
    assert len(logs) == 16
    texts = [w for log in logs for w in windows(log, 40, 200)]
    _assert_same(logs, "Loghub logs", full=False)
    _assert_same(texts, "Loghub windows")


def test_a_full_memo_gives_the_same_excerpts() -> None:
    """More distinct lines than the memo holds (both generations overflow)."""
    logs = [log for log in corpus_texts(("log",)) if log]
    flood = "\n".join(f"step {i} x{i * 7}y ERROR {i % 3} failed" for i in range(20_000))
    _assert_same([flood, *logs, flood, *logs], "logs through a flooded memo", full=False)


_ODD = [chr(c) for c in (*range(0x00, 0x21), 0x7F, 0x85, 0xA0, 0x2028, 0x2029, 0xFEFF)]
_ODD += ["\x1b[31m", "\x1b[0m", "\x1b]0;t\x07", "\r\n", "\r", "\t", "é", "\ud800", "٣", "²"]
_WORDS = [
    "ERROR", "[ERROR] ", "E   ", "FAILED ", "Error: x", "Traceback (most recent call last):",
    "  File \"a.py\", line 3", "    at Foo.bar(Foo.java:1)", "Caused by: x",
    "2026-11-20T06:30:00Z ", "12:00:00  ", "job\tstep\t2026-11-20T06:30:00.1234567Z ",
    "npm ERR! code 1", "0 failed", "1 failed", "=== FAILURES ===", "___ test ___",
    "* What went wrong:", "> cause", "BUILD FAILURE", "[2026-11-20 06:30:00,123] ", "[INFO] ",
    "[\u0663\u0663\u0663\u0663-\u0661\u0661-\u0662\u0662 \u0660\u0660:\u0660\u0660] ", "[²",
    "make: *** [x] Error 2", "Process completed with exit code 1.", "[INFO] x", "ok ", "PASSED",
    "404 Not Found", "0x1f", "collect2: error", "SC2086", "\n", "\n\n", "  ", "x" * 700, "9" * 30,
]  # fmt: skip
HOSTILE = st.lists(
    st.one_of(
        st.sampled_from(_ODD),
        st.sampled_from(_WORDS),
        st.characters(),
        st.text(st.characters(max_codepoint=0x7F), max_size=12),
    ),
    max_size=50,
).map("".join)


@settings(max_examples=400, deadline=None)
@given(HOSTILE)
def test_hostile_text_gives_the_same_excerpts(text: str) -> None:
    differ = list(_differences(text))
    assert not differ, differ[:5]
    assert not list(_differences(text))  # its lines now remembered


def test_the_fast_path_of_clean_line_skips_only_lines_without_a_prefix() -> None:
    """The proof behind ``clean_line``'s fast path (inline in ``Collector.run`` too): a printable
    line holds none of the characters the slow path handles (ESC, CR, LF, tab, BOM), and without a
    tab the timestamp prefix starts with "[" or a ``\\d``, then a ``\\d``: every character that
    ``\\d`` matches is ``isdigit`` (over every code point), so a line whose second character is
    not a digit has no prefix."""
    for c in ("\x1b", "\r", "\n", "\t", "\ufeff", "\x0b", "\x0c", "\x85", "\u2028"):
        assert not c.isprintable()
    digit = re.compile(r"\d")
    for code in range(sys.maxunicode + 1):
        c = chr(code)
        if digit.match(c):
            assert c.isdigit(), hex(code)
    assert ref.ref_clean_line("[INFO] x") == clean_line("[INFO] x") == "[INFO] x"
    for stamped in (
        "[2026-11-20T06:30:00Z] boom",
        "2026-11-20 06:30:00,123 boom",
        "12:00:00  boom",
    ):
        assert ref.ref_clean_line(stamped) == clean_line(stamped) == "boom"
    assert ref.ref_clean_line("1 failed ") == clean_line("1 failed ") == "1 failed"


def test_very_long_lines_give_the_same_excerpts() -> None:
    texts = [
        "E   " + "x" * 5000 + "\nFAILED a::b\n",
        "\x1b[31m" * 600 + "ERROR boom",
        "1" * 3000 + " failed\n" + "\t" * 2100 + "x",
        "error: " + "é" * 2500 + "\r" + "ok",
        "2026-11-20T06:30:00Z " + "ERROR " * 500,
    ]
    _assert_same(texts, "very long lines")
    assert next(iter_lines(texts[0])) == texts[0].splitlines()[0][:2000]
