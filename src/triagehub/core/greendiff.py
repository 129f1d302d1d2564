"""The diff against the last green run: what a failing log says that the passing log did not.

A line of the failing log is *new* when its masked form (ANSI codes and timestamp prefixes
removed, then numbers, hashes, durations, paths... masked by the fingerprint normaliser) occurs
nowhere in the last passing log of the same check. The error excerpt is then taken among the new
lines only, so that warnings and noise the green run printed too cannot crowd the real error out.
Pure functions: no I/O, no clock.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from triagehub.core.excerpt import Excerpt, clean_line, extract_lines, iter_lines
from triagehub.core.fingerprint import normalize

MAX_PASS_LOG_CHARS = 256_000
"""How much of a passing log is kept per check (its tail: the end of a log carries the summary)."""

_WORDY = re.compile(r"\w")


def masked(line: str) -> str:
    """The form two lines are compared in: cleaned, masked, blanks collapsed."""
    text = clean_line(line).strip()
    if not text:
        return ""
    return " ".join(normalize(text).split())


def green_set(pass_log: str | Iterable[str]) -> frozenset[str]:
    lines = iter_lines(pass_log) if isinstance(pass_log, str) else pass_log
    return frozenset(m for m in map(masked, lines) if m)


def new_line_numbers(fail_lines: Sequence[str], green: frozenset[str]) -> list[int]:
    """0-based indexes of the failing log's non-blank lines whose masked form is not green."""
    found: list[int] = []
    for i, line in enumerate(fail_lines):
        m = masked(line)
        if m and _WORDY.search(m) and m not in green:
            found.append(i)
    return found


@dataclass(frozen=True, slots=True)
class GreenDiff:
    """The result: ``excerpt`` (line numbers index the failing log's lines), how many lines were
    new, and whether a passing log was used at all (``False``: the plain excerpt)."""

    excerpt: Excerpt
    new_lines: int
    total_lines: int
    compared: bool

    def to_json(self) -> dict[str, object]:
        return {
            "compared": self.compared,
            "new_lines": self.new_lines,
            "total_lines": self.total_lines,
            "lines": [
                {"line": n + 1, "text": text}
                for n, text in zip(self.excerpt.line_numbers, self.excerpt.lines, strict=True)
            ],
        }


def diff_against_green(
    fail_log: str, pass_log: str | None, *, max_lines: int = 20, max_chars: int = 4000
) -> GreenDiff:
    """The excerpt of ``fail_log`` taken among the lines absent from ``pass_log``.

    Lines that also occur (masked) in the passing log are blanked before the excerpt is taken, so
    line numbers keep pointing into the failing log. Without a passing log, or when every line
    occurred in it, this is the plain excerpt (``compared`` tells which).
    """
    lines = list(iter_lines(fail_log))
    if not pass_log:
        plain = extract_lines(lines, max_lines=max_lines, max_chars=max_chars)
        return GreenDiff(plain, 0, len(lines), compared=False)
    green = green_set(pass_log)
    fresh = new_line_numbers(lines, green)
    if not fresh:
        plain = extract_lines(lines, max_lines=max_lines, max_chars=max_chars)
        return GreenDiff(plain, 0, len(lines), compared=True)
    keep = set(fresh)
    only_new = [line if i in keep else "" for i, line in enumerate(lines)]
    excerpt = extract_lines(only_new, max_lines=max_lines, max_chars=max_chars)
    return GreenDiff(excerpt, len(fresh), len(lines), compared=True)


def bound_pass_log(text: str, *, max_chars: int = MAX_PASS_LOG_CHARS) -> str:
    """The tail of a passing log, cut at a line start, at most ``max_chars`` characters."""
    if len(text) <= max_chars:
        return text
    tail = text[-max_chars:]
    cut = tail.find("\n")
    return tail[cut + 1 :] if 0 <= cut < len(tail) - 1 else tail


_PATHISH = re.compile(r"[\w./-]+")


def files_in_text(files: Iterable[str], text: str) -> list[str]:
    """The changed files (repository paths) that the error text mentions: by full path, or by
    their last two path components / file name when that name is specific enough."""
    tokens = set(_PATHISH.findall(text))
    lowered = text.lower()
    hits: list[str] = []
    for path in files:
        if not path:
            continue
        parts = path.strip("/").split("/")
        name = parts[-1]
        tail = "/".join(parts[-2:])
        if (
            path in lowered
            or path.lower() in lowered
            or tail.lower() in lowered
            or (len(name) >= 6 and "." in name and any(tok.endswith(name) for tok in tokens))
        ):
            hits.append(path)
    return hits
