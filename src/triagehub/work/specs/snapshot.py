"""An on-disk snapshot of parsed OpenSpec changes, so that a new process re-parses only the
changes whose files changed since the last one read them.

One JSON file per project (named by a hash of the project's path) maps each change folder to
the digest of its files' (relative path, size, mtime_ns) and folders' mtimes (the reader's
:func:`~triagehub.work.specs.reader.scan_tree` fingerprint) and the parsed change. An entry is
used only when the folder's fingerprint is the same today; changes edited in the last two seconds
are neither written nor trusted (the reader's racy-timestamp rule). The file also records the
format and a digest of the parser's own source: a new parser ignores old snapshots.

The snapshot is a cache and never an error: a missing, truncated, corrupt or foreign file is
ignored (and rewritten at the next flush); a folder that cannot be written is logged once. Writes
go to a temporary file in the same folder, then ``os.replace``: concurrent processes each write a
whole file and the last one wins, so readers see one complete file or the other.

Where: ``$TRIAGEHUB_OPENSPEC_CACHE`` (a directory; ``off`` disables the snapshot), else the
platform's user cache folder (``~/.cache/triagehub/openspec`` on Linux).
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import os
import tempfile
import threading
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from triagehub.work.specs.model import Change, Delta, Project, Requirement, Scenario, Task

log = logging.getLogger(__name__)

ENV = "TRIAGEHUB_OPENSPEC_CACHE"
FORMAT = 1
OFF = frozenset({"off", "none", "0", "false", "no"})


def default_snapshot_dir() -> Path | None:
    """``$TRIAGEHUB_OPENSPEC_CACHE`` (None when it says ``off``), else the user cache folder."""
    given = os.environ.get(ENV, "").strip()
    if given.lower() in OFF:
        return None
    if given:
        return Path(given).expanduser()
    import platformdirs

    return platformdirs.user_cache_path("triagehub") / "openspec"


@functools.cache
def parser_digest() -> str:
    """A digest of the modules that turn files into a :class:`Change`: a snapshot written by
    another parser is not used."""
    here = Path(__file__).parent
    sources = [here / "load.py", here / "model.py", here / "paths.py", Path(__file__)]
    sources += sorted((here / "markdown").glob("*.py"))
    digest = hashlib.sha256(str(FORMAT).encode())
    for path in sources:
        try:
            digest.update(path.read_bytes())
        except OSError:
            digest.update(path.name.encode())
    return digest.hexdigest()[:24]


def fingerprint_digest(fingerprint: tuple[Any, ...]) -> str:
    """A stable digest of a folder fingerprint (tuples of str and int: their repr is stable)."""
    return hashlib.blake2b(repr(fingerprint).encode(), digest_size=16).hexdigest()


# -- encoding ------------------------------------------------------------------------------------


def _requirement(req: Requirement | None) -> list[Any] | None:
    if req is None:
        return None
    return [req.name, req.text, [[s.name, s.raw_text] for s in req.scenarios]]


def encode_change(change: Change) -> list[Any]:
    """The parts of a change that come from its files (identity comes from where it lies)."""
    return [
        change.archived_on.isoformat() if change.archived_on else None,
        change.has_proposal,
        change.has_design,
        change.has_tasks,
        change.why,
        change.what_changes,
        [[t.done, t.description, t.line, t.group] for t in change.tasks],
        [
            [d.spec, d.operation, d.description, _requirement(d.requirement)]
            + ([d.rename_from, d.rename_to] if d.operation == "RENAMED" else [])
            for d in change.deltas
        ],
        list(change.problems),
    ]


def _opt_str(value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise TypeError("expected a string")
    return value


def _str(value: Any) -> str:
    if type(value) is not str:
        raise TypeError("expected a string")
    return value


def _decode_requirement(value: Any) -> Requirement | None:
    if value is None:
        return None
    name, text, scenarios = value
    return Requirement(
        _str(name), _str(text), tuple([Scenario(_str(n), _str(r)) for n, r in scenarios])
    )


def decode_change(value: Any, template: Change) -> Change:
    """A change from :func:`encode_change`'s list; ``template`` gives its identity. Raises
    ``TypeError``/``ValueError`` on anything malformed."""
    archived_on, proposal, design, has_tasks, why, what, tasks, deltas, problems = value
    out_deltas = []
    for item in deltas:
        spec, operation, description, req = item[:4]
        rename = (item[4], item[5]) if len(item) == 6 else (None, None)
        out_deltas.append(
            Delta(
                _str(spec),
                _str(operation),
                _str(description),
                _decode_requirement(req),
                _opt_str(rename[0]),
                _opt_str(rename[1]),
            )
        )
    return Change(
        project=template.project,
        id=template.id,
        folder=template.folder,
        path=template.path,
        archived=template.archived,
        archived_on=date.fromisoformat(archived_on) if archived_on else None,
        last_modified=template.last_modified,
        has_proposal=bool(proposal),
        has_design=bool(design),
        has_tasks=bool(has_tasks),
        why=_opt_str(why),
        what_changes=_opt_str(what),
        tasks=tuple(
            [
                Task(done is True, _str(text), int(line), None if group is None else _str(group))
                for done, text, line, group in tasks
            ]
        ),
        deltas=tuple(out_deltas),
        problems=tuple([_str(p) for p in problems]),
    )


# -- the store -----------------------------------------------------------------------------------


@dataclass(slots=True)
class _ProjectSnapshot:
    entries: dict[str, list[Any]] = field(default_factory=dict)  # folder -> [digest, encoded]
    dirty: bool = False


class SnapshotStore:
    """The snapshot files of one folder, read once per project and written back on
    :meth:`flush`. Thread-safe."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._lock = threading.Lock()
        self._projects: dict[str, _ProjectSnapshot] = {}
        self._write_failed = False

    def file_for(self, project: Project) -> Path:
        name = hashlib.sha256(str(project.path).encode()).hexdigest()[:24]
        return self.directory / f"{name}.json"

    def _load(self, project: Project) -> _ProjectSnapshot:
        key = str(project.path)
        found = self._projects.get(key)
        if found is not None:
            return found
        found = _ProjectSnapshot()
        path = self.file_for(project)
        try:
            data = json.loads(path.read_bytes())
            if (
                isinstance(data, dict)
                and data.get("format") == FORMAT
                and data.get("parser") == parser_digest()
                and data.get("project") == key
                and isinstance(data.get("changes"), dict)
            ):
                found.entries = {
                    k: v
                    for k, v in data["changes"].items()
                    if isinstance(v, list) and len(v) == 2 and isinstance(v[0], str)
                }
            else:
                found.dirty = True  # another format or parser: rewrite it
        except FileNotFoundError:
            pass
        except (OSError, ValueError, RecursionError) as exc:
            log.info(
                "OpenSpec snapshot ignored (it will be rebuilt)",
                extra={"path": str(path), "reason": str(exc)[:200]},
            )
            found.dirty = True
        self._projects[key] = found
        return found

    def lookup(self, project: Project, digest: str, template: Change) -> Change | None:
        """The snapshot's change for ``template.path`` if its fingerprint digest is ``digest``."""
        with self._lock:
            entry = self._load(project).entries.get(str(template.path))
        if entry is None or entry[0] != digest:
            return None
        try:
            return decode_change(entry[1], template)
        except (TypeError, ValueError, IndexError, KeyError, AttributeError):
            return None

    def record(self, project: Project, digest: str, change: Change) -> None:
        encoded = [digest, encode_change(change)]
        with self._lock:
            snap = self._load(project)
            key = str(change.path)
            if snap.entries.get(key) != encoded:
                snap.entries[key] = encoded
                snap.dirty = True

    def flush(self, project: Project) -> bool:
        """Write the project's snapshot if it changed (folders gone are dropped). True when a
        file was written."""
        with self._lock:
            snap = self._projects.get(str(project.path))
            if snap is None or not snap.dirty:
                return False
            snap.entries = {k: v for k, v in snap.entries.items() if Path(k).is_dir()}
            payload = {
                "format": FORMAT,
                "parser": parser_digest(),
                "project": str(project.path),
                "changes": snap.entries,
            }
            body = json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()
            snap.dirty = False
        return self._write(self.file_for(project), body)

    def _write(self, target: Path, body: bytes) -> bool:
        tmp: str | None = None
        try:
            target.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            fd, tmp = tempfile.mkstemp(prefix=f".{target.stem}-", suffix=".tmp", dir=target.parent)
            with os.fdopen(fd, "wb") as handle:
                handle.write(body)
            Path(tmp).replace(target)
            return True
        except OSError as exc:
            if not self._write_failed:  # said once per store, not on every list
                log.warning(
                    "cannot write the OpenSpec snapshot (set %s to a writable folder, or off)",
                    ENV,
                    extra={"path": str(target), "reason": str(exc)[:200]},
                )
                self._write_failed = True
            if tmp is not None:
                Path(tmp).unlink(missing_ok=True)
            return False
