"""Markdown text primitives: the OpenSpec grammar's patterns, fences, lines and sections."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from markdown_it import MarkdownIt

# Block structure only: fences are all this module asks markdown-it for.
_MD = MarkdownIt("commonmark").disable(["inline", "text_join"])

HEADER = re.compile(r"^(#{1,6})\s+(.+)$")
HEADER_START = re.compile(r"^(#{1,6})\s+")
ANY_HEADER = re.compile(r"^#{1,6}\s")
SCENARIO_HEADER = re.compile(r"^####\s+")
SCENARIO_BODY_END = re.compile(r"^#{1,4}\s")
METADATA_LINE = re.compile(r"^\*\*[^*]+\*\*:")
REQUIREMENT_HEADER = re.compile(r"^###\s*Requirement:\s*(.+?)\s*$", re.IGNORECASE)
TOP_LEVEL = re.compile(r"^##\s+")
SECTION_TITLE = re.compile(r"^(##)\s+(.+)$")
SHALL_MUST = re.compile(r"(?<![A-Za-z0-9_])(SHALL|MUST)(?![A-Za-z0-9_])")
CLOSING_HASHES = re.compile(r"[ \t]+#+[ \t]*$")
TASK_LINE = re.compile(
    r"^\s*(?:[-*+]|\d{1,9}[.)])\s*\[(?:\s*([^\]\s]?)\s*\](?![(\[])|\s+\])\s*(.*)"
)
DELTA_SECTIONS = ("ADDED", "MODIFIED", "REMOVED", "RENAMED")
DELTA_TITLES = {f"{op} requirements" for op in (s.lower() for s in DELTA_SECTIONS)}


def normalize(text: str) -> str:
    """Without a byte-order mark, with LF line ends."""
    if text.startswith("\ufeff"):
        text = text[1:]
    return text.replace("\r\n", "\n").replace("\r", "\n")


def _fence_ranges(text: str) -> tuple[tuple[int, int], ...]:
    return tuple(
        (token.map[0], token.map[1])
        for token in _MD.parse(text)
        if token.type == "fence" and token.map is not None
    )


_FENCE_OPEN = re.compile(r"^(`{3,}|~{3,})(.*)$")
_CONTAINER_PREFIX = re.compile(r"^[ \t>*+\-0-9.)]*$")


def _top_level_fences(lines: Sequence[str]) -> tuple[tuple[int, int], ...] | None:
    """The fenced blocks of a document whose every fence starts in column 0 and which has no
    HTML block (then no container can hold a fence), as ``markdown-it`` finds them; None when
    the document needs the full parser (a fence after indentation or a list/quote marker)."""
    ranges: list[tuple[int, int]] = []
    opened: tuple[int, str, int] | None = None  # (line, fence char, fence length)
    for i, line in enumerate(lines):
        if opened is not None:
            char, length = opened[1], opened[2]
            if line.startswith(char * length) and not line.rstrip(" \t").strip(char):
                ranges.append((opened[0], i + 1))
                opened = None
                continue
            if line[:1] in (" ", "\t") and (char * 3) in line:
                return None  # an indented closing fence: the full parser decides
            continue
        if line.lstrip(" ")[:1] == "<":
            return None  # maybe an HTML block, which can hold fence-looking lines
        ticks, tildes = line.find("```"), line.find("~~~")
        if ticks < 0 and tildes < 0:
            continue
        at = tildes if ticks < 0 else ticks if tildes < 0 else min(ticks, tildes)
        if at > 0:
            if _CONTAINER_PREFIX.match(line[:at]):
                return None  # indented, or inside a list item or a block quote
            continue  # text before it: not a fence line
        m = _FENCE_OPEN.match(line)
        if m is None:
            continue
        marker = m.group(1)
        if marker[0] == "`" and "`" in m.group(2):
            continue  # a backtick fence's info string has no backtick: inline code
        opened = (i, marker[0], len(marker))
    if opened is not None:  # open until the end (a last empty line is no line to markdown-it)
        ranges.append((opened[0], len(lines) - 1 if lines and lines[-1] == "" else len(lines)))
    return tuple(ranges)


def fence_mask(lines: Sequence[str]) -> list[bool]:
    """Per line: is it part of a fenced code block (fence lines included)? Documents whose
    fences all start in column 0 are scanned directly; the others go through ``markdown-it``
    (lists, block quotes and indentation decide there)."""
    mask = [False] * len(lines)
    if not any(("```" in line or "~~~" in line) for line in lines):
        return mask
    ranges = _top_level_fences(lines)
    if ranges is None:
        ranges = _fence_ranges("\n".join(lines))
    for start, end in ranges:
        for i in range(start, min(end, len(lines))):
            mask[i] = True
    return mask


@dataclass(frozen=True, slots=True)
class Lines:
    """A document's lines and their fence mask."""

    lines: tuple[str, ...]
    mask: tuple[bool, ...]

    @classmethod
    def of(cls, text: str) -> Lines:
        text = normalize(text)
        lines = text.split("\n")
        if "```" not in text and "~~~" not in text:  # no fence (fence_mask's first test, at once)
            return cls(tuple(lines), (False,) * len(lines))
        return cls(tuple(lines), tuple(fence_mask(lines)))

    def sub(self, start: int, end: int) -> Lines:
        return Lines(self.lines[start:end], self.mask[start:end])


# -- sections (the CLI's MarkdownParser.parseSections) --------------------------------------------


@dataclass(slots=True)
class Section:
    level: int
    title: str
    content: str
    line: int  # 0-based line of the heading
    end: int  # 0-based line after the section's content
    children: list[Section] = field(default_factory=list)


def parse_sections(doc: Lines) -> list[Section]:
    lines = doc.lines
    # (line, level) of every unfenced line that ends a section's content (HEADER_START): a
    # section runs to the first of them after its heading with a level at most its own.
    starts = [
        (i, len(m.group(1)))
        for i, line in enumerate(lines)
        if line.startswith("#") and not doc.mask[i] and (m := HEADER_START.match(line))
    ]
    sections: list[Section] = []
    stack: list[Section] = []
    for n, (i, _) in enumerate(starts):
        m = HEADER.match(lines[i])
        if not m:
            continue
        level = len(m.group(1))
        end = next((j for j, lv in starts[n + 1 :] if lv <= level), len(lines))
        content = "\n".join(lines[i + 1 : end]).strip()
        section = Section(level, m.group(2).strip(), content, i, end)
        while stack and stack[-1].level >= level:
            stack.pop()
        (stack[-1].children if stack else sections).append(section)
        stack.append(section)
    return sections


def find_section(sections: Sequence[Section], title: str) -> Section | None:
    wanted = title.lower()
    for section in sections:
        if section.title.lower() == wanted:
            return section
        child = find_section(section.children, title)
        if child is not None:
            return child
    return None
