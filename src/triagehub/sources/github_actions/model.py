"""The values GitHub Actions reports are made of: annotations, steps and a parsed job log."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

SOURCE = "github-actions"
"""The ``RunReport.source`` of every report this package makes (and its registry name)."""

WEBHOOK = "github webhook"  # the default ``InputError.source`` of payload errors
ARCHIVE = "log archive"  # the default ``InputError.source`` of archive errors

JOB_LOG = "/job"
"""The key, in a job's entry of :func:`parse_log_archive`, of the job's whole log (the archive's
top-level ``<n>_<job name>.txt``); the other keys are step names (which never hold a ``/``)."""
PREPARE_LOG = "/prepare"
"""The key of a job's "Prepare job" log: the orchestration log (strategy and matrix evaluation,
``##[section]Starting: Prepare job <id>``) that the archive also stores as a top-level file."""

SETUP_STEP = "Set up job"
COMPLETE_STEP = "Complete job"
POST_STEP = "Post job cleanup"

Level = Literal["error", "warning", "notice"]


@dataclass(frozen=True, slots=True)
class Annotation:
    """An ``##[error]`` / ``##[warning]`` / ``##[notice]`` line or ``::error ...::`` command."""

    level: Level
    message: str
    file: str | None = None
    line: int | None = None
    title: str | None = None
    step: str | None = None  # the step it appeared in


@dataclass(frozen=True, slots=True)
class Step:
    """One step as the log shows it; line numbers are 1-based and inclusive."""

    name: str
    first_line: int
    last_line: int
    had_error: bool = False  # an ``##[error]`` line or ``::error`` command
    exit_code: int | None = None  # non-zero ``Process completed with exit code N``

    @property
    def is_post(self) -> bool:
        """A post step or ``Complete job``: clean-up after the job's main steps."""
        return self.name.startswith("Post ") or self.name == COMPLETE_STEP


@dataclass(frozen=True, slots=True)
class JobLog:
    """What one pass over a job's log found. ``excerpt`` is the failing step's error lines
    (cleaned, at most ~20); when no step carries a failure marker (a log cut short, a container
    action that died without the runner's marker) it is the error lines of the last main step
    that shows any, else empty."""

    steps: tuple[Step, ...] = ()
    failed_step: str | None = None
    exit_code: int | None = None
    annotations: tuple[Annotation, ...] = ()
    excerpt: str = ""
    lines: int = 0

    @property
    def errors(self) -> tuple[Annotation, ...]:
        return tuple(a for a in self.annotations if a.level == "error")
