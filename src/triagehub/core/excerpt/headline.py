"""The line of an error text a human would quote as its cause, for a title."""

from __future__ import annotations

import re

from triagehub.core.excerpt.kinds import (
    INDENT,
    LEVEL,
    MEDIUM,
    NOISE,
    PLAIN,
    STRONG,
    WEAK,
    classify_line,
)
from triagehub.core.excerpt.lines import WORDY, clean_line, iter_lines
from triagehub.core.informative import is_footer
from triagehub.core.memo import BoundedMemo

# Lines that open an error but say nothing a human would quote as its cause.
_HEADER = re.compile(
    r"Traceback \(most recent call last\):?$"
    r"|(?:Runtime|Database|Compilation|Parsing|Dependency) Error in (?:model|test|seed|snapshot"
    r"|source|macro|unit_test|analysis|sql_operation|operation) \S+(?: \(.*\))?:?$"
    r"|_{3,} .+ _{3,}$|Failures:?$|\S+ > \S.* FAILED$|> Task \S+ FAILED$"
)
_TITLE_PREFIX = re.compile(r"^(?:E\s+|>\s+|##\[error\]\s*|::error[^:]*::\s*|\[ERROR\]\s+|\*\*\s+)")
_TOP_RANK = 8  # a named error: no line ranks higher
_TITLE_RANK = {STRONG: 6, MEDIUM: 5, LEVEL: 4, PLAIN: 2, INDENT: 2, WEAK: 1}
# An exception or error named with its message: what a human quotes first.
_NAMED_ERROR = re.compile(
    r"^(?:E\s+|Caused by: |Exception in thread \S+ )?(?:[\w$]+[.:]{1,2})*[A-Z][\w$]*"
    r"(?:Error|Exception|Failure|Fault)(?: \[[\w-]+\])?: \S"
)
_CODE = re.compile(r"^(?:throw |raise |return |await |const |let |var |def |>\s)|[;{]\s*$")
_GRADLE_OPENER = re.compile(r"\* What went wrong|Execution failed for task|> Task \S+ FAILED$")
_GRADLE_NOT_CAUSE = ("> Task ", "> Run with", "> There were failing tests", "> Get more help")


def _title_rank(line: str, kind: int, gradle: bool) -> int:
    if kind == NOISE:
        return 0
    if gradle and line.startswith("> ") and not line.startswith(_GRADLE_NOT_CAUSE):
        return 7  # Gradle's cause, after "* What went wrong:"
    bare = _TITLE_PREFIX.sub("", line)
    if is_footer(line) or _HEADER.match(bare):
        return 1 if kind != WEAK else 0
    if kind in (PLAIN, INDENT) and line.startswith(_SETUP_PREFIXES):
        return 0
    if _NAMED_ERROR.match(line):
        return _TOP_RANK
    rank = _TITLE_RANK.get(kind, 0)
    if rank > 2 and _CODE.search(bare):  # a line of source code quoted by a traceback
        return 2
    return rank


# What :func:`headline` works out for one raw line (the same whatever text it is in): the cleaned
# line ("" when it has no words: skipped), its rank after a line that is not Gradle's opener and
# after one that is, and what it does to the Gradle state (1 opens, 0 keeps, -1 ends). Lines recur
# across the failures of a batch (the same assertion, a footer), so they are remembered, bounded.
_LineRanks = tuple[str, int, int, int]
MAX_LINES = 8192
MAX_LINE_MEMO_CHARS = 400_000
_LINES: BoundedMemo[str, _LineRanks] = BoundedMemo(MAX_LINES, MAX_LINE_MEMO_CHARS)


def _line_ranks(raw: str) -> _LineRanks:
    known = _LINES.get(raw)
    if known is not None:
        return known
    line = clean_line(raw).strip()
    if not line or not WORDY.search(line):
        known = ("", 0, 0, 0)
    else:
        kind = classify_line(line)
        plain = _title_rank(line, kind, False)
        # After Gradle's opener only its cause ranks otherwise (see _title_rank).
        cause = kind != NOISE and line.startswith("> ")
        after_opener = 7 if cause and not line.startswith(_GRADLE_NOT_CAUSE) else plain
        effect = 1 if _GRADLE_OPENER.match(line) else 0 if line.startswith("> ") else -1
        known = (line, plain, after_opener, effect)
    return _LINES.keep(raw, known, len(raw))


def headline(text: str, *, limit: int = 160) -> str:
    """The line of an error text a human would quote as its cause, for a title.

    An exception or error with its message first, then the strongest line (an assertion, a
    compiler error, before generic markers and plain text), the first of equals; never a footer
    ("Process completed with exit code 1."), a header that only announces an error ("Traceback
    (most recent call last):", dbt's "Runtime Error in model ...", Gradle's "> Task :x FAILED"),
    a line of quoted source code, git or set-up noise ("Cloning into ...", "Looking in indexes:
    ..."), unless nothing else is there. Annotation and pytest ``E`` prefixes are removed.
    """
    best_rank = 0
    best = ""
    fallback = ""
    gradle = False
    for raw in iter_lines(text):
        line, plain, after_opener, effect = _line_ranks(raw)
        if not line:
            continue
        fallback = fallback or line
        rank = after_opener if gradle else plain
        if effect:
            gradle = effect > 0
        if rank > best_rank:
            best_rank, best = rank, line
            if rank >= _TOP_RANK:  # no later line can rank higher: the first of equals wins
                break
    line = best if best_rank > 0 else fallback
    line = _TITLE_PREFIX.sub("", line).strip() or line
    return line if len(line) <= limit else line[: limit - 1] + "…"


_SETUP_PREFIXES = (
    "Looking in indexes",
    "Looking in links",
    "Cloning into",
    "Checking formatting",
    "Run ",
    "Running ",
    "> ",
    "$ ",
    "+ ",
)
