"""The issue state machine of DESIGN.md: which transitions exist, and who may make them.

open → triaged → assigned → in_progress → resolved / auto_resolved / ignored / false_positive,
and regressed (a resolved issue that failed again). Pure: no I/O; the store applies a transition
and writes it to the timeline (``triagehub.store.lifecycle``).

Auto-resolution and regression are decided in event time (``healed_episodes``): a resolution is
stamped with the finish of the green run that proved it, and a failure regresses an issue only when
it happened after that; late arrivals and late ticks therefore give the states live processing
gives.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from triagehub.core.models import IssueState, Level
from triagehub.errors import InputError

S = IssueState


class Actor(enum.StrEnum):
    """Who made a change; recorded on every timeline entry."""

    RULE = "rule"  # the pipeline and the monitor's rules
    HUMAN = "human"
    LLM = "llm"
    SYNC = "sync"  # a change that came back from GitHub


_WORKING = (S.OPEN, S.TRIAGED, S.ASSIGNED, S.IN_PROGRESS, S.REGRESSED)
_ENDINGS = frozenset({S.RESOLVED, S.AUTO_RESOLVED, S.IGNORED, S.FALSE_POSITIVE})

TRANSITIONS: dict[IssueState, frozenset[IssueState]] = {
    S.OPEN: frozenset({S.TRIAGED, S.ASSIGNED, S.IN_PROGRESS, *_ENDINGS}),
    S.TRIAGED: frozenset({S.OPEN, S.ASSIGNED, S.IN_PROGRESS, *_ENDINGS}),
    S.ASSIGNED: frozenset({S.TRIAGED, S.IN_PROGRESS, *_ENDINGS}),
    S.IN_PROGRESS: frozenset({S.ASSIGNED, *_ENDINGS}),
    S.REGRESSED: frozenset({S.TRIAGED, S.ASSIGNED, S.IN_PROGRESS, *_ENDINGS}),
    # A resolution is undone by a new failure (regressed) or a human reopening it (open).
    S.RESOLVED: frozenset({S.REGRESSED, S.OPEN}),
    S.AUTO_RESOLVED: frozenset({S.REGRESSED, S.OPEN}),
    S.IGNORED: frozenset({S.OPEN, S.FALSE_POSITIVE}),
    S.FALSE_POSITIVE: frozenset({S.OPEN}),
}

# Only the rules move an issue to these (a person resolves; the monitor auto-resolves).
_MACHINE_ONLY = frozenset({S.AUTO_RESOLVED, S.REGRESSED})

# States in which an issue is worked on: they age, breach SLAs and escalate.
WORKING_STATES = frozenset(_WORKING)


def check_transition(current: IssueState, target: IssueState, actor: Actor) -> None:
    """Raise ``InputError`` with the allowed targets when ``current → target`` is not a
    transition of the state machine, or not one ``actor`` may make."""
    if current is target:
        raise InputError("state", target.value, f"the issue is already {target.value}")
    allowed = TRANSITIONS[current]
    if target not in allowed:
        mine = [s for s in allowed if actor is Actor.RULE or s not in _MACHINE_ONLY]
        options = ", ".join(sorted(s.value for s in mine)) or "nothing"
        raise InputError(
            "state",
            target.value,
            f"an issue cannot go from {current.value} to {target.value} (from {current.value}: "
            f"{options})",
        )
    if target in _MACHINE_ONLY and actor in (Actor.HUMAN, Actor.SYNC):
        raise InputError(
            "state",
            target.value,
            f"{target.value} is set by the rules only; a person sets resolved or open",
        )


# -- event-time auto-resolution ----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Episode:
    """One healing of an issue, in event time: after the failure at ``after``, every check of
    the issue passed ``needed`` runs; the issue resolved when the last of them finished
    (``resolved_at``, the time of the evidence) and regressed at the next failure, if any."""

    after: datetime
    resolved_at: datetime
    regressed_at: datetime | None


def healed_episodes(
    failures: Iterable[datetime],
    passes: Mapping[int, Sequence[datetime]],
    needed: int,
    *,
    known_from: datetime | None = None,
) -> list[Episode]:
    """Every healing of an issue, from its failures (any check, any order) and the green runs
    of each of its checks, by event time only: the same runs give the same episodes whatever
    order they arrived in and whenever a tick looked.

    ``known_from``: green runs before it may have been forgotten (the bounded history), so gaps
    starting before it are not judged.
    """
    times = sorted(set(failures))
    if not times or not passes:
        return []
    episodes: list[Episode] = []
    for i, start in enumerate(times):
        if known_from is not None and start < known_from:
            continue
        end = times[i + 1] if i + 1 < len(times) else None
        healed_at: datetime | None = None
        for check_passes in passes.values():
            inside = sorted(p for p in check_passes if p > start and (end is None or p < end))
            if len(inside) < needed:
                healed_at = None
                break
            kth = inside[needed - 1]
            healed_at = kth if healed_at is None or kth > healed_at else healed_at
        if healed_at is not None:
            episodes.append(Episode(after=start, resolved_at=healed_at, regressed_at=end))
    return episodes


# -- escalation ----------------------------------------------------------------------------------

# Kinds whose failures are low severity whatever their rule says: style and lint.
_LOW_KINDS = frozenset({"lint", "format"})


def escalated_priority(priority: Level, *, severity: Level, kind: str, level: int) -> Level:
    """The priority of an issue escalated ``level`` times, from its classified ``priority``.

    Escalation raises it one step at most, whatever the number of triggers; never to
    ``critical`` (reserved for what the classification calls P0: main-branch build or deploy
    breaks in critical repositories, production data failures, security); and never lifts a
    low-severity issue (warnings, warn-severity dbt tests, lint, style) above ``medium``.
    """
    if level <= 0 or priority is Level.CRITICAL:
        return priority
    ceiling = Level.MEDIUM if severity is Level.LOW or kind in _LOW_KINDS else Level.HIGH
    if priority.rank >= ceiling.rank:
        return priority
    return Level.from_rank(priority.rank + 1)
