"""Which runs a SQLite database holds already, asked through the standard library's ``sqlite3``
alone: a file whose runs are all stored (the same file ingested again) is told without loading
SQLAlchemy, the ORM or the tables (``triagehub.engine.ingest.quick``).

Only a database file that exists and is at the newest schema (its ``alembic_version`` against the
versions folder's file names, as ``db.ensure_schema`` tells it) is asked; anything else (another
backend, a new or older database, a file that cannot be read) is ``None``, and the caller takes
the ordinary path, which creates, migrates or reports it.
"""

from __future__ import annotations

import re
import sqlite3
from pathlib import Path
from types import TracebackType

MIGRATIONS = Path(__file__).with_name("migrations")
# A revision's file is named after it (``0015_evidence.py`` holds revision "0015") and the highest
# number is the head (tests/test_migrations.py checks both against Alembic).
REVISION_FILE = re.compile(r"^(\d{4})_\w+\.py$")
SQLITE_SUFFIXES = (".db", ".sqlite", ".sqlite3")
_URL_PREFIXES = ("sqlite:///", "sqlite+pysqlite:///")
_DIGEST = (
    "SELECT r.digest FROM runs AS r JOIN repositories AS p ON p.id = r.repository_id "
    "WHERE p.name = ? AND r.source = ? AND r.external_id = ? AND r.attempt = ?"
)


def newest_revision_file() -> str | None:
    """The newest revision as the versions folder's file names tell it, without loading Alembic
    (None when the folder holds no revision named so)."""
    names = (REVISION_FILE.match(path.name) for path in (MIGRATIONS / "versions").iterdir())
    return max((m.group(1) for m in names if m), default=None)


def sqlite_file(url: str) -> Path | None:
    """The file a SQLite URL (or a bare ``.db`` path, as ``db.normalize_url`` reads one) names,
    when it exists; None for anything else."""
    if "://" not in url:
        path = Path(url).expanduser()
    elif url.startswith(_URL_PREFIXES) and "?" not in url:
        path = Path(url.split(":///", 1)[1])
    else:
        return None
    if not path.name or str(path) == ":memory:" or not path.is_file():
        return None
    return path


class StoredRuns:
    """A read-only look at the runs of a SQLite database at the newest schema."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn

    @classmethod
    def open(cls, url: str) -> StoredRuns | None:
        """The database at ``url``, or None when it is not a SQLite file at the newest schema
        (or cannot be read)."""
        path = sqlite_file(url)
        newest = newest_revision_file()
        if path is None or newest is None:
            return None
        try:
            conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=rw", uri=True, timeout=5)
        except sqlite3.Error:
            return None
        try:
            revisions = [row[0] for row in conn.execute("SELECT version_num FROM alembic_version")]
        except sqlite3.Error:
            conn.close()
            return None
        if revisions != [newest]:
            conn.close()
            return None
        return cls(conn)

    def digest(self, repository: str, source: str, run_id: str, attempt: int) -> str | None:
        """The stored digest of this run (None: not stored, or the database could not tell, e.g.
        locked by a schema change: the caller takes the ordinary path)."""
        try:
            row = self._conn.execute(_DIGEST, (repository, source, run_id, attempt)).fetchone()
        except sqlite3.Error:
            return None
        return None if row is None else str(row[0])

    def close(self) -> None:
        self._conn.close()

    def __enter__(self) -> StoredRuns:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
