"""A no-op ingest told quickly: when every run of the files is stored already, with the same
results, ingesting them again changes nothing, and ``already_ingested`` gives the summary the
ordinary path would give without loading SQLAlchemy or any stage (``store.stored_runs`` asks the
SQLite file). It reads the files as the ordinary path does (the same format, parse options and
sanitiser) and stops at the first run that is not stored, or stored with other results (the
ordinary path warns about those), at a bad file or at any other backend: ``None``, and the caller
ingests as usual. So a file with new runs is read twice only up to its first new run."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

from triagehub.core.sanitize import sanitize_report
from triagehub.engine.ingest.state import IngestSummary, digest
from triagehub.errors import InputError
from triagehub.sources import ParseOptions, SourceFormat, detect_format
from triagehub.store.stored_runs import StoredRuns


def already_ingested(
    url: str,
    paths: Sequence[Path],
    *,
    fmt: SourceFormat | None = None,
    options: ParseOptions | None = None,
) -> IngestSummary | None:
    """The summary of ingesting ``paths`` (one transaction each, as ``ingest_files``) when all
    their runs are stored with the same results; None when anything is to be done or told."""
    if not paths or (fmt is not None and fmt.parse_set is not None and len(paths) > 1):
        return None  # (several files read as one run: the ordinary path)
    stored = StoredRuns.open(url)
    if stored is None:
        return None
    with stored:
        total = IngestSummary()
        for path in paths:
            summary = _file(stored, path, fmt, options or ParseOptions())
            if summary is None:
                return None
            total.add(summary)
    return total


def _file(
    stored: StoredRuns, path: Path, fmt: SourceFormat | None, options: ParseOptions
) -> IngestSummary | None:
    summary = IngestSummary(files=1)
    try:
        chosen = fmt or detect_format(path)
        summary.formats[str(path)] = chosen.name
        for raw in chosen.parse(path, replace(options, warn=summary.warnings.append)):
            report = sanitize_report(raw)  # (as ``Ingestor.add``: runs are keyed once cleaned)
            key = (report.repository, report.source, report.run_id, report.attempt)
            if stored.digest(*key) != digest(report):
                return None
            summary.duplicate_runs += 1
    except InputError:
        return None  # (the ordinary path reports it)
    return summary
