"""What the OpenSpec reader returns: projects, changes, deltas, specs and validation reports.

Frozen value objects; ``to_json()`` gives the snake_case shapes the CLI and the API print.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

from triagehub.core.timeparse import iso_z


@dataclass(frozen=True, slots=True)
class Project:
    """A folder that holds an ``openspec/`` directory, found under a configured root."""

    id: str
    path: Path
    root: Path

    @property
    def openspec_dir(self) -> Path:
        return self.path / "openspec"

    @property
    def changes_dir(self) -> Path:
        return self.openspec_dir / "changes"

    @property
    def archive_dir(self) -> Path:
        return self.changes_dir / "archive"

    @property
    def specs_dir(self) -> Path:
        return self.openspec_dir / "specs"

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "path": str(self.path), "root": str(self.root)}


@dataclass(frozen=True, slots=True)
class Scenario:
    name: str
    raw_text: str

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "raw_text": self.raw_text}


@dataclass(frozen=True, slots=True)
class Requirement:
    name: str
    text: str
    scenarios: tuple[Scenario, ...]

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "text": self.text,
            "scenarios": [s.to_json() for s in self.scenarios],
        }


@dataclass(frozen=True, slots=True)
class Delta:
    """One operation of a change on a capability: ADDED, MODIFIED, REMOVED or RENAMED."""

    spec: str
    operation: str
    description: str
    requirement: Requirement | None = None
    rename_from: str | None = None
    rename_to: str | None = None

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "spec": self.spec,
            "operation": self.operation,
            "description": self.description,
            "requirement": self.requirement.to_json() if self.requirement else None,
        }
        if self.operation == "RENAMED":
            data["rename"] = {"from": self.rename_from, "to": self.rename_to}
        return data


@dataclass(frozen=True, slots=True)
class Task:
    done: bool
    description: str
    line: int
    group: str | None

    def to_json(self) -> dict[str, Any]:
        return {
            "done": self.done,
            "description": self.description,
            "line": self.line,
            "group": self.group,
        }


@dataclass(frozen=True, slots=True)
class Change:
    """An active (``openspec/changes/<id>/``) or archived (``changes/archive/<date>-<id>/``)
    change. ``problems`` says what could not be read (a missing proposal.md, a file that is not
    UTF-8, a symbolic link leading out of the project) in plain words."""

    project: str
    id: str
    folder: str
    path: Path
    archived: bool
    archived_on: date | None
    last_modified: datetime
    has_proposal: bool
    has_design: bool
    has_tasks: bool
    why: str | None
    what_changes: str | None
    tasks: tuple[Task, ...]
    deltas: tuple[Delta, ...]
    problems: tuple[str, ...] = ()

    @property
    def completed_tasks(self) -> int:
        return sum(1 for t in self.tasks if t.done)

    @property
    def total_tasks(self) -> int:
        return len(self.tasks)

    @property
    def status(self) -> str:
        """``archived``, ``no_tasks``, ``complete`` or ``in_progress`` (the CLI's list status)."""
        if self.archived:
            return "archived"
        if not self.tasks:
            return "no_tasks"
        return "complete" if self.completed_tasks == self.total_tasks else "in_progress"

    def summary_json(self) -> dict[str, Any]:
        return {
            "project": self.project,
            "id": self.id,
            "folder": self.folder,
            "archived": self.archived,
            "archived_on": self.archived_on.isoformat() if self.archived_on else None,
            "status": self.status,
            "completed_tasks": self.completed_tasks,
            "total_tasks": self.total_tasks,
            "delta_count": len(self.deltas),
            "has_proposal": self.has_proposal,
            "has_design": self.has_design,
            "last_modified": iso_z(self.last_modified),
            "problems": list(self.problems),
        }

    def to_json(self) -> dict[str, Any]:
        return {
            **self.summary_json(),
            "path": str(self.path),
            "has_tasks": self.has_tasks,
            "why": self.why,
            "what_changes": self.what_changes,
            "tasks": [t.to_json() for t in self.tasks],
            "deltas": [d.to_json() for d in self.deltas],
        }


@dataclass(frozen=True, slots=True)
class Spec:
    """A capability's current spec, ``openspec/specs/<capability>/spec.md``."""

    project: str
    id: str
    path: Path
    title: str
    overview: str
    requirements: tuple[Requirement, ...]
    problems: tuple[str, ...] = ()

    def summary_json(self) -> dict[str, Any]:
        return {
            "project": self.project,
            "id": self.id,
            "title": self.title,
            "requirement_count": len(self.requirements),
            "problems": list(self.problems),
        }

    def to_json(self) -> dict[str, Any]:
        return {
            **self.summary_json(),
            "path": str(self.path),
            "overview": self.overview,
            "requirements": [r.to_json() for r in self.requirements],
        }


@dataclass(frozen=True, slots=True)
class ValidationIssue:
    level: str  # ERROR, WARNING or INFO, as the OpenSpec CLI says
    path: str
    message: str
    line: int | None = None

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"level": self.level, "path": self.path, "message": self.message}
        if self.line is not None:
            data["line"] = self.line
        return data


@dataclass(frozen=True, slots=True)
class ValidationReport:
    """``valid``: no ERROR (and, when ``strict``, no WARNING either) - ``openspec validate``'s
    verdict."""

    id: str
    type: str  # change or spec
    strict: bool
    issues: tuple[ValidationIssue, ...] = field(default_factory=tuple)

    @property
    def errors(self) -> int:
        return sum(1 for i in self.issues if i.level == "ERROR")

    @property
    def warnings(self) -> int:
        return sum(1 for i in self.issues if i.level == "WARNING")

    @property
    def valid(self) -> bool:
        return self.errors == 0 and (not self.strict or self.warnings == 0)

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "type": self.type,
            "valid": self.valid,
            "strict": self.strict,
            "errors": self.errors,
            "warnings": self.warnings,
            "issues": [i.to_json() for i in self.issues],
        }
