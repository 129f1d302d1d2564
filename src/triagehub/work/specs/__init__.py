"""OpenSpec integration: read projects, changes and specs from the filesystem (the source of
truth), validate them as ``openspec validate`` does, create and archive changes.

Public surface: :class:`OpenSpecReader` (``reader``), :func:`create_change`,
:func:`archive_change` and :func:`find_openspec_cli` (``actions``),
:func:`create_change_from_issue` (``link``), and the value objects of ``model``.
"""

from __future__ import annotations

from triagehub.work.specs.actions import (
    ArchiveResult,
    ChangeDraft,
    archive_change,
    create_change,
    find_openspec_cli,
)
from triagehub.work.specs.errors import ConflictError, NotFoundError
from triagehub.work.specs.link import LinkedChange, SpecChoice, create_change_from_issue
from triagehub.work.specs.model import (
    Change,
    Delta,
    Project,
    Requirement,
    Scenario,
    Spec,
    Task,
    ValidationIssue,
    ValidationReport,
)
from triagehub.work.specs.reader import OpenSpecReader

__all__ = [
    "ArchiveResult",
    "Change",
    "ChangeDraft",
    "ConflictError",
    "Delta",
    "LinkedChange",
    "NotFoundError",
    "OpenSpecReader",
    "Project",
    "Requirement",
    "Scenario",
    "Spec",
    "SpecChoice",
    "Task",
    "ValidationIssue",
    "ValidationReport",
    "archive_change",
    "create_change",
    "create_change_from_issue",
    "find_openspec_cli",
]
