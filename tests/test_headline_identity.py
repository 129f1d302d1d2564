"""``headline`` gives the same line as before it remembered the lines it ranks (issue #24).

A new issue's title is made from it, so its output must not change: this module keeps the previous
implementation, as it was on main at 695bacd, and compares the two on real messages and logs (the
classification corpus, the CiDiff and Loghub logs) and on generated text, with the line memo
full, emptied and overflowing.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from corpus_texts import corpus_texts, windows
from triagehub.core.excerpt.headline import (
    _GRADLE_OPENER,
    _LINES,
    _TITLE_PREFIX,
    MAX_LINES,
    _title_rank,
    headline,
)
from triagehub.core.excerpt.kinds import classify_line
from triagehub.core.excerpt.lines import WORDY, clean_line, iter_lines
from triagehub.core.informative import _FOOTER_MEMO, _is_footer, is_footer

TESTS = Path(__file__).resolve().parent
SHARED_DATA = TESTS.parent.parent / "shared" / "data"


def reference_headline(text: str, *, limit: int = 160) -> str:
    """``core/excerpt/headline.py``'s ``headline`` at 695bacd."""
    best: tuple[int, str] | None = None
    fallback = ""
    gradle = False
    for raw in iter_lines(text):
        line = clean_line(raw).strip()
        if not line or not WORDY.search(line):
            continue
        fallback = fallback or line
        rank = _title_rank(line, classify_line(line), gradle)
        if _GRADLE_OPENER.match(line):
            gradle = True
        elif not line.startswith("> "):
            gradle = False
        if best is None or rank > best[0]:
            best = (rank, line)
    line = best[1] if best is not None and best[0] > 0 else fallback
    line = _TITLE_PREFIX.sub("", line).strip() or line
    return line if len(line) <= limit else line[: limit - 1] + "…"


def _assert_same(texts: list[str], what: str) -> None:
    assert texts, f"no {what}"
    for _ in range(2):  # the lines unknown, then remembered
        differ = [t for t in texts if headline(t) != reference_headline(t)]
        assert not differ, f"{len(differ)} of {len(texts)} {what} differ: {differ[:3]!r}"


def test_corpus_messages_and_logs_keep_their_headline() -> None:
    _assert_same(corpus_texts(size=12, step=5), "corpus texts")


@pytest.mark.parametrize(("folder", "pattern"), [("cidiff", "*/*.log"), ("loghub2k", "*/*.log")])
def test_real_logs_keep_their_headline(folder: str, pattern: str) -> None:
    root = SHARED_DATA / folder
    if not root.is_dir():
        pytest.skip(f"{root} is absent (../shared/data beside the repository)")
    texts = []
    for path in sorted(root.glob(pattern)):
        texts += windows(path.read_text(encoding="utf-8", errors="replace"), 12, 5)[:400]
    _assert_same(texts, f"{folder} windows")


def test_the_line_memo_stays_bounded_and_gives_the_same_headline() -> None:
    text = "* What went wrong:\n> Could not resolve com.acme:lib:1.0\nBUILD FAILED in 3s"
    first = headline(text)
    assert first == "Could not resolve com.acme:lib:1.0"
    for i in range(MAX_LINES + 10):  # a flood of lines seen once
        headline(f"step {i} took {i * 7}ms")
        assert len(_LINES) <= MAX_LINES
    assert headline(text) == first


def test_a_remembered_line_keeps_the_gradle_state_of_its_text() -> None:
    cause = "> Could not find method foo()"
    assert headline(f"* What went wrong:\n{cause}\nok then") == cause[2:]
    # The same line, remembered, but not after Gradle's opener: set-up noise, not a cause.
    assert headline(f"running\n{cause}\nAssertionError: x") == "AssertionError: x"


def test_is_footer_remembers_the_same_answers() -> None:
    lines = ["Process completed with exit code 1.", "AssertionError: 1 != 2", "", "x" * 700]
    for _ in range(2):
        assert [is_footer(line) for line in lines] == [_is_footer(line) for line in lines]
    assert "x" * 700 not in _FOOTER_MEMO  # a long line is not kept


_PIECES = [
    "* What went wrong:", "> Task :app:test FAILED", "> Could not resolve x", "Traceback (most "
    "recent call last):", "E   AssertionError: 1 != 2", "ValueError: bad", "Process completed "
    "with exit code 1.", "##[error]", "Run make", "raise X(", "\n", "\r\n", "\r", "   ", "\x1b[31m",
    "BUILD FAILED", "error: x;", "ok", "\u2028",
]  # fmt: skip


@settings(max_examples=2000, deadline=None)
@given(st.lists(st.sampled_from(_PIECES), max_size=14).map("".join))
def test_generated_text_keeps_its_headline(text: str) -> None:
    assert headline(text) == reference_headline(text)
