"""A delta spec's ADDED, MODIFIED, REMOVED and RENAMED sections (the change's plan)."""

from __future__ import annotations

import re
from dataclasses import dataclass

from triagehub.work.specs.markdown.requirements import normalize_requirement_name
from triagehub.work.specs.markdown.text import (
    DELTA_TITLES,
    REQUIREMENT_HEADER,
    SECTION_TITLE,
    TOP_LEVEL,
    Lines,
)

# -- delta specs (requirement-blocks.parseDeltaSpec) -----------------------------------------------


@dataclass(frozen=True, slots=True)
class Block:
    header_line: str
    name: str
    raw: str
    mask: tuple[bool, ...] = ()  # the fence mask of raw's lines, from its document


@dataclass(frozen=True, slots=True)
class Unpaired:
    side: str
    name: str
    line: int  # 1-based


@dataclass(frozen=True, slots=True)
class Orphan:
    name: str
    section: str | None
    line: int  # 1-based


@dataclass(frozen=True, slots=True)
class Skipped:
    header: str
    section: str
    line: int  # 1-based


@dataclass(frozen=True, slots=True)
class DeltaPlan:
    added: tuple[Block, ...]
    modified: tuple[Block, ...]
    removed: tuple[str, ...]
    removed_blocks: tuple[Block, ...]
    renamed: tuple[tuple[str, str], ...]
    unpaired_renames: tuple[Unpaired, ...]
    orphaned: tuple[Orphan, ...]
    skipped_headers: tuple[Skipped, ...]
    presence: dict[str, bool]

    @property
    def entries(self) -> int:
        return len(self.added) + len(self.modified) + len(self.removed) + len(self.renamed)


@dataclass(frozen=True, slots=True)
class _Body:
    lines: tuple[str, ...]
    mask: tuple[bool, ...]
    start_line: int  # 1-based line of the body's first line


def _top_sections(doc: Lines) -> list[tuple[str, _Body]]:
    heads = [
        (m.group(2).strip(), i)
        for i, line in enumerate(doc.lines)
        if line.startswith("##") and not doc.mask[i] and (m := SECTION_TITLE.match(line))
    ]
    out = []
    for n, (title, index) in enumerate(heads):
        end = heads[n + 1][1] if n + 1 < len(heads) else len(doc.lines)
        out.append((title, _Body(doc.lines[index + 1 : end], doc.mask[index + 1 : end], index + 2)))
    return out


_SKIPPED_HEADER = re.compile(r"^###\s+(.+?)\s*$")


def _blocks(body: _Body, section: str, skipped: list[Skipped] | None) -> list[Block]:
    """The requirement blocks of a section's body: each from its ``### Requirement:`` header to
    the next one or the next ``##`` heading (fenced lines are text); the other ``###`` headings
    go to ``skipped``. Only unfenced lines starting with ``##`` can be either, so the patterns
    are tried on them alone."""
    lines, mask = body.lines, body.mask
    blocks: list[Block] = []
    opened: tuple[int, re.Match[str]] | None = None  # the open block's header line and match

    def close(end: int) -> None:
        if opened is not None:
            start, m = opened
            name = normalize_requirement_name(m.group(1))
            raw = "\n".join(lines[start:end]).rstrip()
            blocks.append(Block(lines[start], name, raw, tuple(mask[start:end])))

    for i, line in enumerate(lines):
        if not line.startswith("##") or mask[i]:
            continue
        if m := REQUIREMENT_HEADER.match(line):
            close(i)
            opened = (i, m)
        elif TOP_LEVEL.match(line):
            close(i)
            opened = None
        elif skipped is not None and (s := _SKIPPED_HEADER.match(line)):
            skipped.append(Skipped(s.group(1).strip(), section, body.start_line + i))
    close(len(lines))
    return blocks


_REMOVED_BULLET = re.compile(r"^\s*[-*+]\s*`?###\s*Requirement:\s*(.+?)`?\s*$")
_FROM = re.compile(r"^\s*[-*+]?\s*FROM:\s*`?###\s*Requirement:\s*(.+?)`?\s*$")
_TO = re.compile(r"^\s*[-*+]?\s*TO:\s*`?###\s*Requirement:\s*(.+?)`?\s*$")


def parse_delta_spec(text: str) -> DeltaPlan:
    doc = Lines.of(text)
    sections = _top_sections(doc)

    def bodies(wanted: str) -> tuple[str, list[_Body]]:
        found = [(t, b) for t, b in sections if t.lower() == wanted.lower()]
        return (found[0][0] if found else wanted), [b for _, b in found]

    skipped: list[Skipped] = []
    added_title, added_bodies = bodies("ADDED Requirements")
    modified_title, modified_bodies = bodies("MODIFIED Requirements")
    _, removed_bodies = bodies("REMOVED Requirements")
    _, renamed_bodies = bodies("RENAMED Requirements")
    added = [b for body in added_bodies for b in _blocks(body, added_title, skipped)]
    modified = [b for body in modified_bodies for b in _blocks(body, modified_title, skipped)]
    removed: list[str] = []
    for body in removed_bodies:
        for i, line in enumerate(body.lines):
            if body.mask[i]:
                continue
            m = REQUIREMENT_HEADER.match(line) or _REMOVED_BULLET.match(line)
            if m:
                removed.append(normalize_requirement_name(m.group(1)))
    removed_blocks = [b for body in removed_bodies for b in _blocks(body, "", None)]
    renamed: list[tuple[str, str]] = []
    unpaired: list[Unpaired] = []
    for body in renamed_bodies:
        pending: tuple[str, int] | None = None
        for i, line in enumerate(body.lines):
            if body.mask[i]:
                continue
            if m := _FROM.match(line):
                if pending is not None:
                    unpaired.append(Unpaired("FROM", pending[0], pending[1]))
                pending = (normalize_requirement_name(m.group(1)), body.start_line + i)
            elif m := _TO.match(line):
                to = normalize_requirement_name(m.group(1))
                if pending is None:
                    unpaired.append(Unpaired("TO", to, body.start_line + i))
                    continue
                renamed.append((pending[0], to))
                pending = None
        if pending is not None:
            unpaired.append(Unpaired("FROM", pending[0], pending[1]))
    orphans: list[Orphan] = []
    current: str | None = None
    for i, line in enumerate(doc.lines):
        if not line.startswith("##") or doc.mask[i]:
            continue  # neither a section title nor a requirement header
        if m := SECTION_TITLE.match(line):
            current = m.group(2).strip()
            continue
        if current is not None and current.lower() in DELTA_TITLES:
            continue
        if m := REQUIREMENT_HEADER.match(line):
            orphans.append(Orphan(normalize_requirement_name(m.group(1)), current, i + 1))
    unpaired.sort(key=lambda u: u.line)
    skipped.sort(key=lambda s: s.line)
    return DeltaPlan(
        added=tuple(added),
        modified=tuple(modified),
        removed=tuple(removed),
        removed_blocks=tuple(removed_blocks),
        renamed=tuple(renamed),
        unpaired_renames=tuple(unpaired),
        orphaned=tuple(orphans),
        skipped_headers=tuple(skipped),
        presence={
            "added": bool(added_bodies),
            "modified": bool(modified_bodies),
            "removed": bool(removed_bodies),
            "renamed": bool(renamed_bodies),
        },
    )


def has_delta_header(text: str) -> bool:
    return (
        re.search(r"^##\s+(ADDED|MODIFIED|REMOVED|RENAMED)\s+Requirements", text, re.I | re.M)
        is not None
    )
