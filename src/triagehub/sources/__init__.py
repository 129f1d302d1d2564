"""Sources: translators from what arrives (files, payloads) to ``RunReport``s.

The registry maps a format name to a parser and a content sniffer; adding a source is adding a
module and one line in ``FORMATS``. The registry imports a source's module when its sniffer or
parser is first called, not before: ``triagehub --help`` names the formats without loading the
XML, dbt and JSON readers (nor the models), and an ingest loads only the source it reads, the
format being told by ``sniff`` (the sniffers of every format, in one light module).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, TypeAlias

from triagehub.errors import InputError
from triagehub.sources import sniff

if TYPE_CHECKING:
    from triagehub.core.models import RunReport

Parser: TypeAlias = "Callable[[Path, ParseOptions], Iterator[RunReport]]"


@dataclass(frozen=True, slots=True)
class ParseOptions:
    repository: str | None = None
    # dbt project name -> repository (``Settings.dbt_project_repositories``), used when no
    # repository is given.
    project_repositories: Mapping[str, str] = field(default_factory=dict)
    # Where a parser reports what it tolerated (a manifest that does not match, ...).
    warn: Callable[[str], None] | None = None

    def warning(self, text: str) -> None:
        if self.warn is not None:
            self.warn(text)


@dataclass(frozen=True, slots=True)
class SourceFormat:
    name: str
    description: str
    sniff: Callable[[bytes], bool]
    parse: Parser
    # Formats whose run can span several files (JUnit's TEST-*.xml) read them as one run.
    parse_set: Callable[[Sequence[Path], ParseOptions], Iterator[RunReport]] | None = None


def _parse_events(path: Path, options: ParseOptions) -> Iterator[RunReport]:
    from triagehub.sources import events

    return events.parse_file(path, default_repository=options.repository)


def _parse_dbt(path: Path, options: ParseOptions) -> Iterator[RunReport]:
    from triagehub.sources import dbt

    parsed = dbt.parse_artifacts_full(
        path, repository=options.repository, project_repositories=options.project_repositories
    )
    for warning in parsed.warnings:
        options.warning(warning)
    yield dbt.with_lineage(parsed)


def _parse_dbt_log(path: Path, options: ParseOptions) -> Iterator[RunReport]:
    from triagehub.sources import dbt

    yield dbt.parse_console_log(
        path, repository=options.repository, project_repositories=options.project_repositories
    )


def _repository(options: ParseOptions, fmt: str, path: Path) -> str:
    if options.repository is None:
        raise InputError(
            str(path), "", f"a {fmt} report does not name its repository; pass --repo OWNER/NAME"
        )
    return options.repository


def _parse_junit(path: Path, options: ParseOptions) -> Iterator[RunReport]:
    return _parse_junit_set([path], options)


def _parse_junit_set(paths: Sequence[Path], options: ParseOptions) -> Iterator[RunReport]:
    from triagehub.sources import junit

    yield junit.parse_files(paths, repository=_repository(options, "JUnit", paths[0]))


def _parse_playwright(path: Path, options: ParseOptions) -> Iterator[RunReport]:
    from triagehub.sources import playwright

    yield playwright.parse_report(path, repository=_repository(options, "Playwright", path))


# Sniffed in this order: Playwright before generic events (a report's metadata may name a
# "repository").
FORMATS: dict[str, SourceFormat] = {
    "playwright": SourceFormat(
        "playwright",
        "a Playwright JSON report (--reporter=json)",
        sniff.playwright,
        _parse_playwright,
    ),
    "junit": SourceFormat(
        "junit",
        "JUnit/xUnit XML (pytest, Surefire, Gradle, jest-junit, go-junit-report, ...); several "
        "files are one run",
        sniff.junit,
        _parse_junit,
        _parse_junit_set,
    ),
    "event": SourceFormat(
        "event",
        "generic failure events (JSON object, JSON array or JSON Lines)",
        sniff.events,
        _parse_events,
    ),
    "dbt": SourceFormat(
        "dbt",
        "dbt Core artifacts: a target/ folder or run_results.json (manifest.json beside it)",
        sniff.dbt_artifacts,
        _parse_dbt,
    ),
    "dbt-log": SourceFormat(
        "dbt-log",
        "dbt console output or --log-format json lines",
        sniff.dbt_console,
        _parse_dbt_log,
    ),
}

SNIFF_BYTES = 64 * 1024


def detect_format(path: Path) -> SourceFormat:
    """Pick the format whose sniffer recognises the file's first bytes (a dbt ``target/``
    folder is recognised by its run_results.json)."""
    if path.is_dir():
        if (path / "run_results.json").is_file():
            return FORMATS["dbt"]
        raise InputError(
            str(path), "", "a folder, but not a dbt target/ folder (no run_results.json)"
        )
    try:
        with path.open("rb") as fh:
            head = fh.read(SNIFF_BYTES)
    except OSError as exc:
        raise InputError(str(path), "", f"cannot read: {exc.strerror or exc}") from None
    for fmt in FORMATS.values():
        if fmt.sniff(head):
            return fmt
    names = ", ".join(FORMATS)
    raise InputError(
        str(path), "", f"cannot tell the format from the content; pass --format ({names})"
    )


def get_format(name: str) -> SourceFormat:
    try:
        return FORMATS[name]
    except KeyError:
        names = ", ".join(["auto", *FORMATS])
        raise InputError(
            "--format", "", f"unknown format {name!r}; expected one of {names}"
        ) from None
