"""A new issue's expert and assignee are decided before its insert (issue #24): the ingest's
on-call pass then writes no second version of the row, and what is stored is still the pass's
decision, also where the guess made before the insert was overtaken (``engine.oncall.at_insert``).
On SQLite and PostgreSQL, with a FixedClock; the Hub of ``test_oncall``."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from sqlalchemy import Engine, event, select
from sqlalchemy.orm import Session

from test_oncall import OTHER, Hub, config
from triagehub.store import tables as t

pytestmark = pytest.mark.clock


@contextmanager
def issue_updates(engine: Engine) -> Iterator[list[str]]:
    """The UPDATE statements on ``issues`` sent while the block runs."""
    seen: list[str] = []

    def record(_c: Any, _cur: Any, statement: str, *_rest: Any) -> None:
        if statement.lstrip().upper().startswith("UPDATE ISSUES"):
            seen.append(statement)

    event.listen(engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", record)


def test_new_critical_issues_are_assigned_by_their_insert_without_an_update(
    engine: Engine,
) -> None:
    hub = Hub(engine, config())
    with issue_updates(engine) as updates:
        hub.fail("critical_a", "critical_b", "critical_c")
    assert updates == []
    issues = hub.issues()
    assert [
        (issues[k]["expert"], issues[k]["assignee"], issues[k]["state"], issues[k]["updated_at"])
        for k in ("critical_a", "critical_b", "critical_c")
    ] == [
        ("dbt-expert", "alice", "assigned", hub.clock.now()),
        ("dbt-expert", "bob", "assigned", hub.clock.now()),
        ("dbt-expert", "alice", "assigned", hub.clock.now()),
    ]
    with Session(engine) as session:
        changed = session.execute(
            select(t.issue_events.c.data).where(t.issue_events.c.kind == "state_changed")
        ).scalars()
        assert [(d["from"], d["to"]) for d in changed] == [("open", "assigned")] * 3


def test_a_new_critical_issue_without_a_routing_entry_gets_its_expert_by_its_insert(
    engine: Engine,
) -> None:
    hub = Hub(engine, config(experts={}))
    build = "npm ERR! code ELIFECYCLE: the build script failed with exit code 1"
    with issue_updates(engine) as updates:
        hub.fail("critical_build", repo=OTHER, source="github_actions", message=build)
    assert updates == []
    [issue] = hub.issues().values()
    assert (issue["expert"], issue["assignee"], issue["state"]) == (
        "github-sleuth-expert",
        None,
        "open",
    )
    [alert] = hub.alerts()
    assert "Expert: github-sleuth-expert." in alert["data"]["text"]


def test_a_guess_overtaken_by_an_older_issue_of_the_same_pass_is_corrected(
    engine: Engine,
) -> None:
    # critical_a is opened while critical issues are only digested: no one takes it. When it
    # fails again beside the new critical_b, the pass assigns it first (its ``created`` event
    # is older): alice takes a, so b goes to bob, not to the alice guessed before b's insert.
    quiet = Hub(engine, config(alerts={"critical": "digest"}))
    quiet.fail("critical_a")
    assert quiet.issues()["critical_a"]["assignee"] is None
    hub = Hub(engine, config())
    hub.runs = quiet.runs
    hub.fail("critical_a", "critical_b")
    issues = hub.issues()
    assert [(issues[k]["assignee"], issues[k]["state"]) for k in ("critical_a", "critical_b")] == [
        ("alice", "assigned"),
        ("bob", "assigned"),
    ]
    with Session(engine) as session:
        assigned = session.execute(
            select(t.issue_events.c.issue_id, t.issue_events.c.data)
            .where(t.issue_events.c.kind == "assigned")
            .order_by(t.issue_events.c.id)
        ).all()
    assert [(i, d["assignee"]) for i, d in assigned] == [
        (issues["critical_a"]["id"], "alice"),
        (issues["critical_b"]["id"], "bob"),
    ]
    assert assigned[1][1]["reason"].endswith("0 open issue(s) before this one")
    assert [j["key"] for j in hub.jobs("github_oncall:") if ":assign:" in j["key"]] == [
        f"github_oncall:{issues['critical_a']['id']}:assign:alice",
        f"github_oncall:{issues['critical_b']['id']}:assign:bob",
    ]
