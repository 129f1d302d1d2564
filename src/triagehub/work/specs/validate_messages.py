"""The messages and guidance ``openspec validate`` prints, shared by the validators."""

from __future__ import annotations

from triagehub.work.specs import markdown as md

GUIDE_NO_DELTAS = (
    "No deltas found. Ensure your change has a specs/ directory with capability folders (e.g. "
    "specs/http-server/spec.md) containing .md files that use delta headers (## ADDED/MODIFIED/"
    'REMOVED/RENAMED Requirements) and that each requirement includes at least one "#### '
    'Scenario:" block. If this change intentionally modifies no specs (pure refactor, tooling, '
    'docs), set "skip_specs: true" in the change\'s .openspec.yaml instead. Tip: run "openspec '
    'change show <change-id> --json --deltas-only" to inspect parsed deltas.'
)
NO_DELTAS = f"Change must have at least one delta. {GUIDE_NO_DELTAS}"
GUIDE_MISSING_SPEC_SECTIONS = (
    'Missing required sections. Expected headers: "## Purpose" and "## Requirements". '
    "Example:\n## Purpose\n[brief purpose]\n\n## Requirements\n### Requirement: Clear requirement "
    "statement\nUsers SHALL ...\n\n#### Scenario: Descriptive name\n- **WHEN** ...\n- **THEN** ..."
)
GUIDE_SCENARIO_FORMAT = (
    "Scenarios must use level-4 headers. Convert bullet lists into:\n#### Scenario: Short name\n"
    "- **WHEN** ...\n- **THEN** ...\n- **AND** ..."
)


def shall_message(prefix: str, name: str, *, guidance: bool = False) -> str:
    base = f"{prefix} {'should' if guidance else 'must'} contain SHALL or MUST"
    suffix = " (RFC 2119 best practice for English specs)" if guidance else ""
    if md.contains_shall_or_must(name):
        return (
            f"{base} in the requirement body, not only in the header. Move the SHALL/MUST "
            'statement to the line immediately after the "### Requirement: ..." header.'
            f"{suffix}"
        )
    return f"{base}{suffix}"


def empty_scenario_hint(raw: str) -> str:
    if md.count_empty_scenarios(raw.split("\n")[1:]) == 0:
        return ""
    return (
        ' (a scenario header with no body under it does not count; add its steps, e.g. "- '
        '**WHEN** ..." and "- **THEN** ...")'
    )


def section_list(names: list[str]) -> str:
    if len(names) <= 1:
        return "".join(names)
    return f"{', '.join(names[:-1])} and {names[-1]}"
