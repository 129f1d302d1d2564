"""Hostile text from outside, through every source and endpoint, on SQLite and PostgreSQL.

NUL and other control characters, 10 MB strings and secrets in every text field: the answer is a
4xx with a reason or the text is stored cleaned and redacted (never a 500, never a CLI traceback
with exit 1), and a later file of the same CLI call is still ingested. After each request the
whole store is scanned: no NUL, no secret, nothing longer than its column.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from triagehub.api.app import WebhookConfig, create_app, signature_of
from triagehub.cli.main import app as cli_app
from triagehub.clock import FixedClock
from triagehub.config import Settings
from triagehub.core.models import CheckResult, RunReport, Status
from triagehub.core.sanitize import clean_line, clean_text, sanitize_report, truncate_key
from triagehub.engine.jobs import process_jobs
from triagehub.errors import InputError
from triagehub.store import tables as t
from triagehub.store.queries import create_api_token

NOW = datetime(2026, 11, 20, 12, tzinfo=UTC)
DATA = Path(__file__).parent / "data"
SECRET = b"hostile-test-secret"
GH_TOKEN = "ghp_" + "A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r8"
SECRETS = ("hunter2", "s3cr3t", GH_TOKEN)
BIG = 10 * 1024 * 1024
DIRTY = "\x00\x01\x07\x08\x0b\x1b[31m\x7f\x85\u2028"


def dirty(text: str) -> str:
    """``text`` with control characters around and inside it."""
    middle = len(text) // 2
    return DIRTY + text[:middle] + "\x00" + text[middle:] + "\x1f\x00"


def scan_store(engine: Engine) -> list[str]:
    """Every text value in the store that holds NUL, a control character other than tab,
    newline and CR, one of the planted secrets, or more characters than its column."""
    found: list[str] = []
    with engine.connect() as conn:
        for table in t.metadata.sorted_tables:
            cols = [c for c in table.columns if isinstance(c.type, sa.String | sa.Text | sa.JSON)]
            if not cols:
                continue
            for row in conn.execute(sa.select(*cols)):
                for col, value in zip(cols, row, strict=True):
                    if value is None:
                        continue
                    text = value if isinstance(value, str) else json.dumps(value)
                    where = f"{table.name}.{col.name}"
                    if "\x00" in text or "\\u0000" in text:
                        found.append(f"{where}: NUL")
                    if any(s in text for s in SECRETS):
                        found.append(f"{where}: secret")
                    length = getattr(col.type, "length", None)
                    if isinstance(value, str) and length and len(value) > length:
                        found.append(f"{where}: {len(value)} > {length}")
    return found


def assert_clean_answer(answer: Any, engine: Engine) -> None:
    assert answer.status_code < 500, answer.text[:500]
    assert scan_store(engine) == []


# -- the sanitiser ------------------------------------------------------------------------------


def test_a_line_loses_control_characters_and_keeps_its_text() -> None:
    assert clean_line("Run\x00 tests\n\x07now", 100) == "Run tests now"
    assert clean_line("\ud800lone surrogate", 100) == "lone surrogate"


def test_multi_line_text_keeps_newlines_tabs_and_colours() -> None:
    assert clean_text("a\x00b\n\tc\x1b[31m\x08", 100) == "ab\n\tc\x1b[31m"


def test_long_text_is_cut_with_a_mark_and_long_keys_stay_distinct() -> None:
    cut = clean_line("b" * 300, 255)
    assert len(cut) == 255 and cut.endswith("chars]") and "truncated" in cut
    one, two = truncate_key("k" * 1500 + "1", 1000), truncate_key("k" * 1500 + "2", 1000)
    assert len(one) == len(two) == 1000 and one != two
    assert truncate_key("k" * 1500 + "1", 1000) == one  # stable


def test_secrets_in_names_and_urls_are_redacted() -> None:
    report = sanitize_report(
        RunReport(
            source="generic",
            repository="acme/app",
            run_id="1",
            url=f"https://deploy:s3cr3t@ci.example.com/run/1?token={GH_TOKEN}",
            branch=f"feature/{GH_TOKEN}",
            results=(CheckResult("test_login[password=hunter2]", Status.FAIL, "x"),),
        )
    )
    text = repr(report)
    assert not any(s in text for s in SECRETS)
    assert report.results[0].check.startswith("test_login[password=")


def test_an_attempt_out_of_range_is_an_input_error_naming_the_field() -> None:
    report = RunReport(source="generic", repository="acme/app", run_id="1", attempt=2**31)
    with pytest.raises(InputError, match="attempt"):
        sanitize_report(report)


# -- every HTTP entry point ---------------------------------------------------------------------


@pytest.fixture
def client(engine: Engine) -> Iterator[TestClient]:
    app = create_app(
        engine, Settings(), WebhookConfig(SECRET), clock=FixedClock(NOW), run_worker=False
    )
    with Session(engine) as session, session.begin():
        _, token = create_api_token(session=session, name="ci", scope="write", now=NOW)
    with TestClient(app, headers={"Authorization": f"Bearer {token}"}) as c:
        yield c


def hostile_events() -> list[dict[str, Any]]:
    return [
        {
            "repository": "acme/app",
            "check": dirty("tests/test_auth.py::test_login[password=hunter2]"),
            "message": dirty(f"AssertionError: token={GH_TOKEN} rejected"),
            "log": dirty("Traceback:\n  File app.py\nAuthorization: Bearer abcdefghijkl1234"),
            "commit": dirty("f" * 100),
            "branch": dirty("b" * 400 + f"/{GH_TOKEN}"),
            "url": dirty(f"https://deploy:s3cr3t@ci.example.com/run?token={GH_TOKEN}"),
        },
        {
            "source": dirty("generic"),
            "repository": "acme/app",
            "run": {
                "id": dirty("r" * 500),
                "attempt": 3,
                "commit": dirty("abc"),
                "branch": dirty("main"),
                "url": "javascript:alert(1)",
                "status": dirty("failure"),
            },
            "results": [
                {"check": dirty("c" * 900), "status": "fail", "message": dirty("m" * 70_000)},
                {"check": dirty("ok"), "status": "pass"},
            ],
        },
    ]


def test_hostile_events_are_stored_cleaned_and_redacted(client: TestClient, engine: Engine) -> None:
    answer = client.post("/api/v1/events", json=hostile_events())
    assert answer.status_code == 200, answer.text[:500]
    assert answer.json()["runs"] == 2
    assert scan_store(engine) == []


def test_a_ten_megabyte_event_is_refused_or_cleaned(client: TestClient, engine: Engine) -> None:
    event = {"repository": "acme/app", "check": "c" * BIG, "message": "m" * BIG}
    assert_clean_answer(client.post("/api/v1/events", json=event), engine)
    event = {"repository": "acme/app", "check": "c", "message": "x", "log": "\x00" * BIG}
    assert_clean_answer(client.post("/api/v1/events", json=event), engine)


def test_an_event_attempt_past_32_bits_is_a_4xx(client: TestClient, engine: Engine) -> None:
    event = {
        "repository": "acme/app",
        "run": {"id": "1", "attempt": 2**31},
        "results": [{"check": "c", "status": "fail", "message": "m"}],
    }
    answer = client.post("/api/v1/events", json=event)
    assert 400 <= answer.status_code < 500, answer.text
    assert "attempt" in answer.text


def _poison_strings(node: Any, keys: frozenset[str]) -> Any:
    if isinstance(node, dict):
        return {
            k: dirty(v) if k in keys and isinstance(v, str) else _poison_strings(v, keys)
            for k, v in node.items()
        }
    if isinstance(node, list):
        return [_poison_strings(x, keys) for x in node]
    return node


def test_a_hostile_playwright_report_is_cleaned(client: TestClient, engine: Engine) -> None:
    report = json.loads((DATA / "playwright" / "report.json").read_text())
    report = _poison_strings(report, frozenset({"title", "message", "stack", "snippet"}))
    report["suites"][0]["title"] = dirty("login[password=hunter2]") + "t" * 3000
    body = json.dumps(report).encode()
    answer = client.post(
        "/api/v1/reports/playwright",
        params={"repository": "acme/web"},
        files={"file": ("report.json", body, "application/json")},
    )
    assert_clean_answer(answer, engine)


def test_a_hostile_agent_hook_is_refused_or_cleaned(client: TestClient, engine: Engine) -> None:
    payload = {
        "session_id": dirty("sess-1"),
        "transcript_path": dirty("/home/dev/x.jsonl"),
        "cwd": dirty("/home/dev/" + "d" * 10_000),
        "hook_event_name": "PostToolUse",
        "tool_name": dirty("Bash"),
        "tool_use_id": dirty("tu-1"),
        "tool_input": {"command": dirty(f"curl -H 'Authorization: token {GH_TOKEN}'")},
        "tool_response": {"stdout": dirty("password=hunter2"), "stderr": ""},
    }
    assert_clean_answer(client.post("/api/v1/hooks", json=payload), engine)
    payload["cwd"] = dirty("/home/dev/acme")
    answer = client.post("/api/v1/hooks", json=payload)
    assert answer.status_code == 202, answer.text
    assert_clean_answer(answer, engine)
    with Session(engine) as session:
        key = session.execute(sa.select(t.agent_sessions.c.session_key)).scalar_one()
    assert key.endswith("sess-1")


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/agents/%00",
        "/api/v1/agents/a%00b",
        "/sessions/%00",
        "/api/v1/specs/changes?project=%00",
        "/api/v1/specs/changes/%00",
        "/api/v1/issues?repository=%00",
        "/api/v1/issues?q=%00",
        "/issues?q=%00",
    ],
)
def test_nul_in_a_path_or_query_is_a_4xx(client: TestClient, engine: Engine, path: str) -> None:
    answer = client.get(path)
    assert answer.status_code < 500, answer.text[:500]


def test_a_hostile_webhook_delivery_is_cleaned_by_the_worker(
    client: TestClient, engine: Engine
) -> None:
    payload = json.loads((DATA / "github" / "workflow_job.completed_failure.1.json").read_text())
    job = payload["workflow_job"]
    job["name"] = dirty("build[token=hunter2]")
    job["head_branch"] = dirty("b" * 300)
    job["head_sha"] = dirty("f" * 100)
    job["html_url"] = dirty(f"https://x:s3cr3t@github.com/run?token={GH_TOKEN}")
    for step in job["steps"]:
        step["name"] = dirty(step["name"])
    body = json.dumps(payload).encode()
    headers = {
        "content-type": "application/json",
        "x-github-event": "workflow_job",
        "x-github-delivery": "hostile-1",
        "x-hub-signature-256": signature_of(SECRET, body),
    }
    answer = client.post("/webhooks/github", content=body, headers=headers)
    assert answer.status_code < 500, answer.text
    process_jobs(engine, Settings(), clock=FixedClock(NOW))
    with Session(engine) as session:
        assert session.execute(sa.select(sa.func.count()).select_from(t.runs)).scalar_one() == 1
    assert scan_store(engine) == []


# -- the CLI ------------------------------------------------------------------------------------


def test_the_cli_cleans_hostile_files_and_ingests_the_later_ones(
    db_url: str, engine: Engine, tmp_path: Path
) -> None:
    hostile = tmp_path / "a-hostile.json"
    hostile.write_text(json.dumps(hostile_events()))
    huge = tmp_path / "b-huge.json"
    huge.write_text(json.dumps({"repository": "acme/app", "check": "c" * BIG, "message": "m"}))
    good = tmp_path / "c-good.json"
    good.write_text(json.dumps({"repository": "acme/ok", "check": "t", "message": "boom"}))
    result = CliRunner().invoke(
        cli_app, ["--db", db_url, "ingest", str(hostile), str(huge), str(good)]
    )
    assert result.exit_code in (0, 2), result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    with Session(engine) as session:
        repos = set(session.execute(sa.select(t.repositories.c.name)).scalars())
    assert "acme/ok" in repos
    assert scan_store(engine) == []


# -- the dashboard and the docs -----------------------------------------------------------------


def test_a_javascript_run_url_is_never_a_link(client: TestClient, engine: Engine) -> None:
    event = {
        "repository": "acme/app",
        "check": "tests/test_x.py::test_y",
        "message": "boom",
        "url": "javascript:alert(document.cookie)",
    }
    assert client.post("/api/v1/events", json=event).status_code == 200
    with Session(engine) as session:
        issue_id = session.execute(sa.select(t.issues.c.id)).scalar_one()
    page = client.get(f"/issues/{issue_id}")
    assert page.status_code == 200
    assert 'href="javascript:' not in page.text
    event = {**event, "url": "https://ci.example.com/run/2", "commit": "c2"}
    assert client.post("/api/v1/events", json=event).status_code == 200
    assert 'href="https://ci.example.com/run/2"' in client.get(f"/issues/{issue_id}").text


def test_a_signed_out_session_cookie_no_longer_works(client: TestClient, engine: Engine) -> None:
    with Session(engine) as session, session.begin():
        _, raw = create_api_token(session=session, name="carol", scope="write", now=NOW)
    client.headers.pop("Authorization")
    answer = client.post("/login", data={"token": raw, "next": "/"}, follow_redirects=False)
    assert answer.status_code == 303
    cookie = dict(client.cookies)
    page = client.get("/errors").text
    assert "Signed in as <strong>carol</strong>" in page
    csrf = re.search(r'name="csrf" value="([0-9a-f]+)"', page)
    assert csrf is not None
    out = client.post("/logout", data={"csrf": csrf.group(1)}, follow_redirects=False)
    assert out.status_code == 303
    client.cookies.clear()
    client.cookies.update(cookie)  # a copy of the cookie, replayed after the sign-out
    assert "Signed in as" not in client.get("/errors").text


def test_the_docs_page_has_a_content_security_policy(client: TestClient) -> None:
    answer = client.get("/docs")
    assert answer.status_code == 200
    policy = answer.headers.get("content-security-policy", "")
    assert "default-src" in policy and "object-src 'none'" in policy


def test_an_events_body_over_its_own_limit_is_a_413_naming_the_setting(
    client: TestClient, engine: Engine
) -> None:
    events = [
        {"repository": "acme/app", "check": f"c{n}", "message": "m" * 1000} for n in range(11_000)
    ]
    answer = client.post("/api/v1/events", json=events)
    assert answer.status_code == 413
    assert "api.max_events_mb" in answer.text
    with Session(engine) as session:
        assert session.execute(sa.select(sa.func.count()).select_from(t.runs)).scalar_one() == 0


def test_a_hostile_dbt_upload_is_refused_or_cleaned(client: TestClient, engine: Engine) -> None:
    results = json.loads((DATA / "dbt" / "run_results.json").read_text())
    results = _poison_strings(results, frozenset({"unique_id", "message", "relation_name"}))
    results["results"][0]["message"] = dirty(f"password=hunter2 {GH_TOKEN}") + "x" * BIG
    answer = client.post(
        "/api/v1/reports/dbt",
        params={"repository": "acme/dbt"},
        files={"run_results": ("run_results.json", json.dumps(results).encode())},
    )
    assert_clean_answer(answer, engine)


def test_a_hostile_junit_upload_is_refused_or_cleaned(client: TestClient, engine: Engine) -> None:
    # XML 1.0 cannot carry NUL or most C0 controls: what it can carry is tried instead.
    odd = "\u0085\u2028\t\u200b\ufeff"
    xml = (
        '<?xml version="1.0" encoding="UTF-8"?>\n<testsuites><testsuite name="s" tests="2">'
        f'<testcase classname="tests.auth{odd}" name="test_login[password=hunter2]{"n" * 2000}">'
        f'<failure message="token={GH_TOKEN}{odd}">{"trace line&#10;" * 1000}'
        f"https://deploy:s3cr3t@ci.example.com/x {'x' * BIG}</failure></testcase>"
        '<testcase classname="tests.ok" name="test_ok"/></testsuite></testsuites>'
    )
    answer = client.post(
        "/api/v1/reports/junit",
        params={"repository": "acme/app"},
        files={"file": ("report.xml", xml.encode())},
    )
    assert_clean_answer(answer, engine)
