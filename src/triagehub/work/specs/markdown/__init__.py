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

from triagehub.work.specs.markdown.delta import (
    Block,
    DeltaPlan,
    Orphan,
    Skipped,
    Unpaired,
    has_delta_header,
    parse_delta_spec,
)
from triagehub.work.specs.markdown.main_spec import (
    RequirementsSection,
    extract_requirements_section,
    main_spec_structure_issues,
)
from triagehub.work.specs.markdown.requirements import (
    ParsedRequirement,
    ParsedScenario,
    ParsedSpec,
    SpecStructureError,
    contains_shall_or_must,
    count_empty_scenarios,
    count_scenarios,
    extract_requirement_body,
    fold_requirement_name,
    normalize_requirement_name,
    parse_spec,
    requirement_from_block,
    requirements_of,
    scenario_names,
)
from triagehub.work.specs.markdown.tasks import ParsedTask, parse_tasks
from triagehub.work.specs.markdown.text import (
    ANY_HEADER,
    CLOSING_HASHES,
    DELTA_SECTIONS,
    DELTA_TITLES,
    HEADER,
    HEADER_START,
    METADATA_LINE,
    REQUIREMENT_HEADER,
    SCENARIO_BODY_END,
    SCENARIO_HEADER,
    SECTION_TITLE,
    SHALL_MUST,
    TASK_LINE,
    TOP_LEVEL,
    Lines,
    Section,
    fence_mask,
    find_section,
    normalize,
    parse_sections,
)

__all__ = [
    "ANY_HEADER",
    "CLOSING_HASHES",
    "DELTA_SECTIONS",
    "DELTA_TITLES",
    "HEADER",
    "HEADER_START",
    "METADATA_LINE",
    "REQUIREMENT_HEADER",
    "SCENARIO_BODY_END",
    "SCENARIO_HEADER",
    "SECTION_TITLE",
    "SHALL_MUST",
    "TASK_LINE",
    "TOP_LEVEL",
    "Block",
    "DeltaPlan",
    "Lines",
    "Orphan",
    "ParsedRequirement",
    "ParsedScenario",
    "ParsedSpec",
    "ParsedTask",
    "RequirementsSection",
    "Section",
    "Skipped",
    "SpecStructureError",
    "Unpaired",
    "contains_shall_or_must",
    "count_empty_scenarios",
    "count_scenarios",
    "extract_requirement_body",
    "extract_requirements_section",
    "fence_mask",
    "find_section",
    "fold_requirement_name",
    "has_delta_header",
    "main_spec_structure_issues",
    "normalize",
    "normalize_requirement_name",
    "parse_delta_spec",
    "parse_sections",
    "parse_spec",
    "parse_tasks",
    "requirement_from_block",
    "requirements_of",
    "scenario_names",
]
