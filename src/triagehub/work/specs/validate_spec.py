"""Validating a main spec the way ``openspec validate <spec>`` does."""

from __future__ import annotations

import re

from triagehub.work.specs import markdown as md
from triagehub.work.specs.merge import (
    MIN_PURPOSE_LENGTH,
    PURPOSE_PLACEHOLDER_PREFIX,
    PURPOSE_PLACEHOLDER_SUFFIX,
)
from triagehub.work.specs.model import ValidationIssue, ValidationReport
from triagehub.work.specs.validate_messages import (
    GUIDE_MISSING_SPEC_SECTIONS,
    GUIDE_SCENARIO_FORMAT,
    shall_message,
)

MAX_REQUIREMENT_TEXT_LENGTH = 500


_SHOUTED = re.compile(r"^(?:TBD|TODO)(?![^\W_]|_)")
_PUNCTUATED = re.compile(
    r"^(?:TBD|TODO)(?![^\W_]|_)(?=[ \t]*(?:$|\n|[:\-\u2013\u2014.,;()\[\]{}]))", re.I
)
_GENERATED = re.compile(
    re.escape(PURPOSE_PLACEHOLDER_PREFIX) + r".*?" + re.escape(PURPOSE_PLACEHOLDER_SUFFIX), re.S
)


def _placeholder(overview: str, content: str) -> int | None:
    """None when the Purpose reads as written by someone; else the (1-based) line of the
    placeholder, or 0 when it cannot be located."""
    lines = md.Lines.of(overview)
    prose = "\n".join(line for i, line in enumerate(lines.lines) if not lines.mask[i]).strip()
    leading = bool(_SHOUTED.match(prose) or _PUNCTUATED.match(prose))
    if not leading and not _GENERATED.search(prose):
        return None
    doc = md.Lines.of(content)
    header = next(
        (
            i
            for i, line in enumerate(doc.lines)
            if not doc.mask[i] and re.match(r"^ {0,3}##(?!#)[ \t]+Purpose[ \t]*$", line, re.I)
        ),
        -1,
    )
    if header == -1:
        return 0
    for i in range(header + 1, len(doc.lines)):
        if doc.mask[i]:
            continue
        line = doc.lines[i]
        if re.match(r"^ {0,3}#{1,2}(?!#)[ \t]+", line):
            break
        if leading and line.strip():
            return i + 1
        if not leading and PURPOSE_PLACEHOLDER_PREFIX in line:
            return i + 1
    return 0


def spec_content_issues(spec_id: str, content: str) -> list[ValidationIssue]:
    """The issues ``openspec validate <spec>`` reports for a main spec's text."""
    issues: list[ValidationIssue] = []
    try:
        parsed = md.parse_spec(content, spec_id)
    except md.SpecStructureError as exc:
        return [ValidationIssue("ERROR", "file", f"{exc}. {GUIDE_MISSING_SPEC_SECTIONS}")]
    if not parsed.requirements:
        issues.append(
            ValidationIssue("ERROR", "requirements", "Spec must have at least one requirement")
        )
    for index, req in enumerate(parsed.requirements):
        if not req.scenarios:
            issues.append(
                ValidationIssue(
                    "ERROR",
                    f"requirements.{index}.scenarios",
                    "Requirement must have at least one scenario",
                )
            )
    for line, message in md.main_spec_structure_issues(content):
        issues.append(ValidationIssue("ERROR", "file", message, line))
    placeholder = _placeholder(parsed.overview, content)
    if placeholder is not None:
        issues.append(
            ValidationIssue(
                "WARNING",
                "overview",
                "Purpose section is still a placeholder rather than a Purpose anyone wrote (the "
                "sentence `openspec archive` writes for a new capability, or a `TBD`/`TODO` "
                "marker left in its place). Replace it with what this capability is for, "
                "editing the main spec directly: a `## Purpose` in a delta is read only when the "
                "capability is created, so it cannot replace this one.",
                placeholder or None,
            )
        )
    elif len(parsed.overview) < MIN_PURPOSE_LENGTH:
        issues.append(
            ValidationIssue(
                "WARNING",
                "overview",
                f"Purpose section is too brief (less than {MIN_PURPOSE_LENGTH} characters)",
            )
        )
    for index, req in enumerate(parsed.requirements):
        if len(req.text) > MAX_REQUIREMENT_TEXT_LENGTH:
            issues.append(
                ValidationIssue(
                    "INFO",
                    f"requirements[{index}]",
                    f"Requirement text is very long (>{MAX_REQUIREMENT_TEXT_LENGTH} characters). "
                    "Consider breaking it down.",
                )
            )
        if not req.scenarios:
            issues.append(
                ValidationIssue(
                    "WARNING",
                    f"requirements[{index}].scenarios",
                    f"Requirement must have at least one scenario. {GUIDE_SCENARIO_FORMAT}",
                )
            )
    for index, block in enumerate(md.extract_requirements_section(content).blocks):
        text = md.extract_requirement_body(block.raw.split("\n")[1:])
        prefix = f'Requirement "{block.name}"'
        if not text:
            issues.append(
                ValidationIssue(
                    "ERROR", f"requirements[{index}]", shall_message(prefix, block.name)
                )
            )
        elif not md.contains_shall_or_must(text):
            issues.append(
                ValidationIssue(
                    "WARNING",
                    f"requirements[{index}]",
                    shall_message(prefix, block.name, guidance=True),
                )
            )
    return issues


def validate_spec(spec_id: str, content: str | None, *, strict: bool = True) -> ValidationReport:
    if content is None:
        issues = [ValidationIssue("ERROR", "file", f"Spec '{spec_id}' has no spec.md")]
    else:
        issues = spec_content_issues(spec_id, content)
    return ValidationReport(spec_id, "spec", strict, tuple(issues))
