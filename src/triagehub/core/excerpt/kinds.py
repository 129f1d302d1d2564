"""The kind of one cleaned log line: blank, noise, plain, frame, boilerplate, weak, level,
medium or strong error."""

from __future__ import annotations

import re

from triagehub.core.excerpt.line_patterns import (
    BOILER_LINE,
    EXCEPTION,
    FRAME_LINE,
    GHC_WARNING,
    HTTP_REASONS,
    LEVEL_PROBE,
    LEVEL_WORD,
    MEDIUM_ANY,
    PASSING,
    PASSING_START,
    SHELLCHECK,
    STRONG_ANY,
    STRONG_START,
    WEAK_ANY,
    WEAK_START,
    hinted,
    noise,
)
from triagehub.core.excerpt.lines import WORDY
from triagehub.core.informative import is_footer
from triagehub.core.memo import BoundedMemo
from triagehub.core.wordtree import any_word

# Kinds of lines, weakest first. LEVEL is a line whose only error evidence is its log level
# ("[ERROR] realm = ...", "[main] ERROR Foo - bar"): it opens a block like MEDIUM, but inside a
# block it is only detail.
BLANK, NOISE, PLAIN, INDENT, FRAME, BOILER, WEAK, LEVEL, MEDIUM, STRONG = range(10)
OPENERS = frozenset((WEAK, LEVEL, MEDIUM, STRONG))


SECTION_STARTS = frozenset(c * 3 for c in "=_*#~-")
_ZERO_COUNT = re.compile(r"(?i)\b0 (?:errors?|failed|failures?)\b|\b(?:errors?|failures?)[:=] ?0\b")
_NONZERO_COUNT = re.compile(r"(?i)\b[1-9]\d* (?:errors?|failed|failures?)\b")


# Section headers ("=== FAILURES ===", "___ test_foo ___", "--- Captured stdout call ---"): they
# end the open block. The pytest failure header opens one; other sections are noise.
SECTION = re.compile(r"([=_*#~-])\1{2,} \S.* \1{3,}$")
_FAILURE_SECTION = re.compile(r"_{3,} \S.* _{3,}$")


def _plain(stripped: str, indented: bool) -> int:
    if (PASSING_START.match(stripped) or PASSING.hit(stripped)) and not (
        "FAIL" in stripped or "ERROR" in stripped
    ):
        return NOISE
    if stripped[:3] in SECTION_STARTS and SECTION.match(stripped):
        return MEDIUM if _FAILURE_SECTION.match(stripped) else NOISE
    return INDENT if indented else PLAIN


# The kinds of the lines seen lately: a line's kind depends on its text only, and CI logs repeat
# most of their lines from run to run (set-up, build and test output; timestamps are cleaned
# off first), so each distinct line is classified once. Two generations, bounded (lines and
# characters each): when the young one is full it becomes the old one and the former old one is
# dropped; a line found in the old generation moves back to the young one. So the lines that
# every run prints survive a flood of lines seen once (durations, ids, counts), which emptying
# the whole table would forget. Each generation stays under a megabyte.
_KNOWN: dict[str, int] = {}
_OLD: dict[str, int] = {}
_known_chars = 0
KNOWN_LINES = 4096  # per generation
KNOWN_CHARS = 160_000  # per generation


# What :func:`line_info` tells besides the kind (the kind is ``info & KIND``).
KIND = 15
WORDY_LINE = 16  # the line has words (``lines.WORDY``), it is not a separator or a row of dots
SECTION_LINE = 32  # the line is a section header (``SECTION``: it ends the open block)


def line_info(line: str) -> int:
    """The kind of one cleaned line and its flags (``WORDY_LINE``, ``SECTION_LINE``)."""
    info = _KNOWN.get(line)
    if info is None:
        info = _OLD.get(line)
        if info is None:
            info = _info_by_shape(line)
        _remember(line, info)
    return info


def _work_out(line: str) -> int:
    info = _classify(line)
    if WORDY.search(line) is not None:
        info |= WORDY_LINE
    if line[:3] in SECTION_STARTS and SECTION.match(line) is not None:
        info |= SECTION_LINE
    return info


# The infos of the lines seen lately by their *shape*: their ASCII digits written "0" (in UTF-8 a
# byte 0x30-0x39 is always an ASCII digit). A re-run prints the same lines with other durations,
# ids and counts. A line's info depends on its ASCII digits only through where they are: every
# test that the patterns (``line_patterns``, ``SECTION``, the counts here, ``informative``'s
# footers, ``lines.WORDY``) and the probes' guards make of a digit is a class holding all ten,
# but in branches that need one of ``DIGIT_CONTEXT``'s words ("0 failed", "[1-9]\d* errors",
# "0x7f", "sha256sum", "collect2", "404 Not Found"): a line holding one of them is looked up by a
# finer shape or not at all (below). ``tests/test_excerpt_shape.py`` walks every pattern to prove
# it. Lines without an ASCII digit are their own shape: the table above is enough for them.
# Bounded like a generation of that table; emptied when full.
_SHAPED: BoundedMemo[bytes, int] = BoundedMemo(KNOWN_LINES, KNOWN_CHARS)
_SHAPE = bytes.maketrans(b"0123456789", b"0000000000")
DIGIT_WORDS = ("fail", "error", "0x", "sum", "collect", *HTTP_REASONS)
DIGIT_CONTEXT = re.compile(any_word(DIGIT_WORDS), re.IGNORECASE)
# What DIGIT_CONTEXT finds in an ASCII line, found faster in the line lower-cased (an ASCII
# letter matches another case-insensitively iff both lower-case alike).
_LOWER_CONTEXT = re.compile(any_word(word.lower() for word in DIGIT_WORDS))
# Behind "fail", "error" and "0x" the patterns tell a digit only from "0" ("0 failed",
# "[1-9]\d* errors", "0x7f"): a line holding them but none of ``EXACT_WORDS`` (whose patterns
# spell digits out: "sha256sum", "collect2", "404 Not Found") is looked up by a finer shape that
# keeps its zeros, its digits 1-9 written "1" (``tests/test_excerpt_shape.py`` proves it too), in
# a memo of its own: fresh numbers give such lines many shapes, which would empty the first memo.
EXACT_WORDS = ("sum", "collect", *HTTP_REASONS)
_LOWER_EXACT = re.compile(any_word(word.lower() for word in EXACT_WORDS))
_ZERO_SHAPE = bytes.maketrans(b"0123456789", b"0111111111")
_ZERO_SHAPED: BoundedMemo[bytes, int] = BoundedMemo(KNOWN_LINES, KNOWN_CHARS)


def _info_by_shape(line: str) -> int:
    raw = line.encode("utf-8", "surrogatepass")
    shape = raw.translate(_SHAPE)
    if shape == raw or not line.isascii():
        return _work_out(line)
    lower = line.lower()
    memo = _SHAPED
    if _LOWER_CONTEXT.search(lower) is not None:
        if _LOWER_EXACT.search(lower) is not None:
            return _work_out(line)
        memo, shape = _ZERO_SHAPED, raw.translate(_ZERO_SHAPE)
    info = memo.get(shape)
    if info is None:
        info = memo.keep(shape, _work_out(line), len(line))
    return info


known_info = _KNOWN.get
"""The info of a line of the young generation, or None: the first look of :func:`line_info`, for a
loop over many lines to call without a Python frame (the young generation is never replaced)."""


def classify_line(line: str) -> int:
    """The kind of one cleaned line."""
    return line_info(line) & KIND


def _remember(line: str, info: int) -> None:
    global _known_chars, _OLD
    if len(_KNOWN) >= KNOWN_LINES or _known_chars >= KNOWN_CHARS:
        _OLD = _KNOWN.copy()  # the young generation stays the same dict (see known_info)
        _KNOWN.clear()
        _known_chars = 0
    _KNOWN[line] = info
    _known_chars += len(line)


def clear_known() -> None:
    """Forget the kinds of the lines seen so far (a benchmark measuring lines never seen)."""
    global _known_chars
    _KNOWN.clear()
    _OLD.clear()
    _SHAPED.clear()
    _ZERO_SHAPED.clear()
    _known_chars = 0


def _classify(line: str) -> int:
    """The kind of one cleaned line, worked out."""
    stripped = line.lstrip()
    if not stripped:
        return BLANK
    indented = len(stripped) != len(line)
    if (indented or stripped.startswith(("at ", "..."))) and FRAME_LINE.match(line):
        return FRAME
    if ": " in stripped and "[" in stripped:
        if SHELLCHECK.match(stripped):
            return STRONG
        if GHC_WARNING.match(stripped):
            return MEDIUM
    if noise(stripped):
        return WEAK if "BUILD FAILURE" in stripped else NOISE
    if not hinted(stripped):
        return _plain(stripped, indented)
    if BOILER_LINE.match(stripped):
        return BOILER
    if WEAK_START.match(stripped) or WEAK_ANY.hit(stripped):
        return WEAK
    if is_footer(stripped):  # a footer or a tally: a consequence that names no cause
        if _ZERO_COUNT.search(stripped) and not _NONZERO_COUNT.search(stripped):
            return NOISE
        return WEAK
    if stripped.startswith("curl: ("):  # a probe's failure (a version manager's 404) or a cause
        return MEDIUM
    if STRONG_START.match(stripped) or EXCEPTION.match(stripped) or STRONG_ANY.hit(stripped):
        return STRONG
    if stripped.startswith("[ERROR]  "):  # Maven goes on with a message on indented lines
        return INDENT
    level = LEVEL_PROBE.hit(stripped)
    if MEDIUM_ANY.hit(LEVEL_WORD.sub(" ", stripped) if level else stripped):
        if _ZERO_COUNT.search(stripped) and not _NONZERO_COUNT.search(stripped):
            return NOISE
        return MEDIUM
    if level:
        return LEVEL
    return _plain(stripped, indented)
