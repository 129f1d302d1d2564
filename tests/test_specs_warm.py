"""A warm OpenSpec reader: the spec monitor reads every project when the app starts and keeps it
current through the file watcher; the on-disk snapshot lets a new process skip parsing changes
whose files did not change, and is never trusted when they did, nor when it is damaged."""

from __future__ import annotations

import json
import os
import random
import shutil
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from triagehub.api.app import WebhookConfig, create_app
from triagehub.api.deps import state_of
from triagehub.config import OpenSpecConfig, Settings
from triagehub.work.specs import OpenSpecReader, Project
from triagehub.work.specs.markdown.text import _fence_ranges, _top_level_fences, normalize
from triagehub.work.specs.monitor import SpecMonitor
from triagehub.work.specs.snapshot import SnapshotStore, parser_digest

CHANGES = 12
TASKS = 4
WAIT = 20.0  # the most any poll below waits (it returns as soon as the condition holds)


def write_change(base: Path, name: str, done: int) -> Path:
    folder = base / "openspec" / "changes" / name
    (folder / "specs" / "ingest").mkdir(parents=True, exist_ok=True)
    (folder / "proposal.md").write_text(
        f"# {name}\n\n## Why\n\nBecause {name}.\n\n## What Changes\n\n- **ingest:** add {name}\n"
    )
    tasks = [f"- [{'x' if i < done else ' '}] 1.{i + 1} step {i + 1}" for i in range(TASKS)]
    (folder / "tasks.md").write_text("## 1. Work\n\n" + "\n".join(tasks) + "\n")
    (folder / "specs" / "ingest" / "spec.md").write_text(
        "## ADDED Requirements\n\n### Requirement: Ingest\nThe system SHALL ingest.\n\n"
        '```json\n{"x": "## not a header"}\n```\n\n'
        "#### Scenario: ok\n- **WHEN** a run\n- **THEN** stored\n"
    )
    return folder


def age(root: Path, seconds: float = 60.0) -> None:
    """Every file and folder a minute old: the reader trusts what did not change just now."""
    # real time: file modification times are the file system's, which no clock offset shifts
    old = time.time() - seconds
    for path in [root, *root.rglob("*")]:
        os.utime(path, (old, old))


@pytest.fixture
def project_root(tmp_path: Path) -> Path:
    root = tmp_path / "shop"
    (root / "openspec" / "specs").mkdir(parents=True)
    for n in range(CHANGES):
        write_change(root, f"change-{n:02d}", done=n % (TASKS + 1))
    age(root)
    return root


def mark_task_done(root: Path, name: str) -> None:
    """Tick the first open task of a change: same size, a new (older than two seconds) mtime."""
    tasks = root / "openspec" / "changes" / name / "tasks.md"
    text = tasks.read_text()
    tasks.write_text(text.replace("- [ ]", "- [x]", 1))
    # real time: file modification times are the file system's, which no clock offset shifts
    old = time.time() - 30
    os.utime(tasks, (old, old))


def progress(reader: OpenSpecReader, project: Project, name: str) -> int:
    return next(c.completed_tasks for c in reader.changes(project) if c.folder == name)


def poll(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + WAIT
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {WAIT} s: {what}")
        time.sleep(0.02)


# -- the monitor -----------------------------------------------------------------------------


@pytest.fixture
def api(engine: Engine, project_root: Path) -> Iterator[TestClient]:
    settings = Settings(openspec=OpenSpecConfig(roots=[project_root]))
    app = create_app(engine, settings, WebhookConfig(b"s"), run_worker=False)
    with TestClient(app) as client:  # reads need no token by default
        yield client


def test_the_monitor_warms_the_reader_when_the_app_starts(api: TestClient) -> None:
    state = state_of(api.app)  # type: ignore[arg-type]
    monitor = state.spec_monitor
    assert monitor is not None
    assert monitor.warmed.wait(WAIT), "the monitor did not finish warming"
    before = state.reader.read_stats()
    assert before.parsed + before.from_snapshot == CHANGES
    assert monitor.status().changes == CHANGES
    listed = api.get("/api/v1/specs/changes")
    assert listed.status_code == 200, listed.text
    assert len(listed.json()["changes"]) == CHANGES
    assert state.reader.read_stats() == before  # served from memory: nothing read again


def test_the_app_stops_the_monitor_with_it(engine: Engine, project_root: Path) -> None:
    settings = Settings(openspec=OpenSpecConfig(roots=[project_root]))
    app = create_app(engine, settings, WebhookConfig(b"s"), run_worker=False)
    with TestClient(app):
        monitor = state_of(app).spec_monitor
        assert monitor is not None and monitor.alive
    assert not monitor.alive
    assert not state_of(app).reader.watching


def test_a_change_seen_by_the_watcher_is_recorded_at_once_not_at_the_next_scan(
    engine: Engine, project_root: Path
) -> None:
    from sqlalchemy import select

    from triagehub.store import tables as t

    def kinds() -> list[str]:
        with engine.connect() as conn:
            return list(conn.scalars(select(t.spec_events.c.kind).order_by(t.spec_events.c.id)))

    settings = Settings(openspec=OpenSpecConfig(roots=[project_root], scan_minutes=60))
    app = create_app(engine, settings, WebhookConfig(b"s"), run_worker=False, run_monitor=True)
    with TestClient(app):
        state = state_of(app)
        assert state.spec_scan is not None and state.spec_scan.interval == 30.0
        assert state.spec_monitor is not None and state.spec_monitor.warmed.wait(WAIT)
        poll(lambda: state.spec_scan is not None and state.spec_scan.scans >= 1, "first scan")
        assert kinds().count("tasks") == 0
        mark_task_done(project_root, "change-00")
        # The next timed scan is 30 s away: only the monitor's wake-up records it sooner.
        poll(lambda: "tasks" in kinds(), "the task progress event")


@pytest.fixture
def monitor(project_root: Path) -> Iterator[SpecMonitor]:
    found = SpecMonitor(OpenSpecReader([project_root]))
    found.start()
    try:
        assert found.warmed.wait(WAIT)
        yield found
    finally:
        found.stop()


def test_an_edit_on_disk_is_seen_and_only_that_change_is_read_again(
    monitor: SpecMonitor, project_root: Path
) -> None:
    reader = monitor.reader
    project = reader.project()
    told: list[tuple[str, list[str]]] = []
    monitor.on_change(lambda p, ids: told.append((p.id, ids)))
    assert progress(reader, project, "change-01") == 1
    before = reader.read_stats()
    mark_task_done(project_root, "change-01")
    poll(lambda: progress(reader, project, "change-01") == 2, "the new progress is listed")
    poll(lambda: ("shop", ["change-01"]) in told, "the listener is told which change moved")
    assert all(ids == ["change-01"] for _, ids in told)
    after = reader.read_stats()
    # the watcher may report the write and the new time apart, and this thread may read the
    # change while the monitor does: at most four reads of that one change, not all twelve
    assert 1 <= after.parsed - before.parsed <= 4
    assert after.from_snapshot == before.from_snapshot


def test_a_new_change_is_listed_at_once_without_waiting_for_the_watcher(
    monitor: SpecMonitor, project_root: Path
) -> None:
    reader = monitor.reader
    project = reader.project()
    assert len(reader.changes(project)) == CHANGES  # the kept list
    write_change(project_root, "change-new", done=0)
    assert "change-new" in [c.folder for c in reader.changes(project)]
    shutil.rmtree(project_root / "openspec" / "changes" / "change-00")
    assert "change-00" not in [c.folder for c in reader.changes(project)]


def test_the_monitor_writes_the_snapshot_off_the_request_path(
    project_root: Path, tmp_path: Path
) -> None:
    reader = OpenSpecReader([project_root], snapshot_dir=tmp_path / "snap")
    monitor = SpecMonitor(reader)
    monitor.start()
    try:
        assert monitor.warmed.wait(WAIT)
        assert not reader.autoflush  # a request only records what it parsed
        (snapshot,) = (tmp_path / "snap").glob("*.json")
        assert len(json.loads(snapshot.read_bytes())["changes"]) == CHANGES
    finally:
        monitor.stop()
    assert reader.autoflush
    again = OpenSpecReader([project_root], snapshot_dir=tmp_path / "snap")
    again.changes(again.project())
    assert again.read_stats().from_snapshot == CHANGES


# -- the snapshot ----------------------------------------------------------------------------


def snapshot_reader(root: Path, snapshots: Path) -> tuple[OpenSpecReader, Project]:
    reader = OpenSpecReader([root], snapshot_dir=snapshots)
    return reader, reader.project()


def summaries(reader: OpenSpecReader, project: Project) -> list[dict[str, object]]:
    return [c.to_json() for c in reader.changes(project, archived=True)]


def test_a_new_process_takes_unchanged_changes_from_the_snapshot(
    project_root: Path, tmp_path: Path
) -> None:
    first, project = snapshot_reader(project_root, tmp_path / "snap")
    expected = summaries(first, project)
    assert first.read_stats().parsed == CHANGES
    second, project = snapshot_reader(project_root, tmp_path / "snap")
    assert summaries(second, project) == expected
    assert second.read_stats().parsed == 0
    assert second.read_stats().from_snapshot == CHANGES


def test_a_snapshot_of_a_changed_file_is_not_used(project_root: Path, tmp_path: Path) -> None:
    first, project = snapshot_reader(project_root, tmp_path / "snap")
    assert progress(first, project, "change-02") == 2
    mark_task_done(project_root, "change-02")  # same size: only the mtime tells
    second, project = snapshot_reader(project_root, tmp_path / "snap")
    assert progress(second, project, "change-02") == 3
    assert second.read_stats().parsed == 1
    assert second.read_stats().from_snapshot == CHANGES - 1


def test_a_change_edited_this_second_is_never_taken_from_the_snapshot(
    project_root: Path, tmp_path: Path
) -> None:
    first, project = snapshot_reader(project_root, tmp_path / "snap")
    first.changes(project)
    tasks = project_root / "openspec" / "changes" / "change-03" / "tasks.md"
    tasks.write_text(tasks.read_text().replace("- [ ]", "- [x]", 1))  # mtime: now
    second, project = snapshot_reader(project_root, tmp_path / "snap")
    assert progress(second, project, "change-03") == 4
    assert second.read_stats().parsed == 1


CORRUPTIONS: dict[str, Callable[[bytes], bytes]] = {
    "truncated": lambda body: body[: len(body) // 2],
    "empty": lambda body: b"",
    "not json": lambda body: b"\x00\xff garbage {",
    "a list": lambda body: b"[]",
    "bad entries": lambda body: json.dumps(
        {
            **json.loads(body),
            "changes": {k: [v[0], [1, 2, 3]] for k, v in json.loads(body)["changes"].items()},
        }
    ).encode(),
    "deep nesting": lambda body: b"[" * 100_000,
}


@pytest.mark.parametrize("damage", sorted(CORRUPTIONS))
def test_a_damaged_snapshot_is_ignored_and_rebuilt(
    project_root: Path, tmp_path: Path, damage: str
) -> None:
    first, project = snapshot_reader(project_root, tmp_path / "snap")
    expected = summaries(first, project)
    (snapshot,) = (tmp_path / "snap").glob("*.json")
    snapshot.write_bytes(CORRUPTIONS[damage](snapshot.read_bytes()))
    second, project = snapshot_reader(project_root, tmp_path / "snap")
    assert summaries(second, project) == expected
    assert second.read_stats().parsed == CHANGES
    third, project = snapshot_reader(project_root, tmp_path / "snap")
    assert summaries(third, project) == expected
    assert third.read_stats().from_snapshot == CHANGES  # the rebuilt file serves again


def test_a_snapshot_of_another_parser_is_not_used(project_root: Path, tmp_path: Path) -> None:
    first, project = snapshot_reader(project_root, tmp_path / "snap")
    first.changes(project)
    (snapshot,) = (tmp_path / "snap").glob("*.json")
    data = json.loads(snapshot.read_bytes())
    assert data["parser"] == parser_digest()
    snapshot.write_text(json.dumps({**data, "parser": "an older parser"}))
    second, project = snapshot_reader(project_root, tmp_path / "snap")
    second.changes(project)
    assert second.read_stats().parsed == CHANGES


def test_an_unwritable_snapshot_folder_is_not_an_error(project_root: Path, tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    reader, project = snapshot_reader(project_root, blocker / "snap")
    assert len(reader.changes(project)) == CHANGES
    assert not reader.flush_snapshot(project)


WRITER = """
import sys
from pathlib import Path
from triagehub.work.specs import OpenSpecReader
from triagehub.work.specs.snapshot import SnapshotStore
root, folder, tag = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3]
reader = OpenSpecReader([root])
project = reader.project()
changes = reader.changes(project)
store = SnapshotStore(folder)
for i in range(40):
    for change in changes:
        store.record(project, f"{tag}-{i}", change)
    assert store.flush(project)
"""


def test_two_processes_writing_the_snapshot_at_once_leave_a_valid_file(
    project_root: Path, tmp_path: Path
) -> None:
    folder = tmp_path / "snap"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", WRITER, str(project_root), str(folder), tag],
            env=env,
            stderr=subprocess.PIPE,
        )
        for tag in ("a", "b")
    ]
    seen: list[str] = []
    broken: list[str] = []
    stop = threading.Event()

    def watch() -> None:  # every version a reader can open is a whole file
        while not stop.is_set():
            for path in folder.glob("*.json"):
                try:
                    data = json.loads(path.read_bytes())
                    seen.append(next(iter(data["changes"].values()))[0])
                except FileNotFoundError:
                    continue
                except (ValueError, KeyError, StopIteration) as exc:
                    broken.append(f"{path.name}: {exc}")

    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        for proc in procs:
            _, err = proc.communicate(timeout=120)
            assert proc.returncode == 0, err.decode()
    finally:
        stop.set()
        watcher.join()
    assert broken == []
    assert sorted(p.name for p in folder.iterdir() if p.suffix == ".tmp") == []
    (snapshot,) = folder.glob("*.json")
    final = json.loads(snapshot.read_bytes())
    assert len(final["changes"]) == CHANGES
    assert {digest for digest, _ in final["changes"].values()} <= {"a-39", "b-39"}
    assert seen, "the snapshot was never seen while being written"
    # and the store reads it back (digests do not match the files: parsed again, no error)
    reader, project = snapshot_reader(project_root, folder)
    assert len(reader.changes(project)) == CHANGES


def test_a_snapshot_store_round_trips_every_field(project_root: Path, tmp_path: Path) -> None:
    reader = OpenSpecReader([project_root])
    project = reader.project()
    store = SnapshotStore(tmp_path / "snap")
    for change in reader.changes(project):
        store.record(project, "d", change)
        assert store.lookup(project, "d", change) == change
        assert store.lookup(project, "other", change) is None


# -- cheaper parsing -------------------------------------------------------------------------

PIECES = [
    "```",
    "````",
    "~~~",
    "```js",
    "``` a`b",
    "~~~ x`y",
    "text ```",
    "",
    "# H",
    "- item",
    "  ```",
    "> q",
    "    code",
    "- ```",
    "```   ",
    "~~~~",
    "<div>",
    "1. ```",
    "\t```",
]


def test_the_fence_scan_agrees_with_markdown_it() -> None:
    rng = random.Random(25)
    scanned = 0
    for _ in range(4000):
        doc = "\n".join(rng.choice(PIECES) for _ in range(rng.randrange(1, 10)))
        lines = normalize(doc).split("\n")
        fast = _top_level_fences(lines)
        if fast is None:
            continue  # the full parser decides these
        scanned += 1
        slow = tuple((a, min(b, len(lines))) for a, b in _fence_ranges("\n".join(lines)))
        assert fast == slow, textwrap.indent(doc, "    ")
    assert scanned > 1000
