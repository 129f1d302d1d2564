"""The handler registry: what a handler gets (job, context, recording) and gives back."""

from __future__ import annotations

import contextlib
import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Final

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from triagehub.clock import Clock
from triagehub.config import Settings
from triagehub.engine.jobs.queue import Job

if TYPE_CHECKING:
    from triagehub.actions.github import GitHubClient


@dataclass
class JobContext:
    """What handlers may use while working (outside any transaction). ``resources`` is closed at
    the end of the batch (an HTTP client a handler opened); ``cache`` lives as long."""

    engine: Engine
    settings: Settings
    clock: Clock
    github: GitHubClient | None = None
    resources: contextlib.ExitStack = field(default_factory=contextlib.ExitStack)
    cache: dict[str, Any] = field(default_factory=dict)
    paused: dict[str, datetime] = field(default_factory=dict)  # kind -> rate limited until


@dataclass
class Recording:
    """What a handler's ``record`` step may use: the transaction that records the outcomes.
    ``shared`` holds what the handlers of one recording share (the ingest kinds' ``Ingestor``,
    :mod:`triagehub.engine.ingest_jobs`); ``at_finish`` steps run once, at its end, in order."""

    session: Session
    settings: Settings
    now: datetime
    clock: Clock | None = None
    shared: dict[str, Any] = field(default_factory=dict)
    _finish: list[Callable[[], None]] = field(default_factory=list)

    def at_finish(self, step: Callable[[], None]) -> None:
        self._finish.append(step)

    def finish(self) -> None:
        for step in self._finish:
            step()


@dataclass(frozen=True)
class Outcome:
    """A job done. ``result`` (small, no secrets) is kept in the row's data and shown by
    ``triagehub outbox list``; ``record`` runs in the transaction that marks the job done."""

    result: Mapping[str, Any] | None = None
    record: Callable[[Recording], None] | None = None


class Deferred(Exception):
    """Raised by a handler: not now, try again in ``seconds`` (the attempt is not counted)."""

    def __init__(self, seconds: float, reason: str) -> None:
        self.seconds = seconds
        self.reason = reason
        super().__init__(reason)


JobHandler = Callable[[Job, JobContext], Outcome | None]
"""Does one job (network allowed, no transaction open); raises to fail it (see the module
docstring for which errors are retried)."""


HANDLERS: dict[str, JobHandler] = {}


# Modules that register more kinds with @job_handler (imported on first use: no import cycle).
HANDLER_MODULES: Final = (
    "triagehub.engine.notify",
    "triagehub.engine.sync.github_issues",
    "triagehub.engine.investigate",
    "triagehub.engine.sync.brief_comment",
    "triagehub.engine.brief_slack",
    "triagehub.engine.ingest_jobs",
    "triagehub.engine.refine",
)


def job_handler(kind: str) -> Callable[[JobHandler], JobHandler]:
    """Register ``fn`` as the handler of ``kind``: adding a kind is one decorated function."""

    def register(fn: JobHandler) -> JobHandler:
        HANDLERS[kind] = fn
        return fn

    return register


def handlers() -> Mapping[str, JobHandler]:
    """Every registered kind and its handler."""
    for name in HANDLER_MODULES:
        importlib.import_module(name)
    return HANDLERS
