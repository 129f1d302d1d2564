"""The run: the test cases of every file put together (retries merged) into one
``RunReport``."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from pathlib import Path

from triagehub.core.fingerprint import content_id
from triagehub.core.models import CheckResult, RunReport, Status
from triagehub.errors import InputError
from triagehub.sources.events import REPOSITORY
from triagehub.sources.junit.cases import MAX_LINKS, Record
from triagehub.sources.junit.reader import Span, read_file
from triagehub.sources.junit.text import cut_text

SOURCE = "junit"
"""The default ``RunReport.source`` of the reports this package makes (and its registry name)."""

MAX_LOG_CHARS = 256 * 1024  # the whole log of one result


def _merge(records: list[Record]) -> Record:
    """One record for a test case seen several times in a run (retries, shards)."""
    if len(records) == 1:
        return records[0]
    ran = [r for r in records if r.status is not Status.SKIP]
    if not ran:
        return records[0]
    failed = [r for r in ran if r.failed]
    passed = any(r.passed for r in ran)
    durations = [r.duration_s for r in ran if r.duration_s is not None]
    base = failed[0] if failed else ran[0]
    if failed and passed:
        status = Status.FLAKY
    elif failed:
        status = base.status
    else:
        status = Status.PASS
    return Record(
        check=base.check,
        status=status,
        message=base.message,
        sections=base.sections,
        duration_s=sum(durations) if durations else None,
        attempts=sum(r.attempts for r in ran) if failed else 1,
        links=tuple(dict.fromkeys(link for r in ran for link in r.links))[:MAX_LINKS],
        owner=next((r.owner for r in ran if r.owner), None),
    )


def _log(sections: Iterable[tuple[str, str]]) -> str:
    parts: list[str] = []
    for label, text in sections:
        if not text:
            continue
        parts.append(f"--- {label} ---\n{text}" if label else text)
    return cut_text("\n\n".join(parts), MAX_LOG_CHARS, 0.5)


def _result(record: Record) -> CheckResult:
    failing = record.status in (Status.FAIL, Status.ERROR, Status.FLAKY)
    return CheckResult(
        check=record.check,
        status=record.status,
        message=record.message if record.status is not Status.PASS else "",
        log=_log(record.sections) if failing else "",
        duration_s=record.duration_s,
        links=record.links if failing else (),
        owner=record.owner,
        attempts=record.attempts,
    )


def _times(spans: Sequence[Span]) -> tuple[datetime | None, datetime | None]:
    starts = [s.started for s in spans if s.started is not None]
    ends = [
        s.started + timedelta(seconds=s.seconds)
        for s in spans
        if s.started is not None and s.seconds is not None
    ]
    return (min(starts) if starts else None, max(ends) if ends else None)


def parse_files(
    paths: Sequence[Path],
    *,
    repository: str,
    run_id: str | None = None,
    commit: str | None = None,
    branch: str | None = None,
    url: str | None = None,
    source: str = SOURCE,
) -> RunReport:
    """Read the JUnit/xUnit XML files of one run into one ``RunReport`` (see the package
    docstring for the mapping). Raises :class:`~triagehub.errors.InputError` naming the file
    (and the line and column) for unsafe, malformed or unexpected input."""
    if not paths:
        raise InputError("junit", "", "no report files given; expected one or more XML files")
    if not REPOSITORY.match(repository):
        raise InputError(
            str(paths[0]), "repository", f"expected OWNER/NAME, got {repository[:200]!r}"
        )
    digests: list[str] = []
    records: dict[str, list[Record]] = {}
    spans: list[Span] = []
    cases = 0
    for path in paths:
        digest, reader = read_file(Path(path), cases)
        if digest in digests:
            continue  # the same file twice: one run holds it once
        digests.append(digest)
        cases = reader.cases
        spans.extend(reader.spans)
        for record in reader.records:
            records.setdefault(record.check, []).append(record)
    results = tuple(_result(_merge(group)) for group in records.values())
    started, finished = _times(spans)
    return RunReport(
        source=source,
        repository=repository,
        run_id=run_id if run_id is not None else f"junit-{content_id(*sorted(digests))}",
        commit=commit,
        branch=branch,
        url=url,
        started_at=started,
        finished_at=finished,
        status="failure" if any(r.status.is_failure for r in results) else "success",
        results=results,
    )
