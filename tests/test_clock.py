"""The project's clock: one wall-clock reader, a shift for the whole process tree, and a guard
that keeps tests from comparing the real "now" with fixed dates."""

from __future__ import annotations

import ast
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from triagehub.clock import CLOCK_OFFSET_ENV, FixedClock, SystemClock, clock_offset, parse_offset
from triagehub.errors import ConfigError

# Time-sensitive (ages, windows, expiry): make test runs this module again a year ahead.
pytestmark = pytest.mark.clock

ROOT = Path(__file__).resolve().parent.parent
WALL_CLOCK = {
    "datetime": ("now", "utcnow", "today"),
    "date": ("today",),
    "time": ("time", "time_ns"),
}
ALLOWED_MARK = "# real time:"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("365d", timedelta(days=365)),
        ("-12h", timedelta(hours=-12)),
        ("90m", timedelta(minutes=90)),
        ("3600s", timedelta(hours=1)),
        ("2w", timedelta(weeks=2)),
        ("1.5h", timedelta(minutes=90)),
        ("42", timedelta(seconds=42)),
        (" +7D ", timedelta(days=7)),
    ],
)
def test_offsets_are_read_in_their_units(text: str, expected: timedelta) -> None:
    assert parse_offset(text) == expected


@pytest.mark.parametrize("text", ["a year", "365 days", "d", "1y", "--1d"])
def test_a_bad_offset_names_the_variable_and_the_form(text: str) -> None:
    with pytest.raises(ValueError, match=rf"{CLOCK_OFFSET_ENV}=.*expected e\.g\. 365d"):
        parse_offset(text)


def test_the_system_clock_follows_the_offset(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(CLOCK_OFFSET_ENV, "0s")
    before = SystemClock().now()
    monkeypatch.setenv(CLOCK_OFFSET_ENV, "400d")
    shifted = SystemClock().now()
    assert timedelta(days=400) <= shifted - before < timedelta(days=400, minutes=1)
    assert shifted.tzinfo is UTC
    assert abs(SystemClock().timestamp() - shifted.timestamp()) < 60
    monkeypatch.delenv(CLOCK_OFFSET_ENV)
    assert clock_offset() == timedelta(0)


def test_a_process_started_with_the_offset_lives_in_the_future(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(CLOCK_OFFSET_ENV, "-3650d")
    out = subprocess.run(
        [
            sys.executable,
            "-c",
            "from triagehub.clock import SystemClock; print(SystemClock().now())",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    seen = datetime.fromisoformat(out.strip())
    monkeypatch.delenv(CLOCK_OFFSET_ENV)
    assert timedelta(days=3649) < SystemClock().now() - seen < timedelta(days=3651)


def test_a_bad_offset_in_the_environment_is_a_config_error(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv(CLOCK_OFFSET_ENV, "next year")
    with pytest.raises(ConfigError, match=CLOCK_OFFSET_ENV):
        SystemClock().now()
    answer = subprocess.run(
        [sys.executable, "-m", "triagehub", "--db", f"sqlite:///{tmp_path / 'x.db'}", "monitor"],
        capture_output=True,
        text=True,
    )
    assert answer.returncode == 2, answer.stderr
    assert "Traceback" not in answer.stderr
    assert "TRIAGEHUB_CLOCK_OFFSET='next year' is not a duration" in answer.stderr


def test_a_fixed_clock_stands_still_until_moved() -> None:
    clock = FixedClock(datetime(2026, 11, 2, tzinfo=UTC))
    assert clock.now() == clock.now()
    assert clock.advance(timedelta(hours=3)) == datetime(2026, 11, 2, 3, tzinfo=UTC)
    clock.set(datetime(2027, 1, 1, tzinfo=UTC))
    assert clock.now().year == 2027


def _wall_clock_reads(folder: Path) -> list[str]:
    """Calls of datetime.now/utcnow, date.today and time.time/time_ns, found in the syntax tree
    (not in strings), unless the line before says why real time is meant."""
    found = []
    for path in sorted(folder.rglob("*.py")):
        source = path.read_text(encoding="utf-8")
        lines = source.splitlines()
        for node in ast.walk(ast.parse(source)):
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
                continue
            owner = node.func.value
            name = owner.id if isinstance(owner, ast.Name) else getattr(owner, "attr", "")
            if node.func.attr not in WALL_CLOCK.get(name, ()):
                continue
            before = lines[node.lineno - 2] if node.lineno > 1 else ""
            if ALLOWED_MARK not in before:
                found.append(f"{path.relative_to(ROOT)}:{node.lineno}: {lines[node.lineno - 1]}")
    return found


def test_only_the_clock_module_reads_the_wall_clock() -> None:
    found = [
        hit
        for hit in _wall_clock_reads(ROOT / "src")
        if not hit.startswith("src/triagehub/clock.py")
    ]
    assert found == [], "read the time through triagehub.clock (SystemClock or an injected Clock)"


def test_tests_read_time_from_the_project_clock() -> None:
    """A test that needs "now" takes it from SystemClock (shifted with the suite) or a FixedClock;
    the few that compare with a real outside tool's clock say so on the line before."""
    assert _wall_clock_reads(ROOT / "tests") == [], (
        f"use SystemClock().now() or a FixedClock, or explain with '{ALLOWED_MARK}' above the line"
    )
