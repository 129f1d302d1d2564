"""Grouping on a real database: variants merge, different errors stay apart, history is never
re-split by a new normaliser, patterns link templates across checks and repositories."""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from triagehub.clock import FixedClock
from triagehub.config import Settings
from triagehub.core.fingerprint import NORMALIZERS, Mask, Normalizer
from triagehub.core.models import CheckResult, RunReport, Status
from triagehub.core.patterns import FuzzyBudget, band_keys, near_duplicate
from triagehub.engine.ingest import Ingestor, ingest_reports
from triagehub.store import grouping
from triagehub.store import tables as t
from triagehub.store.queries import IssueView, get_issue, list_issues, list_patterns

T0 = datetime(2026, 11, 10, 6, 0, tzinfo=UTC)
CLOCK = FixedClock(T0 + timedelta(days=30))


def report(
    run_id: str,
    results: Sequence[tuple[str, str]],
    *,
    at: datetime,
    repo: str = "acme/app",
    status: str = "fail",
) -> RunReport:
    return RunReport(
        source="generic",
        repository=repo,
        run_id=run_id,
        finished_at=at,
        commit=f"c{run_id}",
        results=tuple(CheckResult(check, Status(status), msg) for check, msg in results),
    )


def ingest_messages(engine: Engine, check: str, messages: Sequence[str]) -> list[IssueView]:
    reports = [
        report(str(i), [(check, m)], at=T0 + timedelta(hours=i)) for i, m in enumerate(messages)
    ]
    ingest_reports(engine, reports, Settings(), clock=CLOCK)
    with Session(engine) as session:
        return list_issues(session=session)


def test_same_error_with_volatile_parts_and_secrets_is_one_issue(engine: Engine) -> None:
    messages = [
        "\x1b[31mERROR\x1b[0m 2026-11-20T06:30:00Z upload 3f2c1e9a to /tmp/tmpa1b2c3d4/out.csv "
        "failed after 3.2s (id 123e4567-e89b-12d3-a456-426614174000, token ghp_" + "a" * 36 + ")",
        "ERROR 2026-11-21T07:45:12.123Z upload 9a8b7c6d to /tmp/tmpzz99yy88/out.csv "
        "failed after 120ms (id 00000000-1111-2222-3333-444444444444, token ghp_" + "b" * 36 + ")",
    ]
    [issue] = ingest_messages(engine, "upload", messages)
    assert issue.occurrences == 2
    assert "ghp_" not in issue.template and "[REDACTED]" in issue.template


def test_different_errors_sharing_a_prefix_stay_apart(engine: Engine) -> None:
    issues = ingest_messages(
        engine,
        "tests/test_orders.py::test_totals",
        [
            "KeyError: 'customer_id'",
            "KeyError: 'order_id'",
            "AssertionError: column amount not found",
            "AssertionError: column price not found",
        ],
    )
    assert len(issues) == 4


def test_near_identical_template_joins_the_issue_and_the_decision_is_kept(
    engine: Engine,
) -> None:
    base = "Timeout while waiting for the checkout page to render the order summary panel"
    variant = "Timeout while waiting for the checkout page to render the order summary panels"
    [issue] = ingest_messages(engine, "e2e checkout", [base, variant])
    assert issue.occurrences == 2
    assert issue.template == base  # the first template stays
    with Session(engine) as session:
        aliases = session.execute(select(t.issue_aliases.c.reason)).scalars().all()
    assert aliases == ["near-identical template"]
    ingest_reports(
        engine, [report("9", [("e2e checkout", variant)], at=T0 + timedelta(1))], Settings()
    )
    with Session(engine) as session:
        [again] = list_issues(session=session)
    assert again.id == issue.id and again.occurrences == 3


def test_near_identical_templates_of_different_checks_are_separate_issues_but_one_pattern(
    engine: Engine,
) -> None:
    msg = "Element #submit-order was not visible after waiting for the checkout page to load"
    ingest_reports(
        engine,
        [
            report("1", [("e2e a", msg)], at=T0),
            report("2", [("e2e b", msg.replace("#submit-order", "#place-order"))], at=T0),
        ],
        Settings(),
        clock=CLOCK,
    )
    with Session(engine) as session:
        issues = list_issues(session=session)
    assert len(issues) == 2
    assert issues[0].pattern_id == issues[1].pattern_id is not None
    assert issues[0].similar_issues == [issues[1].id]
    assert issues[1].similar_issues == [issues[0].id]


def test_a_new_normalizer_version_does_not_resplit_old_issues(engine: Engine) -> None:
    v1 = NORMALIZERS[1]
    # Version 2 also masks the names of quoted tables: it would give this error a new template.
    v2 = Normalizer(2, (*v1.masks, Mask(re.compile(r"'[a-z_]+'"), "'<name>'")))
    message = "relation 'dim_customers' does not exist"
    first = report("1", [("model.x", message)], at=T0)
    later = report("2", [("model.x", message)], at=T0 + timedelta(1))
    with Session(engine) as session, session.begin():
        ingestor = Ingestor(session, Settings(), clock=CLOCK, normalizers={1: v1})
        ingestor.add(first)
        ingestor.flush()
    with Session(engine) as session, session.begin():
        ingestor = Ingestor(session, Settings(), clock=CLOCK, normalizers={1: v1, 2: v2})
        ingestor.add(later)
        ingestor.flush()
    with Session(engine) as session:
        [issue] = list_issues(session=session)
        reasons = session.execute(select(t.issue_aliases.c.reason)).scalars().all()
    assert issue.occurrences == 2
    assert issue.normalizer_version == 1
    assert reasons == ["normalizer v1"]


def test_patterns_link_a_template_across_repositories(engine: Engine) -> None:
    msg = "curl: (7) Failed to connect to registry.npmjs.org port 443: Connection refused"
    reports = [
        report(str(i), [("install deps", msg)], at=T0 + timedelta(hours=i), repo=repo)
        for i, repo in enumerate(["acme/a", "acme/b", "acme/c", "acme/a"])
    ]
    ingest_reports(engine, reports, Settings(), clock=CLOCK)
    with Session(engine) as session:
        patterns = list_patterns(session=session, since=T0 - timedelta(days=1))
        issues = list_issues(session=session)
    [pattern] = patterns
    assert pattern.repositories == ["acme/a", "acme/b", "acme/c"]
    assert pattern.issues == 3 and pattern.occurrences == 4 and pattern.occurrences_in_range == 4
    assert len({i.pattern_id for i in issues}) == 1
    with Session(engine) as session:
        assert list_patterns(session=session, min_repositories=4) == []
        assert list_patterns(session=session, since=T0 + timedelta(days=5)) == []
        [only_b] = list_patterns(session=session, repository="acme/b")
    assert only_b.occurrences_in_range == 1


def test_a_tie_between_near_patterns_goes_to_the_oldest(engine: Engine) -> None:
    """A template as near to two stored patterns (as many shared LSH bands, both near duplicates)
    joins the oldest, whatever the order in which the database returns their bands: it once
    joined the first one met (SQLite and PostgreSQL met different ones)."""
    source = "Source raw.{} is past due: the freshness check of the {} warehouse failed"
    older = source.format("auth", "preview")
    newer = source.format("search", "production")
    new = source.format("search", "preview")
    bands = band_keys(new)
    shared = [len(set(bands) & set(band_keys(m))) for m in (older, newer)]
    assert shared[0] == shared[1] > 0
    assert near_duplicate(new, older) and near_duplicate(new, newer)
    first_met = next(b for b in bands if b in band_keys(older) or b in band_keys(newer))
    assert first_met in band_keys(newer) and first_met not in band_keys(older)
    for i, (check, message) in enumerate([("fresh a", older), ("fresh b", newer)]):
        at = T0 + timedelta(hours=i)
        ingest_reports(engine, [report(str(i), [(check, message)], at=at)], Settings(), clock=CLOCK)
    at = T0 + timedelta(1)
    ingest_reports(engine, [report("9", [("fresh c", new)], at=at)], Settings(), clock=CLOCK)
    with Session(engine) as session:
        pattern_of = {i.template: i.pattern_id for i in list_issues(session=session)}
    assert set(pattern_of) == {older, newer, new}
    first, second = pattern_of[older], pattern_of[newer]
    assert first is not None and second is not None and first < second  # two families
    assert pattern_of[new] == first


def test_detail_shows_similar_issues(engine: Engine) -> None:
    msg = "Error: connect ECONNREFUSED 10.0.0.1:5432"
    ingest_reports(
        engine,
        [
            report("1", [("t", msg)], at=T0, repo="acme/a"),
            report("2", [("t", msg)], at=T0, repo="acme/b"),
        ],
        Settings(),
        clock=CLOCK,
    )
    with Session(engine) as session:
        ids = sorted(i.id for i in list_issues(session=session))
        detail = get_issue(session=session, issue_id=ids[0])
    assert detail is not None and detail.issue.similar_issues == [ids[1]]


def test_lsh_prefilter_finds_word_level_near_duplicates() -> None:
    a = "Element #submit was not visible after waiting for the checkout page to load"
    b = "Element #submit was not visible after waiting for the checkout page to finish loading"
    c = "Disk quota exceeded while writing the build cache archive to the shared volume"
    assert set(band_keys(a)) & set(band_keys(b))
    assert not set(band_keys(a)) & set(band_keys(c))
    assert near_duplicate("line one\nline two\nline three", "line two\nline one\nline three")
    assert not near_duplicate(a, c)


def test_fuzzy_budget_stops_spending() -> None:
    budget = FuzzyBudget(max_checks=3)
    assert [budget.spend() for _ in range(5)] == [True, True, True, False, False]
    assert budget.exhausted
    assert FuzzyBudget(max_checks=4).spend(4) is True
    assert FuzzyBudget(max_checks=4).spend(5) is False


def test_logs_of_the_same_failure_with_different_noise_group_together(engine: Engine) -> None:
    def log(noise: int, seed: int) -> str:
        lines = [
            f"2026-11-20T06:{i % 60:02d}:00.000Z Downloading pkg{seed}-{i}" for i in range(noise)
        ]
        lines += [
            "2026-11-20T06:59:00.000Z ___________ test_totals ___________",
            "2026-11-20T06:59:00.000Z E   AssertionError: assert 41 == 42",
            "2026-11-20T06:59:01.000Z FAILED tests/test_orders.py::test_totals - AssertionError",
            "2026-11-20T06:59:01.000Z ##[error]Process completed with exit code 1.",
        ]
        lines += [f"2026-11-20T07:00:0{i}.000Z Post job cleanup {seed}" for i in range(seed % 5)]
        return "\n".join(lines)

    reports = [
        RunReport(
            source="generic",
            repository="acme/app",
            run_id=str(i),
            finished_at=T0 + timedelta(hours=i),
            results=(CheckResult("CI / test", Status.FAIL, "", log(noise, i)),),
        )
        for i, noise in enumerate((3, 250, 40))
    ]
    ingest_reports(engine, reports, Settings(), clock=CLOCK)
    with Session(engine) as session:
        [issue] = list_issues(session=session)
        detail = get_issue(session=session, issue_id=issue.id)
    assert issue.occurrences == 3
    assert "AssertionError" in issue.template and "Downloading" not in issue.template
    assert detail is not None
    assert "Downloading" not in detail.recent_occurrences[0].log_excerpt


def test_a_slot_seen_with_many_values_is_learned_as_variable(engine: Engine) -> None:
    names = ["alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel"]
    issues = ingest_messages(engine, "deploy", [f"Unknown node {n} in pool" for n in names])
    with Session(engine) as session:
        reasons = session.execute(select(t.issue_aliases.c.reason)).scalars().all()
    assert len(issues) < len(names)
    assert sum(i.occurrences for i in issues) == len(names)
    assert "mined template family" in reasons
    # The issue's template never changed under it.
    assert {i.template for i in issues} <= {f"Unknown node {n} in pool" for n in names}


def test_few_distinct_words_are_not_merged(engine: Engine) -> None:
    issues = ingest_messages(
        engine, "deploy", ["Unknown node alpha in pool", "Unknown node bravo in pool"]
    )
    assert len(issues) == 2


def test_the_rows_grouping_reads_are_the_issues_columns_by_name(engine: Engine) -> None:
    """``issues_by_fingerprint``, ``issues_by_id`` and ``scope_candidates`` build their dicts
    from the result's names and values: the very dicts of the rows' mappings."""
    messages = [f"KeyError: 'order-{n}' in step {n % 3}" for n in range(6)]
    ingest_messages(engine, "load", messages)
    ingest_reports(
        engine, [report("r", [("x", "disk full on /dev/sda1")], at=T0, repo="acme/b")], Settings()
    )
    with Session(engine) as session:
        mapped = [
            dict(r) for r in session.execute(select(t.issues).order_by(t.issues.c.id)).mappings()
        ]
        fingerprints = [r["fingerprint"] for r in mapped]
        assert len(mapped) >= 2
        assert grouping.issues_by_fingerprint(session=session, fingerprints=fingerprints) == mapped
        assert grouping.issues_by_id(session=session, ids=[r["id"] for r in mapped]) == mapped
        found = grouping.scope_candidates(
            session=session,
            check_ids={r["check_id"] for r in mapped if r["check_id"] is not None},
            repository_ids={r["repository_id"] for r in mapped},
            version=max(NORMALIZERS),
            per_scope=50,
        )
        by_fingerprint = {r["fingerprint"]: r for r in mapped}
        rows = [r for bucket in found.values() for r in bucket]
        assert rows and all(r == by_fingerprint[r["fingerprint"]] for r in rows)


def test_scope_candidates_are_each_issue_once_however_many_chunks(engine: Engine) -> None:
    """A batch with more checks than one IN list holds (a chunk is 500): each repository-scope
    issue is a candidate once, newest first (it was once per chunk of checks: A, B, A, B...,
    spending the fuzzy budget twice and filling ``per_scope`` with repeats)."""
    at = datetime(2026, 11, 1, tzinfo=UTC)
    results = (
        CheckResult("c", Status.FAIL, "No space left on device"),
        CheckResult("d", Status.FAIL, "connection refused to db:5432"),
    )
    run = RunReport("generic", "acme/x", "r1", finished_at=at, results=results)
    ingest_reports(engine, [run], Settings(), clock=FixedClock(at))
    with Session(engine) as session:
        rows = session.execute(
            select(t.issues.c.id, t.issues.c.scope, t.issues.c.repository_id, t.issues.c.check_id)
        ).all()
        repository_scoped = [r for r in rows if r.scope == "repository"]
        assert len(repository_scoped) == 2, rows
        repo = repository_scoped[0].repository_id
        check_ids = {r.check_id for r in rows if r.check_id is not None}
        for n in (10, 600, 1200):
            found = grouping.scope_candidates(
                session=session,
                check_ids=[*range(10_000, 10_000 + n), *check_ids],
                repository_ids={repo},
                version=max(NORMALIZERS),
                per_scope=50,
            )
            bucket = found[grouping.scope_key("repository", repo, None)]
            ids = [r["id"] for r in bucket]
            assert sorted(ids) == sorted(r.id for r in repository_scoped), (n, ids)
            assert len(ids) == len(set(ids)) == 2
