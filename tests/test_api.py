"""The REST API under /api/v1, driven over HTTP (FastAPI's TestClient) on SQLite and PostgreSQL:
filters, sorts and pagination, triage with a reason, tokens, uploads of real reports, the live
stream, Prometheus /metrics and the one problem shape of every error."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from triagehub.api.app import WebhookConfig, create_app
from triagehub.api.v1 import _HUBS, STREAM_HOLE_TTL_S, _Tail
from triagehub.clock import SystemClock
from triagehub.config import ApiConfig, Settings
from triagehub.engine.ingest import ingest_reports
from triagehub.engine.jobs import enqueue
from triagehub.sources.events import parse_objects
from triagehub.store import db as store_db
from triagehub.store import tables as t
from triagehub.store.queries import create_api_token, revoke_api_token

# Time-sensitive (ages, windows, expiry): make test runs this module again a year ahead.
pytestmark = pytest.mark.clock

DATA = Path(__file__).parent / "data"
NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
REPOS = ("acme/app", "acme/web", "acme/dbt")
MESSAGES = (
    "AssertionError: assert 5 == 7",
    "Connection refused: connect to 10.0.0.{n}:5432",
    "src/app{n}.py:1:1: F401 `os` imported but unused",
    "Got {n} results, configured to fail if != 0",
    "ERROR: Could not find a version that satisfies the requirement foo=={n}",
    "Timeout 30000ms exceeded while waiting for locator('#btn{n}')",
    "NotImplementedError: feature {n} is not implemented",
    "Compilation Error in model orders_{n}: column x does not exist",
    "The runner has received a shutdown signal",
    "error TS2322: Type 'string' is not assignable to type 'number' ({n})",
)
CHECKS = (
    "tests/test_a.py::t{n}",
    "tests/e2e/login.spec.ts > t{n}",
    "dbt test / test.x{n}",
    "CI / lint / ruff{n}",
)


def seed_events(count: int = 30) -> list[dict[str, Any]]:
    """Failures of 30 checks over 3 repositories and many kinds; five share each timestamp
    (ties for the sort), and some checks fail several times (occurrence counts, history)."""
    events = []
    for n in range(count):
        for repeat in range(1 + n % 4):
            events.append(
                {
                    "repository": REPOS[n % 3],
                    "check": CHECKS[n % 4].format(n=n),
                    "message": MESSAGES[n % len(MESSAGES)].format(n=n),
                    "at": f"2026-11-{1 + n % 6:02d}T0{repeat}:00:00Z",
                    "commit": f"c{n}-{repeat}",
                }
            )
    return events


class Api:
    """A TestClient with write, read and revoked tokens at hand."""

    def __init__(self, client: TestClient, engine: Engine, tokens: dict[str, str]) -> None:
        self.client = client
        self.engine = engine
        self.tokens = tokens

    def auth(self, scope: str = "write") -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[scope]}"}

    def get(self, path: str, **kw: Any) -> Any:
        return self.client.get(path, **kw)

    def all_issues(self) -> list[dict[str, Any]]:
        answer = self.get("/api/v1/issues", params={"limit": 500})
        assert answer.status_code == 200, answer.text
        body = answer.json()
        assert body["next_cursor"] is None
        items: list[dict[str, Any]] = body["items"]
        return items

    def pages(self, params: dict[str, Any], limit: int) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        cursor = None
        for _ in range(1000):
            query = {**params, "limit": limit}
            if cursor:
                query["cursor"] = cursor
            answer = self.get("/api/v1/issues", params=query)
            assert answer.status_code == 200, answer.text
            body = answer.json()
            assert len(body["items"]) <= limit
            items.extend(body["items"])
            cursor = body["next_cursor"]
            if cursor is None:
                return items
        raise AssertionError("pagination did not end")

    def patch(self, issue_id: int, body: dict[str, Any], scope: str = "write") -> Any:
        return self.client.patch(f"/api/v1/issues/{issue_id}", json=body, headers=self.auth(scope))


def make_tokens(engine: Engine) -> dict[str, str]:
    with Session(engine) as session, session.begin():
        _, write = create_api_token(session=session, name="ci", scope="write", now=NOW)
        _, read = create_api_token(session=session, name="grafana", scope="read", now=NOW)
        _, revoked = create_api_token(session=session, name="old", scope="write", now=NOW)
        revoke_api_token(session=session, ref="old", now=NOW)
    return {"write": write, "read": read, "revoked": revoked}


def make_api(engine: Engine, settings: Settings | None = None) -> Iterator[Api]:
    settings = settings or Settings(api=ApiConfig(stream_poll_seconds=0.05))
    app = create_app(engine, settings, WebhookConfig(None, insecure=True), run_worker=False)
    tokens = make_tokens(engine)
    with TestClient(app) as client:
        yield Api(client, engine, tokens)


@pytest.fixture
def api(engine: Engine) -> Iterator[Api]:
    yield from make_api(engine)


@pytest.fixture
def seeded(api: Api) -> Api:
    answer = api.client.post("/api/v1/events", json=seed_events(), headers=api.auth())
    assert answer.status_code == 200, answer.text
    assert answer.json()["new_issues"] == 30
    return api


def assert_problem(answer: Any, status: int) -> dict[str, Any]:
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = answer.json()
    assert body["status"] == status
    assert {"type", "title", "detail"} <= set(body)
    return body


# -- listing: filters, sorts, pagination ----------------------------------------------------------


FILTERS: list[dict[str, Any]] = [
    {"repository": "acme/web"},
    {"repository": ["acme/web", "acme/dbt"]},
    {"category": "code_fix_required"},
    {"category": ["transient_failure", "infrastructure_issue"], "repository": "acme/app"},
    {"kind": "lint"},
    {"severity": "high"},
    {"priority": "medium", "decision": "one_off_fix"},
    {"history_class": "new"},
    {"history_class": "recurring"},
    {"state": "open"},
    {"since": "2026-11-03T00:00:00Z", "until": "2026-11-05T00:00:00Z"},
    {"q": "connection REFUSED"},
    {"q": "orders_", "kind": "compilation"},
    {"repository": "acme/nowhere"},
]


def _matches(issue: dict[str, Any], flt: dict[str, Any]) -> bool:
    for name, wanted in flt.items():
        values = wanted if isinstance(wanted, list) else [wanted]
        if name == "since":
            if issue["last_seen"] < wanted:
                return False
        elif name == "until":
            if issue["last_seen"] >= wanted:
                return False
        elif name == "q":
            text = f"{issue['title']}\n{issue['template']}\n{issue['sample_message']}".lower()
            if wanted.lower() not in text:
                return False
        elif issue[name] not in values:
            return False
    return True


@pytest.mark.parametrize("flt", FILTERS, ids=lambda f: "&".join(f"{k}={v}" for k, v in f.items()))
def test_filters_give_exactly_the_matching_issues(seeded: Api, flt: dict[str, Any]) -> None:
    everything = seeded.all_issues()
    answer = seeded.get("/api/v1/issues", params={**flt, "limit": 500})
    assert answer.status_code == 200, answer.text
    got = {i["id"] for i in answer.json()["items"]}
    assert got == {i["id"] for i in everything if _matches(i, flt)}


def test_the_seed_has_variety_for_the_filters(seeded: Api) -> None:
    everything = seeded.all_issues()
    for name in ("repository", "category", "kind", "history_class", "decision"):
        assert len({i[name] for i in everything}) >= 2, name
    for flt in FILTERS[:-1]:
        assert any(_matches(i, flt) for i in everything), flt


def _sort_key(sort: str) -> Any:
    rank = {"critical": 0, "high": 1, "medium": 2, "low": 3}
    name = sort.lstrip("-")
    descending = sort.startswith("-")

    def key(issue: dict[str, Any]) -> Any:
        if name in ("priority", "severity"):
            level = rank[issue[name]]
            # critical first (or last when descending); newest activity first within a level
            stamp = -datetime.fromisoformat(issue["last_seen"]).timestamp()
            return (-level if descending else level, stamp, -issue["id"])
        if name == "id":
            return -issue["id"] if descending else issue["id"]
        value = issue[name]
        if isinstance(value, str):
            value = datetime.fromisoformat(value).timestamp()
        return (-value, -issue["id"]) if descending else (value, issue["id"])

    return key


SORTS = [
    "-last_seen",
    "last_seen",
    "-first_seen",
    "first_seen",
    "-occurrences",
    "occurrences",
    "priority",
    "-priority",
    "severity",
    "-severity",
    "id",
    "-id",
]


@pytest.mark.parametrize("sort", SORTS)
def test_pages_walk_every_issue_once_in_sort_order(seeded: Api, sort: str) -> None:
    everything = seeded.all_issues()
    walked = seeded.pages({"sort": sort}, limit=4)
    ids = [i["id"] for i in walked]
    assert len(ids) == len(set(ids)) == len(everything)
    assert ids == [i["id"] for i in sorted(everything, key=_sort_key(sort))]


def test_pages_with_filters_round_trip(seeded: Api) -> None:
    flt = {"repository": ["acme/app", "acme/web"], "sort": "-occurrences"}
    walked = seeded.pages(flt, limit=3)
    expected = [i for i in seeded.all_issues() if i["repository"] in flt["repository"]]
    assert sorted(i["id"] for i in walked) == sorted(i["id"] for i in expected)
    assert len(walked) == len({i["id"] for i in walked})


def test_rows_added_between_pages_do_not_shift_the_next_page(seeded: Api) -> None:
    before = [i["id"] for i in seeded.all_issues()]
    first = seeded.get("/api/v1/issues", params={"limit": 5}).json()
    fresh = {
        "repository": "acme/app",
        "check": "tests/test_new.py::t",
        "message": "KeyError: 'late'",
        "at": "2026-11-21T00:00:00Z",
    }
    assert seeded.client.post("/api/v1/events", json=fresh, headers=seeded.auth()).status_code
    second = seeded.get("/api/v1/issues", params={"limit": 5, "cursor": first["next_cursor"]})
    got = [i["id"] for i in first["items"] + second.json()["items"]]
    assert got == before[:10]
    assert len(seeded.all_issues()) == len(before) + 1


def test_a_cursor_is_bound_to_its_filters_and_sort(seeded: Api) -> None:
    cursor = seeded.get("/api/v1/issues", params={"limit": 2}).json()["next_cursor"]
    assert cursor
    other = seeded.get("/api/v1/issues", params={"limit": 2, "cursor": cursor, "kind": "lint"})
    assert "other filters" in assert_problem(other, 422)["detail"]
    resorted = seeded.get("/api/v1/issues", params={"cursor": cursor, "sort": "priority"})
    assert "another listing or sort" in assert_problem(resorted, 422)["detail"]


@pytest.mark.parametrize(
    ("params", "location"),
    [
        ({"limit": 501}, "query.limit"),
        ({"limit": 100000000}, "query.limit"),
        ({"limit": 0}, "query.limit"),
        ({"limit": "ten"}, "query.limit"),
        ({"state": "bogus"}, "query.state"),
        ({"category": "oops"}, "query.category"),
        ({"sort": "title"}, "query.sort"),
        ({"since": "yesterday"}, "query.since"),
        ({"repository": "not a repo"}, "query.repository"),
        ({"cursor": "garbage!"}, "cursor"),
        ({"cursor": "eyJrIjoiaXNzdWVzOi1sYXN0X3NlZW4ifQ"}, "cursor"),
        ({"since": "2026-11-05T00:00:00Z", "until": "2026-11-01T00:00:00Z"}, "since"),
        ({"q": "x" * 201}, "query.q"),
    ],
)
def test_invalid_filters_are_clear_4xx_problems(
    seeded: Api, params: dict[str, Any], location: str
) -> None:
    body = assert_problem(seeded.get("/api/v1/issues", params=params), 422)
    assert any(location in e["location"] for e in body["errors"]), body


@pytest.mark.parametrize(
    "text",
    [
        "'; DROP TABLE issues; --",
        '" OR 1=1 --',
        "%",
        "_",
        "\\",
        "') UNION SELECT * FROM api_tokens --",
    ],
)
def test_sql_looking_search_strings_are_plain_text(seeded: Api, text: str) -> None:
    answer = seeded.get("/api/v1/issues", params={"q": text, "limit": 500})
    assert answer.status_code == 200, answer.text
    haystacks = [
        f"{i['title']}\n{i['template']}\n{i['sample_message']}".lower() for i in seeded.all_issues()
    ]
    assert len(answer.json()["items"]) == sum(text.lower() in h for h in haystacks)
    assert len(seeded.all_issues()) == 30  # the table is still there


def test_an_underscore_matches_only_an_underscore(seeded: Api) -> None:
    got = seeded.get("/api/v1/issues", params={"q": "orders_1", "limit": 500}).json()["items"]
    assert got and all("orders_1" in i["sample_message"] for i in got)
    none = seeded.get("/api/v1/issues", params={"q": "ordersX1"}).json()["items"]
    assert none == []


# -- detail and triage ----------------------------------------------------------------------------


def test_issue_detail_has_timeline_occurrences_and_lifecycle(seeded: Api) -> None:
    issue = max(seeded.all_issues(), key=lambda i: i["occurrences"])
    body = seeded.get(f"/api/v1/issues/{issue['id']}", params={"occurrences": 2}).json()
    assert body["id"] == issue["id"] and body["occurrences"] == 4
    kinds = [e["kind"] for e in body["timeline"]]
    assert "created" in kinds and kinds.count("occurred") == 4
    assert len(body["recent_occurrences"]) == 2
    assert body["lifecycle"]["escalation_level"] == 0

    walked: list[int] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"limit": 3}
        if cursor:
            params["cursor"] = cursor
        page = seeded.get(f"/api/v1/issues/{issue['id']}/occurrences", params=params).json()
        walked += [o["id"] for o in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert len(walked) == len(set(walked)) == 4


def test_unknown_ids_are_404_problems(seeded: Api) -> None:
    for path in (
        "/api/v1/issues/999999",
        "/api/v1/issues/999999/occurrences",
        "/api/v1/runs/999999",
        "/api/v1/checks/999999",
    ):
        assert_problem(seeded.get(path), 404)
    assert_problem(seeded.patch(999999, {"reason": "x", "assignee": "ann"}), 404)
    assert_problem(seeded.get("/api/v1/issues/0"), 422)
    assert_problem(seeded.get("/api/v1/issues/99999999999999999999"), 422)
    assert_problem(seeded.get("/no/such/route"), 404)
    assert_problem(seeded.client.delete("/api/v1/issues"), 405)


def test_a_triage_decision_is_kept_with_its_reason_on_the_timeline(seeded: Api) -> None:
    issue = next(i for i in seeded.all_issues() if i["decision"] != "needs_spec")
    answer = seeded.patch(
        issue["id"],
        {"reason": "owner knows this test", "assignee": "ann", "decision": "needs_spec"},
    )
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["assignee"] == "ann" and body["decision"] == "needs_spec"
    assert body["state"] == "assigned"
    assert body["lifecycle"]["overrides"] == {"assignee": "ann", "decision": "needs_spec"}
    entry = [e for e in body["timeline"] if e["kind"] == "overridden"][-1]
    assert entry["actor"] == "token:ci"
    assert entry["data"]["reason"] == "owner knows this test"
    assert entry["data"]["changes"]["decision"]["to"] == "needs_spec"
    listed = seeded.get("/api/v1/issues", params={"assignee": "ann"}).json()["items"]
    assert [i["id"] for i in listed] == [issue["id"]]


def test_state_changes_follow_the_state_machine(seeded: Api) -> None:
    issue_id = seeded.all_issues()[0]["id"]
    resolved = seeded.patch(issue_id, {"reason": "fixed in #12", "state": "resolved"})
    assert resolved.status_code == 200 and resolved.json()["state"] == "resolved"
    changed = [e for e in resolved.json()["timeline"] if e["kind"] == "state_changed"][-1]
    assert changed["data"] == {
        "from": "open",
        "to": "resolved",
        "reason": "fixed in #12",
        "by": "human",
    }
    body = assert_problem(seeded.patch(issue_id, {"reason": "x", "state": "in_progress"}), 409)
    assert "cannot go from resolved to in_progress" in body["detail"]
    body = assert_problem(seeded.patch(issue_id, {"reason": "x", "state": "auto_resolved"}), 409)
    assert "cannot go from resolved to auto_resolved" in body["detail"]
    body = assert_problem(seeded.patch(issue_id, {"reason": "x", "state": "resolved"}), 409)
    assert "already resolved" in body["detail"]
    reopened = seeded.patch(issue_id, {"reason": "came back", "state": "open"})
    assert reopened.status_code == 200 and reopened.json()["state"] == "open"


def test_machine_only_states_are_refused_to_people(seeded: Api) -> None:
    issue_id = seeded.all_issues()[0]["id"]
    body = assert_problem(seeded.patch(issue_id, {"reason": "x", "state": "regressed"}), 409)
    assert "cannot go from open to regressed" in body["detail"]


def test_snooze_until_a_time_and_forever(seeded: Api) -> None:
    first, second = (i["id"] for i in seeded.all_issues()[:2])
    until = (SystemClock().now() + timedelta(days=2)).isoformat()
    answer = seeded.patch(first, {"reason": "vendor outage", "snooze": {"until": until}})
    assert answer.status_code == 200, answer.text
    assert answer.json()["lifecycle"]["snoozed_until"] is not None
    forever = seeded.patch(second, {"reason": "not ours", "snooze": {"forever": True}})
    assert forever.status_code == 200 and forever.json()["state"] == "ignored"
    past = (SystemClock().now() - timedelta(days=2)).isoformat()
    assert_problem(seeded.patch(first, {"reason": "x", "snooze": {"until": past}}), 422)
    assert_problem(seeded.patch(first, {"reason": "x", "snooze": {}}), 422)
    assert_problem(seeded.patch(second, {"reason": "x", "snooze": {"occurrences": 2}}), 409)


@pytest.mark.parametrize(
    "body",
    [
        {"assignee": "ann"},
        {"reason": "", "assignee": "ann"},
        {"reason": "   ", "assignee": "ann"},
        {"reason": "nothing else"},
        {"reason": "x", "category": "nonsense"},
        {"reason": "x", "title": "renamed"},
        {"reason": "x", "assignee": ""},
    ],
)
def test_bad_triage_bodies_are_422(seeded: Api, body: dict[str, Any]) -> None:
    issue_id = seeded.all_issues()[0]["id"]
    assert_problem(seeded.patch(issue_id, body), 422)
    after = seeded.get(f"/api/v1/issues/{issue_id}").json()
    assert after["assignee"] is None and after["state"] == "open"


# -- auth -----------------------------------------------------------------------------------------


def test_writes_need_a_write_token(seeded: Api) -> None:
    issue_id = seeded.all_issues()[0]["id"]
    change = {"reason": "mine", "assignee": "bob"}
    missing = seeded.client.patch(f"/api/v1/issues/{issue_id}", json=change)
    assert assert_problem(missing, 401)
    assert missing.headers["www-authenticate"].startswith("Bearer")
    for header in ("Bearer th_not_a_real_token", "Basic dXNlcjpwYXNz", "Bearer", "th_x"):
        wrong = seeded.client.patch(
            f"/api/v1/issues/{issue_id}", json=change, headers={"Authorization": header}
        )
        assert_problem(wrong, 401)
    assert_problem(seeded.patch(issue_id, change, scope="revoked"), 401)
    read_only = assert_problem(seeded.patch(issue_id, change, scope="read"), 403)
    assert "write token" in read_only["detail"]
    for path in ("/api/v1/events", "/api/v1/reports/junit", "/api/v1/reports/dbt"):
        assert_problem(seeded.client.post(path, headers=seeded.auth("read")), 403)
    assert seeded.get(f"/api/v1/issues/{issue_id}").json()["assignee"] is None
    assert seeded.patch(issue_id, change).status_code == 200


def test_reads_are_open_by_default_but_a_given_token_must_be_valid(seeded: Api) -> None:
    assert seeded.get("/api/v1/issues").status_code == 200
    assert seeded.get("/api/v1/issues", headers=seeded.auth("read")).status_code == 200
    bad = seeded.get("/api/v1/issues", headers={"Authorization": "Bearer th_nope"})
    assert_problem(bad, 401)


def test_reads_can_require_a_token(engine: Engine) -> None:
    settings = Settings(api=ApiConfig(require_token_for_reads=True))
    for api in make_api(engine, settings):
        for path in ("/api/v1/issues", "/api/v1/runs", "/api/v1/stream", "/metrics"):
            assert_problem(api.get(path), 401)
        assert api.get("/api/v1/issues", headers=api.auth("read")).status_code == 200
        assert api.get("/metrics", headers=api.auth("read")).status_code == 200
        assert api.get("/healthz").status_code == 200
        assert api.get("/openapi.json").status_code == 200


def test_tokens_are_stored_hashed_and_note_their_use(seeded: Api) -> None:
    seeded.get("/api/v1/issues", headers=seeded.auth("read"))
    with Session(seeded.engine) as session:
        rows = session.execute(select(t.api_tokens)).all()
    stored = " ".join(str(value) for row in rows for value in row)
    for raw in seeded.tokens.values():
        assert raw not in stored
    used = {r.name: r.last_used_at for r in rows}
    assert used["grafana"] is not None


def cli(db_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "TRIAGEHUB_CONFIG": os.devnull}
    return subprocess.run(
        [sys.executable, "-m", "triagehub", "--db", db_url, *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )


def test_token_commands_make_list_and_revoke(engine: Engine, db_url: str) -> None:
    made = cli(db_url, "token", "create", "--name", "ci", "--scope", "write")
    assert made.returncode == 0, made.stderr
    raw = made.stdout.strip()
    assert raw.startswith("th_") and "not shown again" in made.stderr
    listed = cli(db_url, "token", "list", "--format", "json")
    rows = json.loads(listed.stdout)
    assert [(r["name"], r["scope"], r["active"]) for r in rows] == [("ci", "write", True)]
    assert raw not in listed.stdout and raw.startswith(rows[0]["prefix"])
    for api in make_api(engine):
        ok = api.client.post(
            "/api/v1/events",
            json={"repository": "acme/app", "check": "t", "message": "boom"},
            headers={"Authorization": f"Bearer {raw}"},
        )
        assert ok.status_code == 200, ok.text
        assert cli(db_url, "token", "revoke", "ci").returncode == 0
        refused = api.client.post(
            "/api/v1/events", json={}, headers={"Authorization": f"Bearer {raw}"}
        )
        assert_problem(refused, 401)
    again = cli(db_url, "token", "revoke", "ci")
    assert again.returncode == 2 and "no active token" in again.stderr
    bad = cli(db_url, "token", "create", "--name", "x", "--scope", "admin")
    assert bad.returncode == 2


# -- ingestion ------------------------------------------------------------------------------------


def test_uploaded_junit_report_is_ingested_once(api: Api) -> None:
    report = (DATA / "junit" / "junit.xml").read_bytes()
    files = {"file": ("junit.xml", report, "application/xml")}
    answer = api.client.post(
        "/api/v1/reports/junit", params={"repository": "acme/app"}, files=files, headers=api.auth()
    )
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["runs"] == 1 and body["failures"] >= 4 and body["new_issues"] >= 4
    assert body["formats"] == {"junit.xml": "junit"}
    again = api.client.post(
        "/api/v1/reports/junit", params={"repository": "acme/app"}, files=files, headers=api.auth()
    )
    assert again.json()["duplicate_runs"] == 1 and again.json()["new_issues"] == 0


def test_several_junit_files_are_one_run(api: Api) -> None:
    names = (
        "surefire_TEST-com.example.checkout.CartServiceTest.xml",
        "gradle_TEST-com.example.billing.InvoiceCalculatorTest.xml",
    )
    files = [("file", (n, (DATA / "junit" / n).read_bytes(), "application/xml")) for n in names]
    answer = api.client.post(
        "/api/v1/reports/junit", params={"repository": "acme/jvm"}, files=files, headers=api.auth()
    )
    assert answer.status_code == 200, answer.text
    assert answer.json()["runs"] == 1 and answer.json()["files"] == 2


def test_uploaded_playwright_report_is_ingested(api: Api) -> None:
    report = (DATA / "playwright" / "report.json").read_bytes()
    answer = api.client.post(
        "/api/v1/reports/playwright",
        params={"repository": "acme/web"},
        files={"file": ("report.json", report, "application/json")},
        headers=api.auth(),
    )
    assert answer.status_code == 200, answer.text
    assert answer.json()["runs"] == 1 and answer.json()["failures"] >= 1
    issues = api.get("/api/v1/issues", params={"repository": "acme/web"}).json()["items"]
    assert issues and all(i["source"] == "playwright" for i in issues)


def test_uploaded_dbt_artifacts_with_manifest_are_ingested(api: Api) -> None:
    answer = api.client.post(
        "/api/v1/reports/dbt",
        params={"repository": "acme/dbt"},
        files={
            "run_results": ("run_results.json", (DATA / "dbt" / "run_results.json").read_bytes()),
            "manifest": ("manifest.json", (DATA / "dbt" / "manifest.json").read_bytes()),
        },
        headers=api.auth(),
    )
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["runs"] == 1 and body["failures"] >= 1
    issues = api.get("/api/v1/issues", params={"repository": "acme/dbt"}).json()["items"]
    assert issues and any(i["affected_models"] for i in issues)


def test_a_report_without_a_repository_or_with_bad_content_is_422(api: Api) -> None:
    report = (DATA / "junit" / "junit.xml").read_bytes()
    missing = api.client.post(
        "/api/v1/reports/junit", files={"file": ("junit.xml", report)}, headers=api.auth()
    )
    body = assert_problem(missing, 422)
    assert "repository" in body["detail"] and "triagehub-upload" not in body["detail"]
    broken = api.client.post(
        "/api/v1/reports/playwright",
        params={"repository": "acme/web"},
        files={"file": ("report.json", b"{not json")},
        headers=api.auth(),
    )
    body = assert_problem(broken, 422)
    assert "triagehub-upload" not in json.dumps(body)
    empty = api.client.post(
        "/api/v1/reports/dbt", files={"run_results": ("r.json", b"")}, headers=api.auth()
    )
    assert_problem(empty, 422)
    assert api.all_issues() == []


def test_events_are_all_or_nothing(api: Api) -> None:
    good = {"repository": "acme/app", "check": "t1", "message": "boom"}
    bad = {"repository": "acme/app", "check": "t2", "status": "exploded"}
    answer = api.client.post("/api/v1/events", json=[good, bad], headers=api.auth())
    body = assert_problem(answer, 422)
    assert "[1]" in body["detail"] and "status" in body["detail"]
    assert api.all_issues() == []
    lines = b"\n".join(json.dumps(e).encode() for e in seed_events(3))
    ndjson = api.client.post(
        "/api/v1/events",
        content=lines,
        headers={**api.auth(), "Content-Type": "application/x-ndjson"},
    )
    assert ndjson.status_code == 200 and ndjson.json()["new_issues"] == 3
    assert_problem(
        api.client.post(
            "/api/v1/events", content=b"<xml/>", headers={**api.auth(), "Content-Type": "text/xml"}
        ),
        415,
    )
    assert_problem(
        api.client.post(
            "/api/v1/events",
            content=b"{broken",
            headers={**api.auth(), "Content-Type": "application/json"},
        ),
        422,
    )


def test_events_use_the_default_repository(api: Api) -> None:
    answer = api.client.post(
        "/api/v1/events",
        params={"repository": "acme/default"},
        json={"check": "t", "message": "boom"},
        headers=api.auth(),
    )
    assert answer.status_code == 200, answer.text
    assert api.all_issues()[0]["repository"] == "acme/default"


def test_bodies_over_the_limit_are_413(engine: Engine) -> None:
    settings = Settings(api=ApiConfig(max_upload_mb=0.01))  # about 10 KB
    for api in make_api(engine, settings):
        big = [
            {"repository": "acme/app", "check": f"t{n}", "message": "x" * 100} for n in range(200)
        ]
        assert_problem(api.client.post("/api/v1/events", json=big, headers=api.auth()), 413)

        def chunks() -> Iterator[bytes]:  # no Content-Length: counted as it arrives
            yield b"["
            for n in range(200):
                event = {"repository": "acme/app", "check": f"t{n}", "message": "x" * 100}
                yield json.dumps(event).encode() + b","
            yield b"{}]"

        streamed = api.client.post(
            "/api/v1/events",
            content=chunks(),
            headers={**api.auth(), "Content-Type": "application/json"},
        )
        assert_problem(streamed, 413)
        upload = api.client.post(
            "/api/v1/reports/junit",
            params={"repository": "acme/app"},
            files={"file": ("big.xml", b"<testsuite>" + b" " * 50_000 + b"</testsuite>")},
            headers=api.auth(),
        )
        assert_problem(upload, 413)
        assert api.all_issues() == []


# -- runs, checks, patterns, repositories, metrics, export ----------------------------------------


def test_runs_and_their_failures(seeded: Api) -> None:
    runs = seeded.get("/api/v1/runs", params={"repository": "acme/web", "limit": 500}).json()
    assert runs["items"] and all(r["repository"] == "acme/web" for r in runs["items"])
    stamps = [r["occurred_at"] for r in runs["items"]]
    assert stamps == sorted(stamps, reverse=True)
    run = seeded.get(f"/api/v1/runs/{runs['items'][0]['id']}").json()
    assert run["failures"] and run["failures"][0]["issue_id"] >= 1
    walked: list[int] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"limit": 7}
        if cursor:
            params["cursor"] = cursor
        page = seeded.get("/api/v1/runs", params=params).json()
        walked += [r["id"] for r in page["items"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    with Session(seeded.engine) as session:
        total = session.execute(select(func.count()).select_from(t.runs)).scalar_one()
    assert len(walked) == len(set(walked)) == total


def test_checks_with_history(seeded: Api) -> None:
    failing = seeded.get("/api/v1/checks", params={"failing": True, "limit": 500}).json()
    assert len(failing["items"]) == 30
    check = max(failing["items"], key=lambda c: c["runs"])
    assert check["runs"] == 4 and check["recent"] == ["fail"] * 4 and check["failure_rate"] == 1
    detail = seeded.get(f"/api/v1/checks/{check['id']}").json()
    assert detail["issues"] and detail["issues"][0]["occurrences"] == 4
    found = seeded.get("/api/v1/checks", params={"q": "RUFF", "limit": 500}).json()["items"]
    assert found and all("ruff" in c["key"] for c in found)
    assert seeded.get("/api/v1/checks", params={"flaky": True}).json()["items"] == []


def test_patterns_repositories_and_metrics(seeded: Api) -> None:
    patterns = seeded.get("/api/v1/patterns").json()
    assert patterns and {"template", "occurrences", "repositories"} <= set(patterns[0])
    window = {"since": "2026-11-01T00:00:00Z", "until": "2026-11-10T00:00:00Z"}
    health = seeded.get("/api/v1/repositories", params=window)
    assert health.status_code == 200, health.text
    assert {h["repository"] for h in health.json()} == set(REPOS)
    metrics = seeded.get("/api/v1/metrics", params={**window, "repository": "acme/app"})
    assert metrics.status_code == 200, metrics.text
    assert metrics.json()["raw_failures"] == sum(
        1 + n % 4 for n in range(30) if REPOS[n % 3] == "acme/app"
    )
    assert_problem(seeded.get("/api/v1/metrics", params={"repository": "acme/none"}), 422)
    backwards = {"since": "2026-11-10T00:00:00Z", "until": "2026-11-01T00:00:00Z"}
    assert_problem(seeded.get("/api/v1/metrics", params=backwards), 422)


def test_export_as_json_and_csv(seeded: Api) -> None:
    exported = seeded.get("/api/v1/export", params={"repository": "acme/app"})
    assert exported.status_code == 200
    assert "attachment" in exported.headers["content-disposition"]
    rows = exported.json()
    assert len(rows) == 10 and all(r["repository"] == "acme/app" for r in rows)
    as_csv = seeded.get("/api/v1/export", params={"format": "csv"})
    assert as_csv.headers["content-type"].startswith("text/csv")
    table = list(csv.DictReader(io.StringIO(as_csv.text)))
    assert len(table) == 30 and {"id", "title", "state", "last_seen"} <= set(table[0])


# -- the live stream ------------------------------------------------------------------------------


def read_events(
    api: Api,
    count: int,
    headers: dict[str, str],
    timeout: float = 20.0,
    path: str = "/api/v1/stream",
) -> list[Any]:
    """Read ``count`` events from /api/v1/stream (failing after ``timeout`` seconds)."""
    events: list[dict[str, Any]] = []
    failure: list[BaseException] = []

    def run() -> None:
        try:
            with api.client.stream("GET", path, headers=headers) as answer:
                assert answer.status_code == 200
                assert answer.headers["content-type"].startswith("text/event-stream")
                current: dict[str, Any] = {}
                for line in answer.iter_lines():
                    if line == "":
                        if "event" in current:
                            events.append(current)
                            if len(events) >= count:
                                return
                        current = {}
                    elif not line.startswith(":"):
                        name, _, value = line.partition(": ")
                        current[name] = json.loads(value) if name == "data" else value
        except BaseException as exc:
            failure.append(exc)

    reader = threading.Thread(target=run, daemon=True)
    reader.start()
    reader.join(timeout)
    if failure:
        raise failure[0]
    assert not reader.is_alive(), f"only {len(events)} of {count} events in {timeout} s"
    return events


def ingest_elsewhere(db_url: str, events: list[dict[str, Any]]) -> None:
    """Ingest through another engine (its own connections), as another process would."""
    other = store_db.make_engine(db_url)
    try:
        ingest_reports(other, parse_objects(events, "test"), Settings())
    finally:
        other.dispose()


def test_stream_sends_changes_and_resumes_with_last_event_id(api: Api, db_url: str) -> None:
    ingest_elsewhere(db_url, seed_events(3))  # 3 issues, 6 occurrences
    with Session(api.engine) as session:
        total = session.execute(select(func.count()).select_from(t.issue_events)).scalar_one()
    total += 6
    everything = read_events(api, total, {"Last-Event-ID": "e0-o0-a0"})
    kinds = [(e["event"], e["data"].get("kind")) for e in everything]
    assert kinds.count(("issue", "created")) == 3 and kinds.count(("occurrence", None)) == 6
    occurrence = next(e for e in everything if e["event"] == "occurrence")["data"]
    assert occurrence["repository"] == "acme/app" and occurrence["check"] == "tests/test_a.py::t0"
    ids = [e["id"] for e in everything]
    assert len(ids) == len(set(ids))
    for cut in (1, 4, total - 2):
        rest = read_events(api, total - cut, {"Last-Event-ID": ids[cut - 1]})
        assert [e["id"] for e in rest] == ids[cut:]
    by_query = read_events(api, 2, {}, path=f"/api/v1/stream?cursor={ids[-3]}")
    assert [e["id"] for e in by_query] == ids[-2:]


def test_a_fresh_stream_starts_now_and_sees_a_change_made_elsewhere(api: Api, db_url: str) -> None:
    ingest_elsewhere(db_url, seed_events(1))
    issue_id = api.all_issues()[0]["id"]
    got: list[Any] = []
    reader = threading.Thread(target=lambda: got.extend(read_events(api, 1, {})), daemon=True)
    reader.start()
    time.sleep(0.5)
    assert api.patch(issue_id, {"reason": "on it", "state": "in_progress"}).status_code == 200
    reader.join(20)
    assert got and got[0]["event"] == "issue"
    assert got[0]["data"]["kind"] == "state_changed"
    assert got[0]["data"]["issue"]["state"] == "in_progress"


def test_streams_end_when_the_server_shuts_down(api: Api) -> None:
    ended = threading.Event()

    def listen() -> None:
        with api.client.stream("GET", "/api/v1/stream") as answer:
            for _ in answer.iter_lines():
                pass
        ended.set()

    reader = threading.Thread(target=listen, daemon=True)
    reader.start()
    time.sleep(0.5)
    assert not ended.is_set()
    for hub in list(_HUBS):  # what the app's shutdown (lifespan, SIGTERM) does
        hub.close()
    assert ended.wait(5), "the stream did not end on shutdown"


def test_a_malformed_last_event_id_is_422(api: Api) -> None:
    assert_problem(api.get("/api/v1/stream", headers={"Last-Event-ID": "nope"}), 422)


def test_stream_holes_are_read_again_until_they_expire() -> None:
    tail = _Tail(10)
    tail.found([], [11, 14, 15], now=0.0)  # 12 and 13 may still be committing
    assert tail.last == 15 and tail.hole_ranges() == [(12, 13)]
    tail.found([13], [16], now=1.0)
    assert tail.hole_ranges() == [(12, 12)]
    tail.found([], [], now=STREAM_HOLE_TTL_S + 1)
    assert tail.hole_ranges() == []


# -- Prometheus, docs, OpenAPI --------------------------------------------------------------------


def test_prometheus_metrics_exposition(seeded: Api) -> None:
    with Session(seeded.engine) as session, session.begin():
        enqueue(session, kind="notify", key="n-1", data={}, now=NOW)
        enqueue(session, kind="notify", key="n-2", data={}, now=NOW)
    seeded.get("/api/v1/issues")
    answer = seeded.get("/metrics")
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/plain")
    families = {f.name: f for f in text_string_to_metric_families(answer.text)}
    issues = families["triagehub_issues"]
    assert sum(s.value for s in issues.samples) == 30
    assert {s.labels["state"] for s in issues.samples} == {"open"}
    runs = families["triagehub_ingested_runs"]
    assert sum(s.value for s in runs.samples) == sum(1 + n % 4 for n in range(30))
    failures = families["triagehub_ingested_failures"].samples
    assert failures[0].value == sum(1 + n % 4 for n in range(30))
    depth = {
        (s.labels["kind"], s.labels["status"]): s.value
        for s in families["triagehub_outbox_depth"].samples
    }
    assert depth == {("notify", "pending"): 2}
    assert "triagehub_outbox_delivery_failures" in families
    requests = families["triagehub_http_requests"].samples
    assert any(
        s.labels == {"method": "GET", "route": "/api/v1/issues", "status": "200"} for s in requests
    )
    latency = families["triagehub_http_request_duration_seconds"].samples
    assert any(s.labels.get("route") == "/api/v1/issues" for s in latency)


def test_docs_page_works_offline(api: Api) -> None:
    page = api.get("/docs")
    assert page.status_code == 200 and "/openapi.json" in page.text
    assert "http://" not in page.text and "https://" not in page.text
    assert api.get("/redoc").status_code == 404
    spec = api.get("/openapi.json").json()
    assert "/api/v1/issues" in spec["paths"] and "/api/v1/stream" in spec["paths"]
    patch = spec["paths"]["/api/v1/issues/{issue_id}"]["patch"]
    assert patch["responses"]["409"]["content"] == {
        "application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}
    }
    assert spec["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"
