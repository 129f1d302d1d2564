"""Templates by shape (issue #24): ``normalize`` gives a message the template of its *shape* (its
ASCII digits written "2"), with the message's own digits where the template keeps some, so that
the failures that recur with other numbers, ids and durations are not normalised again. That
holds only while the masks test a digit by its class, never by its value: this module checks that
of the masks themselves, and compares the cached path with the reference normaliser
(``test_fingerprint_identity``) on real logs and on generated text whose digits are drawn again.
"""

from __future__ import annotations

import csv
import json
import random
import re
from pathlib import Path
from re import _parser as sre_parse  # (Python 3.11+)
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from test_fingerprint_identity import _PIECES, CASES, SHARED_DATA, reference_normalize
from triagehub.core import fingerprint
from triagehub.core.excerpt import error_text, extract
from triagehub.core.fingerprint import NORMALIZERS, SHAPE_VERSIONS, clear_caches, normalize
from triagehub.core.redact import redact

ASCII_DIGITS = frozenset(range(ord("0"), ord("9") + 1))


def _digit_values_tested(parsed: Any) -> list[str]:
    """What a parsed pattern tests of a digit's value: a literal digit, or a set that holds some
    ASCII digits but not all (``[0-4]``); an empty list when it tests digits only by class."""
    found: list[str] = []
    for op, av in parsed:
        name = str(op)
        if name in ("LITERAL", "NOT_LITERAL") and av in ASCII_DIGITS:
            found.append(f"{name} {chr(av)}")
        elif name == "IN":
            held: set[int] = set()
            for item_op, item in av:
                if str(item_op) == "LITERAL":
                    held.add(item)
                elif str(item_op) == "RANGE":
                    held.update(range(item[0], item[1] + 1))
            part = held & ASCII_DIGITS
            if part and part != ASCII_DIGITS:
                found.append(f"set with {sorted(chr(c) for c in part)}")
        elif name in ("SUBPATTERN", "MAX_REPEAT", "MIN_REPEAT", "POSSESSIVE_REPEAT"):
            found += _digit_values_tested(av[-1])
        elif name in ("ASSERT", "ASSERT_NOT", "ATOMIC_GROUP"):
            found += _digit_values_tested(av[-1] if isinstance(av, tuple) else av)
        elif name == "BRANCH":
            for branch in av[1]:
                found += _digit_values_tested(branch)
        elif name == "GROUPREF_EXISTS":
            found += _digit_values_tested(av[1])
            if av[2] is not None:
                found += _digit_values_tested(av[2])
    return found


def digit_values_tested(pattern: re.Pattern[str]) -> list[str]:
    return _digit_values_tested(sre_parse.parse(pattern.pattern, pattern.flags))


# The two literals that normalize() looks for before it goes by shape, as they are in patterns.
KNOWN_LITERALS = (r"\b0x", r"\[::1\]")


def test_the_digit_test_finds_literal_digits_and_partial_sets() -> None:
    assert digit_values_tested(re.compile(r"\d{4}[-/]\w+[0-9a-f]")) == []
    assert digit_values_tested(re.compile(r"(?:ab|c(?=x1))")) == ["LITERAL 1"]
    assert digit_values_tested(re.compile(r"[0-4]+")) == ["set with ['0', '1', '2', '3', '4']"]
    assert digit_values_tested(re.compile(r"(?<![^7-9])x")) == ["set with ['7', '8', '9']"]
    assert digit_values_tested(re.compile(r"[^7]")) == ["NOT_LITERAL 7"]


@pytest.mark.parametrize("version", sorted(SHAPE_VERSIONS))
def test_masks_test_digits_only_by_class_but_for_the_known_literals(version: int) -> None:
    assert version in NORMALIZERS
    for mask in NORMALIZERS[version].masks:
        source = mask.pattern.pattern
        for literal in KNOWN_LITERALS:
            source = source.replace(literal, "")
        patterns = [re.compile(source, mask.pattern.flags)]
        if mask.hint is not None:
            patterns.append(mask.hint)
        for pattern in patterns:
            assert digit_values_tested(pattern) == [], pattern.pattern
        for part in (*mask.guards, *mask.folded):
            assert not set(part) & set("0123456789") or part in ("0x", "[::1]"), part
        if isinstance(mask.replacement, str):
            assert not re.search(r"[0-9](?<!\\[0-9])", mask.replacement), mask.replacement


def assert_cached_path_is_exact(texts: list[str], what: str) -> None:
    """``normalize`` (caches emptied first, then warm) gives every text the reference template,
    for every version that goes by shape."""
    differ = []
    for version in sorted(SHAPE_VERSIONS):
        clear_caches()
        for _ in range(2):  # cold, then warm (each text after others of its shape)
            for text in texts:
                want = reference_normalize(text, version)
                got = normalize(text, version)
                if got != want:
                    differ.append(f"v{version} {text!r}\n  was {want!r}\n  now {got!r}")
    clear_caches()
    assert texts, f"no {what}"
    assert not differ, f"{len(differ)} {what} changed template:\n" + "\n".join(differ[:10])


_DIGIT = re.compile(r"[0-9]")


def redraw_digits(text: str, rng: random.Random) -> str:
    """The same shape with other digits (a 0 or 1 too: the literals are drawn as well)."""
    return _DIGIT.sub(lambda _m: str(rng.randrange(10)), text)


def _require(path: Path) -> Path:
    if not path.exists():
        pytest.skip(f"{path} is absent (../shared/data beside the repository)")
    return path


def test_loghub_lines_with_their_digits_drawn_again() -> None:
    rng = random.Random(24)
    texts: list[str] = []
    for path in sorted(_require(SHARED_DATA / "loghub2k").glob("*/*_2k.log_structured.csv")):
        with path.open(encoding="utf-8", newline="") as handle:
            lines = [row["Content"] for row in csv.DictReader(handle)]
        texts += lines + [redraw_digits(line, rng) for line in lines[::4]]
    assert_cached_path_is_exact(texts, "Loghub lines")


def test_corpus_and_cidiff_texts_with_their_digits_drawn_again() -> None:
    rng = random.Random(18)
    texts: list[str] = []
    for line in CASES.read_text(encoding="utf-8").splitlines():
        case = json.loads(line)
        message, log = case.get("message", ""), case.get("log", "")
        excerpt = redact(extract(log).text) if log else ""
        whole = error_text(redact(message), excerpt)
        texts += [message, whole, redraw_digits(whole, rng), redraw_digits(whole, rng)]
        texts += log.splitlines()
    for log_path in sorted(_require(SHARED_DATA / "cidiff").glob("*/fail.log")):
        log = log_path.read_text(encoding="utf-8", errors="replace")
        excerpt = error_text("", extract(log).text)
        texts += [excerpt, redraw_digits(excerpt, rng), *log.splitlines()[::3]]
    assert_cached_path_is_exact([text for text in texts if text], "corpus and CiDiff texts")


@settings(max_examples=1500, deadline=None)
@given(st.lists(st.sampled_from(_PIECES), max_size=20).map("".join), st.randoms())
def test_generated_text_with_its_digits_drawn_again(text: str, rng: random.Random) -> None:
    assert_cached_path_is_exact(
        [text, *(redraw_digits(text, rng) for _ in range(4))], "generated texts"
    )


def test_messages_that_differ_in_their_digits_share_one_normalisation() -> None:
    clear_caches()
    first = normalize("Found 12 errors in 3 files (took 1.25s) at 10.0.0.1:8080")
    second = normalize("Found 47 errors in 9 files (took 9.75s) at 10.9.4.7:4242")
    assert first == second == "Found <n> errors in <n> files (took <dur>) at <ip>"
    assert list(fingerprint._SHAPES.values()) == [first]


def test_the_digits_left_in_a_template_are_the_messages_own() -> None:
    clear_caches()
    assert normalize("E501 line too long (120 > 100)") == "E501 line too long (<n> > <n>)"
    [seen] = fingerprint._SHAPES.values()
    assert seen == fingerprint._Seen("E501 line too long (<n> > <n>)")
    assert normalize("E302 line too long (121 > 100)") == "E302 line too long (<n> > <n>)"
    # The second of the shape works out which digits are left: the first three of the message.
    assert list(fingerprint._SHAPES.values()) == [
        (("E", "", "", " line too long (<n> > <n>)"), (0, 1, 2))
    ]
    assert normalize("E999 line too long (1 > 2)") == "E999 line too long (<n> > <n>)"
    # More digits than one variant tells apart (8): their places are spelt in two digits.
    many = " ".join(f"x{i} {i}" for i in range(12))
    for _ in range(2):
        assert normalize(many) == " ".join(f"x{i} <n>" for i in range(12))
        assert normalize(many.replace("x1 ", "x9 ")) == normalize(many).replace("x1 ", "x9 ")
        fingerprint.normalize.cache_clear()  # (the shape's recipe stays)


def test_messages_with_a_digit_literal_are_not_looked_up_by_shape() -> None:
    clear_caches()
    assert normalize("id 0x1f and port 22") == "id <hex> and port <port>"
    assert normalize("id 2x1f and port 22") == "id 2x1f and port <port>"
    assert normalize("up on [::1]:8080") == "up on [<ip>]:<n>"
    assert len(fingerprint._SHAPES) == 1  # 2x1f's shape only
