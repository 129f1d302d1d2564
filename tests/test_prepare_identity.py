"""``prepare_failure`` gives the failure it gave before it was made cheaper (issue #24): the
repository scope decided once, the fingerprint's check and the ``Failure`` passed positionally.

A failure's template, kind, scope and fingerprint decide its issue, so this module keeps the
previous function, as it was on main at 98ca4f0, and compares every field of the two failures on
real messages and logs (the classification corpus, CiDiff and Loghub windows), on the ingest
benchmark's generated failures, and on generated hostile text, under the newest normaliser and
an older one (which masks no check name out of a repository-scoped template).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import fields
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from corpus_texts import CORPUS, windows
from test_failure_core_identity import SHARED_DATA, benchmark_failures
from triagehub.config import Settings
from triagehub.core.classify import detect_kind, exit_code_of
from triagehub.core.excerpt import error_text
from triagehub.core.fingerprint import (
    NORMALIZERS,
    SCOPE_MASK_VERSION,
    grouping_key,
    mask_check,
    normalize,
    strip_ansi,
)
from triagehub.core.models import CheckResult, RunReport, Scope, Status
from triagehub.core.redact import redact
from triagehub.engine.ingest.prepare import _excerpt, placeholder, prepare_failure
from triagehub.engine.ingest.state import (
    MAX_STORED_MESSAGE,
    Failure,
    IngestContext,
    IngestSummary,
)

AT = datetime(2026, 11, 10, 8, tzinfo=UTC)

# -- the reference copy (main at 98ca4f0) -------------------------------------------------------


def reference_prepare_failure(
    ctx: IngestContext,
    report: RunReport,
    res: CheckResult,
    ids: tuple[int, int, int],
    at: datetime,
    storm: bool,
) -> Failure:
    repo_id, run_pk, check_pk = ids
    message = redact(res.message)
    excerpt = _excerpt(res.log)
    text = error_text(message, excerpt)
    template = ctx.normalize(text, ctx.version) or placeholder(res)
    exit_code = res.exit_code if res.exit_code is not None else exit_code_of(message, excerpt)
    kind = detect_kind(report.source, res.check, template, exit_code)
    scope = Scope.REPOSITORY if kind.environmental else Scope.CHECK
    if scope is Scope.REPOSITORY and ctx.version >= SCOPE_MASK_VERSION:
        template = mask_check(template, res.check)
    fingerprint = grouping_key(
        scope=scope,
        repository=report.repository,
        check=res.check if scope is Scope.CHECK else None,
        template=template,
        version=ctx.version,
    )
    return Failure(
        run_pk=run_pk,
        check_pk=check_pk,
        repo_id=repo_id,
        report=report,
        result=res,
        at=at,
        message=strip_ansi(message)[:MAX_STORED_MESSAGE],
        excerpt=excerpt,
        text=text,
        template=template,
        kind=kind,
        scope=scope,
        fingerprint=fingerprint,
        storm=storm,
        exit_code=exit_code,
    )


# -- contexts and inputs ------------------------------------------------------------------------


def _context(version: int) -> IngestContext:
    normalizers = {v: n for v, n in NORMALIZERS.items() if v <= version}
    newest: Callable[[str, int], str] = (
        normalize
        if version == max(NORMALIZERS)
        else lambda text, v: normalizers[v].normalize(text)  # the ingestor's other path
    )
    return IngestContext(None, Settings(), IngestSummary(), normalizers, version, newest)  # type: ignore[arg-type]


CONTEXTS = [_context(v) for v in sorted(NORMALIZERS)]


def _as_tuple(f: Failure) -> tuple[Any, ...]:
    return tuple(getattr(f, x.name) for x in fields(f))


def _assert_same(report: RunReport, res: CheckResult, n: int) -> None:
    ids = (1 + n % 5, 100 + n, 1000 + n % 97)
    for ctx in CONTEXTS:
        storm = n % 11 == 0
        new = prepare_failure(ctx, report, res, ids, AT, storm)
        old = reference_prepare_failure(ctx, report, res, ids, AT, storm)
        assert _as_tuple(new) == _as_tuple(old), (ctx.version, report.source, res)


def _cases() -> list[dict[str, Any]]:
    lines = CORPUS.read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines if line.strip()]


def _inputs() -> Iterator[tuple[RunReport, CheckResult]]:
    cases = _cases()
    sources = sorted({str(c["source"]) for c in cases} | {"dbt", "playwright", "junit"})
    checks = sorted({str(c["check"]) for c in cases})
    for case in cases:
        code = case.get("exit_code")
        res = CheckResult(
            str(case["check"]),
            Status.FAIL,
            str(case.get("message") or ""),
            str(case.get("log") or ""),
            exit_code=code if isinstance(code, int) else None,
        )
        yield RunReport(str(case["source"]), "acme/corpus", "r1"), res
    for i, (repository, check, message) in enumerate(benchmark_failures()):
        report = RunReport("generic", repository, f"b{i}")
        yield report, CheckResult(check, Status.FAIL, message)
        # under another source and check, with an exit code that may decide the kind
        status = (Status.FAIL, Status.ERROR, Status.FLAKY)[i % 3]
        other = CheckResult(
            checks[i % len(checks)], status, message, exit_code=(None, 124, 137)[i % 3]
        )
        yield RunReport(sources[i % len(sources)], repository, f"o{i}"), other
    for folder in ("cidiff", "loghub2k"):
        for path in sorted((SHARED_DATA / folder).glob("*/*.log")):
            text = path.read_text(encoding="utf-8", errors="replace")
            for j, part in enumerate(windows(text, 8, 7)[:60]):
                source = sources[j % len(sources)]
                check = checks[j % len(checks)]
                if j % 2:  # the window as the log of a message-less failure
                    res = CheckResult(check, Status.FAIL, "", part)
                else:
                    res = CheckResult(check, Status.ERROR, part)
                yield RunReport(source, "acme/logs", f"l{j}"), res


def test_prepared_failures_are_the_same_on_real_and_benchmark_failures() -> None:
    if not (SHARED_DATA / "cidiff").is_dir():
        pytest.skip(f"{SHARED_DATA} is absent (../shared/data beside the repository)")
    found = list(_inputs())
    assert len(found) > 8000
    scopes = set()
    for n, (report, res) in enumerate(found):
        _assert_same(report, res, n)
        scopes.add(prepare_failure(CONTEXTS[-1], report, res, (1, 2, 3), AT, False).scope)
    assert scopes == {Scope.CHECK, Scope.REPOSITORY}  # both branches were compared


_HOSTILE = st.text(
    alphabet=st.characters(codec="utf-8") | st.sampled_from("\x1b[31m\n\t\x00"),
    max_size=200,
)
_PHRASES = st.sampled_from(
    [
        "Error: connect ECONNREFUSED 10.0.0.1:5432",
        "Process completed with exit code 137.",
        "AssertionError: assert 1 == 2",
        "No space left on device",
        "Test timeout of 30000ms exceeded.",
        "in model stg_orders: relation does not exist",
        "token=ghp_abcdefghijklmnopqrstuvwxyz0123456789",
        "",
    ]
)


@settings(max_examples=600, deadline=None)
@given(
    st.lists(_PHRASES | _HOSTILE, max_size=4).map("\n".join),
    st.lists(_PHRASES | _HOSTILE, max_size=3).map("\n".join),
    st.sampled_from(["generic", "dbt", "playwright", "junit", "github"]),
    st.sampled_from(["model.jaffle.stg_orders", "ci / lint", "tests/test_db.py::t", "deploy", ""]),
    st.sampled_from([None, 0, 1, 124, 137]),
    st.integers(0, 50),
)
def test_prepared_failures_are_the_same_on_hostile_text(
    message: str, log: str, source: str, check: str, code: int | None, n: int
) -> None:
    res = CheckResult(check, Status.FAIL, message, log, exit_code=code)
    _assert_same(RunReport(source, "acme/x", "h"), res, n)
