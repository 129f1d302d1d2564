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
from itertools import pairwise

from triagehub.core.memo import BoundedMemo
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

    The other fields are necessary conditions for a match, checked first because they are far
    cheaper than scanning the text with ``pattern``; they never change the result, only skip work:

    - ``guards``: one of these substrings is in the text;
    - ``digits``: a digit is in the text;
    - ``folded``: one of these lower-case substrings is in the lower-cased text, for a pattern
      that ignores case (checked on ASCII text only: under ``re.IGNORECASE`` some non-ASCII
      letters match ASCII ones, the long s ``ſ`` matches ``s``);
    - ``hint``: a search for a part every match holds, that starts with a literal character, so
      that the regex engine jumps from one occurrence of that character to the next instead of
      trying the whole pattern at every position.
    """

    pattern: re.Pattern[str]
    replacement: str | Callable[[re.Match[str]], str]
    guards: tuple[str, ...] = ()
    digits: bool = False
    folded: tuple[str, ...] = ()
    hint: re.Pattern[str] | None = None


def _m(
    pattern: str,
    replacement: str,
    *guards: str,
    digits: bool = False,
    folded: tuple[str, ...] = (),
    hint: str | None = None,
) -> Mask:
    compiled_hint = re.compile(hint) if hint is not None else None
    return Mask(re.compile(pattern), replacement, guards, digits, folded, compiled_hint)


# Runs of blanks (a single space needs no work): a run of two or more, or a lone tab. The last
# mask: ``Normalizer.normalize`` collapses them with the lines' ends in ASCII text.
_BLANKS = _m(r"[ \t]{2,}|\t", " ", "  ", "\t")

# Order matters: the specific shapes first, bare numbers last. A hint is a part of every match
# (the hyphens and hex groups in the middle of a UUID, ":12:34" in a time of day).
_V1_MASKS: tuple[Mask, ...] = (
    _m(
        r"\b[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\b",
        "<uuid>",
        "-",
        hint=r"-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-",
    ),
    _m(
        r"\b\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(?::\d{2})?(?:[.,]\d+)?(?:Z|[+-]\d{2}:?\d{2}|\b)",
        "<ts>",
        "-",
        digits=True,
        hint=r"-\d\d[T ]\d\d:\d\d",
    ),
    _m(
        rf"\b{_MONTHS}\s+\d{{1,2}}\s+\d{{2}}:\d{{2}}:\d{{2}}\b",
        "<ts>",
        ":",
        digits=True,
        hint=r":\d\d:\d\d",
    ),
    _m(r"\b\d{4}[-/]\d{2}[-/]\d{2}\b", "<date>", "-", "/", digits=True, hint=r"[-/]\d\d[-/]\d"),
    _m(r"\b\d{1,2}:\d{2}:\d{2}(?:[.,]\d+)?\b", "<time>", ":", digits=True, hint=r":\d\d:\d\d"),
    # Paths' volatile parts: temp dirs, per-user homes, pytest's numbered tmp paths.
    _m(r"(?:/private)?/(?:tmp|var/folders|var/tmp)/[^\s'\"`:,;()\[\]]*", "<tmp>", "/tmp/", "/var/"),
    _m(
        r"(?i)[a-z]:\\users\\[^\\\s]+\\appdata\\local\\temp\\[^\s'\"`:,;]*",
        "<tmp>",
        "\\",
        folded=("\\users\\",),
    ),
    _m(r"/(home|Users)/[^/\s'\"]+/", r"/\1/<user>/", "/home/", "/Users/"),
    _m(r"\bpytest-of-[^/\s]+/pytest-\d+", "<tmp>", "pytest-of-"),
    _m(r"\btmp[a-z0-9_]{6,}\b", "<tmp>", "tmp", hint=r"tmp[a-z0-9_]{6}"),
    # Network: IPv4 (with port), IPv6, host:port, "port N".
    _m(
        r"\b(?:\d{1,3}\.){3}\d{1,3}(?::\d{1,5})?\b",
        "<ip>",
        ".",
        digits=True,
        hint=r"\.\d{1,3}\.\d",
    ),
    # Under IGNORECASE, [0-9a-f] matches exactly [0-9a-fA-F] (no other character folds to A-F).
    _m(
        r"(?i)(?<![\w:.])(?:[0-9a-f]{0,4}:){2,7}[0-9a-f]{1,4}(?![\w:])",
        "<ip>",
        ":",
        hint=r":[0-9a-fA-F]{0,4}:[0-9a-fA-F]",
    ),
    _m(
        r"(?i)\b(localhost|\[::1\]|<ip>):\d{1,5}\b",
        r"\1:<port>",
        ":",
        digits=True,
        folded=("localhost", "[::1]", "<ip>"),
        hint=r":\d",
    ),
    # (Under IGNORECASE, "p", "o", "r" and "t" match their two ASCII cases only: a test checks.)
    _m(
        r"(?i)\b(port)\s+\d{1,5}\b",
        r"\1 <port>",
        digits=True,
        folded=("port",),
        hint=r"[pP][oO][rR][tT]\s+\d",
    ),
    # Memory addresses and hex literals, then commit SHAs and other hex ids. The regex engine
    # scans fastest for a pattern that starts with a character class: the next three start with
    # the first character of a match, then check what a leading \b or lookbehind checked (the
    # character before it), so that they match exactly what the plain forms in the comments do.
    _m(r"\b0x[0-9a-fA-F]+\b", "<hex>", "0x"),
    # \b(?=[0-9a-f]*\d)(?=[0-9a-f]*[a-f])[0-9a-f]{7,64}\b
    _m(
        r"[0-9a-f](?<!\w[0-9a-f])(?:(?<=\d)(?=[0-9a-f]*[a-f])|(?<=[a-f])(?=[0-9a-f]*\d))"
        r"[0-9a-f]{6,63}\b",
        "<hex>",
        digits=True,
        hint=r"[0-9a-f][0-9a-f]{6}",
    ),
    # Durations: 3.2s, 120 ms, 30000ms, 4 seconds, 1m30s.
    # (?i)(?<![\w.])\d+(?:\.\d+)?\s?(?:ms|...)(?:\d+(?:\.\d+)?s)?(?![\w])
    _m(
        r"(?i)\d(?<![\w.]\d)\d*(?:\.\d+)?\s?(?:ms|msec|milliseconds?|s|secs?|seconds?|m|mins?|"
        r"minutes?|h|hrs?|hours?|us|µs|ns)(?:\d+(?:\.\d+)?s)?(?![\w])",
        "<dur>",
        digits=True,
        hint=r"(?i)\d\s?[mshuµn]",
    ),
    # Any other number standing alone (not part of an identifier such as E501 or py311).
    # (?<![\w.<])[-+]?\d+(?:[.,]\d+)*(?![\w>])
    _m(
        r"[-+\d](?<![\w.<].)(?:(?<=\d)\d*|(?<=[-+])\d+)(?:[.,]\d+)*(?![\w>])",
        "<n>",
        digits=True,
    ),
    _BLANKS,
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
        lower = None
        for mask in self.masks:  # the checks inline: a call per mask would cost more than some
            if mask.digits and not has_digit:
                continue
            if mask.guards:
                for guard in mask.guards:
                    if guard in text:
                        break
                else:
                    continue
            if mask.folded and text.isascii():
                if lower is None:
                    lower = text.lower()
                for part in mask.folded:
                    if part in lower:
                        break
                else:
                    continue
            if mask.hint is not None and mask.hint.search(text) is None:
                continue
            if mask is _BLANKS and mask is self.masks[-1] and text.isascii() and "\x1f" not in text:
                # The last pass, with the lines' ends: a line's only blanks are spaces and tabs
                # (the other ASCII ones, but for \x1f, end lines), so split() cuts at the runs.
                lines = [" ".join(line.split()) for line in text.splitlines()]
                return "\n".join(line for line in lines if line)[:MAX_TEMPLATE_CHARS]
            masked = mask.pattern.sub(mask.replacement, text)
            if masked is not text:  # no match returns the same object
                text, lower = masked, None
                # A mask never adds a digit; once the last one is masked, skip the digit masks.
                has_digit = has_digit and _DIGIT.search(text) is not None
        lines = [line.strip() for line in text.splitlines()]
        text = "\n".join(line for line in lines if line)
        return text[:MAX_TEMPLATE_CHARS]


_LOWER_RUN = re.compile(r"[a-z]{4}")
_PART_SEPARATOR = re.compile(r"[_-]")
_NO_DIGITS = str.maketrans("", "", "0123456789")


def _random_token(text: str) -> bool:
    """A part of 12+ characters mixing cases and digits with no word in it
    (``sess_aB3xY9kLmN2pQr7T``), unlike a name of code (``AbstractFutureTest2Helper``).

    ``text`` is the token mask's match, ASCII letters, digits, ``_`` and ``-`` only: a part has an
    upper-case letter iff lower-casing changes it, and its digits are what ``translate`` drops.
    """
    for part in _PART_SEPARATOR.split(text):
        if (
            len(part) >= 12
            and part != part.lower()
            and part != part.upper()
            and len(part) - len(part.translate(_NO_DIGITS)) >= 2
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
        digits=True,
        hint=re.compile(r"[A-Za-z0-9_-]{16}"),
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


# The template of a message depends on its ASCII digits only through where they are: every test
# the masks of versions 1 and 2 make of a digit is a class that holds all ten (\d, \w, [0-9a-f],
# [A-Za-z0-9_-]...), except two literals, "0x" (hex literals) and "[::1]" (the IPv6 loopback).
# So all messages with the same *shape*, their ASCII digits written "2", have the shape's template
# but for the digits left in it (E501, py311), each one a digit of the message. Recurring failures
# differ in their numbers, ids and durations much more often than in their shapes.
# (In UTF-8, a byte 0x30-0x39 is always an ASCII digit: the shape is made of the bytes, ten times
# faster than str.translate on a text that is not all ASCII.)
_SHAPE = bytes.maketrans(b"0123456789", b"2222222222")
_ASCII_DIGIT = re.compile(r"[0-9]")
_VARIANT_DIGITS = "23456789"  # never 0 or 1: a variant must not write a literal's digit
SHAPE_VERSIONS = frozenset({1, 2})
"""The normaliser versions whose masks test digits only by class (checked by a test)."""

Recipe = tuple[tuple[str, ...], tuple[int, ...]]
"""A shape's template cut at the digits left in it, and which digit of the message each one is."""


def _variant(shape: str, place: int) -> str:
    """The shape with its n-th digit written as the digit of ``place`` of n, in base 8."""
    parts = shape.split("2")
    out = [parts[0]]
    for n, part in enumerate(parts[1:]):
        out += (_VARIANT_DIGITS[n // place % 8], part)
    return "".join(out)


def _recipe(shape: str, template: str, version: int) -> Recipe | None:
    """Which digits of the message are left in the shape's template: the shape is normalised
    again with its n-th digit written as a digit of n in base 8 (the same masks match: only
    digits change), and the template's digits spell out n."""
    kept = [i for i, char in enumerate(template) if char == "2"]
    indices = [0] * len(kept)
    place, count = 1, shape.count("2")
    while place < count:
        variant = normalizer(version).normalize(_variant(shape, place))
        if len(variant) != len(template) or _ASCII_DIGIT.sub("2", variant) != template:
            return None  # (never: the masks would test a digit's value)
        for k, i in enumerate(kept):
            indices[k] += _VARIANT_DIGITS.index(variant[i]) * place
        place *= 8
    if any(a >= b for a, b in pairwise(indices)):
        return None  # (never: masks keep the order of what they do not mask)
    return tuple(template.split("2")), tuple(indices)


@dataclass(frozen=True, slots=True)
class _Seen:
    """A shape seen once, whose template (``template``, of the message seen) keeps digits of
    the message; its recipe is worked out when the shape comes again."""

    template: str


_DIRECT = _Seen("")  # a shape whose recipe could not be worked out (never happens)
_SHAPES: BoundedMemo[tuple[bytes, int], str | Recipe | _Seen] = BoundedMemo(4096)
# (as many entries as the message cache: at most a few MB)


def _by_shape(text: str, version: int) -> str:
    """The template of ``text`` (ANSI escapes stripped, no digit literal in it), from the
    template or the recipe of its shape when it has been seen before."""
    key = (text.encode("utf-8", "surrogatepass").translate(_SHAPE), version)
    found = _SHAPES.get(key)
    if isinstance(found, str):
        return found
    if found is None:  # the first of its shape: its template tells whether digits are left
        template = normalizer(version).normalize(text)
        digit = _ASCII_DIGIT.search(template) is not None
        _SHAPES.keep(key, _Seen(template) if digit else template)
        return template
    if isinstance(found, _Seen):
        recipe = None
        if found is not _DIRECT:  # the second of its shape: the digits left are worked out
            shape = key[0].decode("utf-8", "surrogatepass")
            recipe = _recipe(shape, _ASCII_DIGIT.sub("2", found.template), version)
        if recipe is None:
            _SHAPES[key] = _DIRECT
            return normalizer(version).normalize(text)
        _SHAPES[key] = found = recipe
    parts, indices = found
    digits = _ASCII_DIGIT.findall(text)
    out = [parts[0]]
    for part, index in zip(parts[1:], indices, strict=True):
        out += (digits[index], part)
    return "".join(out)


@lru_cache(maxsize=4096)
def normalize(message: str, version: int = CURRENT_VERSION) -> str:
    """The template of a message (cached: identical messages are common in CI output, and so
    are messages that differ only in their digits: see ``_by_shape``)."""
    if version in SHAPE_VERSIONS:
        text = strip_ansi(message)  # (the literals are looked for where the masks see them)
        if "0x" not in text and "[::1]" not in text:
            return _by_shape(text, version)
    return normalizer(version).normalize(message)


def clear_caches() -> None:
    """Empty the message and the shape caches (benchmarks time every message at full price)."""
    normalize.cache_clear()
    _SHAPES.clear()


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


@lru_cache(maxsize=4096)
def _names_of(check: str) -> tuple[str, ...]:
    """:func:`_check_names`, once per check (a check fails again and again)."""
    return tuple(_check_names(check))


@lru_cache(maxsize=4096)
def _standalone(name: str) -> re.Pattern[str]:
    """The pattern of a check's name standing alone (not part of a longer name)."""
    return re.compile(rf"(?<![\w-]){re.escape(name)}(?![\w-])")


def mask_check(template: str, check: str) -> str:
    """A repository-scoped template without the name of the check it came from: a warehouse
    timeout that names its model (``... in model stg_orders``) is one failure across models."""
    if not check or not template:
        return template
    for name in _names_of(check):
        if name in template:
            template = _standalone(name).sub("<check>", template)
    return template


def _digest(*parts: str) -> str:
    return hashlib.sha256("\x1f".join(parts).encode("utf-8", "surrogatepass")).hexdigest()


def template_hash(template: str, version: int = CURRENT_VERSION) -> str:
    """A stable id of a template (used for patterns across checks and repositories)."""
    return _digest(f"v{version}", template)[:16]


# The fingerprints made lately (bounded): a check fails again and again with one template.
_KEYS: BoundedMemo[tuple[int, Scope, str, str | None, str], str] = BoundedMemo(8192)


def grouping_key(
    *, scope: Scope, repository: str, check: str | None, template: str, version: int
) -> str:
    """The fingerprint that decides which issue an occurrence belongs to."""
    key = (version, scope, repository, check, template)
    found = _KEYS.get(key)
    if found is None:
        found = _digest(f"v{version}", scope.value, repository, check or "", template)[:32]
        _KEYS.keep(key, found)
    return found


def content_id(*parts: str) -> str:
    """A content-derived id, stable across processes (never Python's ``hash()``)."""
    return _digest(*parts)[:20]
