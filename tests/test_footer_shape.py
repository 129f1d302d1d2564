"""Footers by shape (issue #24): ``is_footer`` remembers its answer for a line's *shape* (its ASCII
digits written "2"), so that the tallies and assertions that recur with other numbers are not
matched again. That holds only while the footer patterns test a digit by its class, never by its
value, but for the "2" of "collect2" (a line holding "collect" is remembered as it is): this module
checks that of the patterns themselves, and compares the remembered answers with ``_is_footer``
on real messages and logs and on generated lines whose digits are drawn again.
"""

from __future__ import annotations

import random
import re
from pathlib import Path
from re import _parser as sre_parse  # (Python 3.11+)
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from corpus_texts import corpus_texts
from test_failure_core_identity import benchmark_failures
from test_fingerprint_shape import digit_values_tested
from triagehub.core.informative import (
    _FOOTER_MEMO,
    _FOOTERS,
    _PREFIX,
    DIGIT_LITERAL_CONTEXT,
    _is_footer,
    is_footer,
)

TESTS = Path(__file__).resolve().parent
SHARED_DATA = TESTS.parent.parent / "shared" / "data"


_NESTED = ("SUBPATTERN", "MAX_REPEAT", "MIN_REPEAT", "POSSESSIVE_REPEAT", "ASSERT", "ASSERT_NOT")


def _backreferences(parsed: Any) -> list[str]:
    """Back-references (``(\\d)\\1`` compares two digits' values): none is allowed."""
    found: list[str] = []
    for op, av in parsed:
        name = str(op)
        if name in ("GROUPREF", "GROUPREF_EXISTS"):
            found.append(name)
        elif name in _NESTED:
            found += _backreferences(av[-1])
        elif name == "ATOMIC_GROUP":
            found += _backreferences(av)
        elif name == "BRANCH":
            for branch in av[1]:
                found += _backreferences(branch)
    return found


def test_the_patterns_test_digits_only_by_class_but_for_collect2() -> None:
    assert digit_values_tested(_PREFIX) == []
    assert digit_values_tested(_FOOTERS) == ["LITERAL 2"]
    literal = DIGIT_LITERAL_CONTEXT + "2"
    assert _FOOTERS.pattern.count(literal) == 1
    # Without "collect2" (its "2" is tested right after "collect" only) no digit value is tested.
    rest = re.compile(_FOOTERS.pattern.replace(literal, DIGIT_LITERAL_CONTEXT), _FOOTERS.flags)
    assert digit_values_tested(rest) == []
    for pattern in (_PREFIX, _FOOTERS):
        assert _backreferences(sre_parse.parse(pattern.pattern, pattern.flags)) == []
    assert _backreferences(sre_parse.parse(r"(\d)\1")) == ["GROUPREF"]


def _redraw(line: str, rng: random.Random) -> str:
    return re.sub(r"[0-9]", lambda _: rng.choice("0123456789"), line)


def _assert_same(lines: list[str], what: str) -> None:
    assert lines, f"no {what}"
    rng = random.Random(24)
    _FOOTER_MEMO.clear()
    for _ in range(2):  # the shapes unknown, then remembered
        for line in lines:
            for variant in (line, _redraw(line, rng), _redraw(line, rng)):
                assert is_footer(variant) == _is_footer(variant), variant
    assert len(_FOOTER_MEMO) <= _FOOTER_MEMO.limit


def _lines(texts: list[str]) -> list[str]:
    return [line.strip() for text in texts for line in text.splitlines() if line.strip()]


def test_corpus_lines_are_footers_as_before() -> None:
    _assert_same(_lines(corpus_texts()), "corpus lines")


@pytest.mark.parametrize(("folder", "pattern"), [("cidiff", "*/*.log"), ("loghub2k", "*/*.log")])
def test_real_log_lines_are_footers_as_before(folder: str, pattern: str) -> None:
    root = SHARED_DATA / folder
    if not root.is_dir():
        pytest.skip(f"{root} is absent (../shared/data beside the repository)")
    texts = [p.read_text(encoding="utf-8", errors="replace") for p in sorted(root.glob(pattern))]
    _assert_same(_lines(texts)[::3], f"{folder} lines")


def test_benchmark_lines_are_footers_as_before() -> None:
    _assert_same(_lines([m for _, _, m in benchmark_failures(2000)]), "benchmark lines")


def test_collect2_lines_are_remembered_as_they_are() -> None:
    _FOOTER_MEMO.clear()
    footer = "collect2: error: ld returned 1 exit status"
    assert is_footer(footer)
    assert not is_footer(footer.replace("collect2", "collect3"))  # not the shape's answer
    assert is_footer(footer.replace("returned 1", "returned 7"))
    assert footer in _FOOTER_MEMO


def test_a_shape_is_remembered_once() -> None:
    _FOOTER_MEMO.clear()
    assert is_footer("=== 3 failed, 12 passed in 0.41s ===")
    assert is_footer("=== 7 failed, 90 passed in 8.03s ===")
    assert list(_FOOTER_MEMO) == [b"=== 2 failed, 22 passed in 2.22s ==="]
    assert not is_footer("AssertionError: assert 41 == 7")
    assert len(_FOOTER_MEMO) == 2


_PIECES = [
    "collect2: error: ld returned ", "collect", "2", "7", "0", "1 exit status", "exit code ",
    "Process completed with exit code ", ".", "Found ", " errors", "error", "=== ", " ===",
    " failed, ", " passed in ", "s", "[ERROR] ", "##[error]", "Tests run: ", ", Failures: ",
    "make[", "]: *** [all] Error ", " ", "x", "٣", "é", "-",
]  # fmt: skip


@settings(max_examples=1500, deadline=None)
@given(st.lists(st.sampled_from(_PIECES), max_size=14).map("".join))
def test_generated_lines_are_footers_as_before(line: str) -> None:
    rng = random.Random(line)
    for variant in (line, _redraw(line, rng)):
        assert is_footer(variant) == _is_footer(variant)
