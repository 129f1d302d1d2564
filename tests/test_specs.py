"""The OpenSpec reader and actions, checked against the real ``openspec`` CLI (npm
``@fission-ai/openspec``) on a project it created and changed, and against the recorded trees and
outputs of ``tests/data/openspec/``."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from triagehub.api.app import WebhookConfig, create_app
from triagehub.cli.main import app as cli_app
from triagehub.clock import FixedClock, SystemClock
from triagehub.config import OpenSpecConfig, Settings
from triagehub.engine.ingest import ingest_files
from triagehub.errors import InputError
from triagehub.sources import get_format
from triagehub.store import tables as t
from triagehub.store.queries import create_api_token
from triagehub.store.triage import apply_override
from triagehub.work.evidence import build_pack
from triagehub.work.specs import (
    ConflictError,
    NotFoundError,
    OpenSpecReader,
    archive_change,
    create_change,
    create_change_from_issue,
)
from triagehub.work.specs.actions import OPENSPEC_ENV

REPO_ROOT = Path(__file__).resolve().parent.parent
TEST_DATA = Path(__file__).resolve().parent / "data"
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
OPENSPEC_BIN = REPO_ROOT / "node_modules" / ".bin" / "openspec"
FIXTURES = TEST_DATA / "openspec"
CLI_ENV = {**os.environ, "OPENSPEC_TELEMETRY": "0", "NO_COLOR": "1"}


# -- the real CLI ---------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def openspec_cli() -> str:
    if not (OPENSPEC_BIN.is_file() and os.access(OPENSPEC_BIN, os.X_OK)):
        message = (
            f"the openspec CLI is not installed at {OPENSPEC_BIN}: run `npm install` in the "
            "repository (package.json pins @fission-ai/openspec)"
        )
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    return str(OPENSPEC_BIN)


class CliClock:
    """The openspec CLI's clock: the real, unshifted wall clock. Where our files must equal the
    CLI's byte for byte (dates included), our side reads the same time."""

    def now(self) -> datetime:
        # real time: the openspec CLI (node) is not shifted by TRIAGEHUB_CLOCK_OFFSET
        return datetime.now(UTC)


def run_cli(
    cli: str, *args: str, cwd: Path, check: bool = True
) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(
        [cli, *args],
        cwd=cwd,
        env=CLI_ENV,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if check and proc.returncode != 0:
        raise AssertionError(f"openspec {' '.join(args)} failed: {proc.stdout}\n{proc.stderr}")
    return proc


def cli_json(cli: str, *args: str, cwd: Path) -> Any:
    proc = run_cli(cli, *args, "--json", cwd=cwd, check=False)
    start = proc.stdout.find("{")
    assert start >= 0, f"no JSON from openspec {' '.join(args)}: {proc.stdout} {proc.stderr}"
    return json.loads(proc.stdout[start:])


def write(path: Path, text: str, *, newline: str = "\n") -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(text.replace("\n", newline).encode("utf-8"))


PROPOSAL = """# Proposal

## Why

Run reports arrive from many CI systems and nobody can tell which ones were stored.

## What Changes

- Accept, deduplicate and rework run ingestion.
"""

ADD_INGEST = """## ADDED Requirements

### Requirement: Accept runs
The system SHALL accept run reports over HTTP.

#### Scenario: Valid report
- **WHEN** a valid report is posted
- **THEN** it is stored

#### Scenario: Invalid report
- **WHEN** an invalid report is posted
- **THEN** it is refused with 422

### Requirement: Deduplicate runs
The system MUST store a run once.

#### Scenario: Replay
- **WHEN** the same run arrives twice
- **THEN** it is stored once

### Requirement: Legacy endpoint
The system SHALL keep /v0/runs.

#### Scenario: Old client
- **WHEN** an old client posts to /v0/runs
- **THEN** it is accepted
"""

REWORK_INGEST = """## MODIFIED Requirements

### Requirement: Accept runs
The system SHALL accept run reports over HTTP and HTTPS.

#### Scenario: Valid report
- **WHEN** a valid report is posted
- **THEN** it is stored

#### Scenario: Invalid report
- **WHEN** an invalid report is posted
- **THEN** it is refused with 422

#### Scenario: Report over HTTPS
- **WHEN** a report is posted over HTTPS
- **THEN** it is stored

## REMOVED Requirements

### Requirement: Legacy endpoint

## RENAMED Requirements

- FROM: `### Requirement: Deduplicate runs`
- TO: `### Requirement: Store runs once`
"""

REWORK_ALERTS = """# Spec Delta

## Purpose
Alert the owners of failing checks through the channels their team configured.

## ADDED Requirements

### Requirement: Alert owners
The system SHALL alert the owner of a failing check
within five minutes of the failure.

#### Scenario: Failing check
- **WHEN** a check fails
- **THEN** its owner is alerted
- **AND** the alert links the run
"""

REWORK_TASKS = """# Tasks

## 1. Rework

- [x] 1.1 Rename the endpoint
- [ ] 1.2 Tighten validation
- [X] 1.3 Drop legacy

## 2. Docs

- [ ] 2.1 Update docs
1. [ ] 2.2 numbered task
"""

BROKEN_NOTIFY = """### Requirement: Orphan
The system SHALL be ignored here.

## ADDED Requirements

### Requirement: Notify owners
Owners are notified.

### Requirement: Empty scenario
The system SHALL do X.

#### Scenario: nothing

### Notes about things

## MODIFIED Requirements

### Requirement: Does not exist
The system SHALL do y.

#### Scenario: s
- **WHEN** a
- **THEN** b
"""

TRICKY_SPEC = """\ufeff## ADDED Requirements

### Requirement: Fenced examples
**ID**: REQ-1
The system SHALL ignore headers
inside fenced code blocks.

```markdown
## REMOVED Requirements
#### Scenario: not real
```

#### Scenario: Fenced
- **WHEN** a fence holds `## REMOVED Requirements`
- **THEN** it is not a section

##### Detail
more detail

~~~
#### Scenario: also not real
~~~

### Requirement: Unclosed fence
The system MUST survive an unclosed fence.

#### Scenario: Unclosed
- **WHEN** a fence never closes
```
### Requirement: Swallowed
The system SHALL be swallowed by the fence.
"""

TRICKY_TASKS = """# Tasks

## 1. Group

- [ ] 1.1 first
- [~] 1.2 marked
* [x] 1.3 star bullet
- [ ] 2.1 misplaced
- [ ] 1.1 duplicate
- [A](https://example.com) a link, not a task
"""


@pytest.fixture(scope="module")
def cli_project(tmp_path_factory: pytest.TempPathFactory, openspec_cli: str) -> Path:
    """A project made by the real CLI: init, new change, edits, one archive, more changes."""
    root = tmp_path_factory.mktemp("cli-project")
    run_cli(
        openspec_cli,
        "init",
        "--tools",
        "none",
        "--no-animation",
        "--no-copilot-cloud",
        ".",
        cwd=root,
    )
    changes = root / "openspec" / "changes"
    run_cli(openspec_cli, "new", "change", "add-ingest", cwd=root)
    write(changes / "add-ingest" / "proposal.md", PROPOSAL)
    write(changes / "add-ingest" / "specs" / "ingest" / "spec.md", ADD_INGEST)
    archived = cli_json(openspec_cli, "archive", "add-ingest", "-y", cwd=root)
    assert archived["archive"] is not None, archived
    run_cli(openspec_cli, "new", "change", "rework-ingest", cwd=root)
    write(changes / "rework-ingest" / "proposal.md", PROPOSAL)
    write(changes / "rework-ingest" / "tasks.md", REWORK_TASKS)
    write(changes / "rework-ingest" / "design.md", "# Design\n\nNothing fancy.\n")
    write(changes / "rework-ingest" / "specs" / "ingest" / "spec.md", REWORK_INGEST)
    write(changes / "rework-ingest" / "specs" / "alerts" / "spec.md", REWORK_ALERTS)
    run_cli(openspec_cli, "new", "change", "broken", cwd=root)
    write(changes / "broken" / "proposal.md", PROPOSAL)
    write(changes / "broken" / "tasks.md", "# Tasks\n\n- do it\n- and this\n")
    write(changes / "broken" / "specs" / "notify" / "spec.md", BROKEN_NOTIFY)
    run_cli(openspec_cli, "new", "change", "tricky", cwd=root)
    write(changes / "tricky" / "proposal.md", PROPOSAL, newline="\r\n")
    write(changes / "tricky" / "tasks.md", TRICKY_TASKS)
    write(changes / "tricky" / "specs" / "fences" / "spec.md", TRICKY_SPEC, newline="\r\n")
    run_cli(openspec_cli, "new", "change", "no-proposal", cwd=root)
    write(changes / "no-proposal" / "tasks.md", "- [x] 1.1 done\n")
    run_cli(openspec_cli, "new", "change", "docs-only", cwd=root)
    write(changes / "docs-only" / "proposal.md", PROPOSAL)
    with (changes / "docs-only" / ".openspec.yaml").open("a") as fh:
        fh.write("skip_specs: true\n")
    return root


@pytest.fixture
def reader(cli_project: Path) -> Iterator[OpenSpecReader]:
    with OpenSpecReader([cli_project]) as r:
        yield r


SHOWABLE = ("rework-ingest", "broken", "tricky", "docs-only")


def test_changes_and_task_counts_agree_with_openspec_list(
    openspec_cli: str, cli_project: Path, reader: OpenSpecReader
) -> None:
    listed = cli_json(openspec_cli, "list", cwd=cli_project)["changes"]
    ours = reader.changes(reader.project())
    assert {c.id for c in ours} == {c["name"] for c in listed}
    by_name = {c["name"]: c for c in listed}
    for change in ours:
        theirs = by_name[change.id]
        assert (change.completed_tasks, change.total_tasks) == (
            theirs["completedTasks"],
            theirs["totalTasks"],
        ), change.id
        assert change.status.replace("_", "-") == theirs["status"], change.id
        assert (
            change.last_modified.isoformat(timespec="milliseconds").replace("+00:00", "Z")
            == theirs["lastModified"]
        ), change.id
    rework = reader.change(reader.project(), "rework-ingest")
    assert (rework.completed_tasks, rework.total_tasks) == (2, 5)


def test_archived_change_is_read_with_its_date(reader: OpenSpecReader) -> None:
    archived = [c for c in reader.changes(reader.project(), archived=True) if c.archived]
    assert [c.id for c in archived] == ["add-ingest"]
    # real time: the real openspec CLI dates the archive folder with its own (unshifted) clock
    day = datetime.now().astimezone().date()
    assert archived[0].folder == f"{day.isoformat()}-add-ingest"
    assert archived[0].archived_on == day
    assert reader.change(reader.project(), "add-ingest").archived


def _their_delta(delta: dict[str, Any]) -> tuple[Any, ...]:
    req = delta.get("requirement")
    rename = delta.get("rename")
    return (
        delta["spec"],
        delta["operation"],
        delta["description"],
        req["text"] if req else None,
        tuple(s["rawText"] for s in req["scenarios"]) if req else None,
        (rename["from"], rename["to"]) if rename else None,
    )


@pytest.mark.parametrize("change_id", SHOWABLE)
def test_deltas_agree_with_openspec_show(
    openspec_cli: str, cli_project: Path, reader: OpenSpecReader, change_id: str
) -> None:
    shown = cli_json(openspec_cli, "show", change_id, cwd=cli_project)
    change = reader.change(reader.project(), change_id)
    ours = [
        (
            d.spec,
            d.operation,
            d.description,
            d.requirement.text if d.requirement else None,
            tuple(s.raw_text for s in d.requirement.scenarios) if d.requirement else None,
            (d.rename_from, d.rename_to) if d.operation == "RENAMED" else None,
        )
        for d in change.deltas
    ]
    assert ours == [_their_delta(d) for d in shown["deltas"]]
    assert len(change.deltas) == shown["deltaCount"]


def test_rework_change_has_every_kind_of_delta(reader: OpenSpecReader) -> None:
    change = reader.change(reader.project(), "rework-ingest")
    assert Counter(d.operation for d in change.deltas) == {
        "ADDED": 1,
        "MODIFIED": 1,
        "REMOVED": 1,
        "RENAMED": 1,
    }
    modified = next(d for d in change.deltas if d.operation == "MODIFIED")
    assert modified.requirement is not None
    assert [s.name for s in modified.requirement.scenarios] == [
        "Valid report",
        "Invalid report",
        "Report over HTTPS",
    ]
    assert change.has_design and change.why and change.why.startswith("Run reports")


def _issues(items: list[dict[str, Any]]) -> Counter[tuple[Any, ...]]:
    return Counter((i["level"], i["path"], i["message"], i.get("line")) for i in items)


def test_validation_agrees_with_openspec_validate_strict(
    openspec_cli: str, cli_project: Path, reader: OpenSpecReader
) -> None:
    report = cli_json(openspec_cli, "validate", "--all", "--strict", cwd=cli_project)
    items = {(i["type"], i["id"]): i for i in report["items"]}
    project = reader.project()
    changes = reader.changes(project)
    assert {i for t_, i in items if t_ == "change"} == {c.id for c in changes}
    for change in changes:
        theirs = items[("change", change.id)]
        ours = reader.validate_change(project, change.id, strict=True)
        assert _issues([i.to_json() for i in ours.issues]) == _issues(theirs["issues"]), change.id
        assert ours.valid == theirs["valid"], change.id
    verdicts = {c.id: reader.validate_change(project, c.id).valid for c in changes}
    assert verdicts == {
        "rework-ingest": True,
        "broken": False,
        "tricky": False,
        "no-proposal": False,
        "docs-only": True,
    }
    for spec in reader.specs(project):
        theirs = items[("spec", spec.id)]
        ours = reader.validate_spec(project, spec.id)
        assert ours.valid == theirs["valid"], spec.id
        assert _issues([i.to_json() for i in ours.issues]) == _issues(theirs["issues"]), spec.id


def test_broken_change_reports_scenarios_shall_and_unknown_targets(reader: OpenSpecReader) -> None:
    report = reader.validate_change(reader.project(), "broken")
    messages = [(i.level, i.message) for i in report.issues]
    assert ("ERROR", 'ADDED "Notify owners" must include at least one scenario') in messages
    assert (
        "WARNING",
        'ADDED "Notify owners" should contain SHALL or MUST (RFC 2119 best practice for English '
        "specs)",
    ) in messages
    assert any(
        level == "ERROR"
        and m.startswith(
            'ADDED "Empty scenario" must include at least one '
            "scenario (a scenario header with no body under it does not count"
        )
        for level, m in messages
    )
    assert any(level == "INFO" and '"### Notes about things"' in m for level, m in messages)
    assert any(level == "WARNING" and '"Orphan"' in m for level, m in messages)
    lenient = reader.validate_change(reader.project(), "broken", strict=False)
    assert not lenient.valid and lenient.errors == report.errors


def test_specs_agree_with_openspec_list_and_show(
    openspec_cli: str, cli_project: Path, reader: OpenSpecReader
) -> None:
    listed = cli_json(openspec_cli, "list", "--specs", cwd=cli_project)["specs"]
    project = reader.project()
    assert [(s.id, len(s.requirements)) for s in reader.specs(project)] == [
        (s["id"], s["requirementCount"]) for s in listed
    ]
    shown = cli_json(openspec_cli, "show", "ingest", "--type", "spec", cwd=cli_project)
    spec = reader.spec(project, "ingest")
    assert spec.overview == shown["overview"]
    assert [(r.text, [s.raw_text for s in r.scenarios]) for r in spec.requirements] == [
        (r["text"], [s["rawText"] for s in r["scenarios"]]) for r in shown["requirements"]
    ]


# -- creating and archiving -------------------------------------------------------------------


@pytest.fixture
def project_copy(cli_project: Path, tmp_path: Path) -> Path:
    target = tmp_path / "proj"
    shutil.copytree(cli_project, target, symlinks=True)
    return target


def test_created_change_is_scaffolded_like_openspec_new_change(
    openspec_cli: str, project_copy: Path, tmp_path: Path
) -> None:
    with OpenSpecReader([project_copy]) as r:
        path = create_change(r.project(), "add-exports", clock=CliClock(), description="Export")
    run_cli(
        openspec_cli, "new", "change", "add-imports", "--description", "Export", cwd=project_copy
    )
    theirs = project_copy / "openspec" / "changes" / "add-imports"
    assert sorted(p.name for p in path.iterdir()) == sorted(p.name for p in theirs.iterdir())
    assert (path / ".openspec.yaml").read_bytes() == (theirs / ".openspec.yaml").read_bytes()
    assert (path / "README.md").read_text() == "# add-exports\n\nExport\n"
    listed = {c["name"]: c for c in cli_json(openspec_cli, "list", cwd=project_copy)["changes"]}
    assert listed["add-exports"]["status"] == "no-tasks"
    theirs_report = cli_json(openspec_cli, "validate", "add-exports", "--strict", cwd=project_copy)
    with OpenSpecReader([project_copy]) as r:
        ours = r.validate_change(r.project(), "add-exports")
    assert ours.valid is theirs_report["items"][0]["valid"] is False
    assert _issues([i.to_json() for i in ours.issues]) == _issues(
        theirs_report["items"][0]["issues"]
    )


def test_create_refuses_an_existing_change(project_copy: Path) -> None:
    with OpenSpecReader([project_copy]) as r, pytest.raises(ConflictError, match="already exists"):
        create_change(r.project(), "broken", clock=SystemClock())


def _tree(root: Path) -> dict[str, bytes]:
    return {
        p.relative_to(root).as_posix(): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def test_archive_without_the_cli_does_what_openspec_archive_does(
    openspec_cli: str, cli_project: Path, tmp_path: Path
) -> None:
    theirs, ours = tmp_path / "theirs", tmp_path / "ours"
    shutil.copytree(cli_project, theirs)
    shutil.copytree(cli_project, ours)
    done = cli_json(openspec_cli, "archive", "rework-ingest", "-y", cwd=theirs)
    assert done["archive"]["totals"] == {"added": 1, "modified": 1, "removed": 1, "renamed": 1}
    with OpenSpecReader([ours]) as r:
        result = archive_change(r.project(), "rework-ingest", clock=CliClock(), use_cli=False)
    assert result.via == "triagehub"
    assert result.totals == done["archive"]["totals"]
    assert result.archived_as == done["archive"]["archivedAs"]
    assert _tree(ours / "openspec") == _tree(theirs / "openspec")


def test_archive_delegates_to_the_openspec_cli(
    openspec_cli: str, project_copy: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(OPENSPEC_ENV, openspec_cli)
    with OpenSpecReader([project_copy]) as r:
        result = archive_change(r.project(), "rework-ingest", clock=SystemClock())
        assert result.via == "openspec"
        assert result.path.is_dir()
        assert r.change(r.project(), "rework-ingest").archived
        assert [s.id for s in r.specs(r.project())] == ["alerts", "ingest"]


@pytest.mark.parametrize("use_cli", [False, True])
def test_archive_refuses_an_invalid_change(
    openspec_cli: str, project_copy: Path, monkeypatch: pytest.MonkeyPatch, use_cli: bool
) -> None:
    monkeypatch.setenv(OPENSPEC_ENV, openspec_cli)
    before = _tree(project_copy / "openspec")
    with OpenSpecReader([project_copy]) as r, pytest.raises(InputError) as caught:
        archive_change(r.project(), "broken", clock=SystemClock(), use_cli=use_cli)
    assert "Validation failed for change 'broken'" in str(caught.value)
    assert _tree(project_copy / "openspec") == before


def test_archive_of_an_archived_or_unknown_change_is_refused(project_copy: Path) -> None:
    with OpenSpecReader([project_copy]) as r:
        with pytest.raises(ConflictError, match="already archived"):
            archive_change(r.project(), "add-ingest", clock=SystemClock(), use_cli=False)
        with pytest.raises(NotFoundError):
            archive_change(r.project(), "nothing-here", clock=SystemClock(), use_cli=False)


def test_fallback_archive_of_the_shared_fixture_gives_the_recorded_tree(tmp_path: Path) -> None:
    work = tmp_path / "before"
    shutil.copytree(FIXTURES / "before_archive", work)
    clock = FixedClock(datetime(2026, 11, 21, 12, 0, tzinfo=UTC))
    with OpenSpecReader([work]) as r:
        result = archive_change(r.project(), "add-failure-triage", clock=clock, use_cli=False)
    expected = FIXTURES / "after_archive" / "openspec"
    assert result.archived_as == "2026-11-21-add-failure-triage"
    assert _tree(work / "openspec") == _tree(expected)


# -- from an issue --------------------------------------------------------------------------------

EVENT = {
    "repository": "acme/dbt_cloud",
    "check": "tests/e2e/test_checkout.py::test_refund",
    "message": "NotImplementedError: refunds are not implemented",
    "at": "2026-11-20T07:00:00Z",
}


def _needs_spec_issue(engine: Engine, tmp_path: Path, *, decision: str = "needs_spec") -> int:
    events = tmp_path / "events.json"
    events.write_text(json.dumps([EVENT]))
    summary = ingest_files(engine, [events], Settings(), fmt=get_format("event"))
    assert not summary.errors
    with Session(engine) as session, session.begin():
        issue_id = session.execute(select(t.issues.c.id)).scalar_one()
        current = session.execute(
            select(t.issues.c.decision).where(t.issues.c.id == issue_id)
        ).scalar_one()
        if current != decision:
            apply_override(
                session=session,
                issue_id=issue_id,
                changes={"decision": decision},
                reason="test",
                actor="test",
                now=datetime(2026, 11, 20, 8, tzinfo=UTC),
            )
    return int(issue_id)


def test_change_from_a_needs_spec_issue_is_linked_and_valid_for_openspec(
    engine: Engine, openspec_cli: str, project_copy: Path, tmp_path: Path
) -> None:
    issue_id = _needs_spec_issue(engine, tmp_path)
    with OpenSpecReader([project_copy]) as r:
        linked = create_change_from_issue(
            engine, r.project(), issue_id, clock=SystemClock(), evidence=build_pack
        )
        again = create_change_from_issue(engine, r.project(), issue_id, clock=SystemClock())
        change = r.change(r.project(), linked.change_id)
    assert linked.created and not again.created and again.change_id == linked.change_id
    assert linked.change_id.startswith("fix-")
    assert change.has_proposal and change.total_tasks == 4 and len(change.deltas) == 1
    assert f"#{issue_id}" in (change.why or "")
    report = cli_json(openspec_cli, "validate", linked.change_id, "--strict", cwd=project_copy)
    assert report["items"][0]["valid"] is True, report
    listed = {c["name"] for c in cli_json(openspec_cli, "list", cwd=project_copy)["changes"]}
    assert linked.change_id in listed
    with Session(engine) as session:
        assert (
            session.execute(
                select(t.issues.c.spec_change).where(t.issues.c.id == issue_id)
            ).scalar_one()
            == linked.change_id
        )
        kinds = session.execute(
            select(t.issue_events.c.kind, t.issue_events.c.data).where(
                t.issue_events.c.issue_id == issue_id
            )
        ).all()
    assert (
        "spec_linked",
        {"change": linked.change_id, "project": "proj", "path": str(linked.path)},
    ) in [(k, d) for k, d in kinds]


def test_change_from_an_issue_that_does_not_need_a_spec_is_refused(
    engine: Engine, project_copy: Path, tmp_path: Path
) -> None:
    issue_id = _needs_spec_issue(engine, tmp_path, decision="one_off_fix")
    with OpenSpecReader([project_copy]) as r, pytest.raises(InputError, match="not 'needs_spec'"):
        create_change_from_issue(engine, r.project(), issue_id, clock=SystemClock())
    assert not list((project_copy / "openspec" / "changes").glob("fix-*"))


def test_an_issue_links_to_one_change(engine: Engine, project_copy: Path, tmp_path: Path) -> None:
    issue_id = _needs_spec_issue(engine, tmp_path)
    with OpenSpecReader([project_copy]) as r:
        create_change_from_issue(
            engine, r.project(), issue_id, clock=SystemClock(), change_id="a-b"
        )
        with pytest.raises(ConflictError, match="already linked to OpenSpec change 'a-b'"):
            create_change_from_issue(
                engine, r.project(), issue_id, clock=SystemClock(), change_id="c-d"
            )
        with pytest.raises(NotFoundError, match="no such issue"):
            create_change_from_issue(engine, r.project(), 9999, clock=SystemClock())


# -- the shared fixture trees -----------------------------------------------------------------


def recorded(name: str) -> dict[str, Any]:
    """``===== openspec <command>`` -> its JSON output, from a recorded outputs file."""
    out: dict[str, Any] = {}
    for block in (FIXTURES / name).read_text().split("===== ")[1:]:
        command, _, rest = block.partition("\n")
        start = rest.find("{")
        if start == 0:
            end = rest.rfind("}")
            out[command.strip()] = json.loads(rest[: end + 1])
    return out


def test_shared_fixture_before_archive_matches_the_recorded_cli_outputs() -> None:
    outputs = recorded("os_outputs_before_archive.txt")
    with OpenSpecReader([FIXTURES / "before_archive"]) as r:
        project = r.project()
        change = r.change(project, "add-failure-triage")
        listed = outputs["openspec list --json"]["changes"][0]
        assert (change.id, change.completed_tasks, change.total_tasks) == (
            listed["name"],
            listed["completedTasks"],
            listed["totalTasks"],
        )
        shown = outputs["openspec show add-failure-triage --json"]
        assert [
            (d.spec, d.operation, d.description, d.requirement.text if d.requirement else None)
            for d in change.deltas
        ] == [
            (d["spec"], d["operation"], d["description"], d["requirement"]["text"])
            for d in shown["deltas"]
        ]
        report = r.validate_change(project, "add-failure-triage")
        assert report.valid and report.issues == ()


def test_shared_fixture_broken_change_matches_the_recorded_validation() -> None:
    outputs = recorded("os_outputs_invalid.txt")
    theirs = outputs["openspec validate broken-change --strict --json"]["items"][0]
    with OpenSpecReader([FIXTURES / "before_archive"]) as r:
        ours = r.validate_change(r.project(), "broken-change")
        change = r.change(r.project(), "broken-change")
    assert ours.valid is theirs["valid"] is False
    assert [i.to_json() for i in ours.issues] == theirs["issues"]
    shown = outputs["openspec show broken-change --json"]
    assert [d.description for d in change.deltas] == [d["description"] for d in shown["deltas"]]


def test_shared_fixture_after_archive_matches_the_recorded_cli_outputs() -> None:
    outputs = recorded("os_outputs_after_archive.txt")
    with OpenSpecReader([FIXTURES / "after_archive"]) as r:
        project = r.project()
        assert [c.id for c in r.changes(project)] == [
            c["name"] for c in outputs["openspec list --json"]["changes"]
        ]
        archived = r.change(project, "add-failure-triage")
        assert archived.archived and archived.archived_on is not None
        assert archived.archived_on.isoformat() == "2026-11-21"
        shown = outputs["openspec show failure-ingest --json --type spec"]
        spec = r.spec(project, "failure-ingest")
        assert spec.overview == shown["overview"]
        assert [r_.text for r_ in spec.requirements] == [x["text"] for x in shown["requirements"]]
        assert r.validate_spec(project, "failure-ingest").valid


# -- bad input --------------------------------------------------------------------------------


@pytest.fixture
def plain_project(tmp_path: Path) -> Path:
    root = tmp_path / "plain"
    shutil.copytree(FIXTURES / "before_archive", root)
    return root


def test_malformed_markdown_is_read_without_crashing(plain_project: Path) -> None:
    change = plain_project / "openspec" / "changes" / "mangled"
    change.mkdir()
    (change / "proposal.md").write_bytes(b"## Why\n\xff\xfe broken bytes\n```\n## What Changes\n")
    (change / "tasks.md").write_bytes(b"- [ ] 1.1 ok\n- [\n]]] \x00\n#\n######## deep\n")
    spec = change / "specs" / "x" / "spec.md"
    spec.parent.mkdir(parents=True)
    spec.write_text("## ADDED Requirements\n### Requirement:\n#### Scenario:\n```\n~~~\n> ## q\n")
    (change / "specs" / "y").mkdir()
    (change / "specs" / "y" / "spec.md").write_text("")
    with OpenSpecReader([plain_project]) as r:
        read = r.change(r.project(), "mangled")
        report = r.validate_change(r.project(), "mangled")
    assert read.total_tasks == 1
    assert any("not valid UTF-8" in p for p in read.problems)
    assert any('no "## What Changes" section' in p for p in read.problems)
    assert not report.valid
    assert any("No delta sections found" in i.message for i in report.issues)


def test_change_without_proposal_is_reported_clearly(plain_project: Path) -> None:
    change = plain_project / "openspec" / "changes" / "bare"
    change.mkdir()
    (change / "tasks.md").write_text("- [ ] 1.1 something\n")
    with OpenSpecReader([plain_project]) as r:
        read = r.change(r.project(), "bare")
    assert not read.has_proposal
    assert read.problems == (
        'openspec/changes/bare/proposal.md is missing: change "bare" has no proposal yet '
        '(expected a proposal.md with "## Why" and "## What Changes")',
    )


def test_symlinks_escaping_the_project_are_refused(plain_project: Path, tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    secret = outside / "secret.md"
    secret.write_text("## Why\n\nTOP-SECRET\n\n## What Changes\n\n- x\n")
    (outside / "change").mkdir()
    (outside / "change" / "proposal.md").write_text("## Why\nTOP-SECRET\n")
    changes = plain_project / "openspec" / "changes"
    (changes / "broken-change" / "proposal.md").unlink()
    (changes / "broken-change" / "proposal.md").symlink_to(secret)
    spec = changes / "add-failure-triage" / "specs" / "leak" / "spec.md"
    spec.parent.mkdir()
    spec.symlink_to(secret)
    (changes / "linked").symlink_to(outside / "change", target_is_directory=True)
    with OpenSpecReader([plain_project]) as r:
        p = r.project()
        broken = r.change(p, "broken-change")
        triage = r.change(p, "add-failure-triage")
        listed = [c.id for c in r.changes(p)]
        with pytest.raises(InputError, match="outside"):
            r.change(p, "linked")
        report = r.validate_change(p, "add-failure-triage")
        problems = r.symlinked_changes(p)
    assert "linked" not in listed
    assert any("outside the project" in x for x in broken.problems)
    assert broken.why is None and "TOP-SECRET" not in json.dumps(broken.to_json())
    assert any("leak/spec.md: refused" in x for x in triage.problems)
    assert all(d.spec != "leak" for d in triage.deltas)
    assert any(i.level == "ERROR" and "outside the project" in i.message for i in report.issues)
    assert problems and "openspec/changes/linked: a symbolic link" in problems[0]


@pytest.mark.parametrize(
    "bad", ["../../etc", "..", "a/b", "/etc/passwd", "Upper", "a--b", "x" * 201, "", "archive/../x"]
)
def test_path_traversal_and_bad_ids_are_refused(plain_project: Path, bad: str) -> None:
    with OpenSpecReader([plain_project]) as r:
        p = r.project()
        with pytest.raises(InputError):
            r.change(p, bad)
        with pytest.raises(InputError):
            create_change(p, bad, clock=SystemClock())
        with pytest.raises(InputError):
            archive_change(p, bad, clock=SystemClock(), use_cli=False)
    assert sorted(x.name for x in (plain_project / "openspec" / "changes").iterdir()) == [
        "add-failure-triage",
        "archive",
        "broken-change",
    ]


@pytest.mark.parametrize("bad", ["../../../etc/passwd", "../changes", "/etc", "a/../../b", ""])
def test_capability_traversal_is_refused(plain_project: Path, bad: str) -> None:
    with OpenSpecReader([plain_project]) as r, pytest.raises(InputError):
        r.spec(r.project(), bad)


# -- the cache --------------------------------------------------------------------------------


def _settle(path: Path) -> None:
    """Backdate a file so that the reader trusts its timestamp (older than 2 s)."""
    # real time: file modification times are the file system's, not the project's clock
    old = time.time() - 10
    os.utime(path, (old, old))
    os.utime(path.parent, (old, old))


def test_cache_sees_changed_files_without_a_watcher(plain_project: Path) -> None:
    tasks = plain_project / "openspec" / "changes" / "broken-change" / "tasks.md"
    _settle(tasks)
    with OpenSpecReader([plain_project]) as r:
        p = r.project()
        assert r.change(p, "broken-change").completed_tasks == 0
        hits = r.cache_stats().hits
        assert r.change(p, "broken-change").completed_tasks == 0
        assert r.cache_stats().hits > hits
        tasks.write_text("- [x] 1.1 do it\n- [ ] 1.2 then this\n")
        assert (
            r.change(p, "broken-change").completed_tasks,
            r.change(p, "broken-change").total_tasks,
        ) == (1, 2)


def test_cache_entries_expire_after_their_ttl(plain_project: Path) -> None:
    now = [0.0]
    for path in (plain_project / "openspec").rglob("*"):
        _settle(path)
    with OpenSpecReader([plain_project], ttl_seconds=60, monotonic=lambda: now[0]) as r:
        p = r.project()
        r.changes(p)
        misses = r.cache_stats().misses
        r.changes(p)
        assert r.cache_stats().misses == misses
        now[0] = 61.0
        r.changes(p)
        assert r.cache_stats().misses > misses


def _watcher_threads() -> list[threading.Thread]:
    return [t_ for t_ in threading.enumerate() if t_.name == "triagehub-openspec-watcher"]


def test_watcher_invalidates_the_cache_and_stops_on_close(plain_project: Path) -> None:
    tasks = plain_project / "openspec" / "changes" / "broken-change" / "tasks.md"
    for path in (plain_project / "openspec").rglob("*"):
        _settle(path)
    reader = OpenSpecReader([plain_project])
    try:
        assert reader.start_watching(wait=5)
        assert reader.watching
        p = reader.project()
        assert reader.change(p, "broken-change").completed_tasks == 0
        tasks.write_text("- [x] 1.1 do it\n")
        _settle(tasks)  # an old timestamp: only the watcher can tell the reader
        deadline = time.monotonic() + 10
        while reader.change(p, "broken-change").completed_tasks != 1:
            assert time.monotonic() < deadline, "the watcher did not invalidate the cache"
            time.sleep(0.05)
    finally:
        reader.close()
    assert not reader.watching
    assert _watcher_threads() == []


# -- CLI and API ------------------------------------------------------------------------------


def _invoke(*args: str, db_url: str = "sqlite:///:memory:") -> Any:
    result = CliRunner().invoke(cli_app, ["--db", db_url, *args])
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result


def test_cli_list_prints_snake_case_json(plain_project: Path) -> None:
    result = _invoke("specs", "list", "--root", str(plain_project), "--format", "json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    rows = {c["id"]: c for c in data["changes"]}
    assert rows["add-failure-triage"]["completed_tasks"] == 1
    assert rows["add-failure-triage"]["total_tasks"] == 3
    assert {"delta_count", "last_modified", "has_proposal"} <= set(rows["broken-change"])


def test_cli_show_create_and_archive(
    plain_project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    empty = tmp_path / "triagehub.yaml"
    empty.write_text("{}\n")
    monkeypatch.setenv("TRIAGEHUB_CONFIG", str(empty))
    root = ("--root", str(plain_project))
    shown = json.loads(_invoke("specs", "show", "broken-change", *root, "--format", "json").stdout)
    assert shown["validation"]["valid"] is False and shown["total_tasks"] == 1
    created = _invoke("specs", "create", "add-thing", *root, "--format", "json")
    assert json.loads(created.stdout)["change_id"] == "add-thing"
    archived = _invoke(
        "specs", "archive", "add-failure-triage", *root, "--no-openspec-cli", "--format", "json"
    )
    assert json.loads(archived.stdout)["totals"]["added"] == 2
    with pytest.raises(InputError, match="no OpenSpec roots"):
        _invoke("specs", "list")


def test_cli_create_from_issue(engine: Engine, plain_project: Path, tmp_path: Path) -> None:
    issue_id = _needs_spec_issue(engine, tmp_path)
    url = engine.url.render_as_string(hide_password=False)
    result = _invoke(
        "specs",
        "create",
        "--from-issue",
        str(issue_id),
        "--root",
        str(plain_project),
        "--format",
        "json",
        db_url=url,
    )
    data = json.loads(result.stdout)
    assert data["created"] and (plain_project / "openspec" / "changes" / data["change_id"]).is_dir()


@pytest.fixture
def api(engine: Engine, plain_project: Path) -> Iterator[TestClient]:
    settings = Settings(openspec=OpenSpecConfig(roots=[plain_project]))
    app = create_app(engine, settings, WebhookConfig(b"s"), run_worker=False)
    with Session(engine) as session, session.begin():
        _, token = create_api_token(
            session=session, name="t", scope="write", now=SystemClock().now()
        )
    with TestClient(app, headers={"Authorization": f"Bearer {token}"}) as client:
        yield client
    assert _watcher_threads() == []


def test_api_lists_shows_creates_and_archives(api: TestClient, plain_project: Path) -> None:
    projects = api.get("/api/v1/specs").json()["projects"]
    assert [(p["id"], p["active_changes"]) for p in projects] == [("plain", 2)]
    listed = api.get("/api/v1/specs/changes").json()["changes"]
    assert {c["id"]: c["total_tasks"] for c in listed} == {
        "add-failure-triage": 3,
        "broken-change": 1,
    }
    shown = api.get("/api/v1/specs/changes/broken-change").json()
    assert shown["validation"]["errors"] == 2
    strictless = api.get("/api/v1/specs/changes/broken-change/validation?strict=false").json()
    assert strictless["valid"] is False and strictless["strict"] is False
    created = api.post("/api/v1/specs/changes", json={"change_id": "add-api"})
    assert created.status_code == 201, created.text
    again = api.post("/api/v1/specs/changes", json={"change_id": "add-api"})
    assert again.status_code == 409
    archived = api.post("/api/v1/specs/changes/add-failure-triage/archive", json={})
    assert archived.status_code == 200, archived.text
    specs = api.get("/api/v1/specs/specs").json()["specs"]
    assert [s["id"] for s in specs] == ["failure-ingest"]
    assert api.get("/api/v1/specs/specs/failure-ingest").json()["validation"]["valid"]


@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("/api/v1/specs/changes/a..b", 422),
        ("/api/v1/specs/changes/Not-Kebab", 422),
        ("/api/v1/specs/changes/missing-change", 404),
        ("/api/v1/specs/specs/a/%2E%2E/%2E%2E/etc", 422),
        ("/api/v1/specs/specs/nope", 404),
        ("/api/v1/specs/changes?project=elsewhere", 404),
    ],
)
def test_api_refuses_bad_ids_with_a_reason(api: TestClient, path: str, status: int) -> None:
    response = api.get(path)
    assert response.status_code == status, response.text
    assert response.json()["reason"]


@pytest.mark.parametrize(
    "path", ["/api/v1/specs/changes/..%2F..%2Fetc", "/api/v1/specs/specs/..%2F..%2Fetc%2Fpasswd"]
)
def test_api_never_follows_traversal(api: TestClient, path: str) -> None:
    response = api.get(path)
    assert response.status_code in (404, 422), response.text
    assert "root:" not in response.text


def test_api_create_validates_its_body(api: TestClient) -> None:
    assert (
        api.post(
            "/api/v1/specs/changes", content=b"{", headers={"content-type": "application/json"}
        ).status_code
        == 400
    )
    assert api.post("/api/v1/specs/changes", json={"change_id": "../x"}).status_code == 422
    assert api.post("/api/v1/specs/changes", json={"bogus": 1}).status_code == 422
    assert api.post("/api/v1/specs/changes", json={}).status_code == 422
    assert (
        api.post(
            "/api/v1/specs/changes", content=b"x", headers={"content-type": "text/plain"}
        ).status_code
        == 415
    )
