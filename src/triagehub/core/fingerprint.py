"""Message normalisation and the grouping key.

The normaliser is *versioned*: the version is stored with every fingerprint, and a new version is a
new ``Normalizer`` registered beside the old ones, so that improving it never silently re-splits
the issues that history already holds.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from dataclasses import dataclass

from triagehub.core.models import Scope

ANSI = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1b[@-Z\\-_]")


def strip_ansi(text: str) -> str:
    """Remove ANSI colour and cursor escape sequences."""
    if "\x1b" not in text:
        return text
    return ANSI.sub("", text)


_MONTHS = r"(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)"
_Sub = tuple[re.Pattern[str], str | Callable[[re.Match[str]], str]]

# Order matters: the specific shapes first, bare numbers last.
_V1_SUBS: tuple[_Sub, ...] = (
    (
        re.compile(
            r"\b[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\b"
        ),
        "<uuid>",
    ),
    (
        re.compile(
            r"\b\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(?::\d{2})?(?:[.,]\d+)?(?:Z|[+-]\d{2}:?\d{2}|\b)"
        ),
        "<ts>",
    ),
    (re.compile(rf"\b{_MONTHS}\s+\d{{1,2}}\s+\d{{2}}:\d{{2}}:\d{{2}}\b"), "<ts>"),
    (re.compile(r"\b\d{4}[-/]\d{2}[-/]\d{2}\b"), "<date>"),
    (re.compile(r"\b\d{1,2}:\d{2}:\d{2}(?:[.,]\d+)?\b"), "<time>"),
    # Paths' volatile parts: temp dirs, per-user homes, pytest's numbered tmp paths.
    (re.compile(r"(?:/private)?/(?:tmp|var/folders|var/tmp)/[^\s'\"`:,;()\[\]]*"), "<tmp>"),
    (re.compile(r"(?i)[a-z]:\\users\\[^\\\s]+\\appdata\\local\\temp\\[^\s'\"`:,;]*"), "<tmp>"),
    (re.compile(r"/(home|Users)/[^/\s'\"]+/"), r"/\1/<user>/"),
    (re.compile(r"\bpytest-of-[^/\s]+/pytest-\d+"), "<tmp>"),
    (re.compile(r"\btmp[a-z0-9_]{6,}\b"), "<tmp>"),
    # Network: IPv4 (with port), IPv6, host:port, "port N".
    (re.compile(r"\b(?:\d{1,3}\.){3}\d{1,3}(?::\d{1,5})?\b"), "<ip>"),
    (re.compile(r"(?i)(?<![\w:.])(?:[0-9a-f]{0,4}:){2,7}[0-9a-f]{1,4}(?![\w:])"), "<ip>"),
    (re.compile(r"(?i)\b(localhost|\[::1\]|<ip>):\d{1,5}\b"), r"\1:<port>"),
    (re.compile(r"(?i)\b(port)\s+\d{1,5}\b"), r"\1 <port>"),
    # Memory addresses and hex literals, then commit SHAs and other hex ids.
    (re.compile(r"\b0x[0-9a-fA-F]+\b"), "<hex>"),
    (re.compile(r"\b(?=[0-9a-f]*\d)(?=[0-9a-f]*[a-f])[0-9a-f]{7,64}\b"), "<hex>"),
    # Durations: 3.2s, 120 ms, 30000ms, 4 seconds, 1m30s.
    (
        re.compile(
            r"(?i)(?<![\w.])\d+(?:\.\d+)?\s?(?:ms|msec|milliseconds?|s|secs?|seconds?|m|mins?|"
            r"minutes?|h|hrs?|hours?|us|µs|ns)(?:\d+(?:\.\d+)?s)?(?![\w])"
        ),
        "<dur>",
    ),
    # Any other number standing alone (not part of an identifier such as E501 or py311).
    (re.compile(r"(?<![\w.<])[-+]?\d+(?:[.,]\d+)*(?![\w>])"), "<n>"),
    (re.compile(r"[ \t]+"), " "),
)

MAX_TEMPLATE_CHARS = 2000


@dataclass(frozen=True, slots=True)
class Normalizer:
    """Turns a message into a template by masking its volatile parts."""

    version: int
    subs: tuple[_Sub, ...]

    def normalize(self, message: str) -> str:
        text = strip_ansi(message)
        if len(text) > MAX_TEMPLATE_CHARS * 2:
            text = text[: MAX_TEMPLATE_CHARS * 2]
        for pattern, replacement in self.subs:
            text = pattern.sub(replacement, text)
        lines = [line.strip() for line in text.splitlines()]
        text = "\n".join(line for line in lines if line)
        return text[:MAX_TEMPLATE_CHARS]


NORMALIZERS: dict[int, Normalizer] = {1: Normalizer(1, _V1_SUBS)}
CURRENT_VERSION = max(NORMALIZERS)


def normalizer(version: int = CURRENT_VERSION) -> Normalizer:
    try:
        return NORMALIZERS[version]
    except KeyError:
        raise ValueError(f"unknown normalizer version {version}") from None


def normalize(message: str, version: int = CURRENT_VERSION) -> str:
    return normalizer(version).normalize(message)


def error_text(message: str, log: str, max_lines: int = 5) -> str:
    """The text that carries the error: the message, else the last non-empty lines of the log."""
    if message.strip():
        return message
    if not log:
        return ""
    tail = [line for line in log[-8192:].splitlines() if line.strip()]
    return "\n".join(tail[-max_lines:])


def _digest(*parts: str) -> str:
    return hashlib.sha256("\x1f".join(parts).encode("utf-8", "surrogatepass")).hexdigest()


def template_hash(template: str, version: int = CURRENT_VERSION) -> str:
    """A stable id of a template (used for patterns across checks and repositories)."""
    return _digest(f"v{version}", template)[:16]


def grouping_key(
    *, scope: Scope, repository: str, check: str | None, template: str, version: int
) -> str:
    """The fingerprint that decides which issue an occurrence belongs to."""
    return _digest(f"v{version}", scope.value, repository, check or "", template)[:32]


def content_id(*parts: str) -> str:
    """A content-derived id, stable across processes (never Python's ``hash()``)."""
    return _digest(*parts)[:20]
