"""What the excerpt remembers of the lines it has seen (issue #24): the kinds of distinct lines,
in a bounded table that keeps the lines every run prints through a flood of lines seen once."""

from __future__ import annotations

from triagehub.core.excerpt import clear_known, extract, kinds
from triagehub.core.excerpt.kinds import KNOWN_LINES, classify_line


def _remembered(line: str) -> bool:
    return line in kinds._KNOWN or line in kinds._OLD


def test_a_line_seen_again_survives_a_flood_of_lines_seen_once() -> None:
    clear_known()
    stable = "npm ERR! code ELIFECYCLE"
    for run in range(3):
        classify_line(stable)
        for i in range(KNOWN_LINES):  # a run's durations and ids: each line new
            classify_line(f"run {run} step {i} took {i * 7}ms")
        assert _remembered(stable)


def test_a_line_not_seen_for_two_generations_is_forgotten() -> None:
    clear_known()
    classify_line("once")
    for i in range(2 * KNOWN_LINES + 1):
        classify_line(f"line {i}")
    assert not _remembered("once")
    assert len(kinds._KNOWN) + len(kinds._OLD) <= 2 * KNOWN_LINES


def test_remembered_kinds_give_the_same_excerpt() -> None:
    log = "collecting ...\nE   AssertionError: 1 != 2\nFAILED tests/test_a.py::test_b\n"
    clear_known()
    first = extract(log)
    for i in range(KNOWN_LINES + 5):
        classify_line(f"noise line {i}")
    assert extract(log) == first
