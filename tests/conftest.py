"""Shared fixtures: a database on SQLite and on the local PostgreSQL (a throwaway database per
test session), the demo config, and paths to the shared benchmark data."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy import Engine
from sqlalchemy.engine import make_url

from triagehub.clock import CLOCK_OFFSET_ENV, clock_offset, parse_offset
from triagehub.store import db as store_db

# pytest-xdist's workers start with COLUMNS=80 and LINES=24, which a plain pytest run does not
# have; the CLI honours COLUMNS, so a worker drops them to behave as a plain run (tests that need
# a width set it on the command they run).
if os.environ.get("PYTEST_XDIST_WORKER"):
    for _name in ("COLUMNS", "LINES"):
        os.environ.pop(_name, None)

REPO_ROOT = Path(__file__).resolve().parent.parent
SHARED = REPO_ROOT.parent / "shared"
TEST_DATA = Path(__file__).resolve().parent / "data"
PG_DEFAULT = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--clock-offset",
        default=None,
        metavar="DURATION",
        help=(
            "run with the project's clock shifted by DURATION (e.g. 365d): sets "
            f"{CLOCK_OFFSET_ENV} for this process, xdist workers and every process the tests "
            "start, so SystemClock and the fakes' clocks move together. make test runs the "
            "tests marked `clock` a second time with --clock-offset=365d"
        ),
    )


def pytest_configure(config: pytest.Config) -> None:
    offset = config.getoption("--clock-offset")
    if offset:
        try:
            parse_offset(offset)
        except ValueError as exc:
            raise pytest.UsageError(f"--clock-offset: {exc}") from exc
        os.environ[CLOCK_OFFSET_ENV] = offset


def pytest_report_header(config: pytest.Config) -> str:
    shift = clock_offset()
    return f"triagehub clock: {'real time' if not shift else f'shifted by {shift}'}"


def _postgres_admin_url() -> str:
    return os.environ.get("TRIAGEHUB_TEST_POSTGRES_URL", PG_DEFAULT)


@pytest.fixture(scope="session")
def postgres_server_url() -> Iterator[str]:
    """A throwaway PostgreSQL database for this test session, dropped at the end."""
    admin_url = make_url(store_db.normalize_url(_postgres_admin_url()))
    admin = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
    name = f"triagehub_test_{uuid.uuid4().hex[:12]}"
    try:
        with admin.connect() as conn:
            conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    except sa.exc.OperationalError as exc:
        admin.dispose()
        message = (
            f"PostgreSQL is not reachable at {admin_url.render_as_string()} ({exc.orig}); start it "
            "or set TRIAGEHUB_TEST_POSTGRES_URL"
        )
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    try:
        yield admin_url.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(
                sa.text(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = :n"
                ),
                {"n": name},
            )
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}"'))
        admin.dispose()


def _reset_postgres(url: str) -> None:
    engine = sa.create_engine(url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(sa.text("DROP SCHEMA public CASCADE"))
        conn.execute(sa.text("CREATE SCHEMA public"))
    engine.dispose()


@pytest.fixture(scope="session", autouse=True)
def openspec_snapshot_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The OpenSpec reader's on-disk snapshot goes to a throwaway folder (also for the commands
    that tests run in subprocesses), never to the user's cache."""
    folder = tmp_path_factory.mktemp("openspec-snapshot")
    before = os.environ.get("TRIAGEHUB_OPENSPEC_CACHE")
    os.environ["TRIAGEHUB_OPENSPEC_CACHE"] = str(folder)
    yield folder
    if before is None:
        os.environ.pop("TRIAGEHUB_OPENSPEC_CACHE", None)
    else:
        os.environ["TRIAGEHUB_OPENSPEC_CACHE"] = before


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A URL to an empty database: a SQLite file, or the session's PostgreSQL database, emptied."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'triagehub.db'}"
    url: str = request.getfixturevalue("postgres_server_url")
    _reset_postgres(url)
    return url


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    """An empty, migrated database on each backend."""
    eng = store_db.open_database(db_url)
    try:
        yield eng
    finally:
        eng.dispose()


@pytest.fixture
def shared_dir() -> Path:
    if not SHARED.is_dir():
        pytest.skip(f"shared data not found at {SHARED} (expected beside the repository)")
    return SHARED
