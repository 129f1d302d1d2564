"""Queries behind grouping: issues by fingerprint, aliases, same-scope candidates, patterns."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import or_, select, tuple_
from sqlalchemy.orm import Session

from triagehub.store import tables as t
from triagehub.store.bulk import BulkWriter
from triagehub.store.dialect import any_of, dialect_name, insert_ignoring, one_of

CHUNK = 500


def chunks(items: Sequence[Any], size: int = CHUNK) -> Iterator[Sequence[Any]]:
    """Slices of at most ``size`` items: IN lists stay within every database's parameter limit."""
    for i in range(0, len(items), size):
        yield items[i : i + size]


def _locked_issues(session: Session, column: Any, values: Iterable[Any]) -> list[dict[str, Any]]:
    """The issues whose ``column`` is one of ``values``, locked for update (in id order)."""
    rows: list[dict[str, Any]] = []
    for condition in one_of(session, column, sorted(set(values))):
        result = session.execute(
            select(t.issues).where(condition).order_by(t.issues.c.id).with_for_update()
        )
        names = tuple(result.keys())  # (a dict of names and values: cheaper than a mapping's)
        rows.extend(dict(zip(names, r, strict=True)) for r in result)
    return rows


def issues_by_fingerprint(*, session: Session, fingerprints: Iterable[str]) -> list[dict[str, Any]]:
    """The issues of these fingerprints, locked for update until the transaction ends (on
    PostgreSQL, in id order): the ingest rewrites them, and a human's triage or a monitor tick
    changing one meanwhile must wait for it rather than be overwritten by it."""
    return _locked_issues(session, t.issues.c.fingerprint, fingerprints)


def versions_in_use(*, session: Session, versions: Iterable[int]) -> set[int]:
    """Which of these normaliser versions made at least one stored issue (a fingerprint made
    by a version can only be an issue of that version)."""
    column = t.issues.c.normalizer_version
    return {
        v
        for v in sorted(set(versions))
        if session.execute(select(t.issues.c.id).where(column == v).limit(1)).first() is not None
    }


def issues_by_id(*, session: Session, ids: Iterable[int]) -> list[dict[str, Any]]:
    """The issues of these ids, locked for update like ``issues_by_fingerprint``."""
    return _locked_issues(session, t.issues.c.id, ids)


def aliases(*, session: Session, fingerprints: Iterable[str]) -> dict[str, int]:
    found: dict[str, int] = {}
    column = t.issue_aliases.c.fingerprint
    for condition in one_of(session, column, sorted(set(fingerprints))):
        for fingerprint, issue_id in session.execute(
            select(column, t.issue_aliases.c.issue_id).where(condition)
        ):
            found[fingerprint] = issue_id
    return found


def insert_aliases(*, session: Session, rows: list[dict[str, Any]]) -> None:
    if rows:
        session.execute(insert_ignoring(session, t.issue_aliases, "fingerprint"), rows)


def scope_candidates(
    *,
    session: Session,
    check_ids: Iterable[int],
    repository_ids: Iterable[int],
    version: int,
    per_scope: int,
) -> dict[tuple[Any, ...], list[dict[str, Any]]]:
    """Existing issues a new template may join: per check (check scope) and per repository
    (repository scope), newest first, at most ``per_scope`` each."""
    found: dict[tuple[Any, ...], list[dict[str, Any]]] = {}
    # Each scope's issues are read by one statement (a check's with its chunk of checks, a
    # repository's with its chunk of repositories), so that a bucket is newest first and holds
    # no issue twice, however many chunks the batch's checks and repositories make.
    conditions = [
        (t.issues.c.scope == "check") & any_of(session, t.issues.c.check_id, chunk)
        for chunk in chunks(sorted(set(check_ids)))
    ] + [
        (t.issues.c.scope == "repository") & any_of(session, t.issues.c.repository_id, chunk)
        for chunk in chunks(sorted(set(repository_ids)))
    ]
    for condition in conditions:
        result = session.execute(
            select(t.issues)
            .where(t.issues.c.normalizer_version == version, condition)
            .order_by(t.issues.c.last_seen.desc(), t.issues.c.id.desc())
        )
        names = tuple(result.keys())
        for values in result:
            r = dict(zip(names, values, strict=True))
            key = scope_key(r["scope"], r["repository_id"], r["check_id"])
            bucket = found.setdefault(key, [])
            if len(bucket) < per_scope:
                bucket.append(r)
    return found


def scope_key(scope: str, repository_id: int, check_id: int | None) -> tuple[Any, ...]:
    return (scope, repository_id, check_id if scope == "check" else None)


# -- patterns -------------------------------------------------------------------------------------


def patterns_by_hash(*, session: Session, hashes: Iterable[str]) -> dict[str, int]:
    found: dict[str, int] = {}
    for chunk in chunks(sorted(set(hashes))):
        for template_hash, pk in session.execute(
            select(t.patterns.c.template_hash, t.patterns.c.id)
            .where(any_of(session, t.patterns.c.template_hash, chunk))
            .order_by(t.patterns.c.id)
        ):
            found.setdefault(template_hash, pk)
    return found


def band_members(*, session: Session, bands: Iterable[str]) -> dict[str, list[int]]:
    """The patterns stored under each LSH band, oldest (lowest id) first: the order does not
    depend on the database's plan."""
    found: dict[str, list[int]] = {}
    band, pattern_id = t.pattern_bands.c.band, t.pattern_bands.c.pattern_id
    for chunk in chunks(sorted(set(bands))):
        for band_key, pk in session.execute(
            select(band, pattern_id).where(any_of(session, band, chunk)).order_by(band, pattern_id)
        ):
            found.setdefault(band_key, []).append(pk)
    return found


def pattern_templates(*, session: Session, ids: Iterable[int]) -> dict[int, str]:
    found: dict[int, str] = {}
    for chunk in chunks(sorted(set(ids))):
        for pk, template in session.execute(
            select(t.patterns.c.id, t.patterns.c.template)
            .where(any_of(session, t.patterns.c.id, chunk))
            .order_by(t.patterns.c.id)
        ):
            found[pk] = template
    return found


def insert_patterns(*, session: Session, rows: list[dict[str, Any]]) -> dict[str, int]:
    """Create patterns by key, race-free: a key another transaction created first is looked up
    (its row wins)."""
    if not rows:
        return {}
    result = session.execute(
        insert_ignoring(session, t.patterns, "key").returning(t.patterns.c.key, t.patterns.c.id),
        sorted(rows, key=lambda r: str(r["key"])),
    )
    ids = {key: pk for key, pk in result}
    lost = sorted(str(r["key"]) for r in rows if r["key"] not in ids)
    for chunk in chunks(lost):
        ids.update(
            {
                key: pk
                for key, pk in session.execute(
                    select(t.patterns.c.key, t.patterns.c.id).where(t.patterns.c.key.in_(chunk))
                )
            }
        )
    return ids


def insert_bands(*, session: Session, rows: list[dict[str, Any]]) -> None:
    """The patterns' bands, a row already stored left as it is. PostgreSQL: one statement
    (``BulkWriter.upsert``), not a bind and an execute per row."""
    if not rows:
        return
    bulk = BulkWriter(session)
    if bulk.postgres:
        columns = ("band", "pattern_id")
        bulk.upsert(
            t.pattern_bands, columns, columns, "DO NOTHING", ([r[c] for c in columns] for r in rows)
        )
    else:
        session.execute(insert_ignoring(session, t.pattern_bands, "band", "pattern_id"), rows)


def bump_patterns(
    *, session: Session, rows: list[tuple[int, int, int, datetime, datetime, datetime]]
) -> None:
    """Add (pattern id, new issues, new occurrences, first, last seen, now) to pattern stats,
    in SQL (counters by delta, times by least/greatest), in one statement for the batch.
    Patterns are shared by every repository, so concurrent ingests of different repositories
    meet here: on PostgreSQL the rows are locked in id order first (no deadlock between two
    batches), then updated from arrays (one statement whatever the number of rows); on SQLite
    (the database write lock is held) one prepared statement runs over them in the driver."""
    if not rows:
        return
    merged: dict[int, list[Any]] = {}  # a pattern of several issues of the batch: added up
    for pk, n_issues, n_occ, first, last, now in rows:
        entry = merged.get(pk)
        if entry is None:
            merged[pk] = [pk, n_issues, n_occ, first, last, now]
        else:
            entry[1] += n_issues
            entry[2] += n_occ
            entry[3], entry[4], entry[5] = min(entry[3], first), max(entry[4], last), now
    bulk = BulkWriter(session)
    cols = ("id", "issues_count", "occurrences", "first_seen", "last_seen", "updated_at")
    values = bulk.rows(t.patterns, cols, (merged[pk] for pk in sorted(merged)))
    if bulk.postgres:
        conn = session.connection()
        ids = [v[0] for v in values]
        conn.exec_driver_sql(
            "SELECT id FROM patterns WHERE id = ANY(%s) ORDER BY id FOR NO KEY UPDATE", (ids,)
        ).all()
        conn.exec_driver_sql(
            "UPDATE patterns AS p SET issues_count = p.issues_count + v.issues, "
            "occurrences = p.occurrences + v.occ, first_seen = least(p.first_seen, v.first), "
            "last_seen = greatest(p.last_seen, v.last), updated_at = v.now "
            "FROM unnest(%s::integer[], %s::integer[], %s::integer[], %s::timestamptz[], "
            "%s::timestamptz[], %s::timestamptz[]) AS v(id, issues, occ, first, last, now) "
            "WHERE p.id = v.id",
            tuple([v[i] for v in values] for i in range(len(cols))),
        )
        return
    bulk.executemany(
        "UPDATE patterns SET issues_count = issues_count + ?, occurrences = occurrences + ?, "
        "first_seen = min(first_seen, ?), last_seen = max(last_seen, ?), updated_at = ? "
        "WHERE id = ?",
        [(*v[1:], v[0]) for v in values],
    )


def issue_checks_present(
    *, session: Session, pairs: Sequence[tuple[int, int]]
) -> set[tuple[int, int]]:
    """Which of these ``(issue id, check id)`` pairs are stored in ``issue_checks``. PostgreSQL:
    one statement whatever their number, the pairs as two array parameters joined to the
    table (the planner sees how many); SQLite: ``(issue_id, check_id) IN (...)`` a few hundred
    pairs a statement."""
    found: set[tuple[int, int]] = set()
    if not pairs:
        return found
    if dialect_name(session) == "postgresql":
        rows: Iterable[Any] = session.connection().exec_driver_sql(
            "SELECT c.issue_id, c.check_id FROM unnest(%s::integer[], %s::integer[]) "
            "AS v(issue_id, check_id) JOIN issue_checks AS c "
            "ON c.issue_id = v.issue_id AND c.check_id = v.check_id",
            ([p[0] for p in pairs], [p[1] for p in pairs]),
        )
        found.update((int(i), int(c)) for i, c in rows)
        return found
    columns = tuple_(t.issue_checks.c.issue_id, t.issue_checks.c.check_id)
    for chunk in chunks(pairs):
        rows = session.execute(
            select(t.issue_checks.c.issue_id, t.issue_checks.c.check_id).where(columns.in_(chunk))
        )
        found.update((int(i), int(c)) for i, c in rows)
    return found


def checks_by_name_prefix(
    *, session: Session, repository_id: int, names: Iterable[str]
) -> list[tuple[str, int]]:
    """``(key, id)`` of a repository's stored checks whose key is one of ``names`` or starts with
    ``name.`` (a dbt test's ``unique_id`` is its name followed by a hash)."""
    rows: list[tuple[str, int]] = []
    for chunk in chunks(sorted(set(names)), 100):
        prefixes = (t.checks.c.key.startswith(n + ".", autoescape=True) for n in chunk)
        rows.extend(
            (key, pk)
            for key, pk in session.execute(
                select(t.checks.c.key, t.checks.c.id).where(
                    t.checks.c.repository_id == repository_id,
                    or_(t.checks.c.key.in_(chunk), *prefixes),
                )
            )
        )
    return rows
