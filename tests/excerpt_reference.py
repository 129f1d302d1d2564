"""The excerpt's line cleaning, block collection and assembly as they were on main at 98ca4f0
(before issue #24's per-line work was made cheaper), for the identity tests: the reference that
the current ``triagehub.core.excerpt`` must agree with. Lines are classified by the unchanged
``kinds._classify`` with no memo, so the reference also checks the memo of the lines' kinds."""

from __future__ import annotations

import re
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field

from triagehub.core.excerpt.kinds import (
    BLANK,
    BOILER,
    FRAME,
    INDENT,
    KIND,
    LEVEL,
    MEDIUM,
    NOISE,
    OPENERS,
    PLAIN,
    SECTION,
    SECTION_LINE,
    SECTION_STARTS,
    STRONG,
    WEAK,
    WORDY_LINE,
    _classify,
)
from triagehub.core.excerpt.lines import (
    MAX_LINE_CHARS,
    WORDY,
    Excerpt,
    iter_lines,
)
from triagehub.core.excerpt.lines import (
    RAW_CHARS as _RAW_CHARS,
)
from triagehub.core.fingerprint import strip_ansi
from triagehub.core.informative import informative_part, is_footer


def ref_line_info(line: str) -> int:
    info = _classify(line)
    if WORDY.search(line) is not None:
        info |= WORDY_LINE
    if line[:3] in SECTION_STARTS and SECTION.match(line) is not None:
        info |= SECTION_LINE
    return info


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


def ref_clean_line(raw: str) -> str:
    """One line without ANSI escapes, timestamp prefix, carriage-return redraws or trailing blanks,
    cut to ``MAX_LINE_CHARS``."""
    line = raw[:_RAW_CHARS] if len(raw) > _RAW_CHARS else raw
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


_BLOCK_LINES = 48  # lines kept verbatim per block
_BLOCK_OVERFLOW = 12  # error lines kept beyond that (the deepest "Caused by:" of a long trace)
_DETAIL_SPAN = 3  # plain lines after an error line that still count as its detail
_MAX_PLAIN_RUN = 3  # consecutive plain lines a block tolerates before it ends
_VALUE = {STRONG: 10.0, MEDIUM: 6.0, WEAK: 3.0, BOILER: 0.1}
_DETAIL_VALUE = 4.0  # text right after an error line
_LEVEL_VALUE = 0.8  # an error-level line further away from an error (a Maven class-path dump)
_FAR_VALUE = 0.5  # plain text further away
_FIRST_FRAMES_VALUE = 1.0  # the first two frames under an exception
_FRAME_VALUE = 0.1
_FILL_MIN = 1.0  # lines worth less are never chosen


@dataclass(slots=True)
class Line:
    index: int
    text: str
    kind: int
    value: float


@dataclass(slots=True)
class Block:
    start: int
    end: int = 0
    tier: int = PLAIN
    lines: list[Line] = field(default_factory=list)
    overflow: deque[Line] = field(default_factory=lambda: deque(maxlen=_BLOCK_OVERFLOW))
    since_error: int = 0
    frames_since_error: int = 0
    plain_run: int = 0
    gap: int = 0  # blank lines just seen inside the block

    def add(self, line: Line) -> None:
        self.tier = max(self.tier, MEDIUM if line.kind == LEVEL else line.kind)
        self.end = line.index
        if len(self.lines) < _BLOCK_LINES:
            self.lines.append(line)
        elif line.kind >= MEDIUM:
            self.overflow.append(line)

    def candidates(self) -> list[Line]:
        return [*self.lines, *self.overflow]

    def ranked(self) -> list[Line]:
        """The lines worth choosing, best first (the earlier of equals)."""
        worth = [ln for ln in self.candidates() if ln.value >= _FILL_MIN]
        return sorted(worth, key=lambda ln: (-ln.value, ln.index))


def _continues(block: Block, kind: int) -> bool:
    """Whether a line of this kind (not blank, not noise) goes on with the open block."""
    if kind in OPENERS or kind in (FRAME, BOILER):
        return True
    if block.gap:
        return kind == INDENT  # after a blank line, only indented text goes on
    if kind == INDENT:
        return True
    return block.plain_run < _MAX_PLAIN_RUN and block.since_error <= _DETAIL_SPAN + 1


class Collector:
    """The streaming state: the open block, the last closed blocks of each strength (bounded) and
    the last lines (for the fallback)."""

    def __init__(self, max_lines: int) -> None:
        keep = max(16, min(max_lines, 64))
        self.closed: dict[int, deque[Block]] = {
            STRONG: deque(maxlen=keep),
            MEDIUM: deque(maxlen=keep),
            WEAK: deque(maxlen=keep),
        }
        self.block: Block | None = None
        self.tail: deque[tuple[int, str]] = deque(maxlen=max(1, max_lines))
        self.tail_any: deque[tuple[int, str]] = deque(maxlen=max(1, max_lines))
        self.count = 0
        self.gradle_cause = False  # after Gradle's "* What went wrong:": "> ..." is the cause

    def close(self) -> None:
        block = self.block
        if block is not None and block.tier in self.closed:
            self.closed[block.tier].append(block)
        self.block = None

    def feed(self, index: int, text: str) -> None:
        self.count = index + 1
        info = ref_line_info(text)
        kind = info & KIND
        if self.gradle_cause:
            if text.startswith("> ") and kind in (PLAIN, INDENT):
                kind = MEDIUM
            elif kind == BLANK or text.startswith("* "):
                self.gradle_cause = False
        if kind == WEAK and (
            text.startswith("* What went wrong") or text.startswith("Execution failed for task")
        ):
            self.gradle_cause = True
        if info & SECTION_LINE:
            self.close()  # a new section
        block = self.block
        if kind == BLANK:
            if block is not None:
                block.gap += 1
                if block.gap > 1:
                    self.close()
            return
        self.tail_any.append((index, text))
        if kind == NOISE:
            if block is not None:
                self.close()
            return
        if info & WORDY_LINE:  # not a separator or a row of dots
            self.tail.append((index, text))
        if block is None:
            if kind not in OPENERS:
                return
        elif not _continues(block, kind):
            self.close()
            if kind not in OPENERS:
                return
            block = None
        if block is None:
            block = self.block = Block(start=index)
            if kind == LEVEL:
                kind = MEDIUM  # an error-level line that opens a block is its header
        block.gap = 0
        if kind in OPENERS and kind != LEVEL:
            value = _VALUE[kind]
            block.frames_since_error = block.plain_run = 0
            if kind != WEAK:  # what follows a consequence is not its detail
                block.since_error = 0
            else:
                block.since_error += _DETAIL_SPAN
        else:
            block.since_error += 1
            near = block.since_error <= _DETAIL_SPAN
            if kind == FRAME:
                value = _FIRST_FRAMES_VALUE if block.frames_since_error < 2 else _FRAME_VALUE
                block.frames_since_error += 1
                block.plain_run = 0
            elif kind == BOILER:
                value = _VALUE[BOILER]
            elif kind == LEVEL:
                value = _DETAIL_VALUE if near else _LEVEL_VALUE
                block.plain_run = 0
            else:
                value = _DETAIL_VALUE if near else _FAR_VALUE
                block.plain_run = block.plain_run + 1 if kind == PLAIN else 0
        block.add(Line(index, text, kind, value))

    def blocks(self) -> list[Block]:
        """Every kept block, in log order."""
        self.close()
        found = [b for tier in (STRONG, MEDIUM, WEAK) for b in self.closed[tier]]
        found.sort(key=lambda b: b.start)
        return found


def collect(lines: Iterable[str], max_lines: int) -> Collector:
    collector = Collector(max_lines)
    feed, clean = collector.feed, ref_clean_line
    for index, raw in enumerate(lines):
        feed(index, clean(raw))
    return collector


_HEAD = 3  # lines each block contributes before any block is extended
_KEY_LINES = 5
_KEY_DETAIL_SPAN = 3  # lines after a key line that may join the key as its detail
_CLUSTER_GAP = 150  # blocks closer than this to the last error block are its cluster


def _strength(block: Block) -> tuple[int, int]:
    return (block.tier, block.start)


def _names_more(block: Block) -> bool:
    """Whether a weak block holds a consequence (``ls: cannot access ...``), not only footers."""
    return any(ln.kind == WEAK and not is_footer(ln.text) for ln in block.candidates())


def _rank(blocks: list[Block]) -> tuple[list[Block], list[Block]]:
    """Split the error blocks into the final cluster and the older ones, each best first: the
    strongest, then the latest. Weak blocks (consequences) count only when there is nothing else.
    """
    main = (
        [b for b in blocks if b.tier >= MEDIUM] or [b for b in blocks if _names_more(b)] or blocks
    )
    cluster = main[-1:]
    for block in reversed(main[:-1]):
        if cluster[-1].start - block.end > _CLUSTER_GAP:
            break
        cluster.append(block)
    older = main[: len(main) - len(cluster)]
    return sorted(cluster, key=_strength, reverse=True), sorted(older, key=_strength, reverse=True)


_KEY_PREFIX = re.compile(r"^(?:\[ERROR\]|E |npm ERR!|npm error|##\[error\])\s*")
_DIGITS = re.compile(r"\d+")


def _key_of(text: str) -> str:
    """What makes two error lines the same (Maven repeats each error under its summary)."""
    return " ".join(_DIGITS.sub("#", _KEY_PREFIX.sub("", text.strip())).split())


def _duplicates(blocks: Iterable[Block]) -> set[int]:
    """Indexes of lines that repeat an earlier line: the first occurrence is the one kept."""
    seen: set[str] = set()
    repeated: set[int] = set()
    lines = sorted((ln for b in blocks for ln in b.candidates()), key=lambda ln: ln.index)
    for line in lines:
        key = _key_of(line.text)
        if key in seen:
            repeated.add(line.index)
        else:
            seen.add(key)
    return repeated


def _select(blocks: list[Block], max_lines: int) -> list[Line]:
    cluster, older = _rank(blocks)
    skip = _duplicates(blocks)
    chosen: dict[int, Line] = {}

    def take(block: Block, limit: int) -> None:
        taken = 0
        for line in block.ranked():
            if len(chosen) >= max_lines or taken >= limit:
                return
            if line.index not in chosen and line.index not in skip:
                chosen[line.index] = line
                taken += 1

    for position, block in enumerate(cluster):  # heads of the final cluster, best block first
        take(block, _HEAD if position == 0 else _HEAD - 1)
    for block in cluster:  # then their details
        take(block, max_lines)
    room = len(chosen) + max(2, max_lines // 8)
    for block in older:  # older errors, one line each, if room is left
        if len(chosen) >= room:
            break
        take(block, 1)
    footers = [
        b
        for b in blocks
        if b.tier == WEAK and b not in cluster and not b.lines[0].text.startswith("[INFO]")
    ]
    if footers and len(chosen) < max_lines:  # how the run ended, for the reader
        take(footers[-1], 1)
    return sorted(chosen.values(), key=lambda ln: ln.index)


def _fit(lines: list[Line], max_chars: int) -> list[Line]:
    """Drop the least valuable lines until the joined text fits in ``max_chars``."""
    size = sum(len(ln.text) for ln in lines) + max(0, len(lines) - 1)
    if size <= max_chars:
        return lines
    keep = list(lines)
    for victim in sorted(lines, key=lambda ln: (ln.value, -ln.index)):
        if size <= max_chars or len(keep) == 1:
            break
        keep.remove(victim)
        size -= len(victim.text) + 1
    if size > max_chars:  # one line left, still too long
        only = keep[0]
        keep = [Line(only.index, only.text[:max_chars], only.kind, only.value)]
    return keep


def _excerpt(lines: list[Line], total: int, *, fallback: bool) -> Excerpt:
    return Excerpt(
        lines=tuple(ln.text for ln in lines),
        line_numbers=tuple(ln.index for ln in lines),
        total_lines=total,
        fallback=fallback,
    )


def _fallback(collector: Collector, max_lines: int, max_chars: int) -> Excerpt:
    """The last non-empty lines, preferring those that are neither noise nor separators."""
    tail = collector.tail or collector.tail_any
    picked = [Line(i, t, PLAIN, 1.0) for i, t in list(tail)[-max_lines:]]
    return _excerpt(_fit(picked, max_chars) if picked else [], collector.count, fallback=True)


def extract_lines(lines: Iterable[str], *, max_lines: int = 20, max_chars: int = 4000) -> Excerpt:
    """The excerpt of a log given line by line (a file object, a generator, a list).

    Reads the iterable once and keeps a bounded number of candidate lines, so a log of hundreds
    of megabytes can be streamed. ``line_numbers`` index the iterable's items.
    """
    if max_lines <= 0 or max_chars <= 0:
        return Excerpt((), ())
    collector = collect(lines, max_lines)
    blocks = collector.blocks()
    if not blocks:
        return _fallback(collector, max_lines, max_chars)
    chosen = _fit(_select(blocks, max_lines), max_chars)
    return _excerpt(chosen, collector.count, fallback=False)


def extract(text: str, *, max_lines: int = 20, max_chars: int = 4000) -> Excerpt:
    """The excerpt of a failure message or a whole CI log.

    ``line_numbers`` are 0-based indexes into ``text.splitlines()``.
    """
    return extract_lines(iter_lines(text), max_lines=max_lines, max_chars=max_chars)


def extract_key(
    text: str | Iterable[str], *, max_lines: int = _KEY_LINES, max_chars: int = 2000
) -> Excerpt:
    """The few lines that identify the failure, for fingerprinting.

    They come from one block only, the best of the final cluster of errors (the strongest, then
    the latest), so that error-looking noise elsewhere in the log cannot change them: that block's
    strongest lines (repeats dropped), then the detail lines right after them. Falls back to the
    last non-empty lines, like :func:`extract`.
    """
    source = iter_lines(text) if isinstance(text, str) else text
    if max_lines <= 0 or max_chars <= 0:
        return Excerpt((), ())
    collector = collect(source, max_lines)
    blocks = collector.blocks()
    if not blocks:
        return _fallback(collector, max_lines, max_chars)
    best = _rank(blocks)[0][0]
    picked: list[Line] = []
    seen: set[str] = set()

    def pick(line: Line) -> None:
        key = _key_of(line.text)
        if key and key not in seen and len(picked) < max_lines:
            seen.add(key)
            picked.append(line)

    candidates = best.candidates()
    tops = [i for i, line in enumerate(candidates) if line.kind == best.tier]
    for i in tops:
        pick(candidates[i])
    for i in tops:  # then the detail right after them: a message's second line, a diff
        for line in candidates[i + 1 : i + 1 + _KEY_DETAIL_SPAN]:
            if line.kind in (FRAME, BOILER, WEAK) or line.kind == best.tier:
                break
            if WORDY.search(line.text):
                pick(line)
    picked.sort(key=lambda ln: ln.index)
    return _excerpt(_fit(picked, max_chars), collector.count, fallback=False)


def error_lines(text: str | Iterable[str], *, max_lines: int = _KEY_LINES) -> str:
    """The key error lines of a message or log, joined by newlines: what triagehub fingerprints
    (see :func:`extract_key`)."""
    return extract_key(text, max_lines=max_lines).text


LONG_MESSAGE_LINES = 10


def error_text(message: str, log: str = "") -> str:
    """The text triagehub fingerprints for one failure.

    The message without its footer lines (:mod:`triagehub.core.informative`: "Process completed
    with exit code 1.", "npm ERR! Test failed. See above for more details.", a runner's tally):
    as it is when short, its key error lines when long (a whole traceback or build output pasted
    as the message). A message that names no error at all is not trusted: the key error lines of
    the log are used instead, so that every failure of a repository does not land in one issue.
    Without a message, the key error lines of the log. So two logs of the same failure with
    different surrounding noise give the same text.
    """
    part = informative_part(message) if message.strip() else ""
    if part:
        if part.count("\n") < LONG_MESSAGE_LINES:
            return part
        return error_lines(part) or part
    if not log.strip():
        return message
    return error_lines(log) or message
