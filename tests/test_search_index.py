"""Free-text search by index (migration 0016, ``store.fulltext``): SQLite FTS5 trigrams and
PostgreSQL ``pg_trgm`` find exactly what a scan finds, kept in step with every write."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine, inspect, select, text, update
from sqlalchemy.orm import Session

from triagehub.config import Settings
from triagehub.core.models import CheckResult, RunReport, Status
from triagehub.engine.ingest import ingest_reports
from triagehub.store import db
from triagehub.store import tables as t
from triagehub.store.fulltext import (
    CHECKS,
    ISSUES,
    candidates,
    contains,
    has_index,
    text_condition,
    trigram_index_name,
)
from triagehub.store.queries import IssueQuery, list_checks, search_issues
from triagehub.web import search as fuzzy
from triagehub.web.views import SEARCH_WINDOW
from triagehub.web.views import search_issues as dashboard_search

AT = datetime(2026, 11, 1, tzinfo=UTC)

# Messages with the characters FTS5 and LIKE give a meaning to: all must match literally.
MESSAGES = {
    "tests/test_quote.py::test_greeting": "AssertionError: expected \"hello\" got 'bye'",
    "tests/test_glob.py::test_star": "ValueError: pattern a*b matched nothing in 3 tries",
    "tests/test_near.py::test_near": "KeyError: NEAR(customers orders) is not a column",
    "tests/test_flags.py::test_dash": "error: unknown option -x --no-cache (see --help)",
    "tests/test_percent.py::test_rate": "AssertionError: rate 100% != 99%_ok",
    "tests/test_paths.py::test_windows": "FileNotFoundError: C:\\build\\out\\report.csv",
    "tests/test_caret.py::test_col": "SyntaxError: title:^start AND (x OR y) - z",
    "tests/test_unicode.py::test_accents": "UnicodeError: café naïve ÉCOLE",
    "tests/dashboard.spec.ts::loads the dashboard": "TimeoutError: page.goto exceeded 30000ms",
}
HOSTILE = [
    '"',
    '""',
    '"hello"',
    'expected "hello',
    "*",
    "a*b",
    "a*",
    "NEAR",
    "NEAR(customers",
    "near(customers orders)",
    "-x --no",
    "-",
    "--help)",
    "100%",
    "%",
    "%_ok",
    "_",
    "\\build\\",
    "C:\\",
    "title:^start",
    "^start AND (x",
    "AND",
    "OR y)",
    "(",
    "'bye'",
    "café",
    "CAFÉ",
    "école",
    "zz-absent",
    "absentword",
    "dashboard",
    "DASHBOARD.SPEC",
    "ab",
    "a",
    "   ",
    "timeouterror: page",
]


def ingest(engine: Engine, messages: dict[str, str], *, run: str = "1", at: datetime = AT) -> None:
    report = RunReport(
        source="generic",
        repository="acme/app",
        run_id=run,
        finished_at=at,
        results=tuple(CheckResult(key, Status.FAIL, msg) for key, msg in messages.items()),
    )
    summary = ingest_reports(engine, [report], Settings())
    assert not summary.errors, summary.errors


def found(engine: Engine, needle: str) -> set[int]:
    """The issue search of the API (``q``) on ``needle``: the ids of every issue it gives."""
    with Session(engine) as session:
        page = search_issues(session=session, query=IssueQuery(text=needle), limit=500)
    return {v.id for v in page.items}


def scanned(engine: Engine, needle: str) -> set[int]:
    """What a scan finds: the plain substring test on every row, no index."""
    with Session(engine) as session:
        rows = session.execute(select(t.issues.c.id).where(contains(ISSUES, needle)))
        return set(rows.scalars())


def indexed(engine: Engine, needle: str) -> list[int] | None:
    with Session(engine) as session:
        return candidates(session, ISSUES, needle)


@pytest.fixture
def stored(engine: Engine) -> Engine:
    ingest(engine, MESSAGES)
    return engine


def test_the_indexes_exist_at_head_with_their_triggers(engine: Engine) -> None:
    with Session(engine) as session:
        assert has_index(session, ISSUES) and has_index(session, CHECKS)
    if engine.dialect.name == "sqlite":
        with engine.connect() as conn:
            triggers = set(
                conn.exec_driver_sql("SELECT name FROM sqlite_master WHERE type = 'trigger'")
                .scalars()
                .all()
            )
        assert {f"{i}_fts_{s}" for i in ("issues", "checks") for s in ("ai", "ad", "au")} <= (
            triggers
        )


def test_a_query_string_finds_exactly_what_a_scan_finds(stored: Engine) -> None:
    """Quotes, ``*``, ``NEAR``, ``-``, ``%``, ``_``, ``^``, ``:``, parentheses, backslashes
    and accents are plain text: no FTS5 syntax error, no wildcard."""
    differ = {n: (found(stored, n), scanned(stored, n)) for n in HOSTILE}
    assert {n: pair for n, pair in differ.items() if pair[0] != pair[1]} == {}


def test_special_characters_match_literally(stored: Engine) -> None:
    one = {"a*b", '"hello"', "NEAR(customers", "-x --no", "100%", "%_ok", "\\build\\"}
    for needle in one:
        assert len(found(stored, needle)) == 1, needle
    for needle in ("x*", "*bm", '"bye"', "99%x", "NEAR customers", "a_b"):
        assert found(stored, needle) == set(), needle


def test_matches_are_found_in_titles_templates_and_messages(stored: Engine) -> None:
    assert len(found(stored, "dashboard.spec")) == 1  # the title (its check)
    assert len(found(stored, "exceeded 30000ms")) == 1  # the sample message
    assert len(found(stored, "exceeded <dur>")) == 1  # the template only
    assert len(found(stored, "ERROR")) == len(MESSAGES)  # case-insensitive


def test_no_match_is_answered_by_the_index_alone(stored: Engine) -> None:
    assert indexed(stored, "zz-absent") == []
    assert indexed(stored, "absentword") == []
    with Session(stored) as session:
        assert text_condition(session, ISSUES, "zz-absent") is None
    assert found(stored, "zz-absent") == set()


def test_the_index_narrows_to_the_matching_rows(stored: Engine) -> None:
    ids = indexed(stored, "NEAR(customers")
    assert ids is not None and len(ids) == 1


def test_a_common_text_is_scanned_in_the_callers_order(stored: Engine) -> None:
    """More candidates than the cap: the plain test, which a page fills soon."""
    with Session(stored) as session:
        term = text_condition(session, ISSUES, "Error", cap=2)
        assert term is not None
        assert str(term) == str(contains(ISSUES, "Error"))
        ids = set(session.execute(select(t.issues.c.id).where(term)).scalars())
    assert ids == scanned(stored, "Error") and len(ids) == len(MESSAGES)


def test_an_issue_created_after_the_migration_is_found(stored: Engine) -> None:
    ingest(stored, {"tests/test_new.py::test_fresh": "ZeroDivisionError: brandnewword"}, run="2")
    ids = indexed(stored, "brandnewword")
    assert ids is not None and len(ids) == 1
    assert found(stored, "BrandNewWord") == set(ids)


def test_an_updated_title_is_found_and_the_old_one_is_not(stored: Engine) -> None:
    (issue,) = found(stored, "test_greeting")
    with Session(stored) as session, session.begin():
        session.execute(
            update(t.issues).where(t.issues.c.id == issue).values(title="renamed farewell check")
        )
    assert indexed(stored, "renamed farewell") == [issue]
    assert found(stored, "renamed farewell") == {issue}
    assert issue not in (indexed(stored, "test_greeting") or [])
    assert found(stored, "test_greeting") == set()


def test_an_update_of_other_columns_keeps_the_entry(stored: Engine) -> None:
    (issue,) = found(stored, "a*b")
    with Session(stored) as session, session.begin():
        session.execute(update(t.issues).where(t.issues.c.id == issue).values(state="resolved"))
    assert indexed(stored, "a*b") == [issue]


def test_a_title_that_follows_the_latest_occurrence_is_found(stored: Engine) -> None:
    """The write path rewrites a title with the latest failure's values: the index follows."""
    key = "tests/test_glob.py::test_star"
    ingest(stored, {key: "ValueError: pattern a*b matched nothing in 7 tries"}, run="3")
    (issue,) = found(stored, "test_star")
    assert indexed(stored, "in 7 tries") == [issue]
    assert found(stored, "in 7 tries") == {issue}


def test_check_names_are_searched_by_index(stored: Engine) -> None:
    with Session(stored) as session:
        ids = candidates(session, CHECKS, "test_windows")
        assert ids is not None and len(ids) == 1
        assert candidates(session, CHECKS, "no_such_check") == []
        page = list_checks(session=session, text="TEST_WINDOWS")
        assert [c.key for c in page.items] == ["tests/test_paths.py::test_windows"]
        assert list_checks(session=session, text="no_such_check").items == []
        assert len(list_checks(session=session, text='"').items) == 0


def test_the_migration_fills_the_index_and_goes_down_cleanly(engine: Engine) -> None:
    db.downgrade(engine, "0018")  # the revision just before 0019_search_index
    names = set(inspect(engine).get_table_names())
    assert not {n for n in names if "_fts" in n}
    if engine.dialect.name == "postgresql":
        with engine.connect() as conn:
            gone = conn.execute(
                text("SELECT to_regclass(:n)"), {"n": trigram_index_name(ISSUES, "title")}
            ).scalar()
        assert gone is None
    else:
        with engine.connect() as conn:
            assert not conn.exec_driver_sql(
                "SELECT name FROM sqlite_master WHERE type = 'trigger'"
            ).all()
    ingest(engine, MESSAGES)  # stored without an index: the search scans
    with Session(engine) as session:
        assert not has_index(session, ISSUES)
    assert indexed(engine, "NEAR(customers") is None
    assert len(found(engine, "NEAR(customers")) == 1
    db.upgrade(engine)
    ids = indexed(engine, "NEAR(customers")  # the rows stored before were indexed
    assert ids is not None and len(ids) == 1
    assert found(engine, "NEAR(customers") == set(ids)


def test_typos_are_allowed_beyond_the_newest_issues(engine: Engine) -> None:
    """The misspelled word's intact half finds the old issue in the index; rapidfuzz scores it."""
    old = {"tests/e2e/checkout_payment.spec.ts": "Error: card declined"}
    ingest(engine, old, run="old", at=AT - timedelta(days=1))
    newer = [  # newer issues fill the window of the most recently active
        RunReport(
            source="generic",
            repository="acme/app",
            run_id=f"r{n}",
            finished_at=AT,
            results=(CheckResult(f"tests/test_mod{n}.py::test_case", Status.FAIL, "boom"),),
        )
        for n in range(SEARCH_WINDOW + 5)
    ]
    assert not ingest_reports(engine, newer, Settings()).errors
    with Session(engine) as session:
        hits = dashboard_search(session, IssueQuery(), "chekout")
        exact = dashboard_search(session, IssueQuery(), "card declined")
        window = search_issues(session=session, query=IssueQuery(), limit=SEARCH_WINDOW).items
    assert not any("checkout" in v.title for v in window)  # not among the newest
    assert hits and "checkout_payment" in hits[0][0].title
    assert [v.title for v, _ in exact][:1] == [hits[0][0].title]


def test_long_words_are_split_in_halves_for_the_typo_lookup() -> None:
    assert fuzzy.halves("dashbord") == ["dash", "bord"]
    assert fuzzy.halves("csv ab") == []  # too short to split: the window alone
    assert fuzzy.halves("export csv report") == ["exp", "ort", "rep"]
