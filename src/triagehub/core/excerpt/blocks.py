"""Streaming collection of error blocks: each line's value, the open block and the kept ones."""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from typing import Final

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
    known_info,
    line_info,
)
from triagehub.core.excerpt.lines import MAX_LINE_CHARS, RAW_CHARS, clean_line

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


# A kept line: its index, its cleaned text, its kind and its value (a tuple: one is made for most
# lines of a block, and a tuple costs a tenth of an object).
Line = tuple[int, str, int, float]
INDEX: Final = 0
TEXT: Final = 1
LINE_KIND: Final = 2
VALUE: Final = 3


class Block:
    """An error block: where it starts and ends, its strongest kind, its lines (the first
    ``_BLOCK_LINES`` and the last error lines beyond them) and the state that decides how it goes
    on."""

    __slots__ = (
        "end", "frames_since_error", "gap", "lines", "overflow", "plain_run", "ranking",
        "since_error", "start", "tier",
    )  # fmt: skip

    def __init__(self, start: int) -> None:
        self.start = start
        self.end = 0
        self.tier = PLAIN
        self.lines: list[Line] = []
        self.overflow: deque[Line] = deque(maxlen=_BLOCK_OVERFLOW)
        self.since_error = 0
        self.frames_since_error = 0
        self.plain_run = 0
        self.gap = 0  # blank lines just seen inside the block
        self.ranking: list[Line] | None = None

    def candidates(self) -> list[Line]:
        """The kept lines, in log order (the overflow comes after the first lines)."""
        return [*self.lines, *self.overflow]

    def ranked(self) -> list[Line]:
        """The lines worth choosing, best first (the earlier of equals), worked out once.

        The candidates are in log order and the sort is stable (``reverse`` too), so sorting by
        value alone gives the order of (-value, index)."""
        if self.ranking is None:
            worth = [ln for ln in self.candidates() if ln[VALUE] >= _FILL_MIN]
            self.ranking = sorted(worth, key=_value, reverse=True)
        return self.ranking


def _value(line: Line) -> float:
    return line[VALUE]


def _continues(block: Block, kind: int) -> bool:
    """Whether a line of this kind (not blank, not noise) goes on with the open block."""
    if kind in OPENERS or kind in (FRAME, BOILER):
        return True
    if block.gap:
        return kind == INDENT  # after a blank line, only indented text goes on
    if kind == INDENT:
        return True
    return block.plain_run < _MAX_PLAIN_RUN and block.since_error <= _DETAIL_SPAN + 1


def _grow(block: Block | None, index: int, text: str, kind: int) -> Block:
    """Add a line that opens a block (``block`` None) or goes on with it; the block."""
    if block is None:
        block = Block(index)
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
    tier = MEDIUM if kind == LEVEL else kind
    if tier > block.tier:
        block.tier = tier
    block.end = index
    if len(block.lines) < _BLOCK_LINES:
        block.lines.append((index, text, kind, value))
    elif kind >= MEDIUM:
        block.overflow.append((index, text, kind, value))
    return block


class Collector:
    """The streaming state: the open block, the last closed blocks of each strength (bounded) and
    the last lines (for the fallback: kept until a block opens, as a log with a block never falls
    back; a block's tier is one of ``closed``'s, so ``blocks`` holds it or a later one)."""

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

    def _keep(self, block: Block) -> None:
        if block.tier in self.closed:
            self.closed[block.tier].append(block)

    def close(self) -> None:
        if self.block is not None:
            self._keep(self.block)
        self.block = None

    def run(self, lines: Iterable[str]) -> None:
        """Read the lines that follow (raw: each is cleaned first): each line's kind opens, goes
        on with or ends the open block. One loop, its state in local variables (it runs for every
        line of every log)."""
        known, info_of, clean, keep = known_info, line_info, clean_line, self._keep
        tail, tail_any = self.tail.append, self.tail_any.append
        block, gradle, index = self.block, self.gradle_cause, self.count - 1
        fallback = block is None and not any(self.closed.values())  # no block opened yet
        for index, raw in enumerate(lines, self.count):
            # clean_line's own fast path, inline: a printable line holds no ANSI escape, CR, tab
            # or BOM, and only one whose second character is a digit may have a timestamp prefix.
            if raw.isprintable() and not raw[1:2].isdigit():
                text = (raw if len(raw) <= RAW_CHARS else raw[:RAW_CHARS]).rstrip()
                if len(text) > MAX_LINE_CHARS:
                    text = text[: MAX_LINE_CHARS - 1] + "…"
            else:
                text = clean(raw)
            info = known(text)
            if info is None:
                info = info_of(text)
            kind = info & KIND
            if gradle:
                if text.startswith("> ") and kind in (PLAIN, INDENT):
                    kind = MEDIUM
                elif kind == BLANK or text.startswith("* "):
                    gradle = False
            if kind == WEAK and (
                text.startswith("* What went wrong") or text.startswith("Execution failed for task")
            ):
                gradle = True
            if info & SECTION_LINE and block is not None:  # a new section
                keep(block)
                block = None
            if kind == BLANK:
                if block is not None:
                    block.gap += 1
                    if block.gap > 1:
                        keep(block)
                        block = None
                continue
            if fallback:
                tail_any((index, text))
            if kind == NOISE:
                if block is not None:
                    keep(block)
                    block = None
                continue
            if fallback and info & WORDY_LINE:  # not a separator or a row of dots
                tail((index, text))
            if block is None:
                if kind not in OPENERS:
                    continue
            elif not _continues(block, kind):
                keep(block)
                block = None
                if kind not in OPENERS:
                    continue
            block = _grow(block, index, text, kind)
            fallback = False
        self.block, self.gradle_cause, self.count = block, gradle, index + 1

    def blocks(self) -> list[Block]:
        """Every kept block, in log order."""
        self.close()
        found = [b for tier in (STRONG, MEDIUM, WEAK) for b in self.closed[tier]]
        found.sort(key=lambda b: b.start)
        return found


def collect(lines: Iterable[str], max_lines: int) -> Collector:
    collector = Collector(max_lines)
    collector.run(lines)
    return collector
