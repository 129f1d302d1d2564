"""Explicit parsing of input times (ISO 8601 strings and epoch seconds, always to aware UTC),
and their ISO 8601 spelling."""

from __future__ import annotations

from datetime import UTC, datetime


def parse_time(value: object) -> datetime:
    """Parse an ISO 8601 string (``Z`` or offset; naive means UTC) or epoch seconds.

    Raises ``ValueError`` with a message saying what was expected.
    """
    if isinstance(value, bool):
        raise ValueError("expected an ISO 8601 time or epoch seconds, got a boolean")
    if isinstance(value, int | float):
        try:
            return datetime.fromtimestamp(float(value), tz=UTC)
        except (OverflowError, OSError, ValueError) as exc:
            raise ValueError(f"epoch seconds {value!r} are out of range") from exc
    if not isinstance(value, str):
        raise ValueError(f"expected an ISO 8601 time string, got {type(value).__name__}")
    text = value.strip()
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError as exc:
        raise ValueError(f"{value!r} is not an ISO 8601 time (e.g. 2026-11-20T06:30:00Z)") from exc
    if parsed.tzinfo is None:
        return parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def as_utc(value: datetime) -> datetime:
    """Attach UTC to a naive datetime read back from a database that drops the zone."""
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def iso_z(value: datetime | None) -> str | None:
    """An aware time as ISO 8601 with ``Z`` for UTC (None stays None)."""
    return value.isoformat().replace("+00:00", "Z") if value else None
