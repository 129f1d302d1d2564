"""The Specs tab (#25), on SQLite and PostgreSQL: the OpenSpec project selector, creating and
archiving a change from the dashboard and the REST API (write token / CSRF, clear 4xx, archive
byte for byte as the real ``openspec archive``), and spec events (recorded by the actions, the
CLI and the scan of changes made on disk by others; in the live stream and on All Work)."""

from __future__ import annotations

import json
import shutil
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from remediation_hub import NOW, PROJECT, Hub, make_project, running_hub
from test_api import make_tokens, read_events
from test_remediation_actions import assert_problem
from test_specs import (  # noqa: F401 (the fixtures)
    CliClock,
    _tree,
    cli_json,
    cli_project,
    openspec_cli,
    run_cli,
)
from triagehub.api.app import WebhookConfig, create_app
from triagehub.cli.main import app as cli_app
from triagehub.clock import FixedClock
from triagehub.config import parse_settings
from triagehub.store import spec_events
from triagehub.store import tables as t
from triagehub.work.specs import OpenSpecReader
from triagehub.work.specs.activity import scan

WHY = "Logins are brute-forced: limit the attempts per account and per address."


@pytest.fixture
def hub(engine: Engine, tmp_path: Path) -> Iterator[Hub]:
    with running_hub(engine, tmp_path) as built:
        yield built


def events(engine: Engine, **where: Any) -> list[dict[str, Any]]:
    e = t.spec_events.c
    with Session(engine) as session:
        stmt = select(t.spec_events).order_by(e.id)
        for name, value in where.items():
            stmt = stmt.where(getattr(e, name) == value)
        return [dict(r) for r in session.execute(stmt).mappings()]


def changes_dir(hub: Hub) -> Path:
    return hub.root / PROJECT / "openspec" / "changes"


def create(hub: Hub, scope: str | None = "write", **body: Any) -> Any:
    good = {"project": PROJECT, "change_id": "add-rate-limit", "why": WHY}
    return hub.post("/specs/changes", {**good, **body}, scope=scope)


# -- the project selector ---------------------------------------------------------------------


def test_selector_lists_every_project_and_shows_one_whatever_the_repository_filter(
    engine: Engine, tmp_path: Path
) -> None:
    (tmp_path / "specs" / "billing" / "openspec" / "changes").mkdir(parents=True)
    with running_hub(engine, tmp_path) as hub:
        _selector(hub)


def changes_table(page: str) -> str:
    return page.split('id="changes-h"')[1].split("</section>")[0]


def _selector(hub: Hub) -> None:
    assert create(hub).status_code == 201
    assert create(hub, project="billing", change_id="add-invoices").status_code == 201
    page = hub.client.get("/specs").text
    assert 'id="project-select"' in page
    for project in ("billing", PROJECT):
        assert f'<option value="{project}"' in page
    # The repository filter hides changes that name no issue; choosing a project does not.
    filtered = changes_table(hub.client.get("/specs", params={"repo": "acme/web"}).text)
    assert "add-invoices" not in filtered and "add-rate-limit" not in filtered
    chosen = hub.client.get("/specs", params={"repo": "acme/web", "project": "billing"}).text
    table = changes_table(chosen)
    assert "add-invoices" in table and "add-rate-limit" not in table
    api = hub.client.get("/api/v1/specs").json()
    assert {"billing", PROJECT} <= {p["id"] for p in api["projects"]}


def test_unknown_project_in_the_selector_shows_all_with_a_problem(hub: Hub) -> None:
    assert create(hub).status_code == 201
    page = hub.client.get("/specs", params={"project": "nowhere"})
    assert page.status_code == 200
    assert "no OpenSpec project &#39;nowhere&#39;" in page.text and "add-rate-limit" in page.text


# -- REST API: create and archive ---------------------------------------------------------------


def test_api_create_writes_a_valid_change_and_records_it(
    hub: Hub,
    openspec_cli: str,  # noqa: F811 (the fixture)
) -> None:
    answer = create(hub, capability="login-limits")
    assert answer.status_code == 201, answer.text
    body = answer.json()
    assert body["project"] == PROJECT and body["change"]["total_tasks"] == 3
    folder = changes_dir(hub) / "add-rate-limit"
    assert WHY in (folder / "proposal.md").read_text()
    report = cli_json(openspec_cli, "validate", "add-rate-limit", "--strict", cwd=folder.parents[2])
    assert report["summary"]["totals"]["failed"] == 0, report
    [event] = events(hub.engine)
    assert (event["kind"], event["actor"], event["change_id"]) == (
        "created",
        "token:ci",
        "add-rate-limit",
    )
    assert (event["tasks_done"], event["tasks_total"]) == (0, 3)
    listed = hub.client.get("/api/v1/specs/events").json()["events"]
    assert [(e["kind"], e["headline"]) for e in listed] == [
        ("created", "new change add-rate-limit")
    ]


def test_api_create_without_a_capability_has_a_proposal_only(hub: Hub) -> None:
    assert create(hub).status_code == 201
    folder = changes_dir(hub) / "add-rate-limit"
    assert sorted(p.name for p in folder.iterdir()) == [".openspec.yaml", "proposal.md"]


@pytest.mark.parametrize("scope", [None, "read", "revoked"])
def test_api_create_and_archive_need_a_write_token(hub: Hub, scope: str | None) -> None:
    status = 403 if scope == "read" else 401
    assert_problem(create(hub, scope=scope), status)
    assert not (changes_dir(hub) / "add-rate-limit").exists()
    assert create(hub).status_code == 201
    archive = hub.post("/specs/changes/add-rate-limit/archive", {"project": PROJECT}, scope=scope)
    assert_problem(archive, status)
    assert (changes_dir(hub) / "add-rate-limit").is_dir()
    assert [e["kind"] for e in events(hub.engine)] == ["created"]


@pytest.mark.parametrize(
    ("body", "status", "words"),
    [
        ({"change_id": "Not Valid"}, 422, ["Change name"]),
        ({"change_id": "archive"}, 422, ["archive"]),
        ({"project": "nowhere"}, 404, ["no such OpenSpec project"]),
        ({"why": "  "}, 422, ["why"]),
        ({"why": "x" * 1001}, 422, ["1000"]),
        ({"capability": "../etc"}, 422, ["capability"]),
        ({"why": None, "capability": "auth"}, 422, ["capability needs a why"]),
        ({"surprise": 1}, 422, ["surprise"]),
    ],
)
def test_api_create_bad_input_is_a_clear_4xx_and_writes_nothing(
    hub: Hub, body: dict[str, Any], status: int, words: list[str]
) -> None:
    assert_problem(create(hub, **body), status, *words)
    assert [p.name for p in changes_dir(hub).iterdir()] == ["archive"]
    assert events(hub.engine) == []


def test_api_create_of_an_existing_change_is_a_conflict(hub: Hub) -> None:
    assert create(hub).status_code == 201
    assert_problem(create(hub, why="another reason for the same change id"), 409, "exists")
    assert len(events(hub.engine)) == 1


def test_api_create_that_is_not_json_is_refused(hub: Hub) -> None:
    answer = hub.client.post(
        "/api/v1/specs/changes",
        content=b"{nope",
        headers={**hub.auth(), "Content-Type": "application/json"},
    )
    assert_problem(answer, 400)


@pytest.mark.parametrize(
    ("change", "body", "status", "words"),
    [
        ("no-such-change", {"project": PROJECT}, 404, ["no such"]),
        ("add-rate-limit", {"project": "nowhere"}, 404, ["no such OpenSpec project"]),
        ("Bad_Id", {"project": PROJECT}, 422, ["Change name"]),
        ("add-rate-limit", {"project": PROJECT, "extra": True}, 422, ["Extra inputs"]),
    ],
)
def test_api_archive_bad_input_is_a_clear_4xx(
    hub: Hub, change: str, body: dict[str, Any], status: int, words: list[str]
) -> None:
    assert create(hub).status_code == 201
    assert_problem(hub.post(f"/specs/changes/{change}/archive", body), status, *words)
    assert (changes_dir(hub) / "add-rate-limit").is_dir()
    assert [e["kind"] for e in events(hub.engine)] == ["created"]


def test_api_archive_twice_is_a_conflict_and_records_one_event(hub: Hub) -> None:
    assert create(hub).status_code == 201
    done = hub.post("/specs/changes/add-rate-limit/archive", {"project": PROJECT})
    assert done.status_code == 200, done.text
    assert done.json()["event_id"] is not None
    again = hub.post("/specs/changes/add-rate-limit/archive", {"project": PROJECT})
    assert_problem(again, 409, "already archived")
    kinds = [(e["kind"], e["archived_as"]) for e in events(hub.engine)]
    assert kinds == [("created", None), ("archived", done.json()["archived_as"])]


# -- dashboard forms ----------------------------------------------------------------------------


def form(hub: Hub, path: str, data: dict[str, str], **kw: Any) -> Any:
    return hub.client.post(path, data=data, follow_redirects=False, **kw)


FORM = {"project": PROJECT, "change_id": "add-rate-limit", "why": WHY, "capability": ""}


def test_create_form_needs_a_signed_in_write_session_and_its_csrf_token(hub: Hub) -> None:
    anonymous = form(hub, "/specs/changes", {**FORM, "csrf": "0" * 64})
    assert anonymous.status_code == 401 and "Sign in with a write token" in anonymous.text
    hub.sign_in("read")
    assert form(hub, "/specs/changes", {**FORM, "csrf": "0" * 64}).status_code == 403
    csrf = hub.sign_in("write")
    missing = form(hub, "/specs/changes", FORM)
    assert missing.status_code == 403 and "the form expired" in missing.text
    cross = form(
        hub, "/specs/changes", {**FORM, "csrf": csrf}, headers={"Origin": "https://evil.test"}
    )
    assert cross.status_code == 403 and "another site" in cross.text
    assert not (changes_dir(hub) / "add-rate-limit").exists() and events(hub.engine) == []
    done = form(hub, "/specs/changes", {**FORM, "csrf": csrf})
    assert done.status_code == 303, done.text
    assert done.headers["location"] == f"/specs/{PROJECT}/add-rate-limit?done=created"
    page = hub.client.get(done.headers["location"]).text
    assert "Change created." in page and 'data-spec-form="archive"' in page
    [event] = events(hub.engine)
    assert (event["kind"], event["actor"]) == ("created", "token:ci")


@pytest.mark.parametrize(
    ("data", "status", "words"),
    [
        ({"change_id": "Bad Id"}, 422, "Change name"),
        ({"project": "nowhere"}, 404, "no such OpenSpec project"),
        ({"project": ""}, 422, "choose the OpenSpec project"),
        ({"why": ""}, 422, "why"),
        ({"capability": "a//b"}, 422, "capability"),
    ],
)
def test_create_form_bad_input_is_explained_on_the_page(
    hub: Hub, data: dict[str, str], status: int, words: str
) -> None:
    csrf = hub.sign_in()
    answer = form(hub, "/specs/changes", {**FORM, **data, "csrf": csrf})
    assert answer.status_code == status
    assert 'id="action-error"' in answer.text and words in answer.text
    assert events(hub.engine) == []


def test_create_form_of_an_existing_change_is_a_conflict(hub: Hub) -> None:
    csrf = hub.sign_in()
    assert form(hub, "/specs/changes", {**FORM, "csrf": csrf}).status_code == 303
    again = form(hub, "/specs/changes", {**FORM, "csrf": csrf})
    assert again.status_code == 409 and "already exists" in again.text
    assert WHY in again.text  # the form keeps what was typed


def test_archive_form_needs_csrf_and_answers_404_and_409(hub: Hub) -> None:
    assert create(hub).status_code == 201
    target = f"/specs/{PROJECT}/add-rate-limit/archive"
    assert form(hub, target, {"csrf": "0" * 64}).status_code == 401
    csrf = hub.sign_in()
    assert form(hub, target, {}).status_code == 403
    assert (changes_dir(hub) / "add-rate-limit").is_dir()
    assert form(hub, f"/specs/{PROJECT}/no-such/archive", {"csrf": csrf}).status_code == 404
    assert form(hub, "/specs/nowhere/add-rate-limit/archive", {"csrf": csrf}).status_code == 404
    done = form(hub, target, {"csrf": csrf})
    assert done.status_code == 303, done.text
    assert done.headers["location"].endswith("-add-rate-limit?done=archived")
    assert "Change archived" in hub.client.get(done.headers["location"]).text
    again = form(hub, target, {"csrf": csrf})
    assert again.status_code == 409 and "already archived" in again.text
    assert [e["kind"] for e in events(hub.engine)] == ["created", "archived"]


# -- archive as the real openspec CLI does -------------------------------------------------------


def _sign_in(client: TestClient, token: str) -> str:
    answer = client.post("/login", data={"token": token, "next": "/"}, follow_redirects=False)
    assert answer.status_code == 303, answer.text
    page = client.get("/specs").text
    return page.split('name="csrf" value="')[1].split('"')[0]


@pytest.mark.parametrize("via", ["api", "dashboard"])
def test_archive_moves_the_change_as_openspec_archive_does(
    engine: Engine,
    openspec_cli: str,  # noqa: F811 (the fixture)
    cli_project: Path,  # noqa: F811 (the fixture)
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    via: str,
) -> None:
    theirs, ours = tmp_path / "theirs", tmp_path / "ours"
    shutil.copytree(cli_project, theirs)
    shutil.copytree(cli_project, ours)
    done = cli_json(openspec_cli, "archive", "rework-ingest", "-y", cwd=theirs)
    assert done["archive"]["totals"] == {"added": 1, "modified": 1, "removed": 1, "renamed": 1}
    monkeypatch.setenv("TRIAGEHUB_OPENSPEC", "none")  # ours: triagehub's own archive
    settings = parse_settings({"openspec": {"roots": [str(ours)]}}, "<test>")
    app = create_app(engine, settings, WebhookConfig(None, insecure=True), clock=CliClock())
    tokens = make_tokens(engine)
    with TestClient(app) as client:
        if via == "api":
            answer = client.post(
                "/api/v1/specs/changes/rework-ingest/archive",
                headers={"Authorization": f"Bearer {tokens['write']}"},
            )
            assert answer.status_code == 200, answer.text
            assert answer.json()["via"] == "triagehub"
        else:
            csrf = _sign_in(client, tokens["write"])
            answer = client.post(
                "/specs/ours/rework-ingest/archive", data={"csrf": csrf}, follow_redirects=False
            )
            assert answer.status_code == 303, answer.text
    assert _tree(ours / "openspec") == _tree(theirs / "openspec")
    [event] = events(engine, kind="archived")
    assert event["archived_as"] == done["archive"]["archivedAs"]
    assert (event["tasks_done"], event["tasks_total"]) == (2, 5)


# -- spec events: the scan, the CLI, the stream, All Work -----------------------------------------


def test_scan_records_changes_made_on_disk_once(
    engine: Engine,
    openspec_cli: str,  # noqa: F811 (the fixture)
    tmp_path: Path,
) -> None:
    root = tmp_path / "proj"
    root.mkdir()
    run_cli(openspec_cli, "init", "--tools", "none", "--no-animation", ".", cwd=root)
    run_cli(openspec_cli, "new", "change", "add-export", cwd=root)
    tasks = root / "openspec" / "changes" / "add-export" / "tasks.md"
    tasks.write_text("## 1. Work\n\n- [ ] 1.1 one\n- [ ] 1.2 two\n")
    clock = FixedClock(NOW)
    with OpenSpecReader([root]) as reader:

        def kinds() -> list[tuple[str, str, int]]:
            return [(e["kind"], e["change_id"], e["tasks_done"]) for e in events(engine)]

        assert scan(engine, reader, clock=clock).total == 1
        assert scan(engine, reader, clock=clock).total == 0  # idempotent
        tasks.write_text("## 1. Work\n\n- [x] 1.1 one\n- [ ] 1.2 two\n")
        reader.invalidate()
        assert scan(engine, reader, clock=clock).as_dict() == {"projects": 1, "tasks": 1}
        run_cli(openspec_cli, "archive", "add-export", "-y", cwd=root)
        run_cli(openspec_cli, "new", "change", "add-import", cwd=root)
        reader.invalidate()
        scan(engine, reader, clock=clock)
        shutil.rmtree(root / "openspec" / "changes" / "add-import")
        reader.invalidate()
        scan(engine, reader, clock=clock)
        assert kinds() == [
            ("created", "add-export", 0),
            ("tasks", "add-export", 1),
            ("created", "add-import", 0),  # a scan records the new changes first
            ("archived", "add-export", 1),
            ("removed", "add-import", 0),
        ]
        # The same change made again later is new again.
        run_cli(openspec_cli, "new", "change", "add-import", cwd=root)
        reader.invalidate()
        assert scan(engine, reader, clock=clock).as_dict() == {"projects": 1, "created": 1}


def test_scans_at_once_record_each_event_once(engine: Engine, tmp_path: Path) -> None:
    project = make_project(tmp_path / "specs")
    for n in range(20):
        (project / "openspec" / "changes" / f"change-{n}").mkdir()
    failures: list[BaseException] = []

    def run() -> None:
        try:
            with OpenSpecReader([tmp_path / "specs"]) as reader:
                scan(engine, reader, clock=FixedClock(NOW))
        except BaseException as exc:
            failures.append(exc)

    threads = [threading.Thread(target=run) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not failures, failures
    with Session(engine) as session:
        count = session.execute(select(func.count()).select_from(t.spec_events)).scalar_one()
    assert count == 20


def test_a_scan_after_the_action_records_nothing_more(hub: Hub) -> None:
    assert create(hub).status_code == 201
    with OpenSpecReader([hub.root]) as reader:
        assert scan(hub.engine, reader, clock=FixedClock(NOW)).total == 0
    assert hub.post("/specs/changes/add-rate-limit/archive", {}).status_code == 200
    with OpenSpecReader([hub.root]) as reader:
        assert scan(hub.engine, reader, clock=FixedClock(NOW)).total == 0
    assert [e["kind"] for e in events(hub.engine)] == ["created", "archived"]


def test_cli_create_archive_and_scan_record_spec_events(
    engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = tmp_path / "specs"
    project = make_project(root)
    config = tmp_path / "triagehub.yaml"
    config.write_text("{}\n")
    monkeypatch.setenv("TRIAGEHUB_CONFIG", str(config))
    url = engine.url.render_as_string(hide_password=False)

    def run(*args: str) -> Any:
        result = CliRunner().invoke(cli_app, ["--db", url, "specs", *args, "--root", str(root)])
        assert result.exit_code == 0, result.output
        return result

    run("create", "add-thing")
    tasks = project / "openspec" / "changes" / "add-thing" / "tasks.md"
    tasks.write_text("- [x] 1.1 done\n- [ ] 1.2 not yet\n")
    scanned = json.loads(run("scan", "--format", "json").stdout)
    assert scanned == {"projects": 1, "tasks": 1}
    run("archive", "add-thing", "--no-openspec-cli")
    got = [(e["kind"], e["actor"], e["tasks_done"]) for e in events(engine)]
    assert got == [("created", "cli", 0), ("tasks", "cli-scan", 1), ("archived", "cli", 1)]


def test_spec_events_are_in_the_live_stream(hub: Hub) -> None:
    from triagehub.api.stream import StreamCursor

    head = StreamCursor.head(hub.engine)
    assert create(hub).status_code == 201
    assert hub.post("/specs/changes/add-rate-limit/archive", {}).status_code == 200
    got = read_events(hub, 2, {"Last-Event-ID": str(head)})  # type: ignore[arg-type]
    assert [(e["event"], e["data"]["kind"]) for e in got] == [
        ("spec", "created"),
        ("spec", "archived"),
    ]
    assert got[1]["data"]["url"].startswith(f"/specs/{PROJECT}/")
    assert got[1]["id"].endswith(f"-s{got[1]['data']['id']}")
    # A cursor of an older server (no spec part) starts the spec events at the newest.
    old = f"e{head.issue_event}-o{head.occurrence}-a{head.agent_event}"
    later: list[Any] = []
    reader = threading.Thread(
        target=lambda: later.extend(read_events(hub, 1, {"Last-Event-ID": old})),  # type: ignore[arg-type]
        daemon=True,
    )
    reader.start()
    time.sleep(1.0)  # the stream has started (its spec events at the newest)
    assert create(hub, change_id="add-more").status_code == 201
    reader.join(30)
    assert [e["data"]["change_id"] for e in later] == ["add-more"]


def test_spec_events_show_on_all_work_and_the_specs_tab(hub: Hub) -> None:
    assert create(hub).status_code == 201
    for path in ("/", "/specs", f"/specs/{PROJECT}/add-rate-limit"):
        page = hub.client.get(path).text
        assert 'data-spec-event="created"' in page and "new change add-rate-limit" in page, path


def test_spec_events_api_filters_by_project(hub: Hub) -> None:
    assert create(hub).status_code == 201
    listed = hub.client.get("/api/v1/specs/events", params={"project": "elsewhere"}).json()
    assert listed == {"events": []}
    bad = hub.client.get("/api/v1/specs/events", params={"limit": 0})
    assert bad.status_code == 422
    with Session(hub.engine) as session:
        [event] = spec_events.recent_events(session=session, projects=[PROJECT])
    assert event.headline == "new change add-rate-limit"


def test_the_servers_spec_scan_records_changes_in_the_background(
    engine: Engine, tmp_path: Path
) -> None:
    from triagehub.engine.spec_scan import SpecScanLoop

    project = make_project(tmp_path / "specs")
    (project / "openspec" / "changes" / "add-export").mkdir()
    with OpenSpecReader([tmp_path / "specs"]) as reader:
        loop = SpecScanLoop(engine, reader, FixedClock(NOW), interval=0.1)
        loop.start()
        try:
            deadline = time.monotonic() + 30
            while loop.scans < 2:
                assert time.monotonic() < deadline, "the scan loop did not run"
                time.sleep(0.05)
        finally:
            loop.stop()
    assert [(e["kind"], e["actor"]) for e in events(engine)] == [("created", "openspec-scan")]
