"""The fast normaliser gives the same templates as the normaliser it replaced (issue #24).

A template is part of every fingerprint stored, so a normaliser version's output can never
change: a different output needs a new version. ``core/fingerprint.py`` was made fast (guards and
hints that skip passes which cannot match, patterns rewritten to start with a character class);
this module keeps the previous implementation, as it was on main at f0e8445, and compares the two
line by line on real logs (Loghub, the classification corpus, the CiDiff logs) and on generated
text built from the pieces the masks look for.
"""

from __future__ import annotations

import csv
import json
import re
from collections.abc import Callable, Iterable
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from triagehub.core.excerpt import error_text, extract
from triagehub.core.fingerprint import NORMALIZERS, strip_ansi
from triagehub.core.redact import redact

SHARED_DATA = Path(__file__).resolve().parent.parent.parent / "shared" / "data"
CASES = Path(__file__).resolve().parent / "data" / "classification" / "cases.jsonl"

# -- the reference: core/fingerprint.py's normaliser at f0e8445, unchanged ------------------------

_MONTHS = r"(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)"
_DIGIT = re.compile(r"\d")
_LOWER_RUN = re.compile(r"[a-z]{4}")

_Ref = tuple[re.Pattern[str], "str | Callable[[re.Match[str]], str]", tuple[str, ...], bool]


def _m(pattern: str, replacement: str, *guards: str, digits: bool = False) -> _Ref:
    return (re.compile(pattern), replacement, guards, digits)


_V1 = (
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
    _m(r"(?:/private)?/(?:tmp|var/folders|var/tmp)/[^\s'\"`:,;()\[\]]*", "<tmp>", "/tmp/", "/var/"),
    _m(r"(?i)[a-z]:\\users\\[^\\\s]+\\appdata\\local\\temp\\[^\s'\"`:,;]*", "<tmp>", "\\"),
    _m(r"/(home|Users)/[^/\s'\"]+/", r"/\1/<user>/", "/home/", "/Users/"),
    _m(r"\bpytest-of-[^/\s]+/pytest-\d+", "<tmp>", "pytest-of-"),
    _m(r"\btmp[a-z0-9_]{6,}\b", "<tmp>", "tmp"),
    _m(r"\b(?:\d{1,3}\.){3}\d{1,3}(?::\d{1,5})?\b", "<ip>", ".", digits=True),
    _m(r"(?i)(?<![\w:.])(?:[0-9a-f]{0,4}:){2,7}[0-9a-f]{1,4}(?![\w:])", "<ip>", ":"),
    _m(r"(?i)\b(localhost|\[::1\]|<ip>):\d{1,5}\b", r"\1:<port>", ":", digits=True),
    _m(r"(?i)\b(port)\s+\d{1,5}\b", r"\1 <port>", digits=True),
    _m(r"\b0x[0-9a-fA-F]+\b", "<hex>", "0x"),
    _m(r"\b(?=[0-9a-f]*\d)(?=[0-9a-f]*[a-f])[0-9a-f]{7,64}\b", "<hex>", digits=True),
    _m(
        r"(?i)(?<![\w.])\d+(?:\.\d+)?\s?(?:ms|msec|milliseconds?|s|secs?|seconds?|m|mins?|"
        r"minutes?|h|hrs?|hours?|us|µs|ns)(?:\d+(?:\.\d+)?s)?(?![\w])",
        "<dur>",
        digits=True,
    ),
    _m(r"(?<![\w.<])[-+]?\d+(?:[.,]\d+)*(?![\w>])", "<n>", digits=True),
    _m(r"[ \t]+", " ", "  ", "\t"),
)


def _random_token(text: str) -> bool:
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


_V2 = (
    _m(
        r"((?:\[[✖✗x]\]|[✗✖] \[(?:\d{3}|ERR|ERROR|TIMEOUT)\])\s+)(?:https?|ftp|file)://\S+",
        r"\1<url>",
        "✖",
        "✗",
        "[x]",
    ),
    (
        re.compile(r"(?<![\w/.-])[A-Za-z0-9_-]{16,}(?![\w/.-])"),
        lambda m: "<token>" if _random_token(m.group(0)) else m.group(0),
        (),
        True,
    ),
    *_V1,
)
REFERENCE = {1: _V1, 2: _V2}


def reference_normalize(message: str, version: int) -> str:
    text = strip_ansi(message)
    if len(text) > 4000:
        text = text[:4000]
    has_digit = _DIGIT.search(text) is not None
    for pattern, replacement, guards, digits in REFERENCE[version]:
        if digits and not has_digit:
            continue
        if guards and not any(guard in text for guard in guards):
            continue
        text = pattern.sub(replacement, text)
    lines = [line.strip() for line in text.splitlines()]
    return "\n".join(line for line in lines if line)[:2000]


# -- comparison ---------------------------------------------------------------------------------


def assert_same_templates(texts: Iterable[str], what: str) -> None:
    differ = []
    count = 0
    for text in texts:
        count += 1
        for version in sorted(REFERENCE):
            want = reference_normalize(text, version)
            got = NORMALIZERS[version].normalize(text)
            if got != want:
                differ.append(f"v{version} {text!r}\n  was {want!r}\n  now {got!r}")
    assert count, f"no {what}"
    assert not differ, f"{len(differ)} of {count} {what} changed template:\n" + "\n".join(
        differ[:10]
    )


def test_the_reference_is_still_the_registered_set_of_versions() -> None:
    # A new version is compared from its own start; the versions compared here never change.
    assert set(REFERENCE) <= set(NORMALIZERS)


def _require(path: Path) -> Path:
    if not path.exists():
        pytest.skip(f"{path} is absent (../shared/data beside the repository)")
    return path


def _blocks(lines: list[str], size: int) -> list[str]:
    return ["\n".join(lines[i : i + size]) for i in range(0, len(lines), size)]


@pytest.mark.parametrize(
    "system",
    [
        "Android", "Apache", "BGL", "HDFS", "HPC", "Hadoop", "HealthApp", "Linux", "Mac",
        "OpenSSH", "OpenStack", "Proxifier", "Spark", "Thunderbird", "Windows", "Zookeeper",
    ],
)  # fmt: skip
def test_loghub_lines_keep_their_templates(system: str) -> None:
    path = _require(SHARED_DATA / "loghub2k" / system / f"{system}_2k.log_structured.csv")
    with path.open(encoding="utf-8", newline="") as handle:
        lines = [row["Content"] for row in csv.DictReader(handle)]
    assert_same_templates(lines, f"{system} lines")


def test_classification_corpus_keeps_its_templates() -> None:
    cases = [json.loads(line) for line in CASES.read_text(encoding="utf-8").splitlines() if line]
    texts: list[str] = []
    for case in cases:
        message, log = case.get("message", ""), case.get("log", "")
        excerpt = redact(extract(log).text) if log else ""
        texts += [message, log, error_text(redact(message), excerpt)]
        texts += message.splitlines() + log.splitlines()
    assert_same_templates((text for text in texts if text), "corpus texts")


def test_cidiff_logs_keep_their_templates() -> None:
    folders = sorted(p.parent for p in _require(SHARED_DATA / "cidiff").glob("*/groundtruth"))
    texts: dict[str, None] = {}  # each distinct text once, in order
    for folder in folders:
        log = (folder / "fail.log").read_text(encoding="utf-8", errors="replace")
        lines = log.splitlines()
        texts.update(dict.fromkeys(lines + _blocks(lines, 7)))
        texts[error_text("", extract(log).text)] = None
    assert_same_templates(texts, "distinct CiDiff fail.log lines, blocks and excerpts")


# Pieces of what the masks match and of what stops them, joined at random: numbers next to units,
# hex, separators and placeholders; letters that match ASCII ones under IGNORECASE (long s,
# dotted and dotless i, micro and mu); a digit that is not ASCII.
_PIECES = (
    "0", "1", "7", "42", "2024", "12", "a", "f", "e", "b", "x", "Z", "T", "g", "A", "F", "K",
    ".", ",", ":", "-", "+", "/", "_", " ", "  ", "\t", "\n", "<", ">", "[", "]", "(", "'",
    "ms", "s", "m", "h", "us", "µs", "ns", "sec", "mins", "hours", "MS", "Sec", "ſ", "İ", "ı",
    "μ", "µ", "٣", "port", "PORT", "localhost", "[::1]", "<ip>", "0x", "tmp", "/tmp/",
    "/home/", "/Users/", "pytest-of-", "Jan", "Dec", "deadbeef", "3f2c1e9", "::", "fe80",
    "C:\\Users\\", "\\AppData\\Local\\Temp\\", "✖", "[x] ", "✗ [404] ", "https://x.io/a",
    "aB3xY9kLmN2pQr7T", "sess_", "\x1b[31m",
    # Blanks other than spaces and tabs: ASCII ones that end a line and one that does not (\x1f),
    # and a no-break space.
    "\r\n", "\x0b", "\x1c", "\x1f", "\xa0", " \t ",
    # Whole shapes, for the masks that need several pieces in a row.
    "2024-01-02T03:04:05.123Z", "2024-01-02 03:04", "+02:00", "Nov 20 06:30:00", "Dec  1 ",
    "06:30:00,5", "2024/01/02", "10.0.0.1", "192.168.1.20:6543", "fe80::1ff:fe23:4567:890a",
    "2001:db8::1", "3.2s", "120 ms", "1m30s", "4 seconds", "port 443", "localhost:8080",
    "0xdeadbeef", "123e4567-e89b-12d3-a456-426614174000", "/tmp/pytest-of-x/pytest-3/y",
    "/var/folders/ab/", "/home/alice/", "tmpab12cd34", "9a8b7c6d5e4f", "10.100.200.1",
    "Port\t8080",
)  # fmt: skip


@settings(max_examples=3000, deadline=None)
@given(st.lists(st.sampled_from(_PIECES), max_size=20).map("".join))
def test_generated_text_keeps_its_template(text: str) -> None:
    assert_same_templates([text], "generated text")


@settings(max_examples=500, deadline=None)
@given(st.text(max_size=60))
def test_any_text_keeps_its_template(text: str) -> None:
    assert_same_templates([text], "text")


@settings(max_examples=1000, deadline=None)
@given(st.from_regex(r"[A-Za-z0-9_-]{16,40}", fullmatch=True))
def test_a_random_token_is_told_apart_as_before(token: str) -> None:
    text = f"session {token} expired"
    assert_same_templates([text], "token")


# -- the hints are necessary conditions (issue #24, h55: "tmp" and "port" got one) ----------------


def test_the_port_hints_letters_fold_to_their_two_ascii_cases_only() -> None:
    """The port mask ignores case; its hint spells "port" as [pP][oO][rR][tT]: no other character
    matches these letters under IGNORECASE."""
    for letter in "port":
        folding = re.compile(f"(?i){letter}")
        matched = {chr(c) for c in range(0x110000) if folding.fullmatch(chr(c))}
        assert matched == {letter, letter.upper()}


_HINT_PIECES = (
    *_PIECES,
    "tmp_",
    "tmpabcdef",
    "tmp123456",
    "TMP",
    "Port",
    "pOrT",
    "sport",
    "\u212a",
)


@settings(max_examples=3000, deadline=None)
@given(st.lists(st.sampled_from(_HINT_PIECES), max_size=20).map("".join))
def test_a_mask_never_matches_without_its_hint(text: str) -> None:
    for normalizer in NORMALIZERS.values():
        for mask in normalizer.masks:
            if mask.hint is not None and mask.pattern.search(text) is not None:
                assert mask.hint.search(text) is not None, (mask.pattern.pattern, text)


def test_real_text_never_matches_a_mask_without_its_hint() -> None:
    cases = [json.loads(line) for line in CASES.read_text(encoding="utf-8").splitlines() if line]
    texts = [
        line for c in cases for f in ("message", "log") for line in (c.get(f) or "").split("\n")
    ]
    for mask in NORMALIZERS[max(NORMALIZERS)].masks:
        if mask.hint is not None:
            for text in texts:
                if mask.pattern.search(text) is not None:
                    assert mask.hint.search(text) is not None, (mask.pattern.pattern, text)
