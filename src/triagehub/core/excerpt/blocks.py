"""Streaming collection of error blocks: each line's value, the open block and the kept ones."""

from __future__ import annotations

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
    SECTION_LINE,
    STRONG,
    WEAK,
    WORDY_LINE,
    line_info,
)
from triagehub.core.excerpt.lines import clean_line

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
        info = line_info(text)
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
    feed, clean = collector.feed, clean_line
    for index, raw in enumerate(lines):
        feed(index, clean(raw))
    return collector
