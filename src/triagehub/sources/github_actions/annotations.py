"""Annotations in a job log: ``##[error]`` lines and ``::error ...::`` workflow commands, kept
bounded."""

from __future__ import annotations

import re
from collections import deque
from collections.abc import Mapping

from triagehub.core.fingerprint import strip_ansi
from triagehub.sources.github_actions.model import Annotation, Level

MAX_ANNOTATIONS = 50  # per kind (errors; warnings and notices): the first 40 and the last 10
MAX_ANNOTATION_CHARS = 2_000
_MARKER_CHARS = 4 * MAX_ANNOTATION_CHARS  # characters of an annotation line looked at

_COMMAND = re.compile(r"::(error|warning|notice)(?: ([^\n]*?))?::(.*)", re.S)
_EXIT = re.compile(r"(?:Process completed|failed) with exit code (-?\d{1,9})\b")
_LEVELS: dict[str, Level] = {"error": "error", "warning": "warning", "notice": "notice"}
_MESSAGE_ESCAPES = (("%0D", "\r"), ("%0A", "\n"), ("%25", "%"))
_PROPERTY_ESCAPES = (("%0D", "\r"), ("%0A", "\n"), ("%3A", ":"), ("%2C", ","), ("%25", "%"))


def _unescape(text: str, escapes: tuple[tuple[str, str], ...]) -> str:
    if "%" not in text:
        return text
    for code, char in escapes:
        text = text.replace(code, char)
    return text


def _clip(text: str, limit: int = MAX_ANNOTATION_CHARS) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _command(text: str) -> tuple[Level, dict[str, str], str] | None:
    """A raw ``::error file=a.py,line=3::message`` workflow command."""
    match = _COMMAND.match(text)
    if match is None:
        return None
    props: dict[str, str] = {}
    for item in (match.group(2) or "").split(","):
        key, sep, value = item.partition("=")
        if sep and key.strip():
            props[key.strip()] = _unescape(value, _PROPERTY_ESCAPES)
    return _LEVELS[match.group(1)], props, _unescape(match.group(3), _MESSAGE_ESCAPES)


def _int(value: str | None) -> int | None:
    if value is None:
        return None
    value = value.strip()
    if not value.isdigit() or len(value) > 9:
        return None
    return int(value)


def marker(text: str) -> tuple[Level, dict[str, str], str] | None:
    """The annotation a log line (without its timestamp) carries: its level, the command's
    properties and the message; None for a line without one."""
    if text[:1] == "\x1b":  # a marker behind colour codes
        plain = strip_ansi(text)
        if plain[:2] in ("##", "::"):
            text = plain
    head = text[:2]
    if head == "##":
        if text[2:3] == "[":
            close = text.find("]", 3, 16)
            if close > 0:
                level = _LEVELS.get(text[3:close])
                if level is not None:
                    rest = text[close + 1 : close + 1 + _MARKER_CHARS]
                    return level, {}, rest.strip()
    elif head == "::":
        return _command(text[:_MARKER_CHARS])
    return None


def exit_code(message: str) -> int | None:
    """The non-zero exit code an error message reports (``Process completed with exit code
    N``), else None."""
    if "exit code" in message:
        code = _EXIT.search(message)
        if code is not None and int(code.group(1)) != 0:
            return int(code.group(1))
    return None


def annotation(level: Level, message: str, props: Mapping[str, str], step: str) -> Annotation:
    """An annotation of ``step``, its texts bounded."""
    return Annotation(
        level=level,
        message=_clip(message),
        file=_clip(props["file"], 500) if props.get("file") else None,
        line=_int(props.get("line")),
        title=_clip(props["title"], 500) if props.get("title") else None,
        step=step,
    )


class Notes:
    """The annotations kept, bounded: per kind (errors; warnings and notices) the first ones and
    the last ones (a failure's errors come last), in log order."""

    _LAST = 10

    def __init__(self) -> None:
        self._seq = 0
        self._first: dict[bool, list[tuple[int, Annotation]]] = {True: [], False: []}
        self._last: dict[bool, deque[tuple[int, Annotation]]] = {
            True: deque(maxlen=self._LAST),
            False: deque(maxlen=self._LAST),
        }

    def add(self, note: Annotation) -> None:
        self._seq += 1
        kind = note.level == "error"
        first = self._first[kind]
        if len(first) < MAX_ANNOTATIONS - self._LAST:
            first.append((self._seq, note))
        else:
            self._last[kind].append((self._seq, note))

    def result(self) -> tuple[Annotation, ...]:
        kept = [*self._first[True], *self._first[False], *self._last[True], *self._last[False]]
        kept.sort(key=lambda item: item[0])
        return tuple(note for _, note in kept)
