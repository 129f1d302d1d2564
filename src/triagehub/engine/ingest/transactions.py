"""The entry points: ingest parsed reports, or files, one transaction each (retried when the
database gave up on it for a transient reason), then the optional LLM step: at once with ``llm``
(the CLI), or queued in the transaction by a ``then`` hook (``engine.refine.refine_later``)."""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from sqlalchemy import Engine
from sqlalchemy.exc import DataError, DBAPIError
from sqlalchemy.orm import Session

from triagehub.engine.ingest.ingestor import Ingestor
from triagehub.engine.ingest.state import IngestSummary
from triagehub.errors import InputError
from triagehub.sources import ParseOptions, SourceFormat, detect_format
from triagehub.store.dialect import is_transient

if TYPE_CHECKING:
    from triagehub.actions.llm import LLMClassifier
    from triagehub.clock import Clock
    from triagehub.config import Settings
    from triagehub.core.models import RunReport

log = logging.getLogger("triagehub.engine.ingest")
_T = TypeVar("_T")
TRANSACTION_ATTEMPTS = 5  # tries of one ingest transaction that hit a deadlock or a lock wait

ProgressCallback = Callable[[int], None]
IngestHook = Callable[[Session, Ingestor], None]
"""Runs in an ingest's transaction once all is flushed (e.g. to queue follow-up jobs)."""


def ingest_reports(
    engine: Engine,
    reports: Iterable[RunReport],
    settings: Settings,
    *,
    clock: Clock | None = None,
    llm: LLMClassifier | None = None,
    then: IngestHook | None = None,
) -> IngestSummary:
    """Ingest already-parsed reports in one transaction (then the optional LLM step)."""
    batch = list(reports)

    def attempt() -> Ingestor:
        with Session(engine) as session, session.begin():
            ingestor = Ingestor(session, settings, clock=clock)
            ingestor.add_all(batch)
            ingestor.flush()
            if then is not None:
                then(session, ingestor)
        return ingestor

    ingestor = run_transaction(attempt)
    refine(engine, settings, llm, ingestor.touched_ids, ingestor.summary, clock)
    return ingestor.summary


def refine(
    engine: Engine,
    settings: Settings,
    llm: LLMClassifier | None,
    touched_ids: set[int],
    summary: IngestSummary,
    clock: Clock | None,
) -> None:
    """The LLM step (``classify.refine``), loaded only when there is something to refine."""
    if llm is None or not touched_ids:
        return
    from triagehub.engine.ingest.classify import refine as refine_touched

    refine_touched(engine, settings, llm, touched_ids, summary, clock)


def run_transaction(work: Callable[[], _T], *, attempts: int = TRANSACTION_ATTEMPTS) -> _T:
    """Run ``work`` (one whole transaction) again when the database gave up on it for a reason
    that another try may not meet: a deadlock between concurrent ingests, a serialization
    failure, a SQLite lock wait that ran out. Anything else is raised at once."""
    for n in range(1, attempts + 1):
        try:
            return work()
        except DBAPIError as exc:
            if n == attempts or not is_transient(exc):
                raise
            wait = min(0.05 * 2**n, 2.0) * random.uniform(0.5, 1.0)
            log.warning(
                "transaction failed (%s); trying again in %.2f s (attempt %d of %d)",
                type(exc.orig).__name__,
                wait,
                n + 1,
                attempts,
            )
            time.sleep(wait)
    raise AssertionError("unreachable")


@dataclass(frozen=True)
class _FileJob:
    """How the files of one call are read and ingested."""

    engine: Engine
    settings: Settings
    fmt: SourceFormat | None
    options: ParseOptions | None
    clock: Clock | None
    progress: ProgressCallback | None
    llm: LLMClassifier | None
    then: IngestHook | None = None


def ingest_file(
    engine: Engine,
    path: Path,
    settings: Settings,
    *,
    fmt: SourceFormat | None = None,
    options: ParseOptions | None = None,
    clock: Clock | None = None,
    progress: ProgressCallback | None = None,
    llm: LLMClassifier | None = None,
    then: IngestHook | None = None,
) -> IngestSummary:
    """Ingest one file in one transaction: all of it, or (on an ``InputError``) none of it."""
    job = _FileJob(engine, settings, fmt, options, clock, progress, llm, then)
    return _ingest_set(job, [path])


def ingest_files(
    engine: Engine,
    paths: Sequence[Path],
    settings: Settings,
    *,
    fmt: SourceFormat | None = None,
    options: ParseOptions | None = None,
    clock: Clock | None = None,
    progress: ProgressCallback | None = None,
    llm: LLMClassifier | None = None,
    then: IngestHook | None = None,
) -> IngestSummary:
    """Ingest several files, one transaction each; a bad file does not stop the others. With a
    format that reads a run from several files (JUnit), the files are one run, one
    transaction."""
    job = _FileJob(engine, settings, fmt, options, clock, progress, llm, then)
    if fmt is not None and fmt.parse_set is not None and len(paths) > 1:
        return _ingest_set(job, paths)
    total = IngestSummary()
    for path in paths:
        total.add(_ingest_set(job, [path]))
    return total


def _ingest_set(job: _FileJob, paths: Sequence[Path]) -> IngestSummary:
    """One file, or the files of one run (a format's ``parse_set``), in one transaction."""
    summary = IngestSummary(files=len(paths))
    try:
        chosen = job.fmt or detect_format(paths[0])
        for path in paths:
            summary.formats[str(path)] = chosen.name
        if len(paths) > 1 and chosen.parse_set is None:
            raise InputError(str(paths[0]), "", f"{chosen.name} reads one file per run")
        ingestor = run_transaction(lambda: _ingest_parsed(job, chosen, paths, summary))
        refine(job.engine, job.settings, job.llm, ingestor.touched_ids, ingestor.summary, job.clock)
        summary.add(ingestor.summary)
    except InputError as exc:
        summary.errors.append(exc)
    except DataError as exc:
        # A value the database refuses (past the sanitiser): this file's input, not a crash;
        # nothing of it was stored and the other files of the call go on.
        reason = (str(exc.orig).strip().splitlines() or ["invalid value"])[0]
        log.warning("the database refused a value of %s: %s", paths[0], reason)
        summary.errors.append(
            InputError(str(paths[0]), "", f"the database refused a value: {reason}")
        )
    return summary


def _ingest_parsed(
    job: _FileJob, chosen: SourceFormat, paths: Sequence[Path], summary: IngestSummary
) -> Ingestor:
    """One try: parse the files and ingest their reports in one transaction."""
    summary.warnings.clear()  # the parse warnings of this attempt only
    parse_options = replace(job.options or ParseOptions(), warn=summary.warnings.append)
    if len(paths) == 1:
        reports = chosen.parse(paths[0], parse_options)
    else:
        assert chosen.parse_set is not None
        reports = chosen.parse_set(paths, parse_options)
    with Session(job.engine) as session, session.begin():
        ingestor = Ingestor(session, job.settings, clock=job.clock)
        for report in reports:
            ingestor.add(report)
            if job.progress is not None:
                job.progress(len(report.results))
        ingestor.flush()
        if job.then is not None:
            job.then(session, ingestor)
    return ingestor
