"""Metrics and reports, checked against numbers worked out by hand on a scripted history
(SQLite and PostgreSQL), and the report commands run as a user runs them."""

from __future__ import annotations

import csv
import json
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from test_cli import cli, ok
from triagehub.clock import FixedClock
from triagehub.config import Settings, parse_settings
from triagehub.core.lifecycle import Actor
from triagehub.core.models import CheckResult, IssueState, RunReport, Status
from triagehub.engine.ingest import ingest_reports
from triagehub.engine.monitor import run_tick
from triagehub.errors import InputError
from triagehub.store import db
from triagehub.store import tables as t
from triagehub.store.lifecycle import change_state
from triagehub.store.metrics import (
    DayTrend,
    Durations,
    compute_metrics,
    health_score,
    parse_time_range,
    repository_health,
    top_issues,
)
from triagehub.store.triage import apply_override

# Time-sensitive (ages, windows, expiry): make test runs this module again a year ahead.
pytestmark = pytest.mark.clock

T0 = datetime(2026, 11, 10, tzinfo=UTC)
END = T0 + timedelta(days=3)  # the range of most tests: [T0, T0 + 3 days)
APP, WEB = "acme/app", "acme/web"

ASSERTION = (Status.FAIL, "AssertionError: assert total == 42")
DNS = (Status.ERROR, "curl: (6) Could not resolve host: github.com")  # transient
RESET = (Status.ERROR, "ConnectionResetError: [Errno 104] Connection reset by peer")  # transient
LINT = (Status.FAIL, "src/a.py:1:1: F401 `os` imported but unused")
E2E = (Status.FAIL, "Error: expect(locator).toBeVisible() failed: element not found")
OLD = (Status.FAIL, "KeyError: 'customer_id'")
PASS = (Status.PASS, "")

SETTINGS = parse_settings(
    {
        "repositories": {
            APP: {"automation_rules": {"test_failures": {"sla_hours": 2}}},
            WEB: {"automation_rules": {"lint_failures": {"escalate_after": 4}}},
        }
    },
    "t.yaml",
)


def at(hours: float) -> datetime:
    return T0 + timedelta(hours=hours)


class History:
    """The scripted history (hours after T0, the failure's own time):

    acme/app
      -24  r0 fails `old` (KeyError)                      -> issue OLD, first seen before the range
      -12  a human resolves OLD                           (outside the range)
       1   r1 (failure): unit::a assertion, deps DNS      -> issues A (test, SLA 2 h), DEPS
       2   r2 (failure): unit::a fails, deps passes
       3   r3 (no status): unit::a fails, deps passes
       3.5 alice takes A (override: assignee)             -> A's first triage
       4   r4 (success): all pass                         (deps: 3rd green run in a row)
       5   tick: DEPS auto_resolved (stamped 4 h: its 3rd green run); A breaches its SLA
           (due 3) and escalates (sla_breach)
      25   r5 (no status): all pass                       -> a success (no failing result)
      26   a human resolves A
    acme/web
      24   w1 (failure): lint fails                       -> issue LINT (escalate after 4 h)
      29   tick: LINT escalates (untriaged)
      30   a human moves LINT to in_progress              -> LINT's first triage
      48   w2 (failure): lint, e2e, cache (reset) fail    -> issues E2E, CACHE
      49   alice overrides E2E: category false_positive    -> E2E's first triage
      50   tick: E2E closes as false_positive
      51   a human resolves CACHE (transient)             -> CACHE's first triage and resolution
      73   w3 (failure): lint fails                       (after the range)
    """

    def __init__(self, engine: Engine, settings: Settings = SETTINGS) -> None:
        self.engine = engine
        self.settings = settings
        self.clock = FixedClock(T0)
        self.ids: dict[str, int] = {}

    def run(
        self,
        repo: str,
        run_id: str,
        hours: float,
        status: str | None,
        results: dict[str, tuple[Status, str]],
    ) -> None:
        self.clock.set(at(hours))
        report = RunReport(
            source="generic",
            repository=repo,
            run_id=run_id,
            commit=f"c-{run_id}",
            finished_at=at(hours),
            status=status,
            results=tuple(CheckResult(c, s, m) for c, (s, m) in results.items()),
        )
        ingest_reports(self.engine, [report], self.settings, clock=self.clock)

    def tick(self, hours: float) -> None:
        self.clock.set(at(hours))
        run_tick(self.engine, self.settings, clock=self.clock)

    def issue(self, check: str) -> int:
        with Session(self.engine) as session:
            return int(
                session.execute(
                    select(t.issue_checks.c.issue_id)
                    .join(t.checks, t.checks.c.id == t.issue_checks.c.check_id)
                    .where(t.checks.c.key == check)
                ).scalar_one()
            )

    def human_state(self, check: str, target: IssueState, hours: float) -> None:
        with Session(self.engine) as session, session.begin():
            change_state(
                session,
                self.issue(check),
                target,
                actor=Actor.HUMAN,
                reason="looked at it",
                now=at(hours),
                who="bob",
            )

    def override(self, check: str, hours: float, **changes: str) -> None:
        with Session(self.engine) as session, session.begin():
            apply_override(
                session=session,
                issue_id=self.issue(check),
                changes=changes,
                reason="triaged",
                actor="alice",
                now=at(hours),
            )

    def build(self) -> History:
        self.run(APP, "r0", -24, "failure", {"old": OLD, "unit::b": PASS})
        self.human_state("old", IssueState.RESOLVED, -12)
        self.run(APP, "r1", 1, "failure", {"unit::a": ASSERTION, "deps": DNS, "unit::b": PASS})
        self.run(APP, "r2", 2, "failure", {"unit::a": ASSERTION, "deps": PASS, "unit::b": PASS})
        self.run(APP, "r3", 3, None, {"unit::a": ASSERTION, "deps": PASS, "unit::b": PASS})
        self.override("unit::a", 3.5, assignee="alice")
        self.run(APP, "r4", 4, "success", {"unit::a": PASS, "deps": PASS, "unit::b": PASS})
        self.tick(5)
        self.run(WEB, "w1", 24, "failure", {"lint": LINT})
        self.run(APP, "r5", 25, None, {"unit::a": PASS, "deps": PASS, "unit::b": PASS})
        self.human_state("unit::a", IssueState.RESOLVED, 26)
        self.tick(29)
        self.human_state("lint", IssueState.IN_PROGRESS, 30)
        self.run(WEB, "w2", 48, "failure", {"lint": LINT, "e2e": E2E, "cache": RESET})
        self.override("e2e", 49, category="false_positive")
        self.tick(50)
        self.human_state("cache", IssueState.RESOLVED, 51)
        self.run(WEB, "w3", 73, "failure", {"lint": LINT})
        self.ids = {
            name: self.issue(check)
            for name, check in (
                ("old", "old"),
                ("a", "unit::a"),
                ("deps", "deps"),
                ("lint", "lint"),
                ("e2e", "e2e"),
                ("cache", "cache"),
            )
        }
        return self


@pytest.fixture
def history(engine: Engine) -> History:
    return History(engine).build()


def states(engine: Engine) -> dict[int, tuple[str, str, str]]:
    with Session(engine) as session:
        return {
            r.id: (r.state, r.category, r.priority)
            for r in session.execute(
                select(t.issues.c.id, t.issues.c.state, t.issues.c.category, t.issues.c.priority)
            )
        }


# -- the scripted history is what the arithmetic below assumes ---------------------------------


def test_the_scripted_history_ends_in_the_states_the_arithmetic_assumes(history: History) -> None:
    ids = history.ids
    assert {name: states(history.engine)[pk] for name, pk in ids.items()} == {
        "old": ("resolved", "code_fix_required", "high"),
        "a": ("resolved", "code_fix_required", "high"),  # medium, escalated once (sla_breach)
        "deps": ("auto_resolved", "transient_failure", "medium"),
        # escalated (untriaged), but lint is never lifted above medium
        "lint": ("in_progress", "code_fix_required", "medium"),
        "e2e": ("false_positive", "false_positive", "medium"),
        "cache": ("resolved", "transient_failure", "medium"),
    }


# -- metrics ------------------------------------------------------------------------------------


def test_overall_metrics_match_hand_computed_values(history: History) -> None:
    with Session(history.engine) as session:
        m = compute_metrics(session, since=T0, until=END)
    # Occurrences in [0 h, 72 h): app r1 2 + r2 1 + r3 1 = 4; web w1 1 + w2 3 = 4 (w3 is at 73 h,
    # r0 at -24 h) -> 8 raw failures, over 5 issues (A, DEPS, LINT, E2E, CACHE): 8 / 5 = 1.6.
    assert (m.raw_failures, m.issues, m.new_issues, m.noise_reduction) == (8, 5, 5, 1.6)
    # First human action minus first failure: A 3.5 - 1 = 2.5 h; LINT 30 - 24 = 6 h;
    # E2E 49 - 48 = 1 h; CACHE 51 - 48 = 3 h (OLD's, at -12 h, is outside the range).
    # Sorted 1, 2.5, 3, 6: mean 12.5 / 4 = 3.125; median at rank 1.5 = 2.5 + 0.5 x 0.5 = 2.75;
    # p90 at rank 0.9 x 3 = 2.7 = 3 + 0.7 x (6 - 3) = 5.1.
    assert m.time_to_first_triage == Durations(4, 3.125, 2.75, 5.1)
    # First resolution minus first failure: DEPS 4 - 1 = 3 h (stamped with its evidence, the 3rd
    # green run at 4 h, not the tick at 5 h); A 26 - 1 = 25 h; CACHE 51 - 48 = 3 h. Sorted 3, 3,
    # 25: mean 31 / 3 = 10.3333; median 3; p90 at rank 1.8 = 3 + 0.8 x 22 = 20.6.
    assert m.time_to_resolution == Durations(3, 10.3333, 3.0, 20.6)
    assert m.mttr_hours == 10.3333
    # Transient issues closed in the range: DEPS (auto_resolved), CACHE (resolved by hand): 1 / 2.
    assert (m.transient_closed, m.transient_auto_resolved, m.auto_resolution_rate) == (2, 1, 0.5)
    # New issues that are false positives: E2E, 1 of 5.
    assert (m.false_positives, m.false_positive_rate) == (1, 0.2)
    # Overrides since T0: A (assignee alice, no expert suggested: a change), E2E (category):
    # 2 reviewed; category changed 1 / 2, assignee 1 / 2, nothing else.
    assert m.overrides_reviewed == 2
    assert m.override_rates == {
        "category": 0.5,
        "kind": 0.0,
        "severity": 0.0,
        "priority": 0.0,
        "decision": 0.0,
        "expert": 0.0,
        "assignee": 0.5,
    }
    assert m.escalations == {"sla_breach": 1, "untriaged": 1} and m.escalations_total == 2
    assert m.sla_breaches == 1
    # Runs in the range: app r1 failure, r2 failure, r3 (no status, a failure), r4 success,
    # r5 (no status, all passed); web w1, w2 failure -> 2 of 7 = 0.2857.
    assert (m.runs, m.successful_runs, m.run_success_rate) == (7, 2, 0.2857)
    assert (m.open_issues, m.open_critical, m.open_high) == (1, 0, 0)  # LINT, medium
    # R = 0.2857, B = 1 - 0/10 = 1, S = 1 - 1/5 = 0.8, M = 1 - 10.3333/168 = 0.93849:
    # 100 x (0.4 x 0.2857 + 0.3 x 1 + 0.2 x 0.8 + 0.1 x 0.93849) = 66.81 -> 66.8.
    assert (m.health_score, m.health_status) == (66.8, "degraded")
    assert m.trend == [
        # failures r1 2 + r2 + r3; new A, DEPS; resolved DEPS (4 h)
        DayTrend(date(2026, 11, 10), failures=4, new_issues=2, resolved=1),
        # failures w1; new LINT; resolved A (26 h)
        DayTrend(date(2026, 11, 11), failures=1, new_issues=1, resolved=1),
        # failures w2 x 3; new E2E, CACHE; resolved CACHE (51 h; a false positive is no resolution)
        DayTrend(date(2026, 11, 12), failures=3, new_issues=2, resolved=1),
    ]


def test_metrics_of_one_repository(history: History) -> None:
    with Session(history.engine) as session:
        m = compute_metrics(session, repository=WEB, since=T0, until=END)
    # w1 1 + w2 3 = 4 failures over LINT, E2E, CACHE: 4 / 3 = 1.33.
    assert (m.raw_failures, m.issues, m.new_issues, m.noise_reduction) == (4, 3, 3, 1.33)
    # First triage: E2E 1 h, CACHE 3 h, LINT 6 h: mean 10 / 3; median 3; p90 at rank 1.8 =
    # 3 + 0.8 x 3 = 5.4. Resolution: CACHE 3 h only.
    assert m.time_to_first_triage == Durations(3, 3.3333, 3.0, 5.4)
    assert m.time_to_resolution == Durations(1, 3.0, 3.0, 3.0)
    assert (m.transient_closed, m.transient_auto_resolved, m.auto_resolution_rate) == (1, 0, 0.0)
    assert (m.false_positives, m.false_positive_rate) == (1, 0.3333)  # E2E of 3 new
    assert m.overrides_reviewed == 1 and m.override_rates["category"] == 1.0
    assert m.override_rates["assignee"] == 0.0
    assert (m.escalations, m.sla_breaches) == ({"untriaged": 1}, 0)
    assert (m.runs, m.successful_runs, m.run_success_rate) == (2, 0, 0.0)
    # R = 0, B = 1, S = 1, M = 1 - 3/168: 100 x (0 + 0.3 + 0.2 + 0.098214) = 59.82 -> 59.8.
    assert m.health_score == 59.8
    assert [(d.failures, d.new_issues, d.resolved) for d in m.trend] == [
        (0, 0, 0),
        (1, 1, 0),
        (3, 2, 1),
    ]


def test_a_narrower_range_counts_only_what_happened_in_it(history: History) -> None:
    with Session(history.engine) as session:
        m = compute_metrics(session, since=at(24), until=at(48))
    # [24 h, 48 h): w1's lint failure only (w2 is at 48 h, excluded); new LINT.
    assert (m.raw_failures, m.issues, m.new_issues) == (1, 1, 1)
    # LINT triaged at 30 h (6 h); A resolved at 26 h (25 h after its first failure at 1 h).
    assert m.time_to_first_triage == Durations(1, 6.0, 6.0, 6.0)
    assert m.time_to_resolution == Durations(1, 25.0, 25.0, 25.0)
    # w1 failure, r5 success (no status, nothing failed): 1 / 2.
    assert (m.runs, m.successful_runs, m.run_success_rate) == (2, 1, 0.5)
    assert (m.escalations, m.sla_breaches) == ({"untriaged": 1}, 0)  # the breach was at 5 h
    assert (m.transient_closed, m.auto_resolution_rate) == (0, None)
    assert (m.false_positives, m.false_positive_rate) == (0, 0.0)
    # R 0.5, B 1, S 1, M 1 - 25/168 = 0.85119: 100 x (0.2 + 0.3 + 0.2 + 0.085119) = 78.5.
    assert m.health_score == 78.5
    assert [d.day for d in m.trend] == [date(2026, 11, 11)]


def test_repository_health_follows_the_documented_formula(history: History) -> None:
    with Session(history.engine) as session:
        rows = repository_health(session, since=T0, until=END)
        [app_only] = repository_health(session, since=T0, until=END, repository=APP)
    web, app = rows  # least healthy first
    assert (web.repository, web.score, web.status) == (WEB, 59.8, "degraded")
    assert web.components == {"run_success": 0.0, "backlog": 1.0, "sla": 1.0, "mttr": 0.9821}
    # acme/app: 2 of 5 runs succeeded (R 0.4); nothing open (B 1); one breach (S 0.8);
    # MTTR (DEPS 3 h + A 25 h) / 2 = 14 h (M = 1 - 14/168 = 0.91667):
    # 100 x (0.16 + 0.3 + 0.16 + 0.091667) = 71.17 -> 71.2.
    assert (app.repository, app.score, app.status) == (APP, 71.2, "degraded")
    assert (app.runs, app.successful_runs, app.sla_breaches, app.resolved) == (5, 2, 1, 2)
    assert (app.mttr_hours, app.open_issues, app.raw_failures, app.issues) == (14.0, 0, 4, 2)
    assert app_only == app
    assert app.to_json()["components"]["mttr"] == 0.9167


def test_top_issues_are_the_open_ones_by_priority(history: History) -> None:
    with Session(history.engine) as session:
        top = top_issues(session)
        assert top_issues(session, repository=APP) == []
    assert [(i.id, i.priority, i.state) for i in top] == [
        (history.ids["lint"], "medium", "in_progress")
    ]


def test_health_score_terms_are_bounded() -> None:
    best = health_score(
        run_success_rate=1.0, open_critical=0, open_high=0, sla_breaches=0, mttr_hours=0.0
    )
    worst = health_score(
        run_success_rate=0.0, open_critical=4, open_high=9, sla_breaches=50, mttr_hours=1000.0
    )
    # R 0.9; B 1 - (3 + 2)/10 = 0.5; S 1 - 1/5 = 0.8; M 1 - 84/168 = 0.5:
    # 100 x (0.36 + 0.15 + 0.16 + 0.05) = 72.0.
    middle = health_score(
        run_success_rate=0.9, open_critical=1, open_high=2, sla_breaches=1, mttr_hours=84.0
    )
    assert best[:2] == (100.0, "healthy")
    assert worst[:2] == (0.0, "unhealthy")
    assert middle[:2] == (72.0, "degraded")
    assert middle[2] == {"run_success": 0.9, "backlog": 0.5, "sla": 0.8, "mttr": 0.5}


@pytest.mark.parametrize("n", [1, 2, 3, 4, 7, 10, 11, 25])
def test_median_and_p90_interpolate_like_numpy(engine: Engine, n: int) -> None:
    import numpy as np
    from sqlalchemy import Float, literal, union_all

    from triagehub.store.metrics import _distribution

    hours = [round((k * 7919) % 97 + k / 8, 3) for k in range(n)]
    values = union_all(*(select(literal(h * 3600, Float).label("d")) for h in hours)).subquery()
    with Session(engine) as session:
        found = _distribution(session, select(values.c.d))
    assert found.count == n
    assert found.mean_hours == pytest.approx(float(np.mean(hours)), abs=1e-4)
    assert found.median_hours == pytest.approx(float(np.percentile(hours, 50)), abs=1e-4)
    assert found.p90_hours == pytest.approx(float(np.percentile(hours, 90)), abs=1e-4)


def test_an_empty_store_has_no_rates_and_full_health(engine: Engine) -> None:
    with Session(engine) as session:
        m = compute_metrics(session, since=at(12), until=at(36))
        assert repository_health(session, since=at(12), until=at(36)) == []
    assert (m.raw_failures, m.issues, m.noise_reduction, m.run_success_rate) == (0, 0, None, None)
    assert m.time_to_first_triage == Durations() and m.auto_resolution_rate is None
    assert m.override_rates["category"] is None and m.escalations == {}
    assert (m.health_score, m.health_status) == (100.0, "healthy")
    # 12:00 on the 10th to 12:00 on the 11th touches two UTC days.
    assert [d.day for d in m.trend] == [date(2026, 11, 10), date(2026, 11, 11)]
    assert m.to_json()["since"] == "2026-11-10T12:00:00Z"


def test_bad_ranges_and_unknown_repositories_are_refused(engine: Engine) -> None:
    with Session(engine) as session:
        with pytest.raises(InputError, match="since must be < until"):
            compute_metrics(session, since=END, until=T0)
        with pytest.raises(InputError, match="no such repository"):
            repository_health(session, since=T0, until=END, repository="acme/nope")


@pytest.mark.parametrize(
    ("text", "hours"), [("24h", 24), ("7d", 168), ("30d", 720), ("2w", 336), (" 7D ", 168)]
)
def test_time_ranges_parse(text: str, hours: int) -> None:
    assert parse_time_range(text) == timedelta(hours=hours)


@pytest.mark.parametrize("text", ["", "7", "0d", "-1d", "7y", "1.5d", "99999w"])
def test_bad_time_ranges_are_refused(text: str) -> None:
    with pytest.raises(InputError, match="--time-range"):
        parse_time_range(text)


# -- the commands -------------------------------------------------------------------------------

UNTIL = ("--until", "2026-11-13T00:00:00Z")


IDS: dict[str, dict[str, int]] = {}


@pytest.fixture
def history_url(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'reports.db'}"
    engine = db.open_database(url)
    try:
        IDS[url] = History(engine).build().ids
    finally:
        engine.dispose()
    return url


def test_metrics_command_prints_the_metrics(db_url: str) -> None:
    engine = db.open_database(db_url)
    try:
        History(engine).build()
    finally:
        engine.dispose()
    data = json.loads(ok(cli(db_url, "metrics", *UNTIL, "--time-range", "3d", "--format", "json")))
    assert (data["raw_failures"], data["issues"], data["noise_reduction"]) == (8, 5, 1.6)
    assert data["time_to_first_triage"]["median_hours"] == 2.75
    assert (data["mttr_hours"], data["health_score"]) == (10.3333, 66.8)
    assert data["trend"][0] == {"day": "2026-11-10", "failures": 4, "new_issues": 2, "resolved": 1}
    text = ok(cli(db_url, "metrics", *UNTIL, "--time-range", "3d", "--repo", WEB))
    assert "noise reduction" in text and "1.3x" in text and "untriaged 1" in text


def test_health_and_dashboard_commands(history_url: str) -> None:
    data = json.loads(
        ok(cli(history_url, "health", *UNTIL, "--time-range", "3d", "--format", "json"))
    )
    assert [(h["repository"], h["score"]) for h in data] == [(WEB, 59.8), (APP, 71.2)]
    board = json.loads(
        ok(cli(history_url, "dashboard", *UNTIL, "--time-range", "3d", "--format", "json"))
    )
    assert board.keys() == {"metrics", "health", "top_issues"}
    assert [i["title"] for i in board["top_issues"]] == [
        "lint — src/a.py:1:1: F401 `os` imported but unused"  # real values, not the template
    ]
    text = ok(cli(history_url, "dashboard", *UNTIL, "--time-range", "3d"))
    assert "Health per repository" in text and "59.8" in text and "71.2" in text
    assert "Top 1 open issue(s)" in text and "2026-11-12" in text
    assert "█▃▆" in text  # failures per day 4, 1, 3 as a sparkline


def test_export_json_and_csv_hold_the_same_issues(history_url: str, tmp_path: Path) -> None:
    as_json, as_csv = tmp_path / "issues.json", tmp_path / "issues.csv"
    args = (*UNTIL, "--time-range", "3d")
    proc = cli(history_url, "export", "--output", str(as_json), *args)
    ok(proc)
    assert "wrote 5 issue(s)" in proc.stderr
    ok(cli(history_url, "export", "--output", str(as_csv), "--format", "csv", *args))
    rows: list[dict[str, Any]] = json.loads(as_json.read_text())
    with as_csv.open(newline="") as fh:
        table = list(csv.DictReader(fh))
    # OLD was last seen before the range; the five others were seen in it (oldest first).
    ids = IDS[history_url]
    assert {r["id"] for r in rows} == {ids[n] for n in ("a", "deps", "lint", "e2e", "cache")}
    assert [r["first_seen"] for r in rows] == sorted(r["first_seen"] for r in rows)
    [a] = [r for r in rows if r["id"] == ids["a"]]
    assert (a["first_seen"], a["assignee"], a["escalation_level"]) == (
        "2026-11-10T01:00:00Z",
        "alice",
        1,
    )

    def as_text(value: Any) -> str:
        if value is None:
            return ""
        return json.dumps(value) if isinstance(value, list) else str(value)

    assert table == [{k: as_text(v) for k, v in row.items()} for row in rows]
    ok(cli(history_url, "export", "-o", str(tmp_path / "web.json"), "--repo", WEB, *args))
    web = json.loads((tmp_path / "web.json").read_text())
    assert {r["repository"] for r in web} == {WEB} and len(web) == 3


def test_export_refuses_to_overwrite_a_file_unless_forced(history_url: str, tmp_path: Path) -> None:
    target = tmp_path / "issues.csv"
    target.write_text("keep me\n")
    proc = cli(history_url, "export", "--output", str(target), "--format", "csv", *UNTIL)
    assert proc.returncode == 2 and "already exists" in proc.stderr and "--force" in proc.stderr
    assert target.read_text() == "keep me\n"
    ok(cli(history_url, "export", "--output", str(target), "--format", "csv", "--force", *UNTIL))
    assert target.read_text().startswith("id,repository,title,")
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")] == []


def test_report_commands_reject_bad_input(history_url: str, tmp_path: Path) -> None:
    proc = cli(history_url, "metrics", "--time-range", "7y")
    assert proc.returncode == 2 and "--time-range" in proc.stderr
    proc = cli(history_url, "dashboard", "--until", "yesterday")
    assert proc.returncode == 2 and "ISO 8601" in proc.stderr
    proc = cli(history_url, "export", "--output", str(tmp_path / "no" / "dir.json"))
    assert proc.returncode == 2 and "does not exist" in proc.stderr
