"""Time comes from a ``Clock`` so that the core never reads the wall clock itself.

``SystemClock`` is the only place in the project that reads the wall clock. It honours
``TRIAGEHUB_CLOCK_OFFSET`` (``365d``, ``-12h``, ``90m``, ``3600s``, ``2w``): every process started
with it lives that far in the future (or past). The test suite uses it to run the time-sensitive
tests a year ahead, and an operator can use it to replay what a later tick would decide.
"""

from __future__ import annotations

import os
import re
from datetime import UTC, datetime, timedelta
from typing import Protocol

from triagehub.errors import ConfigError

CLOCK_OFFSET_ENV = "TRIAGEHUB_CLOCK_OFFSET"

_OFFSET_RE = re.compile(r"([+-]?\d+(?:\.\d+)?)\s*([smhdw]?)", re.IGNORECASE)
_UNIT_SECONDS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
_parsed: tuple[str, timedelta] = ("", timedelta(0))


class Clock(Protocol):
    def now(self) -> datetime: ...


def parse_offset(text: str) -> timedelta:
    """``365d``, ``-12h``, ``90m``, ``3600s``, ``2w`` or bare seconds as a ``timedelta``.

    Raises ``ValueError`` naming the variable and the expected form.
    """
    match = _OFFSET_RE.fullmatch(text.strip())
    if match is None:
        raise ValueError(
            f"{CLOCK_OFFSET_ENV}={text!r} is not a duration (expected e.g. 365d, -12h, 90m, 3600s)"
        )
    return timedelta(seconds=float(match.group(1)) * _UNIT_SECONDS[match.group(2).lower()])


def clock_offset() -> timedelta:
    """The shift ``TRIAGEHUB_CLOCK_OFFSET`` asks for (zero when unset)."""
    global _parsed
    raw = os.environ.get(CLOCK_OFFSET_ENV, "")
    if raw != _parsed[0]:
        try:
            _parsed = (raw, parse_offset(raw) if raw.strip() else timedelta(0))
        except ValueError as exc:
            raise ConfigError("environment", CLOCK_OFFSET_ENV, str(exc)) from None
    return _parsed[1]


class SystemClock:
    """The real UTC clock (shifted by ``TRIAGEHUB_CLOCK_OFFSET`` when set)."""

    def now(self) -> datetime:
        return datetime.now(UTC) + clock_offset()

    def timestamp(self) -> float:
        """Seconds since the epoch, on the same (possibly shifted) time line as ``now``."""
        return self.now().timestamp()


class FixedClock:
    """A clock that stands still until moved (for tests and replays)."""

    def __init__(self, at: datetime) -> None:
        self._at = at

    def now(self) -> datetime:
        return self._at

    def set(self, at: datetime) -> None:
        self._at = at

    def advance(self, delta: timedelta) -> datetime:
        self._at += delta
        return self._at
