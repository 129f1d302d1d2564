"""Requirement blocks and scenarios, and a main spec parsed into its requirements."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from triagehub.work.specs.markdown.text import (
    ANY_HEADER,
    CLOSING_HASHES,
    METADATA_LINE,
    SCENARIO_BODY_END,
    SCENARIO_HEADER,
    SHALL_MUST,
    Lines,
    Section,
    fence_mask,
    find_section,
    normalize,
    parse_sections,
)

# -- requirement text and scenarios (requirement-text) --------------------------------------------


def contains_shall_or_must(text: str) -> bool:
    return SHALL_MUST.search(text) is not None


def normalize_requirement_name(name: str) -> str:
    return CLOSING_HASHES.sub("", name).strip()


_WHITESPACE = re.compile(r"\s+")
_SCENARIO_PREFIX = re.compile(r"^Scenario:\s*", re.IGNORECASE)
_REQUIREMENT_PREFIX = re.compile(r"^Requirement:\s*", re.IGNORECASE)
_CANONICAL = re.compile(r"^Requirement:\s*\S", re.IGNORECASE)
_BLOCK_HEADER = re.compile(r"^###\s*")


def fold_requirement_name(name: str) -> str:
    return _WHITESPACE.sub(" ", normalize_requirement_name(name).lower())


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
        if line.startswith("#") and ANY_HEADER.match(line):
            break
        trimmed = line.strip()
        if not trimmed:
            continue
        if trimmed.startswith("**") and METADATA_LINE.match(trimmed):
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
        name = CLOSING_HASHES.sub("", name)
        name = _SCENARIO_PREFIX.sub("", name)
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


def _strip_prefix(title: str, prefix: re.Pattern[str]) -> str:
    return prefix.sub("", title).strip()


def requirements_of(
    section: Section, doc: Lines, *, only_canonical: bool
) -> list[ParsedRequirement]:
    """A section's requirement children with their scenarios (``only_canonical``: only
    ``Requirement:`` headings count, as for change deltas)."""
    out: list[ParsedRequirement] = []
    for child in section.children:
        if only_canonical and not _CANONICAL.match(child.title.strip()):
            continue
        start, end = child.line + 1, child.end
        text = extract_requirement_body(doc.lines[start:end], doc.mask[start:end])
        text = text or child.title.strip()
        scenarios = tuple(
            ParsedScenario(_strip_prefix(s.title, _SCENARIO_PREFIX), s.content)
            for s in child.children
            if s.content.strip()
        )
        name = normalize_requirement_name(_strip_prefix(child.title, _REQUIREMENT_PREFIX))
        out.append(ParsedRequirement(name, text, scenarios))
    return out


def requirement_from_block(
    raw: str, mask: Sequence[bool] | None = None
) -> ParsedRequirement | None:
    """One delta requirement block (``### Requirement: ...`` and its body), as the CLI reads it.
    ``mask``: the block's fence mask, from its document."""
    lines = normalize(raw).split("\n")
    lines[0] = "### " + _BLOCK_HEADER.sub("", lines[0]).strip()
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
