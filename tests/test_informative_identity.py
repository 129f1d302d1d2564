"""``informative_part`` gives the same text as before it was made a single pass (issue #24).

It decides what is fingerprinted for a failure with a message, so its output must not change:
this module keeps the previous implementation, as it was on main at 3c6dea9, and compares the two
on real messages and logs (the classification corpus, the CiDiff logs) and on generated text.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from corpus_texts import corpus_texts, windows
from triagehub.core.informative import _meaningful, informative_part, is_footer

TESTS = Path(__file__).resolve().parent
SHARED_DATA = TESTS.parent.parent / "shared" / "data"


def reference_informative_part(message: str) -> str:
    """``core/informative.py``'s ``informative_part`` at 3c6dea9."""
    lines = message.splitlines()
    if not any(_meaningful(line) for line in lines):
        return ""
    kept = [line for line in lines if not line.strip() or not is_footer(line)]
    return "\n".join(kept).strip("\n")


def _assert_same(texts: list[str], what: str) -> None:
    assert texts, f"no {what}"
    differ = [t for t in texts if informative_part(t) != reference_informative_part(t)]
    assert not differ, f"{len(differ)} of {len(texts)} {what} differ: {differ[:3]!r}"


def test_corpus_messages_and_logs_keep_their_informative_part() -> None:
    _assert_same(corpus_texts(size=6, step=3), "corpus texts")


def test_cidiff_logs_keep_their_informative_part() -> None:
    folder = SHARED_DATA / "cidiff"
    if not folder.is_dir():
        pytest.skip(f"{folder} is absent (../shared/data beside the repository)")
    texts = []
    for path in sorted(folder.glob("*/*.log")):
        texts += windows(path.read_text(encoding="utf-8", errors="replace"), 6, 3)
    _assert_same(texts, "CiDiff windows")


_PIECES = [
    "Process completed with exit code 1.", "##[error]", "Error: ", "[ERROR] ", "BUILD FAILURE",
    "npm ERR! Test failed.", "=====", "-----", "   ", "\t", "\n", "\r\n", "\n\n", "AssertionError",
    "make: *** [all] Error 2", "FAILED", "exit status 2", "x", "Done. PASS=1 WARN=0 ERROR=1",
    "\u2028", "\x1c", " ",
]  # fmt: skip


@settings(max_examples=2000, deadline=None)
@given(st.lists(st.sampled_from(_PIECES), max_size=16).map("".join))
def test_generated_text_keeps_its_informative_part(text: str) -> None:
    assert informative_part(text) == reference_informative_part(text)
