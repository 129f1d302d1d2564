"""The spec monitor: warms an :class:`~triagehub.work.specs.reader.OpenSpecReader` in a background
thread when a server starts, then keeps it current.

It starts the reader's file watcher, reads every project under the roots once (its active and
archived changes and its specs: from the on-disk snapshot when the reader has one), and from then
on re-reads a project as soon as the watcher sees one of its files change (the reader has already
forgotten just the changed change), so the next request finds it warm. Nothing waits for it: a
request made while it warms reads the files itself and gets the same answer, just not faster.

Listeners registered with :meth:`SpecMonitor.on_change` are told, after such a re-read, which
changes of a project appeared, disappeared, were archived or changed task progress.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from triagehub.work.specs.model import Change, Project
from triagehub.work.specs.reader import OpenSpecReader

log = logging.getLogger(__name__)

ChangeListener = Callable[[Project, list[str]], None]
Progress = dict[str, tuple[bool, int, int]]  # change folder -> (archived, done, total)


@dataclass(frozen=True, slots=True)
class MonitorStatus:
    """What the monitor has done: ``warmed`` once every project was read once."""

    warmed: bool
    projects: int
    changes: int
    warm_seconds: float | None
    refreshes: int


def _progress(changes: list[Change]) -> Progress:
    return {c.folder: (c.archived, c.completed_tasks, c.total_tasks) for c in changes}


def changed_ids(before: Progress, after: Progress) -> list[str]:
    """Change folders new, gone, archived or with another task progress, sorted."""
    keys = set(before) | set(after)
    return sorted(k for k in keys if before.get(k) != after.get(k))


class SpecMonitor:
    """Warm ``reader`` and keep it current in a daemon thread: :meth:`start` returns at once,
    :meth:`stop` ends the thread and the reader's watcher. ``watch_wait``: seconds to wait for
    the watch to be in place before warming (entries read under the watch are then trusted)."""

    def __init__(
        self,
        reader: OpenSpecReader,
        *,
        watch_wait: float = 5.0,
        idle_seconds: float = 30.0,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.reader = reader
        self.warmed = threading.Event()
        self._watch_wait = watch_wait
        self._idle = idle_seconds
        self._monotonic = monotonic
        self._stop = threading.Event()
        self._paths: queue.SimpleQueue[list[Path]] = queue.SimpleQueue()
        self._listeners: list[ChangeListener] = []
        self._progress: dict[str, Progress] = {}
        self._known: dict[str, Project] = {}
        self._warm_seconds: float | None = None
        self._refreshes = 0
        self._unsubscribe: Callable[[], None] | None = None
        self._thread = threading.Thread(
            target=self._run, name="triagehub-spec-monitor", daemon=True
        )

    def on_change(self, listener: ChangeListener) -> Callable[[], None]:
        """Call ``listener(project, change_folders)`` (in the monitor's thread) when a re-read
        finds changes that appeared, disappeared, were archived or changed task progress.
        Returns the function that unsubscribes it."""
        self._listeners.append(listener)

        def unsubscribe() -> None:
            if listener in self._listeners:
                self._listeners.remove(listener)

        return unsubscribe

    def start(self) -> None:
        self.reader.autoflush = False  # the snapshot is written here, not in a request
        self._unsubscribe = self.reader.subscribe(self._paths.put)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Stop the thread and the reader's watcher (the reader keeps working without them)."""
        self._stop.set()
        self._paths.put([])  # wake the thread
        if self._unsubscribe is not None:
            self._unsubscribe()
        if self._thread.is_alive():
            self._thread.join(timeout)
        self.reader.close()
        self.reader.autoflush = True
        for project in list(self._known.values()):
            self.reader.flush_snapshot(project)

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    def status(self) -> MonitorStatus:
        return MonitorStatus(
            warmed=self.warmed.is_set(),
            projects=len(self._progress),
            changes=sum(len(p) for p in self._progress.values()),
            warm_seconds=self._warm_seconds,
            refreshes=self._refreshes,
        )

    # -- the thread ----------------------------------------------------------------------------

    def _run(self) -> None:
        started = self._monotonic()
        try:
            self.reader.start_watching(wait=self._watch_wait)
            for project in self.reader.projects():
                if self._stop.is_set():
                    return
                self._read(project)
            self._warm_seconds = self._monotonic() - started
            self.warmed.set()
            log.info(
                "OpenSpec projects read",
                extra={"projects": len(self._progress), "seconds": round(self._warm_seconds, 3)},
            )
            while not self._stop.is_set():
                self._step()
        except Exception:
            # The reader works without the monitor (just colder): log, do not take the app down.
            log.exception("the OpenSpec monitor stopped", extra={"roots": self.reader.roots})

    def _step(self) -> None:
        try:
            paths = self._paths.get(timeout=self._idle)
        except queue.Empty:
            paths = []
        while True:  # what else arrived meanwhile, in one pass
            try:
                paths += self._paths.get_nowait()
            except queue.Empty:
                break
        if self._stop.is_set():
            return
        projects = self.reader.projects()  # rescanned when older than the scan interval
        current = {str(p.path) for p in projects}
        if current != set(self._known):
            # another set of projects: the reader watches anew and forgot what it held
            self._known = {k: v for k, v in self._known.items() if k in current}
            self._progress = {k: v for k, v in self._progress.items() if k in current}
            touched = projects
        else:
            touched = [p for p in projects if any(_under(path, p.openspec_dir) for path in paths)]
        for project in dict.fromkeys(touched):
            self._refresh(project)

    def _read(self, project: Project) -> Progress:
        self.reader.changes(project)  # the default list (active changes), kept too
        progress = _progress(self.reader.changes(project, archived=True))
        self.reader.specs(project)
        self.reader.flush_snapshot(project)  # what requests parsed meanwhile too
        self._progress[str(project.path)] = progress
        self._known[str(project.path)] = project
        return progress

    def _refresh(self, project: Project) -> None:
        before = self._progress.get(str(project.path))
        after = self._read(project)
        self._refreshes += 1
        ids = changed_ids(before or {}, after) if before is not None else []
        if not ids:
            return
        for listener in list(self._listeners):
            try:
                listener(project, ids)
            except Exception:
                log.exception(
                    "an OpenSpec change listener failed",
                    extra={"project": project.id, "changes": ids[:20]},
                )


def _under(path: Path, folder: Path) -> bool:
    return path == folder or path.is_relative_to(folder)
