"""Sources: translators from what arrives (files, payloads) to ``RunReport``s.

The registry maps a format name to a parser and a content sniffer; adding a source is adding a
module and one line in ``FORMATS``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from triagehub.core.models import RunReport
from triagehub.errors import InputError
from triagehub.sources import events

Parser = Callable[[Path, "ParseOptions"], Iterator[RunReport]]


@dataclass(frozen=True, slots=True)
class ParseOptions:
    repository: str | None = None


@dataclass(frozen=True, slots=True)
class SourceFormat:
    name: str
    description: str
    sniff: Callable[[bytes], bool]
    parse: Parser


def _parse_events(path: Path, options: ParseOptions) -> Iterator[RunReport]:
    return events.parse_file(path, default_repository=options.repository)


FORMATS: dict[str, SourceFormat] = {
    "event": SourceFormat(
        "event",
        "generic failure events (JSON object, JSON array or JSON Lines)",
        events.sniff,
        _parse_events,
    ),
}

SNIFF_BYTES = 64 * 1024


def detect_format(path: Path) -> SourceFormat:
    """Pick the format whose sniffer recognises the file's first bytes."""
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
