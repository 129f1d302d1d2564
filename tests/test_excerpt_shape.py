"""A line's kind is remembered by its shape (issue #24): the proof that the shape is enough.

``core/excerpt/kinds.py`` looks a line's info up by its *shape* (every ASCII digit written "0"),
except for a line holding one of ``DIGIT_CONTEXT``'s words. That is right only if no test the
classification makes tells one digit from another, outside of those words: this module parses
every regular expression the classification uses (``line_patterns``, ``kinds``, ``informative``,
``lines``, the probes' prefilters) and every guard, and finds each test of a digit: a literal
digit, a class holding some digits but not all, a back-reference (that compares captured text).
There must be none, unless the branch it is in needs one of the context words, which a line
looked up by shape does not hold. It also checks that
no other literal of those modules' code holds a digit, so that no ``startswith``/``in`` test can
tell digits apart behind the patterns' back.
"""

from __future__ import annotations

import ast
import inspect
import re
from re import _constants as C
from re import _parser as P
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from triagehub.core import informative
from triagehub.core.excerpt import kinds, line_patterns, lines
from triagehub.core.excerpt.kinds import DIGIT_CONTEXT, _work_out, line_info
from triagehub.core.excerpt.line_patterns import Probes
from triagehub.core.wordtree import any_word

DIGITS = frozenset("0123456789")
CONTEXTS = kinds.DIGIT_WORDS
MODULES = (line_patterns, kinds, informative, lines)
_WORDY = (C.CATEGORY_DIGIT, C.CATEGORY_WORD, C.CATEGORY_UNI_DIGIT, C.CATEGORY_UNI_WORD)
_NOT_WORDY = (C.CATEGORY_NOT_DIGIT, C.CATEGORY_UNI_NOT_DIGIT, C.CATEGORY_NOT_WORD)
_NO_DIGIT = (C.CATEGORY_SPACE, C.CATEGORY_UNI_SPACE, C.CATEGORY_UNI_NOT_WORD)


def _class_digits(items: list[tuple[Any, Any]]) -> frozenset[str]:
    """The ASCII digits a character class ``[...]`` matches."""
    found: set[str] = set()
    negate = False
    for op, arg in items:
        if op is C.NEGATE:
            negate = True
        elif op is C.LITERAL:
            found |= {chr(arg)} & DIGITS
        elif op is C.RANGE:
            found |= {d for d in DIGITS if arg[0] <= ord(d) <= arg[1]}
        elif op is C.CATEGORY and arg in (*_WORDY, C.CATEGORY_NOT_SPACE, C.CATEGORY_UNI_NOT_SPACE):
            found |= DIGITS
        elif not (op is C.CATEGORY and arg in _NOT_WORDY + _NO_DIGIT):
            raise AssertionError(f"unknown class item {op} {arg}")
    return frozenset(DIGITS - found if negate else found)


def _literal_runs(seq: Any) -> list[str]:
    runs, run = [], ""
    for op, arg in seq:
        if op is C.LITERAL:
            run += chr(arg)
        else:
            runs.append(run)
            run = ""
    return [*runs, run]


def _needs_context(seq: Any, context: re.Pattern[str] = DIGIT_CONTEXT) -> bool:
    """Whether every match of this sequence holds text where ``context`` finds a word: a
    run of literals of the sequence where it finds one (a match holds the run as it is written,
    or, under IGNORECASE, letters that match it alike: the runs are ASCII then)."""
    if any(context.search(run) for run in _literal_runs(seq)):
        return True
    for op, arg in seq:
        if op is C.SUBPATTERN and _needs_context(arg[3], context):
            return True
        if op is C.BRANCH and all(_needs_context(alt, context) for alt in arg[1]):
            return True
    return False


def digit_tests(
    seq: Any, guarded: bool = False, context: re.Pattern[str] = DIGIT_CONTEXT
) -> list[frozenset[str]]:
    """The sets of digits each test of ``seq`` tells apart from the others (the ones in no branch
    that needs one of ``context``'s words)."""
    guarded = guarded or _needs_context(seq, context)
    found: list[frozenset[str]] = []
    for op, arg in seq:
        if op in (C.LITERAL, C.NOT_LITERAL) and chr(arg) in DIGITS:
            found.append(frozenset(chr(arg)))
        elif op is C.IN:
            digits = _class_digits(arg)
            if digits and digits != DIGITS:
                found.append(digits)
        elif op in (C.MAX_REPEAT, C.MIN_REPEAT, C.POSSESSIVE_REPEAT):
            found += digit_tests(arg[2], guarded, context)
        elif op is C.SUBPATTERN:
            found += digit_tests(arg[3], guarded, context)
        elif op is C.BRANCH:
            for alternative in arg[1]:
                found += digit_tests(alternative, guarded, context)
        elif op in (C.ASSERT, C.ASSERT_NOT):
            found += digit_tests(arg[1], guarded, context)
        elif op is C.ATOMIC_GROUP:
            found += digit_tests(arg, guarded, context)
        elif op in (C.GROUPREF, C.GROUPREF_EXISTS):
            found.append(frozenset({"backreference"}))
        elif op not in (C.AT, C.ANY, C.CATEGORY, C.LITERAL, C.NOT_LITERAL):
            raise AssertionError(f"unknown regex node {op}")
    return [] if guarded else found


def classification_patterns() -> list[re.Pattern[str]]:
    patterns: list[re.Pattern[str]] = []
    for module in MODULES:
        for value in vars(module).values():
            if isinstance(value, re.Pattern):
                patterns.append(value)
            elif isinstance(value, Probes):
                patterns += [p for _, p in value.items if p is not None]
                patterns += [value.prefilter] if value.prefilter is not None else []
    return patterns


def guards() -> list[str]:
    return [
        guard
        for module in MODULES
        for value in vars(module).values()
        if isinstance(value, Probes)
        for guards, _ in value.items
        for guard in guards
    ]


def test_no_pattern_tells_digits_apart_outside_the_contexts() -> None:
    patterns = classification_patterns()
    assert len(patterns) > 90
    for pattern in patterns:
        tests = digit_tests(P.parse(pattern.pattern, pattern.flags))
        if pattern.pattern == kinds.SECTION.pattern:  # \1 repeats "=_*#~-": never a digit
            tests = [t for t in tests if t != {"backreference"}]
        assert not tests, (pattern.pattern[:200], [sorted(t) for t in tests])
        if pattern.flags & re.IGNORECASE:  # its runs of literals match letters alike
            assert pattern.pattern.isascii(), pattern.pattern[:200]
    assert kinds.SECTION.groups == 1
    assert not _class_digits(P.parse(r"[=_*#~-]")[0][1])
    assert "([=_*#~-])" in kinds.SECTION.pattern


EXACT = re.compile(any_word(kinds.EXACT_WORDS), re.IGNORECASE)
NONZERO = frozenset("123456789")


def test_behind_the_other_contexts_a_pattern_tells_only_zero_from_the_other_digits() -> None:
    """The finer shape (zeros kept, digits 1-9 written "1") of a line holding "fail", "error" or
    "0x" but no ``EXACT_WORDS``: every test of a digit outside the branches that need one of
    those exact words is "0" or "[1-9]", which tell two lines of one such shape alike (a literal
    "0" matches, or not, in both; digit, word and boundary classes see every digit alike)."""
    for pattern in classification_patterns():
        tests = digit_tests(P.parse(pattern.pattern, pattern.flags), context=EXACT)
        if pattern.pattern == kinds.SECTION.pattern:
            tests = [t for t in tests if t != {"backreference"}]
        assert all(t in ({"0"}, NONZERO) for t in tests), (pattern.pattern[:200], tests)
    assert digit_tests(P.parse(r"\b0 failed|[1-9]\d* errors?|0x[0-9a-f]"), context=EXACT)
    assert digit_tests(P.parse(r"sha256sum|HTTP [45]\d\d Not Found"), context=EXACT) == []
    for guard in guards():
        if not EXACT.search(guard):  # "Failures: 0, Errors: 0": only zeros, kept by the shape
            assert set(guard) & DIGITS <= {"0"}, guard
    for word in kinds.EXACT_WORDS:
        assert word in CONTEXTS and kinds._LOWER_EXACT.search(f"x{word.upper()}y".lower())


def test_no_guard_holds_a_digit_outside_the_contexts() -> None:
    for guard in guards():
        if not DIGIT_CONTEXT.search(guard):  # a line holding the guard holds the context too
            assert not set(guard) & DIGITS, guard


_NOT_TESTS = {"utf-8"}  # an encoding's name


def test_the_walk_finds_the_tests_of_digits() -> None:
    def found(pattern: str) -> list[list[str]]:
        return [sorted(t) for t in digit_tests(P.parse(pattern))]

    assert found(r"x[45]\d7") == [["4", "5"], ["7"]]
    assert found(r"(?:ab|[^0-8])") == [["9"]]
    assert found(r"\d\w[0-9a-f]\s") == []
    assert found(r"(\d)\1") == [["backreference"]]
    assert found(r"md5sum|collect2 |\b[45]\d\d (?:Not Found|Forbidden)|0 failed|0x\d") == []
    assert found(r"md5sums?|[45]\d\d (?:Not Found|other)") == [["4", "5"]]
    assert found(r"(?i)\b[1-9]\d* (?:errors?|FAILED)|[1-9]0 (?:ok|x)") == [
        ["1", "2", "3", "4", "5", "6", "7", "8", "9"],
        ["0"],
    ]


def test_the_code_holds_no_other_literal_with_a_digit() -> None:
    """Every string literal of these modules' code with a digit is (part of) a pattern or a
    guard checked above (docstrings aside)."""
    sources = [p.pattern for p in classification_patterns()] + guards()
    for module in MODULES:
        tree = ast.parse(inspect.getsource(module))
        docstrings = {
            id(node.value)
            for node in ast.walk(tree)
            if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant)
        }
        for node in ast.walk(tree):
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                if id(node) in docstrings or not set(node.value) & DIGITS:
                    continue
                if node.value not in _NOT_TESTS:
                    assert any(node.value in source for source in sources), node.value


@settings(max_examples=500, deadline=None)
@given(st.text(st.characters(max_codepoint=0x7F), max_size=40), st.sampled_from(CONTEXTS))
def test_the_context_is_found_in_an_ascii_line_lower_cased(text: str, word: str) -> None:
    for line in (text, f"{text[:5]}{word.upper()}{text[5:]}", f"{text}{word.title()}"):
        found = kinds._LOWER_CONTEXT.search(line.lower()) is not None
        assert found == (DIGIT_CONTEXT.search(line) is not None), line


def test_the_context_words_are_the_ones_searched() -> None:
    for word in CONTEXTS:
        assert DIGIT_CONTEXT.search(f"x {word} y") and DIGIT_CONTEXT.search(word.upper())
    assert DIGIT_CONTEXT.search("sha256sum a.txt") and DIGIT_CONTEXT.search("collect2: error")


def test_lines_of_one_shape_get_the_info_worked_out_for_each() -> None:
    kinds.clear_known()
    samples = [
        "3 failed, 0 passed in 1.20s", "0 failed", "10 failed", "Error 2", "exit code 1",
        "make: *** [all] Error 2", "HTTP 404 Not Found", "HTTP 504 Not Found", "curl: (22) 404",
        "sha256sum: a.txt: No such file or directory", "collect2: error: ld returned 1 exit status",
        "    at Foo.bar(Foo.java:12)", "#1 0x7f in main", "[ 12%] Building", "Tests run: 5, "
        "Failures: 0, Errors: 0", "Failures: 0, Errors: 0", "SC2086: quote", "E   assert 1 == 2",
        "errors: 0", "errors=0.5", "Error: 0x7f00 at 10", "1 error", "10 errors",
        "0 errors, 0 failures", "ERROR 101 x",
    ]  # fmt: skip
    for sample in samples:
        for digits in ("0123456789", "9876543210", "1111111111", "7777777777", "0000000000"):
            line = sample.translate(str.maketrans("0123456789", digits))
            assert line_info(line) == _work_out(line), line
