"""Splitting a log into lines and cleaning each one (ANSI, timestamps, redraws), and the
``Excerpt`` value."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

from triagehub.core.fingerprint import strip_ansi

MAX_LINE_CHARS = 500
"""Excerpt lines are cut to this many characters (an ellipsis marks the cut)."""

RAW_CHARS = MAX_LINE_CHARS * 4  # raw characters looked at per line (ANSI codes take room)
CHUNK_CHARS = 1 << 20  # characters of a text split at once


@dataclass(frozen=True, slots=True)
class Excerpt:
    """The lines of a log that carry the error.

    ``lines`` are cleaned (ANSI escapes and timestamp prefixes removed) and in their original
    order; ``line_numbers`` are their 0-based indexes among the input's lines (``str.splitlines``
    for :func:`extract`, the items of the iterable for :func:`extract_lines`). ``fallback`` is true
    when no line looked like an error and the excerpt is the last non-empty lines.
    """

    lines: tuple[str, ...]
    line_numbers: tuple[int, ...]
    total_lines: int = 0
    fallback: bool = False

    @property
    def text(self) -> str:
        return "\n".join(self.lines)

    def __len__(self) -> int:
        return len(self.lines)


WORDY = re.compile(r"\w\w")  # a line with words, not a separator or a row of dots

# Exactly the boundaries of str.splitlines().
_LINE_BREAK = re.compile(r"\r\n|[\n\r\v\f\x1c\x1d\x1e\x85\u2028\u2029]")


def iter_lines(
    text: str, *, max_chars: int = RAW_CHARS, chunk_chars: int = CHUNK_CHARS
) -> Iterator[str]:
    """The lines of ``text`` as ``str.splitlines()`` gives them, lazily, a chunk at a time.

    Each line is cut to ``max_chars`` characters, and no more than about a chunk of the text is
    copied at once, so neither one enormous line nor a huge text is ever duplicated in memory.
    """
    size = len(text)
    chunk = max(1, chunk_chars)
    pos = 0
    while pos < size:
        end = min(size, pos + chunk)
        cut = size if end == size else text.rfind("\n", pos, end) + 1
        if cut > pos:  # the common case: a "\n" always ends a line, alone or after "\r"
            for line in text[pos:cut].splitlines():
                yield line if len(line) <= max_chars else line[:max_chars]
            pos = cut
            continue
        # No "\n" in a whole chunk: lines ended by other breaks ("\r" progress bars), or one
        # very long line.
        start = pos
        for match in _LINE_BREAK.finditer(text, pos, end):
            yield text[pos : min(match.start(), pos + max_chars)]
            pos = match.end()
            if pos < size and text[pos - 1] == "\r" and text[pos] == "\n":
                pos += 1  # a "\r\n" cut in two by the chunk's end
        if pos > start:
            continue
        following = _LINE_BREAK.search(text, end)
        stop = size if following is None else following.start()
        yield text[pos : min(stop, pos + max_chars)]
        pos = size if following is None else following.end()


_PREFIX = re.compile(
    r"^\ufeff?"
    # `gh run view --log`: "job<TAB>step<TAB>" before the timestamp.
    r"(?:[^\t\n]{1,300}\t[^\t\n]{1,300}\t(?=\ufeff?\[?\d{4}-\d{2}-\d{2}[T ]\d))?\ufeff?"
    r"(?:"
    # ISO 8601 (GitHub Actions, most loggers), optionally bracketed, then one blank.
    r"\[?\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(?::\d{2})?(?:[.,]\d+)?(?:Z|[+-]\d{2}:?\d{2})?\]?[ \t]?"
    # dbt's console "HH:MM:SS  " (two blanks), optionally with fractions.
    r"|\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:[ ]{1,2}(?=\S|[ ]{2})|[ ]*$)"
    r")"
)


def clean_line(raw: str) -> str:
    """One line without ANSI escapes, timestamp prefix, carriage-return redraws or trailing blanks,
    cut to ``MAX_LINE_CHARS``."""
    if raw.isprintable():
        # Most lines: a printable line holds no ANSI escape, CR, tab or BOM. Its timestamp prefix
        # (_PREFIX, with no tab) starts with "[" or a \d, then a \d: a line whose second
        # character is not isdigit (every \d is) has none. What is left is cuts and blanks.
        line = raw if len(raw) <= RAW_CHARS else raw[:RAW_CHARS]
        if line[1:2].isdigit():
            match = _PREFIX.match(line)
            if match is not None:
                line = line[match.end() :]
        line = line.rstrip()
        return line if len(line) <= MAX_LINE_CHARS else line[: MAX_LINE_CHARS - 1] + "…"
    line = raw[:RAW_CHARS] if len(raw) > RAW_CHARS else raw
    line = line.rstrip("\r\n")
    if "\r" in line:  # a progress bar redrawn in place: keep what the terminal would show
        parts = [part for part in line.split("\r") if part.strip()]
        line = parts[-1] if parts else ""
    line = strip_ansi(line)
    if line and (line[0].isdigit() or line[0] == "[" or line[0] == "\ufeff" or "\t" in line):
        match = _PREFIX.match(line)
        if match is not None:
            line = line[match.end() :]
    line = line.rstrip()
    if len(line) > MAX_LINE_CHARS:
        line = line[: MAX_LINE_CHARS - 1] + "…"
    return line
