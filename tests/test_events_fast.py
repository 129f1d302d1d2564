"""The events source reads a result of the usual shape at once (``_plain_result``) and checks
anything else field by field (``_checked_result``): for every result the quick read accepts,
it makes exactly what the checked read makes, and it accepts the usual results."""

from __future__ import annotations

import itertools
import math
from typing import Any

import pytest

from triagehub.core.models import CheckResult
from triagehub.errors import InputError
from triagehub.sources.events import (
    MAX_CHECK_CHARS,
    MAX_MESSAGE_BYTES,
    _checked_result,
    _plain_result,
    _result,
    _Where,
)

WHERE = _Where("events.jsonl", "line 1: ")
QUARTER = MAX_MESSAGE_BYTES // 4

CHECKS: list[Any] = ["tests/test_a.py::t", "  padded  ", "   ", "", "x" * MAX_CHECK_CHARS]
CHECKS += ["x" * (MAX_CHECK_CHARS + 1), 7, None, "missing"]
STATUSES: list[Any] = ["fail", "FAIL", "Pass", "error", "skip", "flaky", "failed", "", 1, None]
STATUSES += ["missing"]
MESSAGES: list[Any] = ["AssertionError: 1 != 2", "", None, 12, "a" * QUARTER, "a" * (QUARTER + 1)]
MESSAGES += ["é" * (QUARTER + 1), "✓" * (MAX_MESSAGE_BYTES // 3 + 1), "missing"]
DURATIONS: list[Any] = [0, 3, 1.5, 0.0, -1, -0.5, True, "1", math.nan, math.inf, None, "missing"]
EXIT_CODES: list[Any] = [0, 2, -1, True, False, 1.0, "1", None, "missing"]
EXTRAS: list[dict[str, Any]] = [{}, {"extra": 1}, {"log": "line\nline"}, {"log": 5}]


class Text(str):
    """A ``str`` of another type (the quick read leaves it to the checked one)."""


def outcome(obj: Any, read: Any = _checked_result) -> CheckResult | str:
    """What a read makes of ``obj`` (the checked one unless told): its result, or its error's
    words."""
    try:
        result: CheckResult = read(WHERE, obj, "results[0].")
    except InputError as exc:
        return str(exc)
    return result


def result_objects() -> list[Any]:
    found: list[Any] = []
    fields = itertools.product(CHECKS, STATUSES, MESSAGES[:4], DURATIONS[:3], EXIT_CODES[:2])
    values = [*fields]
    values += [("t", "fail", m, d, e) for m in MESSAGES for d in DURATIONS for e in EXIT_CODES]
    for check, status, message, duration, exit_code in values:
        obj = {
            "check": check,
            "status": status,
            "message": message,
            "duration_s": duration,
            "exit_code": exit_code,
        }
        found.append({k: v for k, v in obj.items() if v != "missing"})
    found += [{"check": "t", "status": "fail", **extra} for extra in EXTRAS]
    found += [{"check": Text("t"), "status": "fail"}, {"check": "t", "status": Text("fail")}]
    found += [[], "result", None, 3]
    return found


def test_the_quick_read_makes_what_the_checked_read_makes() -> None:
    objects = result_objects()
    quick = 0
    for obj in objects:
        plain = _plain_result(obj)
        checked = outcome(obj)
        if plain is not None:
            quick += 1
            assert isinstance(checked, CheckResult), obj
            assert plain == checked, obj
            assert type(plain.duration_s) is type(checked.duration_s)
        assert outcome(obj, _result) == checked, obj
    assert quick > 400  # the usual results are read at once (501 of these)


@pytest.mark.parametrize(
    "obj",
    [
        {"check": "tests/test_a.py::t", "status": "fail", "message": "boom", "log": "trace"},
        {"check": " lint ", "status": "PASS", "duration_s": 2, "exit_code": 0},
        {"check": "build", "status": "error", "message": "", "duration_s": 0.25},
    ],
)
def test_usual_results_are_read_at_once(obj: dict[str, Any]) -> None:
    assert _plain_result(obj) == outcome(obj)
    assert _plain_result(obj) is not None


def test_a_result_with_a_problem_still_raises_its_error() -> None:
    with pytest.raises(InputError, match=r"results\[0\]\.status: unknown status 'failed'"):
        _result(WHERE, {"check": "t", "status": "failed"}, "results[0].")
    with pytest.raises(InputError, match=r"results\[0\]\.duration_s: must not be negative"):
        _result(WHERE, {"check": "t", "status": "fail", "duration_s": -1}, "results[0].")
