"""A main spec's requirements section, and the structure problems the CLI reports in it."""

from __future__ import annotations

import re
from dataclasses import dataclass

from triagehub.work.specs.markdown.delta import Block
from triagehub.work.specs.markdown.requirements import normalize_requirement_name
from triagehub.work.specs.markdown.text import REQUIREMENT_HEADER, TOP_LEVEL, Lines

_REQUIREMENTS_TITLE = re.compile(r"^##\s+Requirements\s*$", re.IGNORECASE)
_DELTA_TITLE = re.compile(
    r"^##\s+(ADDED|MODIFIED|REMOVED|RENAMED)\s+Requirements\s*$", re.IGNORECASE
)
_ANY_REQUIREMENT = re.compile(r"^###\s+Requirement:\s*(.+)\s*$", re.IGNORECASE)

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
        (i for i, line in enumerate(lines) if not mask[i] and _REQUIREMENTS_TITLE.match(line)),
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
    start = next((i for i, line in enumerate(lines) if _REQUIREMENTS_TITLE.match(line)), -1)
    end = len(lines)
    if start != -1:
        end = next((i for i in range(start + 1, len(lines)) if TOP_LEVEL.match(lines[i])), end)
    issues: list[tuple[int, str]] = []
    seen: dict[str, int] = {}
    for i, line in enumerate(lines):
        trimmed = line.strip()
        if not trimmed:
            continue
        if _DELTA_TITLE.match(line):
            issues.append(
                (
                    i + 1,
                    f'Main spec contains delta header "{trimmed}". Delta headers are only valid '
                    "inside openspec/changes/<name>/specs/<capability-path>/spec.md and truncate "
                    "the parsed ## Requirements section.",
                )
            )
            continue
        m = _ANY_REQUIREMENT.match(line)
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
