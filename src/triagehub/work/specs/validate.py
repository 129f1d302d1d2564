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
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from triagehub.work.specs import markdown as md
from triagehub.work.specs.load import discover_spec_files, read_text
from triagehub.work.specs.merge import (
    MergeError,
    build_updated_spec,
    scenario_loss,
)
from triagehub.work.specs.model import ValidationIssue, ValidationReport
from triagehub.work.specs.validate_messages import (
    NO_DELTAS,
    empty_scenario_hint,
    section_list,
    shall_message,
)
from triagehub.work.specs.validate_spec import spec_content_issues, validate_spec
from triagehub.work.specs.validate_tasks import task_file_issues

__all__ = [
    "change_issues",
    "skip_specs_marker",
    "spec_content_issues",
    "validate_change",
    "validate_spec",
]


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
                shall_message(prefix, block.name)
                if md.contains_shall_or_must(block.name)
                else f"{prefix} is missing requirement text"
            )
            issues.append(ValidationIssue("ERROR", entry, message))
        elif not md.contains_shall_or_must(text):
            issues.append(
                ValidationIssue("WARNING", entry, shall_message(prefix, block.name, guidance=True))
            )
        if md.count_scenarios(body, mask) < 1:
            issues.append(
                ValidationIssue(
                    "ERROR",
                    entry,
                    f"{prefix} must include at least one scenario{empty_scenario_hint(block.raw)}",
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


@dataclass(slots=True)
class _DeltaScan:
    """What reading a change's delta specs found, for the checks that look at all of them."""

    issues: list[ValidationIssue] = field(default_factory=list)
    total: int = 0  # delta entries (ADDED, MODIFIED, REMOVED, RENAMED)
    missing_headers: list[str] = field(default_factory=list)
    empty_sections: list[tuple[str, list[str]]] = field(default_factory=list)
    contents: dict[str, str] = field(default_factory=dict)


def _root_spec_issues(specs_dir: Path) -> list[ValidationIssue]:
    """A delta spec at ``specs/spec.md``, outside any capability."""
    root_spec = specs_dir / "spec.md"
    if not root_spec.is_file() or root_spec.is_symlink():
        return []
    return [
        ValidationIssue(
            "ERROR",
            "spec.md",
            "Delta spec found at specs/spec.md. Delta specs must live under a capability "
            "path (e.g. specs/<capability-path>/spec.md) — a file at the specs/ root is "
            "ignored when the change is applied or archived.",
        )
    ]


def _header_issues(plan: md.DeltaPlan, entry: str) -> list[ValidationIssue]:
    """Headers the parser skipped, unpaired renames and requirements outside delta sections."""
    issues: list[ValidationIssue] = []
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
            f'under "## {orphan.section}"' if orphan.section else 'above the first "## " section'
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
    return issues


def _removed_and_renamed(plan: md.DeltaPlan, entry: str, issues: list[ValidationIssue]) -> set[str]:
    """The REMOVED names, reporting duplicates there and among RENAMED FROM and TO lines."""
    removed: set[str] = set()
    for name in plan.removed:
        if name in removed:
            issues.append(
                ValidationIssue("ERROR", entry, f'Duplicate requirement in REMOVED: "{name}"')
            )
        else:
            removed.add(name)
    froms: set[str] = set()
    tos: set[str] = set()
    for old, new in plan.renamed:
        if old in froms:
            issues.append(ValidationIssue("ERROR", entry, f'Duplicate FROM in RENAMED: "{old}"'))
        else:
            froms.add(old)
        if new in tos:
            issues.append(ValidationIssue("ERROR", entry, f'Duplicate TO in RENAMED: "{new}"'))
        else:
            tos.add(new)
    return removed


def _conflict_issues(
    plan: md.DeltaPlan, entry: str, added: set[str], modified: set[str], removed: set[str]
) -> list[ValidationIssue]:
    """Requirements named in two delta sections that cannot both apply."""
    issues: list[ValidationIssue] = []
    for name in modified:
        if name in removed:
            issues.append(
                ValidationIssue(
                    "ERROR", entry, f'Requirement present in both MODIFIED and REMOVED: "{name}"'
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
    return issues


def _scan_delta(
    scan: _DeltaScan,
    spec_id: str,
    text: str,
    project_root: Path,
    main_specs_dir: Path | None,
) -> None:
    """Check one capability's delta spec, recording what the change-wide checks need."""
    entry = f"{spec_id}/spec.md"
    issues = scan.issues
    scan.contents[spec_id] = text
    plan = md.parse_delta_spec(text)
    issues.extend(_header_issues(plan, entry))
    sections = [f"## {op} Requirements" for op in md.DELTA_SECTIONS if plan.presence[op.lower()]]
    if plan.entries == 0:
        if sections:
            scan.empty_sections.append((entry, sections))
        else:
            scan.missing_headers.append(entry)
    scan.total += len(plan.added) + len(plan.modified) + len(plan.removed) + len(plan.renamed)
    added = _check_blocks("ADDED", plan.added, entry, issues)
    modified = _check_blocks("MODIFIED", plan.modified, entry, issues)
    if main_specs_dir is not None and plan.modified:
        main = main_specs_dir.joinpath(*spec_id.split("/"), "spec.md")
        issues.extend(_scenario_loss_issues(plan, main, entry, project_root))
    removed = _removed_and_renamed(plan, entry, issues)
    issues.extend(_conflict_issues(plan, entry, added, modified, removed))


def _archive_issues(
    scan: _DeltaScan, change_name: str, main_specs_dir: Path, project_root: Path
) -> list[ValidationIssue]:
    """Deltas with no error of their own that archive would still refuse to merge."""
    reported = {i.path for i in scan.issues if i.level == "ERROR"}
    reported.update(scan.missing_headers)
    reported.update(path for path, _ in scan.empty_sections)
    issues: list[ValidationIssue] = []
    for spec_id, content in scan.contents.items():
        entry = f"{spec_id}/spec.md"
        if entry in reported:
            continue
        target = main_specs_dir.joinpath(*spec_id.split("/"), "spec.md")
        target_text = read_text(target, project_root, entry).text
        try:
            build_updated_spec(content, target_text, spec_id, change_name)
        except MergeError as exc:
            issues.append(ValidationIssue("INFO", entry, f"Archive would refuse this delta: {exc}"))
    return issues


def _layout_issues(
    unread: list[tuple[str, str]],
    empty_sections: list[tuple[str, list[str]]],
    missing_headers: list[str],
) -> list[ValidationIssue]:
    """Delta files the merge would never read, and delta specs without usable sections."""
    issues: list[ValidationIssue] = []
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
                f"Delta sections {section_list(names)} were found, but no requirement entries "
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
    return issues


def _delta_count_issues(
    change_dir: Path, specs_dir: Path, total: int, deltas_elsewhere: bool
) -> list[ValidationIssue]:
    """``skip_specs`` against the spec files present, and a change without any delta."""
    issues: list[ValidationIssue] = []
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
    if total == 0 and not deltas_elsewhere:
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
    specs_dir = change_dir / "specs"
    scan = _DeltaScan()
    root_issues = _root_spec_issues(specs_dir)
    scan.issues.extend(root_issues)
    files, refused = discover_spec_files(specs_dir, project_root)
    for problem in refused:
        scan.issues.append(ValidationIssue("ERROR", "specs", problem))
    for spec_id, path in files:
        read = read_text(path, project_root, f"{spec_id}/spec.md")
        if read.text is not None:
            _scan_delta(scan, spec_id, read.text, project_root, main_specs_dir)
    issues = scan.issues
    if main_specs_dir is not None:
        issues.extend(_archive_issues(scan, change_dir.name, main_specs_dir, project_root))
    unread = _unread_delta_files(specs_dir, project_root)
    issues.extend(_layout_issues(unread, scan.empty_sections, scan.missing_headers))
    deltas_elsewhere = bool(root_issues) or bool(unread)
    issues.extend(_delta_count_issues(change_dir, specs_dir, scan.total, deltas_elsewhere))
    if check_tasks:
        issues.extend(task_file_issues(change_dir, project_root))
    return issues


def validate_change(
    change_id: str, change_dir: Path, project_root: Path, *, strict: bool = True
) -> ValidationReport:
    """``openspec validate <change> [--strict]``: the change against its project's main specs."""
    issues = change_issues(
        change_dir, project_root, main_specs_dir=project_root / "openspec" / "specs"
    )
    return ValidationReport(change_id, "change", strict, tuple(issues))
