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
from functools import lru_cache

from triagehub.core.models import Scope

ANSI = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1b[@-Z\\-_]")


def strip_ansi(text: str) -> str:
    """Remove ANSI colour and cursor escape sequences."""
    if "\x1b" not in text:
        return text
    return ANSI.sub("", text)


_MONTHS = r"(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)"
_DIGIT = re.compile(r"\d")


@dataclass(frozen=True, slots=True)
class Mask:
    """One substitution of a normaliser.

    ``guards`` and ``digits`` are necessary conditions for a match (any of the substrings must be
    present; a digit must be present), checked first because they are far cheaper than a regex
    scan. They never change the result, only skip work.
    """

    pattern: re.Pattern[str]
    replacement: str | Callable[[re.Match[str]], str]
    guards: tuple[str, ...] = ()
    digits: bool = False


def _m(pattern: str, replacement: str, *guards: str, digits: bool = False) -> Mask:
    return Mask(re.compile(pattern), replacement, guards, digits)


# Order matters: the specific shapes first, bare numbers last.
_V1_MASKS: tuple[Mask, ...] = (
    _m(
        r"\b[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\b",
        "<uuid>",
        "-",
    ),
    _m(
        r"\b\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(?::\d{2})?(?:[.,]\d+)?(?:Z|[+-]\d{2}:?\d{2}|\b)",
        "<ts>",
        "-",
        digits=True,
    ),
    _m(rf"\b{_MONTHS}\s+\d{{1,2}}\s+\d{{2}}:\d{{2}}:\d{{2}}\b", "<ts>", ":", digits=True),
    _m(r"\b\d{4}[-/]\d{2}[-/]\d{2}\b", "<date>", "-", "/", digits=True),
    _m(r"\b\d{1,2}:\d{2}:\d{2}(?:[.,]\d+)?\b", "<time>", ":", digits=True),
    # Paths' volatile parts: temp dirs, per-user homes, pytest's numbered tmp paths.
    _m(r"(?:/private)?/(?:tmp|var/folders|var/tmp)/[^\s'\"`:,;()\[\]]*", "<tmp>", "/tmp/", "/var/"),
    _m(r"(?i)[a-z]:\\users\\[^\\\s]+\\appdata\\local\\temp\\[^\s'\"`:,;]*", "<tmp>", "\\"),
    _m(r"/(home|Users)/[^/\s'\"]+/", r"/\1/<user>/", "/home/", "/Users/"),
    _m(r"\bpytest-of-[^/\s]+/pytest-\d+", "<tmp>", "pytest-of-"),
    _m(r"\btmp[a-z0-9_]{6,}\b", "<tmp>", "tmp"),
    # Network: IPv4 (with port), IPv6, host:port, "port N".
    _m(r"\b(?:\d{1,3}\.){3}\d{1,3}(?::\d{1,5})?\b", "<ip>", ".", digits=True),
    _m(r"(?i)(?<![\w:.])(?:[0-9a-f]{0,4}:){2,7}[0-9a-f]{1,4}(?![\w:])", "<ip>", ":"),
    _m(r"(?i)\b(localhost|\[::1\]|<ip>):\d{1,5}\b", r"\1:<port>", ":", digits=True),
    _m(r"(?i)\b(port)\s+\d{1,5}\b", r"\1 <port>", digits=True),
    # Memory addresses and hex literals, then commit SHAs and other hex ids.
    _m(r"\b0x[0-9a-fA-F]+\b", "<hex>", "0x"),
    _m(r"\b(?=[0-9a-f]*\d)(?=[0-9a-f]*[a-f])[0-9a-f]{7,64}\b", "<hex>", digits=True),
    # Durations: 3.2s, 120 ms, 30000ms, 4 seconds, 1m30s.
    _m(
        r"(?i)(?<![\w.])\d+(?:\.\d+)?\s?(?:ms|msec|milliseconds?|s|secs?|seconds?|m|mins?|"
        r"minutes?|h|hrs?|hours?|us|µs|ns)(?:\d+(?:\.\d+)?s)?(?![\w])",
        "<dur>",
        digits=True,
    ),
    # Any other number standing alone (not part of an identifier such as E501 or py311).
    _m(r"(?<![\w.<])[-+]?\d+(?:[.,]\d+)*(?![\w>])", "<n>", digits=True),
    # Runs of blanks (a single space needs no work).
    _m(r"[ \t]+", " ", "  ", "\t"),
)

MAX_TEMPLATE_CHARS = 2000


@dataclass(frozen=True, slots=True)
class Normalizer:
    """Turns a message into a template by masking its volatile parts."""

    version: int
    masks: tuple[Mask, ...]

    def normalize(self, message: str) -> str:
        text = strip_ansi(message)
        if len(text) > MAX_TEMPLATE_CHARS * 2:
            text = text[: MAX_TEMPLATE_CHARS * 2]
        has_digit = _DIGIT.search(text) is not None
        for mask in self.masks:
            if mask.digits and not has_digit:
                continue
            if mask.guards:
                for guard in mask.guards:
                    if guard in text:
                        break
                else:
                    continue
            text = mask.pattern.sub(mask.replacement, text)
        lines = [line.strip() for line in text.splitlines()]
        text = "\n".join(line for line in lines if line)
        return text[:MAX_TEMPLATE_CHARS]


_LOWER_RUN = re.compile(r"[a-z]{4}")


def _random_token(text: str) -> bool:
    """A part of 12+ characters mixing cases and digits with no word in it
    (``sess_aB3xY9kLmN2pQr7T``), unlike a name of code (``AbstractFutureTest2Helper``)."""
    for part in re.split(r"[_-]", text):
        if (
            len(part) >= 12
            and sum(c.isdigit() for c in part) >= 2
            and any(c.islower() for c in part)
            and any(c.isupper() for c in part)
            and _LOWER_RUN.search(part) is None
        ):
            return True
    return False


# Version 2 (issue #18): the URLs of a link checker's dead-link list vary between runs of one
# failure (external sites come and go); they are masked, the checker's status is kept. Version 2
# also goes with the informative-message rule (footers are not fingerprinted) and scope-aware
# masking (:func:`mask_check`), both applied by the pipeline to version 2 and later only.
_V2_MASKS: tuple[Mask, ...] = (
    _m(
        r"((?:\[[✖✗x]\]|[✗✖] \[(?:\d{3}|ERR|ERROR|TIMEOUT)\])\s+)(?:https?|ftp|file)://\S+",
        r"\1<url>",
        "✖",
        "✗",
        "[x]",
    ),
    # Random tokens in quoted data (session ids, generated keys, base64url nonces): long runs
    # that mix upper case, lower case and digits; no name of code looks like that.
    Mask(
        re.compile(r"(?<![\w/.-])[A-Za-z0-9_-]{16,}(?![\w/.-])"),
        lambda m: "<token>" if _random_token(m.group(0)) else m.group(0),
        (),
        True,
    ),
    *_V1_MASKS,
)

NORMALIZERS: dict[int, Normalizer] = {1: Normalizer(1, _V1_MASKS), 2: Normalizer(2, _V2_MASKS)}
CURRENT_VERSION = max(NORMALIZERS)


def normalizer(version: int = CURRENT_VERSION) -> Normalizer:
    try:
        return NORMALIZERS[version]
    except KeyError:
        raise ValueError(f"unknown normalizer version {version}") from None


@lru_cache(maxsize=4096)
def normalize(message: str, version: int = CURRENT_VERSION) -> str:
    """The template of a message (cached: identical messages are common in CI output)."""
    return normalizer(version).normalize(message)


_SPECIFIC = re.compile(r"[_\-.\d]")
SCOPE_MASK_VERSION = 2
"""The first normaliser version whose repository-scoped templates mask the check's own name."""


def _check_names(check: str) -> list[str]:
    """The names a message may use for its own check: the whole key, its last dotted or slashed
    part, that part without a file extension (``model.jaffle.stg_orders`` -> ``stg_orders``,
    ``tests/test_db.py::test_conn`` -> ``test_conn``, ``test_db``)."""
    names = {check}
    for part in re.split(r"::|[ /\\›>]+|\s+-\s+", check):
        part = part.strip()
        if not part:
            continue
        names.add(part)
        names.add(part.rsplit(".", 1)[-1])
        if re.fullmatch(r"[^.]+\.[A-Za-z]{1,4}", part):  # a file: its stem too
            names.add(part.rsplit(".", 1)[0])
    # Only specific names: "stg_orders", "test_conn", "e2e-checkout"; never a common word such
    # as "test" or "build", which other messages hold for other reasons ("test.pypi.org").
    specific = (n for n in names if len(n) >= 4 and (_SPECIFIC.search(n) or len(n) >= 10))
    return sorted(specific, key=len, reverse=True)


def mask_check(template: str, check: str) -> str:
    """A repository-scoped template without the name of the check it came from: a warehouse
    timeout that names its model (``... in model stg_orders``) is one failure across models."""
    if not check or not template:
        return template
    for name in _check_names(check):
        if name in template:
            pattern = rf"(?<![\w-]){re.escape(name)}(?![\w-])"
            template = re.sub(pattern, "<check>", template)
    return template


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
