"""Excerpt assembly: rank the error blocks, choose and fit their lines; the public extractors."""

from __future__ import annotations

import re
from collections.abc import Iterable

from triagehub.core.excerpt.blocks import (
    INDEX,
    LINE_KIND,
    TEXT,
    VALUE,
    Block,
    Collector,
    Line,
    collect,
)
from triagehub.core.excerpt.kinds import BOILER, FRAME, MEDIUM, PLAIN, WEAK
from triagehub.core.excerpt.kinds import clear_known as clear_kinds
from triagehub.core.excerpt.lines import CHUNK_CHARS, WORDY, Excerpt, iter_lines
from triagehub.core.informative import informative_part, is_footer
from triagehub.core.memo import BoundedMemo

_HEAD = 3  # lines each block contributes before any block is extended
_KEY_LINES = 5
_KEY_DETAIL_SPAN = 3  # lines after a key line that may join the key as its detail
_CLUSTER_GAP = 150  # blocks closer than this to the last error block are its cluster


def _strength(block: Block) -> tuple[int, int]:
    return (block.tier, block.start)


def _names_more(block: Block) -> bool:
    """Whether a weak block holds a consequence (``ls: cannot access ...``), not only footers."""
    return any(ln[LINE_KIND] == WEAK and not is_footer(ln[TEXT]) for ln in block.candidates())


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


# The keys of the error lines seen lately (a block keeps at most 60): two generations of at most
# _KNOWN_KEYS each, like the lines' kinds (see kinds.classify_line).
_KEYS: dict[str, str] = {}
_OLD_KEYS: dict[str, str] = {}
_KNOWN_KEYS = 1024


def _key_of(text: str) -> str:
    """What makes two error lines the same (Maven repeats each error under its summary)."""
    global _KEYS, _OLD_KEYS
    key = _KEYS.get(text)
    if key is None:
        key = _OLD_KEYS.get(text)
        if key is None:
            key = _key_by_shape(text)
        if len(_KEYS) >= _KNOWN_KEYS:
            _OLD_KEYS, _KEYS = _KEYS, {}
        _KEYS[text] = key
    return key


# The keys by the lines' shape, ASCII digits written "0" (in UTF-8 a byte 0x30-0x39 is always an
# ASCII digit): a key does not depend on which ASCII digits a line holds, every run of them is
# "#" (_DIGITS; _KEY_PREFIX and the blanks hold none), so a line seen with other numbers (a
# re-run's durations, ids, counts) has a known key. Bounded: emptied when full.
_SHAPED_KEYS: BoundedMemo[bytes, str] = BoundedMemo(_KNOWN_KEYS)
_SHAPE = bytes.maketrans(b"0123456789", b"0000000000")


def _key_by_shape(text: str) -> str:
    shape = text.encode("utf-8", "surrogatepass").translate(_SHAPE)
    key = _SHAPED_KEYS.get(shape)
    if key is None:
        key = " ".join(_DIGITS.sub("#", _KEY_PREFIX.sub("", text.strip())).split())
        _SHAPED_KEYS.keep(shape, key)
    return key


def clear_known() -> None:
    """Forget what was worked out for the lines seen so far: their kinds and keys (for a
    benchmark that measures lines never seen)."""
    clear_kinds()
    _KEYS.clear()
    _OLD_KEYS.clear()
    _SHAPED_KEYS.clear()


def _duplicates(blocks: Iterable[Block]) -> set[int]:
    """Indexes of lines that repeat an earlier line: the first occurrence is the one kept.

    ``blocks`` are in log order (``Collector.blocks``), each over lines after the previous one's,
    and a block's candidates are in log order: so are their lines, one block after the other."""
    seen: set[str] = set()
    repeated: set[int] = set()
    for block in blocks:
        for index, text, _, _ in block.candidates():
            key = _key_of(text)
            if key in seen:
                repeated.add(index)
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
            index = line[INDEX]
            if index not in chosen and index not in skip:
                chosen[index] = line
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
        if b.tier == WEAK and b not in cluster and not b.lines[0][TEXT].startswith("[INFO]")
    ]
    if footers and len(chosen) < max_lines:  # how the run ended, for the reader
        take(footers[-1], 1)
    return [chosen[index] for index in sorted(chosen)]


def _fit(lines: list[Line], max_chars: int) -> list[Line]:
    """Drop the least valuable lines until the joined text fits in ``max_chars``."""
    size = sum(len(ln[TEXT]) for ln in lines) + max(0, len(lines) - 1)
    if size <= max_chars:
        return lines
    keep = list(lines)
    for victim in sorted(lines, key=lambda ln: (ln[VALUE], -ln[INDEX])):
        if size <= max_chars or len(keep) == 1:
            break
        keep.remove(victim)
        size -= len(victim[TEXT]) + 1
    if size > max_chars:  # one line left, still too long
        index, text, kind, value = keep[0]
        keep = [(index, text[:max_chars], kind, value)]
    return keep


def _excerpt(lines: list[Line], total: int, *, fallback: bool) -> Excerpt:
    return Excerpt(
        lines=tuple([ln[TEXT] for ln in lines]),
        line_numbers=tuple([ln[INDEX] for ln in lines]),
        total_lines=total,
        fallback=fallback,
    )


def _fallback(collector: Collector, max_lines: int, max_chars: int) -> Excerpt:
    """The last non-empty lines, preferring those that are neither noise nor separators."""
    tail = collector.tail or collector.tail_any
    picked: list[Line] = [(i, t, PLAIN, 1.0) for i, t in list(tail)[-max_lines:]]
    return _excerpt(_fit(picked, max_chars) if picked else [], collector.count, fallback=True)


def _lines_of(text: str) -> Iterable[str]:
    """The lines of a text for the collector: ``iter_lines`` (bounded copies), or for a text of
    less than a chunk all at once (the same lines: the collector cuts each to ``RAW_CHARS`` as
    ``iter_lines`` does, and a text of one chunk is split by ``str.splitlines`` alone)."""
    return text.splitlines() if len(text) <= CHUNK_CHARS else iter_lines(text)


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
    return extract_lines(_lines_of(text), max_lines=max_lines, max_chars=max_chars)


def extract_key(
    text: str | Iterable[str], *, max_lines: int = _KEY_LINES, max_chars: int = 2000
) -> Excerpt:
    """The few lines that identify the failure, for fingerprinting.

    They come from one block only, the best of the final cluster of errors (the strongest, then
    the latest), so that error-looking noise elsewhere in the log cannot change them: that block's
    strongest lines (repeats dropped), then the detail lines right after them. Falls back to the
    last non-empty lines, like :func:`extract`.
    """
    source = _lines_of(text) if isinstance(text, str) else text
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
        key = _key_of(line[TEXT])
        if key and key not in seen and len(picked) < max_lines:
            seen.add(key)
            picked.append(line)

    candidates = best.candidates()
    tops = [i for i, line in enumerate(candidates) if line[LINE_KIND] == best.tier]
    for i in tops:
        pick(candidates[i])
    for i in tops:  # then the detail right after them: a message's second line, a diff
        for line in candidates[i + 1 : i + 1 + _KEY_DETAIL_SPAN]:
            if line[LINE_KIND] in (FRAME, BOILER, WEAK) or line[LINE_KIND] == best.tier:
                break
            if WORDY.search(line[TEXT]):
                pick(line)
    picked.sort(key=lambda ln: ln[INDEX])
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
