"""Text from outside made safe for GitHub markdown (see :mod:`render` for the rules), and the
markers that let the hub recognise its own writes."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Final

BODY_MARKER: Final = "<!-- triagehub:issue -->"
COMMENT_MARKER_PREFIX: Final = "<!-- triagehub:comment"
MAX_EXCERPT: Final = 4_000
_ZWSP: Final = "\u200b"

CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_MD_PUNCT = re.compile(r"([\\`*_\[\]{}()!|~+])")
_ISSUE_REF = re.compile(r"#(?=\d)")
_URL = re.compile(r"https?://[A-Za-z0-9.\-:]+(?:/[A-Za-z0-9._~!$'*+,;=:@%/\-?&#]*)?")


def inline(text: object, limit: int = 300) -> str:
    """Text from outside, safe on one line of markdown (see the module docstring)."""
    value = CONTROL.sub("", " ".join(str(text).split()))
    if len(value) > limit:
        value = value[: limit - 1] + "…"
    value = value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    value = _MD_PUNCT.sub(r"\\\1", value)
    value = value.replace("@", "@" + _ZWSP)
    return _ISSUE_REF.sub("#" + _ZWSP, value)


def code_block(text: str, limit: int = MAX_EXCERPT, info: str = "text") -> str:
    """A fenced code block no content can close (see the module docstring)."""
    value = CONTROL.sub("", text.replace("\r\n", "\n").replace("\r", "\n")).strip("\n")
    if len(value) > limit:
        value = value[: limit - 1] + "…"
    value = value.replace("<!--", f"<!{_ZWSP}--").replace("-->", f"--{_ZWSP}>")
    longest = max((len(m) for m in re.findall(r"`+", value)), default=0)
    fence = "`" * max(3, longest + 1)
    return f"{fence}{info}\n{value}\n{fence}"


def safe_url(url: object) -> str | None:
    """``url`` when it is a plain http(s) URL that cannot break a markdown link, else None."""
    if isinstance(url, str) and len(url) <= 2000 and _URL.fullmatch(url):
        return url
    return None


def link(text: str, url: object) -> str:
    """``[text](url)`` for a safe URL, else the escaped text alone."""
    target = safe_url(url)
    shown = inline(text, 120)
    return f"[{shown}]({target})" if target else shown


def iso_z(value: datetime | None) -> str | None:
    """``2024-05-01T12:00:00Z`` (UTC), or None."""
    if value is None:
        return None
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def when(value: datetime | None) -> str:
    """``2024-05-01 12:00 UTC``, or ``-``."""
    return "-" if value is None else f"{value.astimezone(UTC):%Y-%m-%d %H:%M} UTC"
