"""The dashboard's filters: parsed from the URL, shared by every tab, written back into links.

Query parameters (each may be repeated where it says "several"):

- ``repo``: repositories ``owner/name`` (several);
- ``status``: statuses (several): an issue state, a spec change status (``in_progress``,
  ``complete``, ``no_tasks``, ``archived``) or an agent session status (``active``, ``idle``,
  ``completed``). Each kind of item keeps the values of its own vocabulary; a status filter
  without any value of a kind's vocabulary hides that kind (``in_progress`` is both an issue
  state and a spec status);
- ``category``, ``priority`` (several);
- ``since``, ``until``: a date range (``YYYY-MM-DD``, both days included), on an issue's last
  activity, a spec change's last modification, an agent session's last activity;
- ``q``: fuzzy search on titles and test names.

A value that is not understood is dropped and reported on the page (never a 422: a person typed
it, or kept an old link).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, time, timedelta
from urllib.parse import urlencode

from triagehub.core.lifecycle import WORKING_STATES
from triagehub.core.models import Category, IssueState, Level

ISSUE_STATES: tuple[str, ...] = tuple(s.value for s in IssueState)
WORKING: tuple[str, ...] = tuple(s.value for s in IssueState if s in WORKING_STATES)
SPEC_STATUSES: tuple[str, ...] = ("in_progress", "complete", "no_tasks", "archived")
SESSION_STATUSES: tuple[str, ...] = ("pending", "active", "idle", "completed", "cancelled")
ALL_STATUSES: tuple[str, ...] = tuple(
    dict.fromkeys((*ISSUE_STATES, *SPEC_STATUSES, *SESSION_STATUSES))
)
CATEGORIES: tuple[str, ...] = tuple(c.value for c in Category)
PRIORITIES: tuple[str, ...] = tuple(level.value for level in Level)
PRIORITY_RANK: dict[str, int] = {"critical": 0, "high": 1, "medium": 2, "low": 3}
REPOSITORY = re.compile(r"^[A-Za-z0-9_.\-]+/[A-Za-z0-9_.\-]+$")
MAX_Q = 200
MAX_VALUES = 20


@dataclass(frozen=True, slots=True)
class Filters:
    repositories: tuple[str, ...] = ()
    statuses: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    priorities: tuple[str, ...] = ()
    since: date | None = None
    until: date | None = None
    q: str = ""
    problems: tuple[str, ...] = field(default=(), compare=False)

    # -- what each kind of item keeps --

    def issue_states(self) -> tuple[str, ...] | None:
        """The issue states asked for; () none asked; None: the status filter excludes issues."""
        return self._of(ISSUE_STATES)

    def spec_statuses(self) -> tuple[str, ...] | None:
        return self._of(SPEC_STATUSES)

    def session_statuses(self) -> tuple[str, ...] | None:
        return self._of(SESSION_STATUSES)

    def _of(self, vocabulary: tuple[str, ...]) -> tuple[str, ...] | None:
        if not self.statuses:
            return ()
        mine = tuple(s for s in self.statuses if s in vocabulary)
        return mine or None

    @property
    def since_at(self) -> datetime | None:
        return datetime.combine(self.since, time(), UTC) if self.since else None

    @property
    def until_at(self) -> datetime | None:
        """The end of the range, exclusive: the day after ``until``, 00:00 UTC."""
        return datetime.combine(self.until + timedelta(days=1), time(), UTC) if self.until else None

    def in_range(self, at: datetime) -> bool:
        since, until = self.since_at, self.until_at
        return (since is None or at >= since) and (until is None or at < until)

    @property
    def active(self) -> bool:
        return bool(self.items())

    # -- URLs --

    def items(self) -> list[tuple[str, str]]:
        pairs: list[tuple[str, str]] = [("repo", r) for r in self.repositories]
        pairs += [("status", s) for s in self.statuses]
        pairs += [("category", c) for c in self.categories]
        pairs += [("priority", p) for p in self.priorities]
        if self.since:
            pairs.append(("since", self.since.isoformat()))
        if self.until:
            pairs.append(("until", self.until.isoformat()))
        if self.q:
            pairs.append(("q", self.q))
        return pairs

    def url(self, path: str, **extra: str | None) -> str:
        """``path`` with these filters and ``extra`` parameters (None values left out)."""
        pairs = self.items() + [(k, v) for k, v in extra.items() if v is not None]
        return path + ("?" + urlencode(pairs) if pairs else "")

    def but(self, **changes: object) -> Filters:
        """These filters with some fields replaced (``repositories=("a/b",)``)."""
        return replace(self, **changes)  # type: ignore[arg-type]

    def without(self, name: str, value: str | None = None) -> Filters:
        """These filters less one parameter (or one of its values): the "remove" chips."""
        if name == "repo":
            keep = tuple(r for r in self.repositories if value is not None and r != value)
            return replace(self, repositories=keep)
        if name == "status":
            return replace(
                self, statuses=tuple(s for s in self.statuses if value is not None and s != value)
            )
        if name == "category":
            return replace(
                self,
                categories=tuple(c for c in self.categories if value is not None and c != value),
            )
        if name == "priority":
            return replace(
                self,
                priorities=tuple(p for p in self.priorities if value is not None and p != value),
            )
        if name == "since":
            return replace(self, since=None)
        if name == "until":
            return replace(self, until=None)
        if name == "q":
            return replace(self, q="")
        raise ValueError(name)

    def chips(self) -> list[tuple[str, str, str]]:
        """(label, value, name) of every active filter, for the "remove filter" buttons."""
        out = [("repository", r, "repo") for r in self.repositories]
        out += [("status", s, "status") for s in self.statuses]
        out += [("category", c, "category") for c in self.categories]
        out += [("priority", p, "priority") for p in self.priorities]
        if self.since:
            out.append(("from", self.since.isoformat(), "since"))
        if self.until:
            out.append(("to", self.until.isoformat(), "until"))
        if self.q:
            out.append(("search", self.q, "q"))
        return out


def _values(
    pairs: list[tuple[str, str]], name: str, allowed: tuple[str, ...] | None, problems: list[str]
) -> tuple[str, ...]:
    found: list[str] = []
    for key, raw in pairs:
        if key != name:
            continue
        value = raw.strip()
        if not value:
            continue
        if allowed is not None and value not in allowed:
            problems.append(f"{name} {value[:60]!r} is not one of {', '.join(allowed)}: ignored")
            continue
        if allowed is None and (len(value) > 200 or not REPOSITORY.match(value)):
            problems.append(f"{name} {value[:60]!r} is not a repository (owner/name): ignored")
            continue
        if value not in found and len(found) < MAX_VALUES:
            found.append(value)
    return tuple(found)


def _day(pairs: list[tuple[str, str]], name: str, problems: list[str]) -> date | None:
    raw = next((v.strip() for k, v in pairs if k == name and v.strip()), "")
    if not raw:
        return None
    try:
        if len(raw) == 10:
            return date.fromisoformat(raw)
    except ValueError:
        pass
    problems.append(f"{name} {raw[:40]!r} is not a date (YYYY-MM-DD): ignored")
    return None


def parse_filters(pairs: list[tuple[str, str]]) -> Filters:
    """The filters of a request's query parameters (``request.query_params.multi_items()``)."""
    problems: list[str] = []
    q = next((v for k, v in pairs if k == "q"), "").strip()
    if "\x00" in q:
        problems.append("the search text cannot hold NUL characters: ignored")
        q = ""
    if len(q) > MAX_Q:
        problems.append(f"the search text was cut to {MAX_Q} characters")
        q = q[:MAX_Q]
    since = _day(pairs, "since", problems)
    until = _day(pairs, "until", problems)
    if since and until and since > until:
        problems.append("the date range ends before it starts: the end was ignored")
        until = None
    return Filters(
        repositories=_values(pairs, "repo", None, problems),
        statuses=_values(pairs, "status", ALL_STATUSES, problems),
        categories=_values(pairs, "category", CATEGORIES, problems),
        priorities=_values(pairs, "priority", PRIORITIES, problems),
        since=since,
        until=until,
        q=q,
        problems=tuple(problems),
    )
