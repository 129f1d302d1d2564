"""What an on-call pass reads (``engine.oncall.alerts._alert_events``): the same events and rows
on SQLite and PostgreSQL as a plain reading of the tables says, for issues of every priority and
state, created and regressing events, events of other kinds, alerts already sent (their
notification job exists), an ingest's ids or a tick's last day, and every set of priorities a
pass may ask for (the filter applies on both backends).

The pass reads in statements of one driving table each (the issues' ids, their events not
announced yet, those events' issues): never the events joined with the issues, a join that
PostgreSQL, with the statistics of tables an uncommitted ingest had just filled, planned as a
rescan of the events once per issue."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import Engine, event, insert, select, update
from sqlalchemy.orm import Session

from test_oncall import T0, Hub, config
from triagehub.engine.issue_rows import WORKING
from triagehub.engine.oncall.alerts import _ROW_COLUMNS, LOOKBACK, _alert_events
from triagehub.engine.oncall.common import CHUNK
from triagehub.store import tables as t

PRIORITIES: list[list[str] | None] = [
    None,
    ["critical"],
    ["critical", "high"],
    ["critical", "low"],
    ["high", "medium", "low"],
    [],
]


def _stored(engine: Engine) -> dict[str, Any]:
    with Session(engine) as session:
        issues = {
            int(r["id"]): dict(r)
            for r in session.execute(
                select(
                    *(t.issues.c[c] for c in _ROW_COLUMNS),
                    t.issues.c.state.label("_state"),
                    t.repositories.c.name.label("repository"),
                ).join(t.repositories, t.repositories.c.id == t.issues.c.repository_id)
            ).mappings()
        }
        in_order = select(t.issue_events).order_by(t.issue_events.c.id)
        events = [dict(r) for r in session.execute(in_order).mappings()]
        keys = set(session.execute(select(t.jobs.c.key)).scalars())
    return {"issues": issues, "events": events, "keys": keys}


def _expected(
    stored: dict[str, Any], ids: list[int] | None, priorities: list[str] | None
) -> list[tuple[int, int, str, dict[str, Any]]]:
    """The events a pass announces, read plainly from the tables."""
    found = []
    for e in stored["events"]:
        issue = stored["issues"][e["issue_id"]]
        regressed = e["kind"] == "state_changed" and (e["data"] or {}).get("to") == "regressed"
        if e["kind"] != "created" and not regressed:
            continue
        if ids is not None and e["issue_id"] not in ids:
            continue
        if ids is None and e["at"] < T0 + timedelta(hours=3) - LOOKBACK:
            continue
        sent = f"notify:{e['issue_id']}:alert:{e['id']}" in stored["keys"]
        if issue["_state"] not in WORKING or sent:
            continue
        if priorities is not None and issue["priority"] not in priorities:
            continue
        row = {k: v for k, v in issue.items() if k != "_state"}
        found.append((e["id"], e["issue_id"], "regressed" if regressed else "created", row))
    return found


def _varied(engine: Engine) -> Hub:
    """Issues of every priority (and one outside the vocabulary), some closed, with created,
    regressing and other events, some of them old, some alerts already sent."""
    hub = Hub(engine, config())
    hub.fail("critical_a", "critical_b", "high_c", "medium_d", "low_e", "low_f")
    hub.advance(hours=2)
    hub.fail("critical_g", "high_h", "medium_i", "critical_j")
    hub.advance(hours=1)
    issues = hub.issues()
    with Session(engine) as session, session.begin():
        i = t.issues.c
        session.execute(update(t.issues).where(i.id == issues["critical_b"]["id"]).values(
            state="resolved"
        ))  # fmt: skip
        session.execute(update(t.issues).where(i.id == issues["low_f"]["id"]).values(
            priority="urgent"
        ))  # fmt: skip
        at = hub.clock.now()
        old = at - LOOKBACK - timedelta(hours=1)
        events = [
            (issues["critical_a"]["id"], "state_changed", {"from": "resolved", "to": "regressed"}),
            (issues["high_c"]["id"], "state_changed", {"from": "resolved", "to": "regressed"}),
            (issues["medium_d"]["id"], "state_changed", {"from": "open", "to": "triaged"}),
            (issues["low_e"]["id"], "commented", {"to": "regressed"}),
            (issues["critical_g"]["id"], "state_changed", {"to": "regressed"}),
        ]
        for n, (issue_id, kind, data) in enumerate(events):
            session.execute(
                insert(t.issue_events).values(
                    issue_id=issue_id, kind=kind, at=old if n == 4 else at, actor="test", data=data
                )
            )
        created = session.execute(
            select(t.issue_events.c.id, t.issue_events.c.issue_id).where(
                t.issue_events.c.kind == "created",
                t.issue_events.c.issue_id.in_([issues[k]["id"] for k in ("high_h", "medium_i")]),
            )
        ).all()
        for event_id, issue_id in created:  # their alerts were sent (the critical ones' too)
            session.execute(
                insert(t.jobs).values(
                    kind="notify",
                    key=f"notify:{issue_id}:alert:{event_id}",
                    data={},
                    status="done",
                    attempts=1,
                    next_try_at=at,
                    created_at=at,
                    updated_at=at,
                )
            )
    return hub


def test_a_pass_reads_what_the_tables_say_on_both_backends(engine: Engine) -> None:
    hub = _varied(engine)
    stored = _stored(engine)
    now = hub.clock.now()
    assert now == T0 + timedelta(hours=3)
    every = sorted(stored["issues"])
    for ids in (every, every[::2], every[1:4], [max(every) + 1], None):
        for priorities in PRIORITIES:
            with Session(engine) as session, session.begin():
                got = _alert_events(session, now, ids, priorities)
            assert got == _expected(stored, ids, priorities), (ids, priorities)
    # (the varied data gives every case something to read)
    assert {what for *_, what, _ in _expected(stored, every, None)} == {"created", "regressed"}
    assert len(_expected(stored, None, None)) < len(_expected(stored, every, None))


def test_the_events_are_never_read_joined_with_their_issues(engine: Engine) -> None:
    hub = _varied(engine)
    statements: list[str] = []

    def seen(_c: Any, _cur: Any, sql: str, *_rest: Any) -> None:
        statements.append(sql)

    every = sorted(_stored(engine)["issues"])
    event.listen(engine, "before_cursor_execute", seen)
    try:
        with Session(engine) as session, session.begin():
            assert _alert_events(session, hub.clock.now(), every[:CHUNK], ["critical"])
            assert _alert_events(session, hub.clock.now(), None, ["critical"])
    finally:
        event.remove(engine, "before_cursor_execute", seen)
    reads = [s for s in statements if s.lstrip().upper().startswith("SELECT")]
    assert len(reads) == 5  # ids, events, rows; events, rows
    assert not [s for s in reads if "issue_events" in s and "issues." in s]
    # The issues' filters are never where a plan starts (their indexes): the ids are.
    assert all("issues.state ||" in s for s in reads if "FROM issues" in s)
    assert all("issues.priority ||" in s for s in reads if "FROM issues" in s)
