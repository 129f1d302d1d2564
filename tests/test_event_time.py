"""Event time in the lifecycle: auto-resolution is stamped with its evidence (the K-th green
run's finish), regressions compare a failure's own time with that stamp, and the same runs end
in the same states and timelines whatever order they arrive in and whenever the ticks run
(SQLite and PostgreSQL, injected clock)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, delete, select
from sqlalchemy.orm import Session

from triagehub.clock import FixedClock
from triagehub.config import Settings
from triagehub.core.history import Outcome, event_time_class, replay
from triagehub.core.lifecycle import Episode, healed_episodes
from triagehub.core.models import CheckResult, HistoryClass, RunReport, Status
from triagehub.engine.ingest import ingest_reports
from triagehub.engine.monitor import run_tick
from triagehub.store import tables as t

T0 = datetime(2026, 11, 10, 8, tzinfo=UTC)
REPO = "acme/app"
FAIL = (Status.FAIL, "AssertionError: assert total == 42")
NET = (Status.ERROR, "curl: (6) Could not resolve host: github.com")
PASS = (Status.PASS, "")


def h(n: float) -> datetime:
    return T0 + timedelta(hours=n)


# -- the pure replay ---------------------------------------------------------------------------


def test_an_episode_is_stamped_with_the_kth_green_run() -> None:
    episodes = healed_episodes([h(0), h(10)], {1: [h(1), h(2), h(3), h(4)]}, 3)
    assert episodes == [Episode(after=h(0), resolved_at=h(3), regressed_at=h(10))]


def test_every_check_must_heal_and_the_last_one_stamps_the_resolution() -> None:
    passes = {1: [h(1), h(2), h(3)], 2: [h(1), h(5), h(6), h(7)]}
    [episode] = healed_episodes([h(0)], passes, 3)
    assert episode.resolved_at == h(6) and episode.regressed_at is None
    assert healed_episodes([h(0)], {1: [h(1), h(2)], 2: [h(3), h(4), h(5)]}, 3) == []


def test_a_failure_inside_the_green_streak_breaks_it() -> None:
    assert healed_episodes([h(0), h(2)], {1: [h(1), h(3), h(4)]}, 3) == []
    # the order the failures are given in does not matter
    a = healed_episodes([h(9), h(0), h(5)], {1: [h(1), h(2), h(3), h(6), h(7), h(8)]}, 3)
    b = healed_episodes([h(0), h(5), h(9)], {1: [h(8), h(7), h(6), h(3), h(2), h(1)]}, 3)
    assert a == b and [e.resolved_at for e in a] == [h(3), h(8)]


def test_gaps_before_the_known_history_are_not_judged() -> None:
    assert healed_episodes([h(0), h(10)], {1: [h(1), h(2), h(3)]}, 3, known_from=h(5)) == []


def _outcome(hour: int, failed: bool, commit: str) -> Outcome:
    return Outcome(at=h(hour), failed=failed, commits=frozenset({commit}))


def test_the_replay_judges_flaky_evidence_in_event_time_whatever_the_order() -> None:
    runs = [
        _outcome(0, True, "c1"),
        _outcome(1, False, "c1"),
        *(_outcome(n, False, f"c{n}") for n in range(2, 14)),
    ]
    forward, backward = replay(runs, 10), replay(list(reversed(runs)), 10)
    assert forward == backward
    assert forward.evidence[:2] == (False, True)  # the pass on the failed commit
    assert forward.flaky_at(h(0)) is False and forward.flaky_at(h(1)) is True
    assert forward.flaky_at(h(10)) is True  # nine clean green runs: still flaky
    assert forward.flaky_at(h(11)) is False  # the tenth clears it


def test_a_retry_that_passes_is_flaky_evidence() -> None:
    failed = Outcome(at=h(0), failed=True, runs=frozenset({("1:gh:r1", 1)}))
    retried = Outcome(at=h(1), failed=False, runs=frozenset({("1:gh:r1", 2)}))
    other = Outcome(at=h(1), failed=False, runs=frozenset({("1:gh:r2", 2)}))
    assert replay([retried, failed], 10).evidence == (False, True)
    assert replay([other, failed], 10).evidence == (False, False)


def test_the_event_time_class_is_the_history_when_the_issue_last_failed() -> None:
    kw = {"issue_occurrences": 5, "recurring_threshold": 3, "persistent_threshold": 5}
    five = [_outcome(n, True, f"c{n}") for n in range(5)]
    check = replay([_outcome(9, False, "c9"), *five], 10)
    assert event_time_class(check, latest_failure=h(4), **kw) is HistoryClass.PERSISTENT
    # a pass between the failures (in event time, whenever it arrived) breaks the row
    broken = replay([*five, _outcome(2, False, "c2x")], 10)
    assert event_time_class(broken, latest_failure=h(4), **kw) is HistoryClass.RECURRING
    # a later green run on a failed commit: flaky
    flaky = replay([*five, _outcome(6, False, "c4")], 10)
    assert event_time_class(flaky, latest_failure=h(4), **kw) is HistoryClass.FLAKY


# -- in the store --------------------------------------------------------------------------------


def _report(n: int, outcome: tuple[Status, str], when: datetime) -> RunReport:
    return RunReport(
        source="generic",
        repository=REPO,
        run_id=f"r{n}",
        commit=f"c{n}",
        finished_at=when,
        results=(CheckResult("unit", *outcome),),
    )


def _state(engine: Engine) -> tuple[Any, ...]:
    with Session(engine) as session:
        issues = session.execute(
            select(t.issues.c.id, t.issues.c.state, t.issues.c.resolved_at).order_by(t.issues.c.id)
        ).all()
        assert len(issues) == 1
        issue_id, state, resolved_at = issues[0]
        events = session.execute(
            select(t.issue_events.c.at, t.issue_events.c.actor, t.issue_events.c.data)
            .where(t.issue_events.c.issue_id == issue_id, t.issue_events.c.kind == "state_changed")
            .order_by(t.issue_events.c.at, t.issue_events.c.id)
        ).all()
    timeline = [(at, actor, data["from"], data["to"], data["reason"]) for at, actor, data in events]
    return state, resolved_at, timeline


def _wipe(engine: Engine) -> None:
    with engine.begin() as conn:
        for table in reversed(t.metadata.sorted_tables):
            conn.execute(delete(table))


def test_a_late_tick_resolves_at_the_evidence_and_the_next_failure_regresses(
    engine: Engine,
) -> None:
    """The issue's story: three green runs, a tick a day later, then a failure from before the
    tick but after the third green run: it regresses (the resolution is stamped h(3))."""
    clock = FixedClock(h(0))
    cfg = Settings()
    ingest_reports(engine, [_report(0, FAIL, h(0))], cfg, clock=clock)
    for n in (1, 2, 3):
        ingest_reports(engine, [_report(n, PASS, h(n))], cfg, clock=clock)
    clock.set(h(27))
    assert run_tick(engine, cfg, clock=clock).resolved
    state, resolved_at, _ = _state(engine)
    assert (state, resolved_at) == ("resolved", h(3))
    ingest_reports(engine, [_report(4, FAIL, h(5))], cfg, clock=clock)  # arrives after the tick
    state, resolved_at, timeline = _state(engine)
    assert state == "regressed" and resolved_at is None
    assert timeline[-1][0] == h(5)
    assert timeline[-1][4] == "failed again at commit c4 after it was resolved"


def test_a_tick_that_comes_after_the_next_failure_writes_both_in_event_time(
    engine: Engine,
) -> None:
    clock = FixedClock(h(0))
    cfg = Settings()
    outcomes = [NET, PASS, PASS, PASS, NET]
    ingest_reports(engine, [_report(n, o, h(n)) for n, o in enumerate(outcomes)], cfg, clock=clock)
    clock.set(h(30))
    summary = run_tick(engine, cfg, clock=clock)
    assert len(summary.regressed) == 1
    state, _, timeline = _state(engine)
    assert state == "regressed"
    assert [(at, to) for at, _, _, to, _ in timeline] == [
        (h(3), "auto_resolved"),
        (h(4), "regressed"),
    ]
    assert run_tick(engine, cfg, clock=clock).changes == 0


def test_a_late_failure_inside_the_green_streak_takes_the_resolution_back(
    engine: Engine,
) -> None:
    clock = FixedClock(h(0))
    cfg = Settings()
    reports = [_report(0, FAIL, h(0)), *(_report(n, PASS, h(n)) for n in (1, 3, 4))]
    ingest_reports(engine, reports, cfg, clock=clock)
    clock.set(h(5))
    run_tick(engine, cfg, clock=clock)
    assert _state(engine)[0] == "resolved"
    ingest_reports(engine, [_report(9, FAIL, h(2))], cfg, clock=clock)  # late, inside the streak
    summary = run_tick(engine, cfg, clock=clock)
    assert summary.reopened
    state, resolved_at, timeline = _state(engine)
    assert (state, resolved_at, timeline) == ("open", None, [])


def _ingest_in(engine: Engine, reports: list[RunReport], order: list[int]) -> Any:
    _wipe(engine)
    cfg = Settings()
    clock = FixedClock(h(24))
    for n in order:
        clock.set(clock.now() + timedelta(minutes=5))
        ingest_reports(engine, [reports[n]], cfg, clock=clock)
    run_tick(engine, cfg, clock=clock)
    with Session(engine) as session:
        row = session.execute(
            select(t.issues.c.state, t.issues.c.category, t.issues.c.history_class)
        ).one()
    return tuple(row), _state(engine)


def test_five_network_errors_in_a_row_are_infrastructure_whatever_the_arrival(
    engine: Engine,
) -> None:
    """Five failures in a row (event time) make the check persistent: the network error is an
    infrastructure issue, resolved, not a transient one auto-resolved, even when green runs
    arrived between them and the ingest saw at most three in a row."""
    outcomes = [NET] * 5 + [PASS] * 3
    reports = [_report(n, o, h(n)) for n, o in enumerate(outcomes)]
    live = _ingest_in(engine, reports, list(range(8)))
    assert live[0] == ("resolved", "infrastructure_issue", "persistent")
    assert live[1][1] == h(7)
    mixed = _ingest_in(engine, reports, [5, 0, 1, 6, 2, 3, 4, 7])
    assert mixed == live


def test_a_late_failure_on_a_commit_that_passed_makes_the_check_flaky(engine: Engine) -> None:
    """Failed on c1, passed on c1, then three green runs: flaky from the second run on, so the
    streak heals nothing. Arriving last, the failure saw c3 as the last green commit."""
    reports = [
        replace(_report(0, FAIL, h(0)), commit="c1"),
        replace(_report(1, PASS, h(1)), commit="c1"),
        *(_report(n, PASS, h(n)) for n in (2, 3, 4)),
    ]
    live = _ingest_in(engine, reports, [0, 1, 2, 3, 4])
    assert live[0] == ("open", "transient_failure", "flaky")
    assert live[1] == ("open", None, [])
    assert _ingest_in(engine, reports, [1, 2, 3, 4, 0]) == live


# A flaky check: it fails and passes on the same commit (outcome, commit of the run).
Run = tuple[tuple[Status, str], str]


def _run(n: int, outcome: tuple[Status, str], when: datetime, commit: str) -> RunReport:
    return RunReport(
        source="generic",
        repository=REPO,
        run_id=f"r{n}",
        commit=commit,
        finished_at=when,
        results=(CheckResult("unit", *outcome),),
    )


@st.composite
def _scenario(draw: st.DrawFn) -> tuple[list[Run], list[int], set[int]]:
    """Runs of one check: a code failure, a transient network error, or both, passes between,
    and commits shared by neighbouring runs (a pass and a failure on one commit: flaky)."""
    failures = draw(st.sampled_from([[FAIL], [NET], [FAIL, NET]]))
    n = draw(st.integers(min_value=2, max_value=9))
    first = draw(st.sampled_from(failures))
    outcomes = [first] + [draw(st.sampled_from([*failures, PASS, PASS])) for _ in range(n - 1)]
    commits, current = [], 0
    for _ in range(n):
        if draw(st.integers(min_value=0, max_value=3)) > 0:  # mostly a new commit
            current += 1
        commits.append(f"c{current}")
    order = draw(st.permutations(list(range(n))))
    ticks = draw(st.sets(st.integers(min_value=0, max_value=n - 1)))
    return list(zip(outcomes, commits, strict=True)), list(order), ticks


def _issues(engine: Engine) -> list[tuple[Any, ...]]:
    """Every issue's state, classification and state timeline, by fingerprint."""
    with Session(engine) as session:
        issues = session.execute(
            select(
                t.issues.c.id,
                t.issues.c.fingerprint,
                t.issues.c.state,
                t.issues.c.resolved_at,
                t.issues.c.category,
                t.issues.c.history_class,
                t.issues.c.decision,
                t.issues.c.priority,
                t.issues.c.first_seen,
                t.issues.c.last_seen,
                t.issues.c.occurrences,
            ).order_by(t.issues.c.fingerprint)
        ).all()
        result = []
        for issue_id, *fields in issues:
            events = session.execute(
                select(t.issue_events.c.at, t.issue_events.c.actor, t.issue_events.c.data)
                .where(
                    t.issue_events.c.issue_id == issue_id,
                    t.issue_events.c.kind == "state_changed",
                )
                .order_by(t.issue_events.c.at, t.issue_events.c.id)
            ).all()
            timeline = [(at, a, d["from"], d["to"], d["reason"]) for at, a, d in events]
            created = session.execute(
                select(t.issue_events.c.at, t.runs.c.external_id)
                .join(t.runs, t.runs.c.id == t.issue_events.c.run_id)
                .where(t.issue_events.c.issue_id == issue_id, t.issue_events.c.kind == "created")
            ).all()
            result.append((*fields, timeline, created))
    return result


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(scenario=_scenario())
def test_any_arrival_order_and_any_ticks_end_in_the_live_states_and_timeline(
    engine: Engine, scenario: tuple[list[Run], list[int], set[int]]
) -> None:
    """Code failures, transient network errors, flaky checks and their mix: the history class
    (hence the category, transient or not, and auto_resolved or resolved) and the lifecycle
    follow the runs' event times, not their arrival."""
    runs, order, ticks = scenario
    cfg = Settings()
    reports = [_run(n, o, h(n), commit) for n, (o, commit) in enumerate(runs)]
    # Live: each run as it finishes, a tick right after each.
    _wipe(engine)
    clock = FixedClock(h(0))
    for n, report in enumerate(reports):
        clock.set(h(n) + timedelta(minutes=1))
        ingest_reports(engine, [report], cfg, clock=clock)
        run_tick(engine, cfg, clock=clock)
    live = _issues(engine)
    # Any order, ticks anywhere (at most once after the last arrival), always a tick at the end.
    _wipe(engine)
    clock = FixedClock(h(len(reports)))
    for position, n in enumerate(order):
        clock.set(clock.now() + timedelta(minutes=7))
        ingest_reports(engine, [reports[n]], cfg, clock=clock)
        if position in ticks:
            run_tick(engine, cfg, clock=clock)
    run_tick(engine, cfg, clock=clock)
    assert _issues(engine) == live


def test_resolutions_from_before_pass_times_were_kept_are_left_alone(engine: Engine) -> None:
    """A database upgraded to 0014 has no pass times for the green runs it saw before: the
    resolutions they proved stay as they are."""
    clock = FixedClock(h(0))
    cfg = Settings()
    reports = [_report(0, FAIL, h(0)), *(_report(n, PASS, h(n)) for n in (1, 2, 3))]
    ingest_reports(engine, reports, cfg, clock=clock)
    clock.set(h(4))
    run_tick(engine, cfg, clock=clock)
    before = _state(engine)
    assert before[0] == "resolved"
    with engine.begin() as conn:
        conn.execute(t.check_stats.update().values(pass_times=None))
    clock.set(h(5))
    assert run_tick(engine, cfg, clock=clock).changes == 0
    assert _state(engine) == before


def test_a_backfill_in_one_batch_then_one_tick_gives_the_live_timeline(engine: Engine) -> None:
    cfg = Settings()
    outcomes = [FAIL, PASS, PASS, PASS, FAIL, PASS, FAIL, PASS, PASS, PASS]
    reports = [_report(n, o, h(n)) for n, o in enumerate(outcomes)]
    clock = FixedClock(h(0))
    for n, report in enumerate(reports):  # live
        clock.set(h(n) + timedelta(minutes=1))
        ingest_reports(engine, [report], cfg, clock=clock)
        run_tick(engine, cfg, clock=clock)
    live = _state(engine)
    assert live[0] == "resolved" and live[1] == h(9)
    assert [to for _, _, _, to, _ in live[2]] == ["resolved", "regressed", "resolved"]
    _wipe(engine)
    clock.set(h(30 * 24))  # polled a month later, all at once
    ingest_reports(engine, list(reversed(reports)), cfg, clock=clock)
    run_tick(engine, cfg, clock=clock)
    assert _state(engine) == live
