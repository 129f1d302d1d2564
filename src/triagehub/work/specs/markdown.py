"""OpenSpec's Markdown structure: sections, requirement blocks, scenarios, deltas and tasks.

Fenced code blocks come from ``markdown-it-py`` (CommonMark): nothing inside a fence is
structure. Headings and the requirement, scenario, delta and task grammar follow the OpenSpec CLI
(``@fission-ai/openspec`` 1.13: ``parsers/markdown-parser``, ``requirement-blocks``,
``requirement-text``, ``utils/task-progress``) line for line, so that what triagehub reads is what
``openspec show`` and ``openspec validate`` read. Every function accepts any text: malformed
Markdown (an unclosed fence, a heading without body, stray sections) gives a best-effort
structure and never an exception.
"""

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
_SHALL_MUST = re.compile(r"(?<![A-Za-z0-9_])(SHALL|MUST)(?![A-Za-z0-9_])")
_CLOSING_HASHES = re.compile(r"[ \t]+#+[ \t]*$")
TASK_LINE = re.compile(
    r"^\s*(?:[-*+]|\d{1,9}[.)])\s*\[(?:\s*([^\]\s]?)\s*\](?![(\[])|\s+\])\s*(.*)"
)
DELTA_SECTIONS = ("ADDED", "MODIFIED", "REMOVED", "RENAMED")
_DELTA_TITLES = {f"{op} requirements" for op in (s.lower() for s in DELTA_SECTIONS)}


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


def fence_mask(lines: Sequence[str]) -> list[bool]:
    """Per line: is it part of a fenced code block (fence lines included)?"""
    mask = [False] * len(lines)
    if not any(("```" in line or "~~~" in line) for line in lines):
        return mask
    for start, end in _fence_ranges("\n".join(lines)):
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
        lines = normalize(text).split("\n")
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


def _content_until_next_header(doc: Lines, start: int, level: int) -> tuple[str, int]:
    end = start
    while end < len(doc.lines):
        m = None if doc.mask[end] else HEADER_START.match(doc.lines[end])
        if m and len(m.group(1)) <= level:
            break
        end += 1
    return "\n".join(doc.lines[start:end]).strip(), end


def parse_sections(doc: Lines) -> list[Section]:
    sections: list[Section] = []
    stack: list[Section] = []
    for i, line in enumerate(doc.lines):
        if doc.mask[i]:
            continue
        m = HEADER.match(line)
        if not m:
            continue
        level = len(m.group(1))
        content, end = _content_until_next_header(doc, i + 1, level)
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


# -- requirement text and scenarios (requirement-text) --------------------------------------------


def contains_shall_or_must(text: str) -> bool:
    return _SHALL_MUST.search(text) is not None


def normalize_requirement_name(name: str) -> str:
    return _CLOSING_HASHES.sub("", name).strip()


def fold_requirement_name(name: str) -> str:
    return re.sub(r"\s+", " ", normalize_requirement_name(name).lower())


def extract_requirement_body(body: Sequence[str], mask: Sequence[bool] | None = None) -> str:
    """The requirement statement: body lines up to the first heading, blank and fenced lines
    skipped; ``**Meta**:`` lines count only when nothing else is there. ``mask``: the lines'
    fence mask when the caller has it."""
    if mask is None:
        mask = fence_mask(body)
    captured: list[str] = []
    metadata: list[str] = []
    for i, line in enumerate(body):
        if mask[i]:
            continue
        if ANY_HEADER.match(line):
            break
        trimmed = line.strip()
        if not trimmed:
            continue
        if METADATA_LINE.match(trimmed):
            metadata.append(trimmed)
            continue
        captured.append(trimmed)
    return "\n".join(captured) if captured else "\n".join(metadata)


def _scenario_bodies(body: Sequence[str], mask: Sequence[bool] | None = None) -> list[str]:
    if mask is None:
        mask = fence_mask(body)
    bodies: list[str] = []
    for i, line in enumerate(body):
        if mask[i] or not SCENARIO_HEADER.match(line):
            continue
        end = i + 1
        while end < len(body) and (mask[end] or not SCENARIO_BODY_END.match(body[end])):
            end += 1
        bodies.append("\n".join(body[i + 1 : end]))
    return bodies


def count_scenarios(body: Sequence[str], mask: Sequence[bool] | None = None) -> int:
    return sum(1 for b in _scenario_bodies(body, mask) if b.strip())


def count_empty_scenarios(body: Sequence[str], mask: Sequence[bool] | None = None) -> int:
    return sum(1 for b in _scenario_bodies(body, mask) if not b.strip())


def scenario_names(raw: str) -> list[str]:
    """The names of a requirement block's scenarios (any ``####`` heading, ``Scenario:`` and a
    closing ``#`` run stripped), as the CLI compares them for MODIFIED blocks."""
    lines = normalize(raw).split("\n")
    mask = fence_mask(lines)
    names: list[str] = []
    for i, line in enumerate(lines):
        if mask[i] or not SCENARIO_HEADER.match(line):
            continue
        name = SCENARIO_HEADER.sub("", line, count=1)
        name = _CLOSING_HASHES.sub("", name)
        name = re.sub(r"^Scenario:\s*", "", name, flags=re.IGNORECASE)
        names.append(name.strip())
    return names


# -- requirements of a section ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ParsedScenario:
    name: str
    raw_text: str


@dataclass(frozen=True, slots=True)
class ParsedRequirement:
    name: str
    text: str
    scenarios: tuple[ParsedScenario, ...]


def _strip_prefix(title: str, prefix: str) -> str:
    return re.sub(rf"^{prefix}:\s*", "", title, flags=re.IGNORECASE).strip()


def requirements_of(
    section: Section, doc: Lines, *, only_canonical: bool
) -> list[ParsedRequirement]:
    """A section's requirement children with their scenarios (``only_canonical``: only
    ``Requirement:`` headings count, as for change deltas)."""
    out: list[ParsedRequirement] = []
    for child in section.children:
        if only_canonical and not re.match(r"^Requirement:\s*\S", child.title.strip(), re.I):
            continue
        start, end = child.line + 1, child.end
        text = extract_requirement_body(doc.lines[start:end], doc.mask[start:end])
        text = text or child.title.strip()
        scenarios = tuple(
            ParsedScenario(_strip_prefix(s.title, "Scenario"), s.content)
            for s in child.children
            if s.content.strip()
        )
        name = normalize_requirement_name(_strip_prefix(child.title, "Requirement"))
        out.append(ParsedRequirement(name, text, scenarios))
    return out


def requirement_from_block(
    raw: str, mask: Sequence[bool] | None = None
) -> ParsedRequirement | None:
    """One delta requirement block (``### Requirement: ...`` and its body), as the CLI reads it.
    ``mask``: the block's fence mask, from its document."""
    lines = normalize(raw).split("\n")
    lines[0] = "### " + re.sub(r"^###\s*", "", lines[0]).strip()
    if mask is not None and len(mask) >= len(lines):
        doc = Lines(tuple(lines), tuple(mask[: len(lines)]))
    else:
        doc = Lines(tuple(lines), tuple(fence_mask(lines)))
    sections = parse_sections(doc)
    if not sections:
        return None
    holder = Section(2, "", "", -1, len(lines), [sections[0]])
    found = requirements_of(holder, doc, only_canonical=True)
    return found[0] if found else None


# -- main specs (MarkdownParser.parseSpec) ---------------------------------------------------------


class SpecStructureError(ValueError):
    """A main spec without its Purpose or Requirements section."""


@dataclass(frozen=True, slots=True)
class ParsedSpec:
    title: str
    overview: str
    requirements: tuple[ParsedRequirement, ...]


def parse_spec(text: str, name: str) -> ParsedSpec:
    doc = Lines.of(text)
    sections = parse_sections(doc)
    purpose = find_section(sections, "Purpose")
    requirements = find_section(sections, "Requirements")
    if purpose is None or not purpose.content:
        raise SpecStructureError("Spec must have a Purpose section")
    if requirements is None:
        raise SpecStructureError("Spec must have a Requirements section")
    title = next((s.title for s in sections if s.level == 1), name)
    return ParsedSpec(
        title,
        purpose.content.strip(),
        tuple(requirements_of(requirements, doc, only_canonical=False)),
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
        if not doc.mask[i] and (m := SECTION_TITLE.match(line))
    ]
    out = []
    for n, (title, index) in enumerate(heads):
        end = heads[n + 1][1] if n + 1 < len(heads) else len(doc.lines)
        out.append((title, _Body(doc.lines[index + 1 : end], doc.mask[index + 1 : end], index + 2)))
    return out


def _blocks(body: _Body, section: str, skipped: list[Skipped] | None) -> list[Block]:
    lines, mask = body.lines, body.mask

    def is_req(i: int) -> bool:
        return not mask[i] and REQUIREMENT_HEADER.match(lines[i]) is not None

    def note_skipped(i: int) -> None:
        if skipped is None or mask[i]:
            return
        m = re.match(r"^###\s+(.+?)\s*$", lines[i])
        if m and not REQUIREMENT_HEADER.match(lines[i]):
            skipped.append(Skipped(m.group(1).strip(), section, body.start_line + i))

    blocks: list[Block] = []
    i = 0
    while i < len(lines):
        while i < len(lines) and not is_req(i):
            note_skipped(i)
            i += 1
        if i >= len(lines):
            break
        header = lines[i]
        m = REQUIREMENT_HEADER.match(header)
        assert m is not None
        start = i
        buf = [header]
        i += 1
        while i < len(lines) and not is_req(i) and (mask[i] or not TOP_LEVEL.match(lines[i])):
            note_skipped(i)
            buf.append(lines[i])
            i += 1
        name = normalize_requirement_name(m.group(1))
        blocks.append(Block(header, name, "\n".join(buf).rstrip(), tuple(mask[start:i])))
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
        if doc.mask[i]:
            continue
        if m := SECTION_TITLE.match(line):
            current = m.group(2).strip()
            continue
        if current is not None and current.lower() in _DELTA_TITLES:
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


# -- a main spec's requirements section (requirement-blocks.extractRequirementsSection) -----------


@dataclass(frozen=True, slots=True)
class RequirementsSection:
    before: str
    header_line: str
    preamble: str
    blocks: tuple[Block, ...]
    after: str


def extract_requirements_section(text: str) -> RequirementsSection:
    doc = Lines.of(text)
    lines, mask = doc.lines, doc.mask
    start = next(
        (
            i
            for i, line in enumerate(lines)
            if not mask[i] and re.match(r"^##\s+Requirements\s*$", line, re.I)
        ),
        -1,
    )
    if start == -1:
        before = text.rstrip()
        return RequirementsSection(
            before + "\n\n" if before else "", "## Requirements", "", (), "\n"
        )
    end = next(
        (i for i in range(start + 1, len(lines)) if not mask[i] and TOP_LEVEL.match(lines[i])),
        len(lines),
    )
    body = lines[start + 1 : end]
    bmask = mask[start + 1 : end]

    def is_req(i: int) -> bool:
        return not bmask[i] and REQUIREMENT_HEADER.match(body[i]) is not None

    preamble: list[str] = []
    cursor = 0
    while cursor < len(body) and not is_req(cursor):
        preamble.append(body[cursor])
        cursor += 1
    blocks: list[Block] = []
    while cursor < len(body):
        if not is_req(cursor):
            cursor += 1
            continue
        header = body[cursor]
        m = REQUIREMENT_HEADER.match(header)
        assert m is not None
        first = cursor
        cursor += 1
        buf = [header]
        while cursor < len(body) and not is_req(cursor):
            buf.append(body[cursor])
            cursor += 1
        name = normalize_requirement_name(m.group(1))
        blocks.append(Block(header, name, "\n".join(buf).rstrip(), tuple(bmask[first:cursor])))
    before = "\n".join(lines[:start])
    after = "\n".join(lines[end:])
    return RequirementsSection(
        before=before + "\n" if before.rstrip() else before,
        header_line=lines[start],
        preamble="\n".join(preamble).rstrip(),
        blocks=tuple(blocks),
        after=after if after.startswith("\n") else "\n" + after,
    )


def main_spec_structure_issues(text: str) -> list[tuple[int, str]]:
    """(1-based line, message) for delta headers and misplaced or duplicate requirements in a
    main spec (spec-structure.findMainSpecStructureIssues)."""
    doc = Lines.of(text)
    lines = [("" if doc.mask[i] else line) for i, line in enumerate(doc.lines)]
    start = next(
        (i for i, line in enumerate(lines) if re.match(r"^##\s+Requirements\s*$", line, re.I)), -1
    )
    end = len(lines)
    if start != -1:
        end = next((i for i in range(start + 1, len(lines)) if TOP_LEVEL.match(lines[i])), end)
    issues: list[tuple[int, str]] = []
    seen: dict[str, int] = {}
    for i, line in enumerate(lines):
        trimmed = line.strip()
        if not trimmed:
            continue
        if re.match(r"^##\s+(ADDED|MODIFIED|REMOVED|RENAMED)\s+Requirements\s*$", line, re.I):
            issues.append(
                (
                    i + 1,
                    f'Main spec contains delta header "{trimmed}". Delta headers are only valid '
                    "inside openspec/changes/<name>/specs/<capability-path>/spec.md and truncate "
                    "the parsed ## Requirements section.",
                )
            )
            continue
        m = re.match(r"^###\s+Requirement:\s*(.+)\s*$", line, re.I)
        if not m:
            continue
        if start == -1 or not start < i < end:
            issues.append(
                (
                    i + 1,
                    f'Requirement header "{trimmed}" appears outside the main ## Requirements '
                    "section. Main specs only parse requirements inside that section, so this "
                    "requirement is currently invisible to validate, list, and archive.",
                )
            )
            continue
        name = normalize_requirement_name(m.group(1))
        if name in seen:
            issues.append(
                (
                    i + 1,
                    f'Requirement header "{trimmed}" duplicates the requirement declared on line '
                    f"{seen[name]}. Requirement names must be unique so spec updates cannot "
                    "discard one block while updating another.",
                )
            )
        else:
            seen[name] = i + 1
    return issues


# -- tasks (utils/task-progress) ------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ParsedTask:
    done: bool
    description: str
    line: int  # 1-based
    group: str | None


def parse_tasks(text: str) -> list[ParsedTask]:
    """Every checkbox line, wherever it is (the CLI counts fenced ones too), with its ``##``
    group heading."""
    tasks: list[ParsedTask] = []
    group: str | None = None
    for i, line in enumerate(normalize(text).split("\n")):
        if line.startswith("## "):
            group = line[3:].strip() or None
        m = TASK_LINE.match(line)
        if m:
            tasks.append(
                ParsedTask((m.group(1) or "").lower() == "x", m.group(2).strip(), i + 1, group)
            )
    return tasks
