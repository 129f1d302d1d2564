"""Validating a change's task files: checkboxes and the spec-driven task numbering."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from triagehub.work.specs import markdown as md
from triagehub.work.specs.load import read_text
from triagehub.work.specs.model import ValidationIssue

TASK_CHECKBOX_MESSAGE = (
    'This change counts as 0 tasks: no line in its tracked task files is a checkbox, so "openspec '
    'list" and "openspec status" report no work and "openspec archive" has nothing to flag as '
    'incomplete. Write each task as "- [ ] 1.1 Description".'
)


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


def task_file_issues(change_dir: Path, project_root: Path) -> list[ValidationIssue]:
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
