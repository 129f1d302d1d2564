"""Per-check rolling history (the pure half of ``CheckStats``) and the history class.

O(1) per result: counters, the last pass and failure (time and commit), a 64-bit bitmap of the
most recent outcomes (bit 0 = the latest; 1 = failed), and the finish times of the latest green runs
(``pass_times``, by event time, at most ``MAX_PASS_TIMES``): the evidence of auto-resolution, kept
as a set so that the arrival order of the runs never changes it.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from triagehub.core.models import HistoryClass, Status

_MASK64 = (1 << 63) - 1  # fits a signed BIGINT
_FAILED = ("fail", "error")
MAX_PASS_TIMES = 64
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)
# What ``apply`` reads of a status, read once (an enum's ``.value`` and a member looked up on its
# class are calls: ``apply`` runs once per result).
_SKIP, _FLAKY = Status.SKIP, Status.FLAKY
_VALUE = {s: s.value for s in Status}


def to_micros(at: datetime) -> int:
    """A UTC time as integer microseconds since the epoch (exact, compact in JSON)."""
    if at.tzinfo is None:
        at = at.replace(tzinfo=UTC)
    return (at - _EPOCH) // _MICROSECOND


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
        times = self.pass_times or []
        i = bisect_left(times, value)
        if i < len(times) and times[i] == value:
            return
        # (a new list, as sorted as ever: where ``value`` goes in the ascending times)
        self.pass_times = [*times[:i], value, *times[i:]][-MAX_PASS_TIMES:]

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
        if status is _SKIP:
            return False
        failed = status.is_failure
        retried = attempt > 1 and run_key == self.last_run_key and self.last_status in _FAILED
        evidence = (
            status is _FLAKY
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
            if status is _FLAKY:
                self.failures += 1
            elif at is not None:
                self.add_pass_time(at)
        self.last_status = _VALUE[status]
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


# -- the history in event time -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Outcome:
    """One stored outcome of a check, for the event-time replay: a failure (an occurrence), a
    green run (a kept pass time) or a result that said flaky itself. ``commits`` and ``runs``
    (run key, attempt) name the run(s) it came from."""

    at: datetime
    failed: bool
    commits: frozenset[str] = frozenset()
    runs: frozenset[tuple[str, int]] = frozenset()
    flaky: bool = False


@dataclass(frozen=True, slots=True)
class Replay:
    """A check's outcomes by event time: for each, whether it was flaky evidence and whether
    the check was flaky after it (the sticky flag of ``CheckHistory``, decaying after
    ``flaky_clean_runs`` clean green runs)."""

    outcomes: tuple[Outcome, ...]
    evidence: tuple[bool, ...]
    flaky_after: tuple[bool, ...]

    def flaky_at(self, at: datetime) -> bool:
        """Was the check flaky once every outcome up to ``at`` was known?"""
        state = False
        for o, flaky in zip(self.outcomes, self.flaky_after, strict=True):
            if o.at > at:
                break
            state = flaky
        return state

    def evidence_after(self, at: datetime) -> bool:
        return any(e for o, e in zip(self.outcomes, self.evidence, strict=True) if o.at > at)

    def consecutive_failures(self, at: datetime) -> int:
        """Failures in a row up to ``at``, after the last green (or flaky) outcome."""
        n = 0
        for o in self.outcomes:
            if o.at > at:
                break
            n = n + 1 if o.failed else 0
        return n


def replay(outcomes: Iterable[Outcome], flaky_clean_runs: int) -> Replay:
    """Flaky evidence and the flaky flag as ``CheckHistory.apply`` gives them when the runs
    arrive in event order, whatever order they really arrived in.

    Evidence, judged against the outcomes just before in event time: the result said flaky; a
    failure on the commit of the latest green run, or a pass on the commit of the latest
    failure; a pass on a later attempt of the run whose failure came just before.
    """
    ordered = tuple(sorted(outcomes, key=lambda o: (o.at, o.failed, sorted(o.commits))))
    last_pass: frozenset[str] = frozenset()
    last_fail: frozenset[str] = frozenset()
    previous: Outcome | None = None
    evidence: list[bool] = []
    flaky_after: list[bool] = []
    flaky, clean = False, 0
    for o in ordered:
        retried = (
            previous is not None
            and previous.failed
            and any(
                run == before and attempt > 1
                for run, attempt in o.runs
                for before, _ in previous.runs
            )
        )
        found = (
            o.flaky
            or (o.failed and bool(o.commits & last_pass))
            or (not o.failed and bool(o.commits & last_fail))
            or (not o.failed and retried)
        )
        if o.failed:
            last_fail = o.commits or last_fail
        else:
            last_pass = o.commits or last_pass
        previous = o
        if found:
            flaky, clean = True, 0
        elif flaky:
            if o.failed:
                clean = 0
            else:
                clean += 1
                if clean >= flaky_clean_runs:
                    flaky, clean = False, 0
        evidence.append(found)
        flaky_after.append(flaky)
    return Replay(ordered, tuple(evidence), tuple(flaky_after))


def event_time_class(
    check: Replay,
    *,
    latest_failure: datetime,
    issue_occurrences: int,
    recurring_threshold: int,
    persistent_threshold: int,
) -> HistoryClass:
    """The history class of an issue as live processing gives it, from its check's outcomes by
    event time: the check's history when the issue last failed (flaky, then ``N`` failures in
    a row, then the issue's occurrences), and flaky when a later green run proved it flaky."""
    if check.flaky_at(latest_failure) or check.evidence_after(latest_failure):
        return HistoryClass.FLAKY
    if check.consecutive_failures(latest_failure) >= persistent_threshold:
        return HistoryClass.PERSISTENT
    if issue_occurrences >= recurring_threshold:
        return HistoryClass.RECURRING
    return HistoryClass.NEW
