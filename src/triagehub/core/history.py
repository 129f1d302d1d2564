"""Per-check rolling history (the pure half of ``CheckStats``) and the history class.

O(1) per result: counters, the last pass and failure (time and commit), a 64-bit bitmap of the
most recent outcomes (bit 0 = the latest; 1 = failed), and the finish times of the latest green runs
(``pass_times``, by event time, at most ``MAX_PASS_TIMES``): the evidence of auto-resolution, kept
as a set so that the arrival order of the runs never changes it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from triagehub.core.models import HistoryClass, Status

_MASK64 = (1 << 63) - 1  # fits a signed BIGINT
_FAILED = ("fail", "error")
MAX_PASS_TIMES = 64
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def to_micros(at: datetime) -> int:
    """A UTC time as integer microseconds since the epoch (exact, compact in JSON)."""
    if at.tzinfo is None:
        at = at.replace(tzinfo=UTC)
    return (at - _EPOCH) // timedelta(microseconds=1)


def from_micros(value: int) -> datetime:
    return _EPOCH + timedelta(microseconds=value)


@dataclass(slots=True)
class CheckHistory:
    runs: int = 0
    failures: int = 0
    consecutive_failures: int = 0
    last_status: str | None = None
    last_run_at: datetime | None = None
    last_pass_at: datetime | None = None
    last_fail_at: datetime | None = None
    last_pass_commit: str | None = None
    last_fail_commit: str | None = None
    last_run_key: str | None = None
    recent: int = 0
    flaky: bool = False
    flaky_clean_runs: int = 0
    # Finish times (``to_micros``) of the latest green runs, ascending, without duplicates.
    pass_times: list[int] | None = None

    def add_pass_time(self, at: datetime) -> None:
        """Remember a green run's finish time; the newest ``MAX_PASS_TIMES`` (by event time, not
        arrival) are kept."""
        value = to_micros(at)
        times = list(self.pass_times or ())
        if value in times:
            return
        times.append(value)
        times.sort()
        self.pass_times = times[-MAX_PASS_TIMES:]

    def passes(self) -> list[datetime]:
        return [from_micros(v) for v in self.pass_times or ()]

    def apply(
        self,
        status: Status,
        *,
        at: datetime | None,
        commit: str | None,
        run_key: str,
        attempt: int,
        flaky_clean_runs: int,
    ) -> bool:
        """Record one outcome; return True when it is new flaky evidence.

        Flaky evidence: the result itself says flaky (failed, then passed on retry); a pass on a
        later attempt of the run that failed; a pass and a failure on the same commit.
        """
        if status is Status.SKIP:
            return False
        failed = status.is_failure
        retried = attempt > 1 and run_key == self.last_run_key and self.last_status in _FAILED
        evidence = (
            status is Status.FLAKY
            or (failed and commit is not None and commit == self.last_pass_commit)
            or (not failed and commit is not None and commit == self.last_fail_commit)
            or (not failed and retried)
        )

        self.runs += 1
        self.recent = ((self.recent << 1) | int(failed or evidence)) & _MASK64
        if failed:
            self.failures += 1
            self.consecutive_failures += 1
            self.last_fail_at = _later(self.last_fail_at, at)
            self.last_fail_commit = commit or self.last_fail_commit
        else:
            self.consecutive_failures = 0
            self.last_pass_at = _later(self.last_pass_at, at)
            self.last_pass_commit = commit or self.last_pass_commit
            if status is Status.FLAKY:
                self.failures += 1
            elif at is not None:
                self.add_pass_time(at)
        self.last_status = status.value
        self.last_run_at = _later(self.last_run_at, at)
        self.last_run_key = run_key

        if evidence:
            self.flaky = True
            self.flaky_clean_runs = 0
        elif self.flaky:
            if failed:
                self.flaky_clean_runs = 0
            else:
                self.flaky_clean_runs += 1
                if self.flaky_clean_runs >= flaky_clean_runs:
                    self.flaky = False
                    self.flaky_clean_runs = 0
        return evidence

    def history_class(
        self, *, issue_occurrences: int, recurring_threshold: int, persistent_threshold: int
    ) -> HistoryClass:
        """flaky (sticky) > persistent (N consecutive failures) > recurring > new."""
        if self.flaky:
            return HistoryClass.FLAKY
        if self.consecutive_failures >= persistent_threshold:
            return HistoryClass.PERSISTENT
        if issue_occurrences >= recurring_threshold:
            return HistoryClass.RECURRING
        return HistoryClass.NEW


def _later(current: datetime | None, candidate: datetime | None) -> datetime | None:
    if candidate is None:
        return current
    if current is None or candidate > current:
        return candidate
    return current
