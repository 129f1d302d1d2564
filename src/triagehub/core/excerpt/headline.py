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

# Lines that open an error but say nothing a human would quote as its cause.
_HEADER = re.compile(
    r"Traceback \(most recent call last\):?$"
    r"|(?:Runtime|Database|Compilation|Parsing|Dependency) Error in (?:model|test|seed|snapshot"
    r"|source|macro|unit_test|analysis|sql_operation|operation) \S+(?: \(.*\))?:?$"
    r"|_{3,} .+ _{3,}$|Failures:?$|\S+ > \S.* FAILED$|> Task \S+ FAILED$"
)
_TITLE_PREFIX = re.compile(r"^(?:E\s+|>\s+|##\[error\]\s*|::error[^:]*::\s*|\[ERROR\]\s+|\*\*\s+)")
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
        return 8
    rank = _TITLE_RANK.get(kind, 0)
    if rank > 2 and _CODE.search(bare):  # a line of source code quoted by a traceback
        return 2
    return rank


def headline(text: str, *, limit: int = 160) -> str:
    """The line of an error text a human would quote as its cause, for a title.

    An exception or error with its message first, then the strongest line (an assertion, a
    compiler error, before generic markers and plain text), the first of equals; never a footer
    ("Process completed with exit code 1."), a header that only announces an error ("Traceback
    (most recent call last):", dbt's "Runtime Error in model ...", Gradle's "> Task :x FAILED"),
    a line of quoted source code, git or set-up noise ("Cloning into ...", "Looking in indexes:
    ..."), unless nothing else is there. Annotation and pytest ``E`` prefixes are removed.
    """
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
