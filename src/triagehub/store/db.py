"""Engines, sessions and schema migrations.

SQLite (the embedded default) runs in WAL mode with foreign keys on; PostgreSQL through psycopg 3.
The schema is owned by Alembic: ``upgrade`` applies the migrations, and ``open_database`` does so
automatically on first use. Alembic is imported only when the schema has to change (or be looked
at through it): a database already at the newest revision is recognised with one plain query
against ``alembic_version`` and the versions folder's file names, so a command starts without it.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, Engine, create_engine, event, inspect, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError

from triagehub.errors import ConfigError
from triagehub.store.stored_runs import MIGRATIONS as MIGRATIONS
from triagehub.store.stored_runs import SQLITE_SUFFIXES as SQLITE_SUFFIXES
from triagehub.store.stored_runs import newest_revision_file as newest_revision_file

if TYPE_CHECKING:
    from alembic.config import Config
    from sqlalchemy.orm import Session, sessionmaker

log = logging.getLogger(__name__)

URL_OPTION = "--db / TRIAGEHUB_DATABASE_URL"
URL_FORMS = "use sqlite:///PATH or postgresql+psycopg://USER[:PASSWORD]@HOST[:PORT]/DB"


def normalize_url(url: str) -> str:
    """Accept the common spellings: a path to a ``.db``/``.sqlite`` file (or an existing file)
    means SQLite; ``postgresql://`` means psycopg 3. Anything else is refused, so that a typo
    never creates a database somewhere unexpected."""
    if "://" not in url:
        path = Path(url).expanduser()
        if path.suffix.lower() not in SQLITE_SUFFIXES and not path.is_file():
            raise ConfigError(URL_OPTION, "", f"{url!r} is not a database URL: {URL_FORMS}")
        return f"sqlite:///{path}"
    if url.startswith(("postgresql://", "postgres://")):
        return "postgresql+psycopg://" + url.split("://", 1)[1]
    return url


def shown_url(url: str | URL) -> str:
    """The URL as it may be shown: the password hidden."""
    try:
        parsed = url if isinstance(url, URL) else make_url(normalize_url(url))
    except (ArgumentError, ConfigError):
        return str(url)
    return parsed.render_as_string(hide_password=True)


def make_engine(url: str) -> Engine:
    url = normalize_url(url)
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise ConfigError(URL_OPTION, "", f"invalid database URL: {exc}: {URL_FORMS}") from None
    kwargs: dict[str, Any] = {}
    if parsed.get_backend_name() == "sqlite":
        database = parsed.database
        if database and database != ":memory:":
            folder = Path(database).expanduser().parent
            if not folder.is_dir():
                raise ConfigError(
                    URL_OPTION,
                    "",
                    f"{shown_url(parsed)}: the folder {folder} does not exist (create it first)",
                )
        kwargs["connect_args"] = {"timeout": 30}
    elif parsed.get_backend_name() == "postgresql":
        kwargs["pool_pre_ping"] = True
        kwargs["connect_args"] = {"connect_timeout": 10}
    else:
        raise ConfigError(
            URL_OPTION,
            "",
            f"unsupported database {parsed.get_backend_name()!r}: {URL_FORMS}",
        )
    engine = create_engine(parsed, json_deserializer=_json_loads, **kwargs)
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
    return engine


def _json_loads(text: str | bytes) -> Any:
    """A stored JSON value, read by orjson (a list page reads two per issue: the standard
    library's reader was a fifth of the query's time). What orjson refuses and the standard
    library wrote (``NaN``, integers past 64 bits) is read by the standard library."""
    import orjson

    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        return json.loads(text)


def unreachable(engine_or_url: Engine | str, exc: DBAPIError) -> ConfigError:
    """A one-line error for a database that cannot be opened (wrong host or port, missing
    database, SSL mismatch, a file that is not SQLite): the URL, password hidden, and the cause."""
    url = engine_or_url.url if isinstance(engine_or_url, Engine) else engine_or_url
    cause = str(exc.orig or exc).strip().splitlines()
    reason = cause[-1] if cause else type(exc).__name__
    for line in cause:  # psycopg puts the cause on its first line, details after
        if line.strip():
            reason = line.strip()
            break
    return ConfigError(shown_url(url), "", f"cannot open the database: {reason}")


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA busy_timeout=30000")
    cur.close()


def _alembic_config() -> Config:
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    return cfg


def head_revision() -> str | None:
    """The newest revision, as Alembic reads it from the migration scripts."""
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(_alembic_config()).get_current_head()


def stored_revisions(engine: Engine) -> list[str]:
    """The revisions ``alembic_version`` holds (none for a new database), read with plain SQL."""
    with engine.connect() as conn:
        if not inspect(conn).has_table("alembic_version"):
            return []
        return list(conn.execute(text("SELECT version_num FROM alembic_version")).scalars())


def current_revision(engine: Engine) -> str | None:
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Apply the Alembic migrations up to ``revision``."""
    from alembic import command

    _migrate(engine, lambda cfg: command.upgrade(cfg, revision))


def downgrade(engine: Engine, revision: str) -> None:
    """Undo the Alembic migrations down to ``revision``."""
    from alembic import command

    _migrate(engine, lambda cfg: command.downgrade(cfg, revision))


def _migrate(engine: Engine, run: Callable[[Config], None]) -> None:
    """Run migrations in one transaction. On SQLite, foreign keys are off meanwhile: a batch
    migration copies a table into a new one and drops the old, which rows pointing at it would
    otherwise refuse (``PRAGMA foreign_keys`` only changes outside a transaction)."""
    cfg = _alembic_config()
    sqlite = engine.dialect.name == "sqlite"
    with engine.connect() as conn:
        if sqlite:
            conn.exec_driver_sql("PRAGMA foreign_keys=OFF")
            conn.commit()  # ends SQLAlchemy's autobegun (empty) transaction
        try:
            with conn.begin():
                cfg.attributes["connection"] = conn
                run(cfg)
                if sqlite:
                    broken = conn.exec_driver_sql("PRAGMA foreign_key_check").first()
                    if broken is not None:
                        raise RuntimeError(f"migration left a dangling foreign key: {broken}")
        finally:
            if sqlite:
                conn.exec_driver_sql("PRAGMA foreign_keys=ON")
                conn.commit()


def ensure_schema(engine: Engine) -> None:
    """Migrate to the newest schema if the database is behind (first use included). A database
    at the newest revision is told by one query, without Alembic; any other answer (empty,
    behind, ahead, several heads) is left to Alembic to judge."""
    newest = newest_revision_file()
    if newest is not None and stored_revisions(engine) == [newest]:
        return
    if current_revision(engine) != head_revision():
        log.info("migrating database schema", extra={"url": engine.url.render_as_string()})
        upgrade(engine)


def open_database(url: str, *, migrate: bool = True) -> Engine:
    """An engine on ``url``, checked by a first connection (and migrated when ``migrate``); a
    database that cannot be opened is a ``ConfigError`` naming it, never a traceback."""
    engine = make_engine(url)
    try:
        if migrate:
            ensure_schema(engine)
        else:
            with engine.connect() as conn:
                conn.exec_driver_sql("select 1")
    except DBAPIError as exc:
        engine.dispose()
        raise unreachable(engine, exc) from None
    return engine


@contextmanager
def read_connection(engine: Engine) -> Iterator[Connection]:
    """A connection for a read whose statements need not share a snapshot (each is consistent on
    its own: one page of a listing). On PostgreSQL it runs in autocommit: no ``BEGIN`` and no
    ``ROLLBACK``, two round trips of the three or four a short read made (a write through it
    commits at once: use a ``Session`` for writes). A Core connection, not an ORM session: the
    session's bookkeeping around a page's one statement cost a quarter of the page's CPU."""
    with engine.connect() as conn:
        if engine.dialect.name == "postgresql":
            conn.execution_options(isolation_level="AUTOCOMMIT")
        yield conn


def session_factory(engine: Engine) -> sessionmaker[Session]:
    from sqlalchemy.orm import sessionmaker

    return sessionmaker(engine, expire_on_commit=False)
