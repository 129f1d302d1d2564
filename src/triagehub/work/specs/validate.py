"""Validating changes and specs the way ``openspec validate --strict`` does.

A port of the CLI's ``Validator.validateChangeDeltaSpecs`` (with the main specs and the task
files, as ``openspec validate <change>`` runs it) and ``validateSpec``, with the CLI's messages:
every ADDED or MODIFIED requirement needs at least one scenario (ERROR) and SHALL or MUST in its
body (WARNING: strict mode fails on it), duplicates and cross-section conflicts are errors, a
change needs at least one delta. Issues the CLI reports from places triagehub does not model
(custom workflow schemas, nested change folders) are not reproduced.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import yaml

from triagehub.work.specs import markdown as md
from triagehub.work.specs.load import discover_spec_files, read_text
from triagehub.work.specs.merge import (
    PURPOSE_PLACEHOLDER_PREFIX,
    PURPOSE_PLACEHOLDER_SUFFIX,
    MergeError,
    build_updated_spec,
    scenario_loss,
)
from triagehub.work.specs.model import ValidationIssue, ValidationReport

MIN_PURPOSE_LENGTH = 50
MAX_REQUIREMENT_TEXT_LENGTH = 500

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
TASK_CHECKBOX_MESSAGE = (
    'This change counts as 0 tasks: no line in its tracked task files is a checkbox, so "openspec '
    'list" and "openspec status" report no work and "openspec archive" has nothing to flag as '
    'incomplete. Write each task as "- [ ] 1.1 Description".'
)


def _shall_message(prefix: str, name: str, *, guidance: bool = False) -> str:
    base = f"{prefix} {'should' if guidance else 'must'} contain SHALL or MUST"
    suffix = " (RFC 2119 best practice for English specs)" if guidance else ""
    if md.contains_shall_or_must(name):
        return (
            f"{base} in the requirement body, not only in the header. Move the SHALL/MUST "
            'statement to the line immediately after the "### Requirement: ..." header.'
            f"{suffix}"
        )
    return f"{base}{suffix}"


def _empty_scenario_hint(raw: str) -> str:
    if md.count_empty_scenarios(raw.split("\n")[1:]) == 0:
        return ""
    return (
        ' (a scenario header with no body under it does not count; add its steps, e.g. "- '
        '**WHEN** ..." and "- **THEN** ...")'
    )


def _section_list(names: list[str]) -> str:
    if len(names) <= 1:
        return "".join(names)
    return f"{', '.join(names[:-1])} and {names[-1]}"


def skip_specs_marker(change_dir: Path) -> bool:
    """Whether the change's ``.openspec.yaml`` says ``skip_specs: true``."""
    try:
        data = yaml.safe_load((change_dir / ".openspec.yaml").read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return False
    return isinstance(data, dict) and data.get("skip_specs") is True


def _has_any_file(folder: Path) -> bool:
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return False
    for entry in entries:
        if entry.name.startswith("."):
            continue
        if entry.is_file(follow_symlinks=False) or entry.is_symlink():
            return True
        if entry.is_dir(follow_symlinks=False) and _has_any_file(Path(entry.path)):
            return True
    return False


def _unread_delta_files(specs_root: Path, project_root: Path) -> list[tuple[str, str]]:
    """(path, expected path) of Markdown files with delta sections that are not a capability's
    spec.md, which the CLI's merge would never read."""
    out: list[tuple[str, str]] = []

    def walk(folder: Path, segments: list[str]) -> None:
        try:
            entries = sorted(os.scandir(folder), key=lambda e: e.name)
        except OSError:
            return
        for entry in entries:
            if entry.name.startswith("."):
                continue
            if entry.is_dir(follow_symlinks=False):
                walk(Path(entry.path), [*segments, entry.name])
                continue
            if entry.name == "spec.md" or not entry.name.lower().endswith(".md"):
                continue
            text = read_text(Path(entry.path), project_root, entry.name).text
            if text is None or not any(md.parse_delta_spec(text).presence.values()):
                continue
            capability = "/".join(segments) if segments else entry.name[: -len(".md")]
            out.append(("/".join([*segments, entry.name]), f"{capability}/spec.md"))

    walk(specs_root, [])
    return sorted(out)


def _uses_builtin_spec_driven(change_dir: Path, project_root: Path) -> bool:
    schema = None
    for candidate in (change_dir / ".openspec.yaml", project_root / "openspec" / "config.yaml"):
        try:
            data = yaml.safe_load(candidate.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, yaml.YAMLError):
            continue
        if isinstance(data, dict) and isinstance(data.get("schema"), str):
            schema = data["schema"]
            break
    schema = schema or "spec-driven"
    return schema == "spec-driven" and not (project_root / "openspec" / "schemas" / schema).exists()


_LIST_ITEM = re.compile(r"^\s*(?:[-*+]|\d{1,9}[.)])\s+\S")
_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})(.*)")


def _indent_columns(line: str) -> int:
    column = 0
    for char in line:
        if char == " ":
            column += 1
        elif char == "\t":
            column += 4 - column % 4
        else:
            break
    return column


def _first_list_item_line(content: str) -> int | None:
    lines = content.split("\n")
    index = 0
    if lines and re.match(r"^-{3}\s*$", lines[0].lstrip("\ufeff").rstrip()):
        for i in range(1, len(lines)):
            if re.match(r"^-{3}\s*$", lines[i].rstrip()):
                index = i + 1
                break
    fence: tuple[str, int] | None = None
    in_comment = False
    for i in range(index, len(lines)):
        line = lines[i]
        if in_comment:
            if "-->" in line:
                in_comment = False
            continue
        m = _FENCE.match(line)
        if m:
            marker, length = m.group(1)[0], len(m.group(1))
            if fence is None:
                fence = (marker, length)
            elif marker == fence[0] and length >= fence[1] and not m.group(2).strip():
                fence = None
            continue
        if fence is not None:
            continue
        if line.lstrip().startswith("<!--"):
            opened = line.index("<!--") + 4
            if "-->" not in line[opened:]:
                in_comment = True
            continue
        if _LIST_ITEM.match(line) and _indent_columns(line) < 4:
            return i + 1
    return None


_GROUP = re.compile(r"^ {0,3}##[ \t]+(\d+)\.(?:[ \t]|$)")
_LEVEL_TWO = re.compile(r"^ {0,3}##(?!#)(?:[ \t]+|[ \t]*$)")
_TASK_ID = re.compile(r"^(\d+(?:\.\d+)+(?:[A-Za-z]+)?)(?=\s|$)")


def _task_numbering_issues(path: str, content: str) -> list[ValidationIssue]:
    lines = content.split("\n")
    if not any(_GROUP.match(line) for line in lines):
        return []
    issues: list[ValidationIssue] = []
    first: dict[str, int] = {}
    group: str | None = None
    for i, line in enumerate(lines):
        if _LEVEL_TWO.match(line):
            m = _GROUP.match(line)
            group = m.group(1) if m else None
        if group is None:
            continue
        task = md.TASK_LINE.match(line)
        if not task:
            continue
        found = _TASK_ID.match(task.group(2).strip())
        if not found:
            continue
        task_id = found.group(1)
        task_group = task_id.split(".")[0]
        if (task_group.lstrip("0") or "0") != (group.lstrip("0") or "0"):
            issues.append(
                ValidationIssue(
                    "WARNING",
                    path,
                    f'Task "{task_id}" is under group {group}, but its leading number points to '
                    f"group {task_group}. Move it to group {task_group} or renumber it.",
                    i + 1,
                )
            )
        if task_id in first:
            issues.append(
                ValidationIssue(
                    "WARNING",
                    path,
                    f'Task ID "{task_id}" is duplicated; it was first declared on line '
                    f"{first[task_id]}.",
                    i + 1,
                )
            )
        else:
            first[task_id] = i + 1
    return issues


def _task_file_issues(change_dir: Path, project_root: Path) -> list[ValidationIssue]:
    tasks = change_dir / "tasks.md"
    text = read_text(tasks, project_root, "tasks.md")
    if text.text is None:
        return []
    content = md.normalize(text.text)
    issues: list[ValidationIssue] = []
    if not md.parse_tasks(content):
        line = _first_list_item_line(content)
        if line is not None:
            issues.append(ValidationIssue("WARNING", "tasks.md", TASK_CHECKBOX_MESSAGE, line))
    if _uses_builtin_spec_driven(change_dir, project_root):
        issues.extend(_task_numbering_issues("tasks.md", content))
    return issues


def _check_blocks(
    label: str, blocks: tuple[md.Block, ...], entry: str, issues: list[ValidationIssue]
) -> set[str]:
    names: set[str] = set()
    for block in blocks:
        if block.name in names:
            issues.append(
                ValidationIssue("ERROR", entry, f'Duplicate requirement in {label}: "{block.name}"')
            )
        else:
            names.add(block.name)
        body = block.raw.split("\n")[1:]
        mask = block.mask[1 : len(body) + 1] if len(block.mask) > len(body) else None
        text = md.extract_requirement_body(body, mask)
        prefix = f'{label} "{block.name}"'
        if not text:
            message = (
                _shall_message(prefix, block.name)
                if md.contains_shall_or_must(block.name)
                else f"{prefix} is missing requirement text"
            )
            issues.append(ValidationIssue("ERROR", entry, message))
        elif not md.contains_shall_or_must(text):
            issues.append(
                ValidationIssue("WARNING", entry, _shall_message(prefix, block.name, guidance=True))
            )
        if md.count_scenarios(body, mask) < 1:
            issues.append(
                ValidationIssue(
                    "ERROR",
                    entry,
                    f"{prefix} must include at least one scenario{_empty_scenario_hint(block.raw)}",
                )
            )
    return names


def _scenario_loss_issues(
    plan: md.DeltaPlan, main_spec: Path, entry: str, project_root: Path
) -> list[ValidationIssue]:
    text = read_text(main_spec, project_root, entry).text
    if text is None:
        return []
    current = {b.name: b for b in md.extract_requirements_section(text).blocks}
    renamed_from = {new: old for old, new in plan.renamed}
    renamed_away = {old for old, _ in plan.renamed}

    def block_for(name: str) -> md.Block | None:
        seen: set[str] = set()
        key: str | None = name
        while key is not None and key not in seen:
            if key in current:
                return current[key]
            seen.add(key)
            key = renamed_from.get(key)
        return None

    issues: list[ValidationIssue] = []
    for block in plan.modified:
        if block.name in renamed_away:
            continue
        existing = block_for(block.name)
        if existing is None:
            continue
        missing, balance = scenario_loss(existing.raw, block.raw)
        if missing:
            names = ", ".join(f'"{n}"' for n in missing)
            issues.append(
                ValidationIssue(
                    "ERROR",
                    entry,
                    f'MODIFIED "{block.name}" omits scenario(s) the current spec still has: '
                    f"{names}. {balance} Copy the omitted scenarios into the MODIFIED block (a "
                    "MODIFIED requirement replaces the whole block, so archive refuses to drop "
                    "them).",
                )
            )
    return issues


def change_issues(
    change_dir: Path,
    project_root: Path,
    *,
    main_specs_dir: Path | None = None,
    check_tasks: bool = True,
) -> list[ValidationIssue]:
    """The issues ``openspec validate <change>`` reports for the change folder ``change_dir``
    (``main_specs_dir``: also check MODIFIED blocks and archive conflicts against the main
    specs, as the CLI's validate command does)."""
    issues: list[ValidationIssue] = []
    specs_dir = change_dir / "specs"
    total = 0
    missing_headers: list[str] = []
    empty_sections: list[tuple[str, list[str]]] = []
    root_spec = specs_dir / "spec.md"
    has_root_spec = root_spec.is_file() and not root_spec.is_symlink()
    if has_root_spec:
        issues.append(
            ValidationIssue(
                "ERROR",
                "spec.md",
                "Delta spec found at specs/spec.md. Delta specs must live under a capability "
                "path (e.g. specs/<capability-path>/spec.md) — a file at the specs/ root is "
                "ignored when the change is applied or archived.",
            )
        )
    files, refused = discover_spec_files(specs_dir, project_root)
    for problem in refused:
        issues.append(ValidationIssue("ERROR", "specs", problem))
    contents: dict[str, str] = {}
    for spec_id, path in files:
        entry = f"{spec_id}/spec.md"
        read = read_text(path, project_root, entry)
        if read.text is None:
            continue
        contents[spec_id] = read.text
        plan = md.parse_delta_spec(read.text)
        for stray in plan.skipped_headers:
            if re.match(r"^requirement:?$", stray.header, re.I):
                message = (
                    f'Header "### {stray.header}" in {stray.section} is missing a requirement '
                    'name and is ignored by validation. Add a name, e.g. "### Requirement: '
                    '<name>".'
                )
            else:
                message = (
                    f'Header "### {stray.header}" in {stray.section} is not a "### '
                    'Requirement:" header and is ignored by validation. Use "### Requirement: '
                    f'{stray.header}" if it should be validated as a requirement.'
                )
            issues.append(ValidationIssue("INFO", entry, message, stray.line))
        for unpaired in plan.unpaired_renames:
            other = "TO" if unpaired.side == "FROM" else "FROM"
            issues.append(
                ValidationIssue(
                    "ERROR",
                    entry,
                    f'RENAMED {unpaired.side}: "{unpaired.name}" has no matching {other}: line. '
                    "Write each rename as a FROM: line followed immediately by its TO: line.",
                    unpaired.line,
                )
            )
        for orphan in plan.orphaned:
            where = (
                f'under "## {orphan.section}"'
                if orphan.section
                else 'above the first "## " section'
            )
            issues.append(
                ValidationIssue(
                    "WARNING",
                    entry,
                    f'Requirement "{orphan.name}" is {where}, which is not a delta section, so it '
                    'is ignored. Move it under "## ADDED Requirements", "## MODIFIED '
                    'Requirements", "## REMOVED Requirements", or "## RENAMED Requirements".',
                    orphan.line,
                )
            )
        sections = [
            f"## {op} Requirements" for op in md.DELTA_SECTIONS if plan.presence[op.lower()]
        ]
        if plan.entries == 0:
            if sections:
                empty_sections.append((entry, sections))
            else:
                missing_headers.append(entry)
        total += len(plan.added) + len(plan.modified)
        added = _check_blocks("ADDED", plan.added, entry, issues)
        modified = _check_blocks("MODIFIED", plan.modified, entry, issues)
        if main_specs_dir is not None and plan.modified:
            main = main_specs_dir.joinpath(*spec_id.split("/"), "spec.md")
            issues.extend(_scenario_loss_issues(plan, main, entry, project_root))
        removed: set[str] = set()
        for name in plan.removed:
            total += 1
            if name in removed:
                issues.append(
                    ValidationIssue("ERROR", entry, f'Duplicate requirement in REMOVED: "{name}"')
                )
            else:
                removed.add(name)
        froms: set[str] = set()
        tos: set[str] = set()
        for old, new in plan.renamed:
            total += 1
            if old in froms:
                issues.append(
                    ValidationIssue("ERROR", entry, f'Duplicate FROM in RENAMED: "{old}"')
                )
            else:
                froms.add(old)
            if new in tos:
                issues.append(ValidationIssue("ERROR", entry, f'Duplicate TO in RENAMED: "{new}"'))
            else:
                tos.add(new)
        for name in modified:
            if name in removed:
                issues.append(
                    ValidationIssue(
                        "ERROR",
                        entry,
                        f'Requirement present in both MODIFIED and REMOVED: "{name}"',
                    )
                )
            if name in added:
                issues.append(
                    ValidationIssue(
                        "ERROR", entry, f'Requirement present in both MODIFIED and ADDED: "{name}"'
                    )
                )
        for name in added:
            if name in removed:
                issues.append(
                    ValidationIssue(
                        "ERROR", entry, f'Requirement present in both ADDED and REMOVED: "{name}"'
                    )
                )
        for old, new in plan.renamed:
            if old in modified:
                issues.append(
                    ValidationIssue(
                        "ERROR",
                        entry,
                        f'MODIFIED references old name from RENAMED. Use new header for "{new}"',
                    )
                )
            if new in added:
                issues.append(
                    ValidationIssue("ERROR", entry, f'RENAMED TO collides with ADDED for "{new}"')
                )
            folded = md.fold_requirement_name(old)
            match = next((r for r in removed if md.fold_requirement_name(r) == folded), None)
            if match is not None:
                spelled = "" if match == old else f' (REMOVED spells it "{match}")'
                issues.append(
                    ValidationIssue(
                        "ERROR",
                        entry,
                        f'Requirement present in both RENAMED and REMOVED: "{old}"{spelled}',
                    )
                )
    if main_specs_dir is not None:
        reported = {i.path for i in issues if i.level == "ERROR"}
        reported.update(missing_headers)
        reported.update(path for path, _ in empty_sections)
        change_name = change_dir.name
        for spec_id, content in contents.items():
            entry = f"{spec_id}/spec.md"
            if entry in reported:
                continue
            target = main_specs_dir.joinpath(*spec_id.split("/"), "spec.md")
            target_text = read_text(target, project_root, entry).text
            try:
                build_updated_spec(content, target_text, spec_id, change_name)
            except MergeError as exc:
                issues.append(
                    ValidationIssue("INFO", entry, f"Archive would refuse this delta: {exc}")
                )
    unread = _unread_delta_files(specs_dir, project_root)
    for unread_path, expected in unread:
        issues.append(
            ValidationIssue(
                "ERROR",
                unread_path,
                f"Delta spec found at specs/{unread_path}. Delta specs must be a spec.md inside a "
                "capability folder — this file is ignored when the change is applied or "
                f"archived. Move its requirements into specs/{expected}.",
            )
        )
    for empty_path, names in empty_sections:
        issues.append(
            ValidationIssue(
                "ERROR",
                empty_path,
                f"Delta sections {_section_list(names)} were found, but no requirement entries "
                'parsed. Ensure each section includes at least one "### Requirement:" block '
                "(REMOVED may use bullet list syntax).",
            )
        )
    for missing_path in missing_headers:
        issues.append(
            ValidationIssue(
                "ERROR",
                missing_path,
                'No delta sections found. Add headers such as "## ADDED Requirements" or move '
                "non-delta notes outside specs/.",
            )
        )
    skip = skip_specs_marker(change_dir)
    specs_has_files = skip and _has_any_file(specs_dir)
    if skip and specs_has_files:
        issues.append(
            ValidationIssue(
                "ERROR",
                "file",
                "skip_specs is set in .openspec.yaml but spec files exist under specs/. Remove "
                "skip_specs or delete the delta spec files",
            )
        )
    if total == 0 and not has_root_spec and not unread:
        if skip and not specs_has_files:
            issues.append(
                ValidationIssue(
                    "INFO",
                    "file",
                    "skip_specs is set in .openspec.yaml: change declares no spec-level behavior "
                    "changes, zero deltas accepted",
                )
            )
        elif not skip:
            issues.append(ValidationIssue("ERROR", "file", NO_DELTAS))
    if check_tasks:
        issues.extend(_task_file_issues(change_dir, project_root))
    return issues


def validate_change(
    change_id: str, change_dir: Path, project_root: Path, *, strict: bool = True
) -> ValidationReport:
    """``openspec validate <change> [--strict]``: the change against its project's main specs."""
    issues = change_issues(
        change_dir, project_root, main_specs_dir=project_root / "openspec" / "specs"
    )
    return ValidationReport(change_id, "change", strict, tuple(issues))


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
                    "ERROR", f"requirements[{index}]", _shall_message(prefix, block.name)
                )
            )
        elif not md.contains_shall_or_must(text):
            issues.append(
                ValidationIssue(
                    "WARNING",
                    f"requirements[{index}]",
                    _shall_message(prefix, block.name, guidance=True),
                )
            )
    return issues


def validate_spec(spec_id: str, content: str | None, *, strict: bool = True) -> ValidationReport:
    if content is None:
        issues = [ValidationIssue("ERROR", "file", f"Spec '{spec_id}' has no spec.md")]
    else:
        issues = spec_content_issues(spec_id, content)
    return ValidationReport(spec_id, "spec", strict, tuple(issues))
