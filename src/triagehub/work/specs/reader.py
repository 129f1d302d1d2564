"""The OpenSpec reader: projects under configured roots, their changes and specs.

The filesystem is the source of truth: nothing is copied into the database. Parsed changes and
specs are kept in an in-memory LRU cache with a time to live. Without a watcher, every read
checks the files' sizes and modification times (one ``stat`` per file) and re-parses what
changed; with :meth:`OpenSpecReader.start_watching`, a ``watchfiles`` thread invalidates entries
when files change and cached entries are returned without touching the disk. Entries whose files
changed in the last two seconds are always re-read (a timestamp can stay equal across two quick
writes).

With a ``snapshot_dir``, parsed changes are also kept on disk (:mod:`.snapshot`): a new process
re-parses only the changes whose files changed since. :meth:`OpenSpecReader.read_stats` counts
what was parsed and what came from the snapshot; :meth:`OpenSpecReader.subscribe` tells a
listener which paths the watcher saw change.
"""

from __future__ import annotations

import hashlib
import logging
import os
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from types import TracebackType
from typing import Any

from triagehub.errors import InputError
from triagehub.work.specs import validate as validation
from triagehub.work.specs.cache import CacheStats, TTLCache, Watcher
from triagehub.work.specs.errors import NotFoundError
from triagehub.work.specs.load import (
    change_identity,
    discover_spec_files,
    load_change,
    load_spec,
    ms_time,
)
from triagehub.work.specs.model import Change, Project, Spec, ValidationReport
from triagehub.work.specs.paths import check_capability_id, check_change_id, inside
from triagehub.work.specs.snapshot import SnapshotStore, fingerprint_digest

log = logging.getLogger(__name__)

SKIP_DIRS = frozenset(
    {"node_modules", ".git", ".hg", ".svn", ".venv", "venv", "__pycache__", ".tox", "dist", "build"}
)
RACY_NS = 2_000_000_000  # files changed this recently are re-read


@dataclass(frozen=True, slots=True)
class _Entry:
    value: Any
    fingerprint: tuple[Any, ...]
    stable: bool
    watched: bool = False  # stored while the watcher was in place: invalidated by it


@dataclass(frozen=True, slots=True)
class ReadStats:
    """What a reader did since it was made: changes parsed from their files, changes taken
    from the on-disk snapshot."""

    parsed: int
    from_snapshot: int


def scan_tree(folder: Path) -> tuple[tuple[Any, ...], int, int]:
    """(fingerprint, newest file mtime, newest mtime of anything) of a folder: every file's
    relative path, size and mtime and every folder's mtime. Symlinked folders are not followed;
    a folder without files reports its own mtime (as ``openspec list`` does)."""
    parts: list[Any] = []
    newest_file = 0
    newest_any = 0
    stack = [(str(folder), "")]
    while stack:
        current, rel = stack.pop()
        try:
            mtime = os.stat(current).st_mtime_ns  # noqa: PTH116 (str paths: no Path on a hot path)
            entries = list(os.scandir(current))
        except OSError:
            continue
        parts.append((rel, mtime))
        newest_any = max(newest_any, mtime)
        for entry in entries:
            name = f"{rel}/{entry.name}" if rel else entry.name
            try:
                if entry.is_dir(follow_symlinks=False):
                    stack.append((entry.path, name))
                    continue
                st = entry.stat()
            except OSError:
                continue  # vanished, or a dangling link
            parts.append((name, st.st_size, st.st_mtime_ns))
            newest_file = max(newest_file, st.st_mtime_ns)
            newest_any = max(newest_any, st.st_mtime_ns)
    parts.sort(key=lambda p: p[0])
    if newest_file == 0:
        try:
            newest_file = folder.stat().st_mtime_ns
        except OSError:
            newest_file = 0
    return tuple(parts), newest_file, newest_any


def _identity(project: Project, folder: Path, archived: bool, modified: datetime) -> Change:
    """A change with only its identity (where it lies): the snapshot fills in the rest."""
    change_id, archived_on = change_identity(folder.name, archived=archived)
    return Change(
        project=project.id,
        id=change_id,
        folder=folder.name,
        path=folder,
        archived=archived,
        archived_on=archived_on,
        last_modified=modified,
        has_proposal=False,
        has_design=False,
        has_tasks=False,
        why=None,
        what_changes=None,
        tasks=(),
        deltas=(),
    )


def _folder_times(*folders: Path) -> tuple[int, ...]:
    out = []
    for folder in folders:
        try:
            out.append(folder.stat().st_mtime_ns)
        except OSError:
            out.append(0)
    return tuple(out)


def _stable(newest_ns: int) -> bool:
    # real time: file modification times are the file system's clock, never shifted
    return time.time_ns() - newest_ns > RACY_NS


class OpenSpecReader:
    """Read OpenSpec projects found under ``roots`` (folders holding ``openspec/``, searched
    ``max_depth`` folders deep, rescanned every ``scan_seconds``).

    Thread-safe. Use as a context manager, or call :meth:`close`, when a watcher was started.
    """

    def __init__(
        self,
        roots: Iterable[Path],
        *,
        scan_seconds: float = 300.0,
        ttl_seconds: float = 300.0,
        cache_size: int = 4096,
        max_depth: int = 4,
        monotonic: Callable[[], float] = time.monotonic,
        snapshot_dir: Path | None = None,
    ) -> None:
        self.roots = tuple(Path(r).expanduser() for r in roots)
        self._scan_seconds = scan_seconds
        self._max_depth = max_depth
        self._monotonic = monotonic
        self._cache: TTLCache[_Entry] = TTLCache(cache_size, ttl_seconds, monotonic=monotonic)
        self._lock = threading.RLock()
        self._projects: list[Project] | None = None
        self._scanned_at = 0.0
        self._root_problems: list[str] = []
        self._watcher: Watcher | None = None
        self._want_watch = False
        self._snapshots = SnapshotStore(snapshot_dir) if snapshot_dir is not None else None
        # False: reads only record what they parsed; whoever set it (the spec monitor) writes
        # the snapshot in its own thread, off the requests' path
        self.autoflush = True
        self._counts = [0, 0]  # parsed, from the snapshot
        self._counts_lock = threading.Lock()
        self._listeners: list[Callable[[list[Path]], None]] = []

    # -- lifecycle ---------------------------------------------------------------------------

    def __enter__(self) -> OpenSpecReader:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def start_watching(self, *, wait: float = 0.0) -> bool:
        """Watch the projects' ``openspec/`` folders and trust the cache between changes.
        ``wait``: seconds to wait until the watch is in place. False when there is nothing to
        watch."""
        with self._lock:
            self._want_watch = True
            self._restart_watcher(self.projects())
            watcher = self._watcher
        if watcher is None:
            return False
        if wait > 0:
            watcher.ready.wait(wait)
        return True

    def close(self) -> None:
        """Stop the watcher thread (if any); the reader keeps working without it."""
        with self._lock:
            self._want_watch = False
            watcher, self._watcher = self._watcher, None
        if watcher is not None:
            watcher.close()

    @property
    def watching(self) -> bool:
        watcher = self._watcher
        return watcher is not None and watcher.alive and watcher.ready.is_set()

    def _restart_watcher(self, projects: Sequence[Project]) -> None:
        paths = tuple(sorted({p.openspec_dir for p in projects}))
        if self._watcher is not None and self._watcher.paths == paths and self._watcher.alive:
            return
        if self._watcher is not None:
            self._watcher.close()
            self._watcher = None
        if paths:
            self._cache.clear()  # entries cached before the watch are not covered by it
            self._watcher = Watcher(paths, self._on_files_changed)
            self._watcher.start()

    def _on_files_changed(self, paths: list[Path]) -> None:
        for path in paths:
            self.invalidate(path)
        for listener in list(self._listeners):
            listener(paths)

    def subscribe(self, listener: Callable[[list[Path]], None]) -> Callable[[], None]:
        """Call ``listener(paths)`` (in the watcher's thread, after the cache forgot them) when
        the watcher sees files change; returns the function that unsubscribes it."""
        self._listeners.append(listener)

        def unsubscribe() -> None:
            if listener in self._listeners:
                self._listeners.remove(listener)

        return unsubscribe

    def read_stats(self) -> ReadStats:
        with self._counts_lock:
            return ReadStats(self._counts[0], self._counts[1])

    def _count(self, index: int) -> None:
        with self._counts_lock:
            self._counts[index] += 1

    def flush_snapshot(self, project: Project) -> bool:
        """Write the project's on-disk snapshot if something new was parsed."""
        return self._snapshots.flush(project) if self._snapshots is not None else False

    def _autoflush(self, project: Project) -> None:
        if self.autoflush:
            self.flush_snapshot(project)

    def invalidate(self, path: Path | None = None) -> None:
        """Forget what was read from ``path`` (a file or folder; None: everything)."""
        if path is None:
            self._cache.clear()
            return
        text = str(path)

        def touches(key: object) -> bool:
            if not isinstance(key, tuple) or len(key) < 2 or not isinstance(key[1], str):
                return False
            cached = key[1]
            return (
                cached == text
                or text.startswith(cached + os.sep)
                or cached.startswith(text + os.sep)
            )

        self._cache.discard_if(touches)

    def cache_stats(self) -> CacheStats:
        return self._cache.stats()

    # -- projects ----------------------------------------------------------------------------

    def projects(self, *, refresh: bool = False) -> list[Project]:
        """The projects under the roots (rescanned when older than ``scan_seconds``)."""
        with self._lock:
            now = self._monotonic()
            stale = now - self._scanned_at > self._scan_seconds
            if self._projects is None or refresh or stale:
                self._projects = self._discover()
                self._scanned_at = now
                if self._want_watch:
                    self._restart_watcher(self._projects)
            return list(self._projects)

    def root_problems(self) -> list[str]:
        self.projects()
        return list(self._root_problems)

    def _discover(self) -> list[Project]:
        found: dict[Path, Path] = {}
        problems: list[str] = []

        def walk(folder: Path, root: Path, depth: int) -> None:
            openspec = folder / "openspec"
            if openspec.is_dir() and not openspec.is_symlink():
                found.setdefault(folder, root)
            if depth >= self._max_depth:
                return
            try:
                entries = sorted(os.scandir(folder), key=lambda e: e.name)
            except OSError:
                return
            for entry in entries:
                name = entry.name
                if name.startswith(".") or name in SKIP_DIRS or name == "openspec":
                    continue
                try:
                    if entry.is_dir(follow_symlinks=False):
                        walk(Path(entry.path), root, depth + 1)
                except OSError:
                    continue

        for given in self.roots:
            try:
                root = given.resolve()
            except OSError as exc:
                problems.append(f"{given}: cannot resolve: {exc}")
                continue
            if not root.is_dir():
                problems.append(f"{given}: not a directory")
                continue
            if root.name == "openspec" and (
                (root / "changes").is_dir() or (root / "specs").is_dir()
            ):
                found.setdefault(root.parent, root.parent)
                continue
            walk(root, root, 0)
        self._root_problems = problems
        names: dict[str, int] = {}
        for path in found:
            names[path.name] = names.get(path.name, 0) + 1
        projects = []
        for path, root in sorted(found.items()):
            name = path.name or "project"
            if names[path.name] > 1:
                name = f"{name}-{hashlib.sha256(str(path).encode()).hexdigest()[:6]}"
            projects.append(Project(name, path, root))
        return projects

    def project(self, ref: str | Path | None = None) -> Project:
        """The project with this id or path; with None, the only project. Only projects found
        under the roots are served: a path elsewhere is not found."""
        projects = self.projects()
        if ref is None or ref == "":
            if len(projects) == 1:
                return projects[0]
            if not projects:
                roots = ", ".join(str(r) for r in self.roots) or "(none configured)"
                raise NotFoundError(
                    "OpenSpec roots",
                    roots,
                    "no OpenSpec project found (a folder holding an openspec/ directory); run "
                    "`openspec init` in one, or point --root / openspec.roots at it",
                )
            ids = ", ".join(p.id for p in projects)
            raise InputError("project", "", f"{len(projects)} projects found ({ids}): say which")
        text = str(ref)
        for candidate in projects:
            if candidate.id == text:
                return candidate
        try:
            wanted = Path(text).expanduser().resolve()
        except OSError:
            wanted = None
        for candidate in projects:
            if wanted is not None and wanted in (candidate.path, candidate.openspec_dir):
                return candidate
        ids = ", ".join(p.id for p in projects) or "none"
        raise NotFoundError("project", text[:200], f"no such OpenSpec project (known: {ids})")

    # -- changes -----------------------------------------------------------------------------

    def _dir_entries(self, folder: Path) -> list[tuple[str, bool]]:
        """(name, is_symlink) of a folder's entries, cached by the folder's mtime."""
        try:
            mtime = folder.stat().st_mtime_ns
        except OSError:
            return []
        key = ("dir", str(folder))
        entry = self._cache.get(key)
        if entry is not None and entry.fingerprint == (mtime,) and entry.stable:
            value: list[tuple[str, bool]] = entry.value
            return value
        names: list[tuple[str, bool]] = []
        try:
            for item in os.scandir(folder):
                if item.is_symlink():
                    names.append((item.name, True))
                elif item.is_dir(follow_symlinks=False):
                    names.append((item.name, False))
        except OSError:
            return []
        names.sort()
        self._cache.put(key, _Entry(names, (mtime,), _stable(mtime)))
        return names

    def _load_change(self, project: Project, folder: Path, *, archived: bool) -> Change:
        value: Change = self._change_entry(project, folder, archived=archived).value
        return value

    def _change_entry(self, project: Project, folder: Path, *, archived: bool) -> _Entry:
        key = ("change", str(folder), project.id)
        entry = self._cache.get(key)
        watching = self.watching
        if entry is not None and entry.stable and entry.watched and watching:
            return entry
        fingerprint, newest_file, newest_any = scan_tree(folder)
        if entry is not None and entry.stable and entry.fingerprint == fingerprint:
            return entry
        stable = _stable(newest_any)
        change = None
        digest = fingerprint_digest(fingerprint) if stable and self._snapshots else ""
        if digest and self._snapshots is not None:
            template = _identity(project, folder, archived, ms_time(newest_file))
            change = self._snapshots.lookup(project, digest, template)
            if change is not None:
                self._count(1)
        if change is None:
            change = load_change(project, folder, archived=archived, last_modified_ns=newest_file)
            self._count(0)
            if digest and self._snapshots is not None:
                self._snapshots.record(project, digest, change)
        entry = _Entry(change, fingerprint, stable, watching)
        self._cache.put(key, entry)
        return entry

    def symlinked_changes(self, project: Project) -> list[str]:
        """Problems with change folders that are symbolic links (never followed)."""
        out = []
        for base in (project.changes_dir, project.archive_dir):
            for name, is_link in self._dir_entries(base):
                if is_link:
                    rel = (base / name).relative_to(project.path).as_posix()
                    try:
                        target = str((base / name).readlink())
                    except OSError:
                        target = "?"
                    out.append(
                        f"{rel}: a symbolic link (to {target}); change folders that are "
                        "links are not read"
                    )
        return out

    def changes(
        self, project: Project, *, archived: bool = False, active: bool = True
    ) -> list[Change]:
        """The project's active (and/or archived) changes, most recently modified first.
        While watched, the list itself is kept until the watcher sees a file of the project's
        ``changes/`` change, or a change folder is added or removed (the folders' times, two
        ``stat`` calls, are checked on every call: that needs no watcher event)."""
        list_key = ("list", str(project.changes_dir), project.id, archived, active)
        watching = self.watching
        stamp = _folder_times(project.changes_dir, project.archive_dir)
        if watching:
            kept = self._cache.get(list_key)
            if kept is not None and kept.fingerprint == stamp and kept.watched and self.watching:
                listed: list[Change] = kept.value
                return list(listed)
        entries: list[_Entry] = []
        if active:
            for name, is_link in self._dir_entries(project.changes_dir):
                if is_link or name == "archive":
                    continue
                folder = project.changes_dir / name
                entries.append(self._change_entry(project, folder, archived=False))
        if archived:
            for name, is_link in self._dir_entries(project.archive_dir):
                if not is_link:
                    folder = project.archive_dir / name
                    entries.append(self._change_entry(project, folder, archived=True))
        out: list[Change] = [e.value for e in entries]
        out.sort(key=lambda c: (-c.last_modified.timestamp(), c.folder))
        self._autoflush(project)
        if watching and _stable(max(stamp)) and all(e.stable and e.watched for e in entries):
            self._cache.put(list_key, _Entry(list(out), stamp, True, True))
        return out

    def change(self, project: Project, change_id: str) -> Change:
        """An active change by id, else an archived one (by id or archive folder name)."""
        check_change_id(change_id)
        folder = project.changes_dir / change_id
        if change_id != "archive" and os.path.lexists(folder):
            inside(project.changes_dir, change_id, source=f"project {project.id}")
            if folder.is_symlink():
                raise InputError(
                    f"project {project.id}",
                    f"openspec/changes/{change_id}",
                    "a symbolic link: change folders that are links are not read",
                )
            if folder.is_dir():
                found = self._load_change(project, folder, archived=False)
                self._autoflush(project)
                return found
        matches = [
            name
            for name, is_link in self._dir_entries(project.archive_dir)
            if not is_link
            and (name == change_id or change_identity(name, archived=True)[0] == change_id)
        ]
        if matches:
            name = sorted(matches)[-1]
            found = self._load_change(project, project.archive_dir / name, archived=True)
            self._autoflush(project)
            return found
        raise NotFoundError(
            f"project {project.id}", change_id, "no such change (active or archived)"
        )

    def validate_change(
        self, project: Project, change_id: str, *, strict: bool = True
    ) -> ValidationReport:
        """``openspec validate <change> [--strict]`` for a change of the project."""
        change = self.change(project, change_id)
        return validation.validate_change(change.id, change.path, project.path, strict=strict)

    # -- specs -------------------------------------------------------------------------------

    def _load_spec(self, project: Project, spec_id: str, path: Path) -> Spec:
        key = ("spec", str(path), project.id)
        try:
            info = path.stat()
            fingerprint: tuple[Any, ...] = (info.st_size, info.st_mtime_ns)
        except OSError:
            fingerprint = ()
        entry = self._cache.get(key)
        watching = self.watching
        if (
            entry is not None
            and entry.stable
            and ((entry.watched and watching) or entry.fingerprint == fingerprint)
        ):
            cached: Spec = entry.value
            return cached
        spec = load_spec(project, spec_id, path)
        stable = bool(fingerprint) and _stable(fingerprint[1])
        self._cache.put(key, _Entry(spec, fingerprint, stable, watching))
        return spec

    def specs(self, project: Project) -> list[Spec]:
        files, _ = discover_spec_files(project.specs_dir, project.path)
        return [self._load_spec(project, spec_id, path) for spec_id, path in files]

    def spec(self, project: Project, capability: str) -> Spec:
        parts = check_capability_id(capability)
        path = inside(project.specs_dir, *parts, "spec.md", source=f"project {project.id}")
        if not path.is_file():
            raise NotFoundError(f"project {project.id}", capability, "no such spec")
        return self._load_spec(project, "/".join(parts), path)

    def validate_spec(
        self, project: Project, capability: str, *, strict: bool = True
    ) -> ValidationReport:
        spec = self.spec(project, capability)
        try:
            content = spec.path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            content = None
        return validation.validate_spec(spec.id, content, strict=strict)
