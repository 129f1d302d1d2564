"""The texts of a JUnit report, cleaned and bounded: messages, outputs, names, times and the
check id of a test case."""

from __future__ import annotations

import re
from datetime import datetime

from triagehub.core.fingerprint import content_id, strip_ansi
from triagehub.core.timeparse import parse_time

MAX_MESSAGE_CHARS = 64 * 1024
MAX_CHECK_CHARS = 1000

_PLACEHOLDER_MESSAGES = frozenset({"", "failed", "failure", "fail", "error", "skipped", "skip"})
_PYTEST_CAPTURE_HEADER = re.compile(r"^(-+ Captured (?:Log|Out|Err) -+)$", re.M)


def cut_text(text: str, limit: int, head_share: float = 0.25) -> str:
    """``text`` within ``limit`` characters: its head and its tail around a marker."""
    if len(text) <= limit:
        return text
    head = int(limit * head_share)
    tail = max(0, limit - head)
    cut = len(text) - head - tail
    return f"{text[:head]}\n[... {cut} characters cut ...]\n{text[len(text) - tail :]}"


def clean_text(text: str | None) -> str:
    """Element text without ANSI codes, leading blank lines and trailing whitespace (the
    indentation of pretty-printed XML)."""
    if not text:
        return ""
    lines = strip_ansi(text).rstrip().splitlines()
    start = 0
    while start < len(lines) and not lines[start].strip():
        start += 1
    return "\n".join(lines[start:])


def first_line(text: str) -> str:
    """The first meaningful line of a failure's text (jest's ``● suite`` header skipped)."""
    for line in text.splitlines():
        stripped = line.strip()
        if stripped and not stripped.startswith("●"):
            return stripped[:2000]
    return ""


def result_message(message: str | None, type_: str | None, text: str) -> str:
    """A result element's message: its attribute (else its text's first line), with its type
    in front."""
    msg = strip_ansi(message or "").strip()
    if msg.lower() in _PLACEHOLDER_MESSAGES:
        msg = first_line(text) or msg
    typ = strip_ansi(type_ or "").strip()
    if typ and typ not in msg:
        msg = f"{typ}: {msg}" if msg else typ
    return cut_text(msg, MAX_MESSAGE_CHARS, 0.75)


def output_text(text: str | None) -> str:
    """A system-out/system-err text; pytest's "Captured ..." headers of empty captures are
    dropped (so output that holds only those is "")."""
    cleaned = clean_text(text)
    if "Captured" not in cleaned:
        return cleaned
    parts = _PYTEST_CAPTURE_HEADER.split(cleaned)  # [before, header, body, header, body, ...]
    kept = [parts[0].strip("\n")] if parts[0].strip() else []
    for header, body in zip(parts[1::2], parts[2::2], strict=True):
        if body.strip():
            kept.append(f"{header}\n{body.strip(chr(10))}")
    return "\n".join(kept)


def parse_seconds(value: str | None) -> float | None:
    """A ``time`` attribute (``1,234.5`` accepted); None when missing or invalid."""
    if value is None:
        return None
    try:
        seconds = float(value.strip().replace(",", ""))
    except ValueError:
        return None
    if seconds != seconds or seconds < 0 or seconds == float("inf"):
        return None
    return seconds


def parse_timestamp(value: str | None) -> datetime | None:
    """A ``timestamp`` attribute (naive ones are UTC); None when missing or invalid."""
    if not value or not value.strip():
        return None
    try:
        return parse_time(value)
    except ValueError:
        return None


def collapse(value: str | None) -> str:
    """A name with its whitespace runs collapsed to one space."""
    return " ".join((value or "").split())


def check_id(classname: str | None, name: str) -> str:
    """The stable check key of a test case (see :mod:`triagehub.sources.junit`)."""
    cls = collapse(classname)
    title = collapse(name)
    key = f"{cls}::{title}" if cls and cls != title else title
    if len(key) > MAX_CHECK_CHARS:
        key = f"{key[: MAX_CHECK_CHARS - 21]}…{content_id(key)}"
    return key
