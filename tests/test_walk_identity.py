"""Reading and walking results gives what it gave before it was made cheaper (issue #24).

``core/sanitize.py`` skips the control-character scan of a printable text and the calls for a
result's absent owner, links and affected nodes; ``engine/ingest/state.digest`` concatenates a
result's status instead of reading its ``.value``; ``Status.is_failure`` is read once per member;
the events reader words a result's path only for a result that is not plain. Every input from
outside stays hostile, so this module keeps the previous code, as it was on main at f626d51, and
compares the two on generated hostile text (controls, NUL, surrogates, huge, any unicode) and on
real logs (the classification corpus, CiDiff, Loghub).
"""

from __future__ import annotations

import hashlib
import random
import re
import sys
from copy import deepcopy
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from corpus_texts import corpus_texts
from triagehub.core import sanitize
from triagehub.core.history import MAX_PASS_TIMES, CheckHistory, _later
from triagehub.core.models import CheckResult, RunReport, Scope, Status
from triagehub.core.redact import redact
from triagehub.core.sanitize import (
    AFFECTED_CHARS,
    CHECK_CHARS,
    LOG_CHARS,
    MESSAGE_CHARS,
    OWNER_CHARS,
    URL_CHARS,
    clean_line,
    clean_optional,
    clean_text,
    sanitize_report,
    sanitize_result,
)
from triagehub.engine.ingest import group
from triagehub.engine.ingest.state import (
    MAX_AFFECTED,
    Failure,
    IngestContext,
    IngestSummary,
    IssueWork,
    digest,
)
from triagehub.errors import InputError
from triagehub.sources import events
from triagehub.sources.events import _result, _str, _time, _Where, event_to_report

TESTS = Path(__file__).resolve().parent
SHARED_DATA = TESTS.parent.parent / "shared" / "data"

# -- the reference: the code at f626d51, unchanged ------------------------------------------------

_TEXT_BAD = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1a\x1c-\x1f\x7f-\x9f\ud800-\udfff]")


def ref_clean_text(text: str, limit: int, *, secrets: bool = True) -> str:
    if len(text) > limit:
        text = sanitize.truncate(text, limit)
    if _TEXT_BAD.search(text):
        text = _TEXT_BAD.sub("", text)
    return redact(text) if secrets else text


def ref_sanitize_result(result: CheckResult) -> CheckResult:
    check = (
        sanitize._clean_check(result.check)
        if len(result.check) <= CHECK_CHARS
        else (clean_line(result.check, CHECK_CHARS, key=True) or "<unnamed check>")
    )
    message = ref_clean_text(result.message, MESSAGE_CHARS, secrets=False) if result.message else ""
    log = ref_clean_text(result.log, LOG_CHARS, secrets=False) if result.log else ""
    owner = clean_optional(result.owner, OWNER_CHARS)
    links = tuple(clean_line(x, URL_CHARS) for x in result.links)
    affected = tuple(clean_line(x, AFFECTED_CHARS, secrets=False) for x in result.affected)
    if (
        check == result.check
        and message == result.message
        and log == result.log
        and owner == result.owner
        and links == result.links
        and affected == result.affected
    ):
        return result
    return replace(
        result,
        check=check,
        message=message,
        log=log,
        links=links,
        affected=affected,
        owner=owner,
    )


def ref_digest(report: RunReport) -> str:
    h = hashlib.sha256()
    for r in report.results:
        h.update(f"{r.check}\x1f{r.status.value}\x1f{r.message}\x1f{r.log}\x1e".encode())
    return h.hexdigest()


def ref_run_event(w: _Where, obj: dict[str, Any], source: str, repository: str) -> RunReport:
    events._unknown(w, obj, events._EVENT_KEYS, "")
    run = events._required(w, obj, "run", dict, "an object")
    events._unknown(w, run, events._RUN_KEYS, "run.")
    run_id = _str(w, run, "id", "run.", required=True, allow_int=True)
    assert run_id is not None
    attempt = run.get("attempt", 1)
    if isinstance(attempt, bool) or not isinstance(attempt, int) or attempt < 1:
        raise w.error("run.attempt", f"expected a positive integer, got {attempt!r}")
    results = events._required(w, obj, "results", list, "an array")
    return RunReport(
        source=source,
        repository=repository,
        run_id=run_id,
        attempt=attempt,
        commit=_str(w, run, "commit", "run."),
        branch=_str(w, run, "branch", "run."),
        url=_str(w, run, "url", "run."),
        started_at=_time(w, run, "started_at", "run."),
        finished_at=_time(w, run, "finished_at", "run."),
        status=_str(w, run, "status", "run."),
        results=tuple(_result(w, r, f"results[{i}].") for i, r in enumerate(results)),
    )


# -- hostile text ---------------------------------------------------------------------------------

_ODD = [chr(c) for c in (*range(0x00, 0x21), *range(0x7F, 0xA1), 0xAD, 0x2028, 0x2029, 0xFEFF)]
_ODD += ["\ud800", "\udfff", "\udc80x", "\U0001f600", "é", "\u200b", "\x1b[31m", "\r\n", " "]
HOSTILE = st.lists(
    st.one_of(st.sampled_from(_ODD), st.characters(), st.characters(max_codepoint=0x7F)),
    max_size=60,
).map("".join)


def hostile_texts() -> list[str]:
    """Fixed hostile texts: every odd character alone, at the start, the end and amid text; the
    limits; huge ones."""
    texts = ["", "plain", "AssertionError: assert 3 == 4", "line\nline\ttab\r\n"]
    for c in _ODD:
        texts += [c, c * 3, f"{c}start", f"end{c}", f"mid{c}dle\nnext{c}"]
    for limit in (MESSAGE_CHARS, URL_CHARS, CHECK_CHARS, AFFECTED_CHARS):
        texts += ["x" * limit, "x" * (limit + 1), "é" * (limit + 7), "x" * limit + "\x00"]
    texts += ["a" * (LOG_CHARS + 3), "\n" * 100_000 + "\x00", "ok " * 300_000 + "\x7f"]
    return texts


def real_texts() -> list[str]:
    texts = corpus_texts()
    texts += [line for log in corpus_texts(("log",)) for line in log.splitlines()]
    for path in sorted((SHARED_DATA / "cidiff").glob("*/*.log"))[:40]:
        log = path.read_text(encoding="utf-8", errors="surrogateescape")
        texts += [log, *log.splitlines()[:400]]
    for path in sorted((SHARED_DATA / "loghub2k").glob("*/*_2k.log")):
        texts += path.read_text(encoding="utf-8", errors="replace").splitlines()[:300]
    if len(texts) < 1000:  # the shared data is part of the proof: never skipped silently
        pytest.fail(f"expected the corpus and the shared logs, found {len(texts)} texts")
    return texts


def _same_clean_text(text: str) -> None:
    for limit in (MESSAGE_CHARS, LOG_CHARS, 40):
        for secrets in (False, True):
            assert clean_text(text, limit, secrets=secrets) == ref_clean_text(
                text, limit, secrets=secrets
            ), (text[:200], limit, secrets)


def test_no_character_clean_text_removes_is_printable() -> None:
    """The proof behind the fast path: ``str.isprintable`` is false for every character of
    ``_TEXT_BAD`` (so a printable text holds none), over every code point."""
    for code in range(sys.maxunicode + 1):
        c = chr(code)
        if sanitize._TEXT_BAD.match(c):
            assert not c.isprintable(), hex(code)
    assert sanitize._TEXT_BAD.pattern == _TEXT_BAD.pattern


def test_hostile_texts_clean_as_before() -> None:
    for text in hostile_texts():
        _same_clean_text(text)


def test_real_texts_clean_as_before() -> None:
    for text in real_texts():
        assert clean_text(text, MESSAGE_CHARS, secrets=False) == ref_clean_text(
            text, MESSAGE_CHARS, secrets=False
        )
        assert clean_text(text, 200) == ref_clean_text(text, 200)


@settings(max_examples=400, deadline=None)
@given(HOSTILE)
def test_generated_texts_clean_as_before(text: str) -> None:
    _same_clean_text(text)


# -- results, reports and digests -----------------------------------------------------------------


def _results(texts: list[str]) -> list[CheckResult]:
    found = []
    statuses = list(Status)
    for i, text in enumerate(texts):
        other = texts[(i * 7 + 3) % len(texts)]
        found.append(CheckResult(check=other[:1200] or "t", status=statuses[i % 5], message=text))
        found.append(CheckResult(check="t", status=statuses[i % 5], log=text, message=other))
        found.append(
            CheckResult(
                check=text[:900] or "c",
                status=Status.FAIL,
                links=(text[:300],) if i % 3 else (),
                affected=(other[:300], text[:50]) if i % 2 else (),
                owner=other[:150] if i % 4 else None,
            )
        )
    return found


def _same_result(result: CheckResult) -> None:
    new, old = sanitize_result(result), ref_sanitize_result(result)
    assert new == old, result
    assert (new is result) == (old is result), result


def test_results_sanitize_as_before() -> None:
    texts = hostile_texts()[:-3] + real_texts()[::7]
    for result in _results(texts):
        _same_result(result)
    lists = CheckResult(check="t", status=Status.FAIL, links=[], affected=[])  # type: ignore[arg-type]
    _same_result(lists)


@settings(max_examples=300, deadline=None)
@given(HOSTILE, HOSTILE, st.sampled_from(list(Status)), st.booleans())
def test_generated_results_sanitize_as_before(
    text: str, other: str, status: Status, extras: bool
) -> None:
    result = CheckResult(check=other or "t", status=status, message=text, log=other + text)
    if extras:
        result = replace(result, links=(text,), affected=(other,), owner=text)
    _same_result(result)
    report = RunReport(source=text, repository="acme/x", run_id=other, results=(result,))
    assert sanitize_report(report) == replace(
        sanitize_report(report), results=(ref_sanitize_result(result),)
    )


def _report(results: list[CheckResult]) -> RunReport:
    return RunReport(source="generic", repository="acme/x", run_id="1", results=tuple(results))


def test_digests_as_before() -> None:
    results = _results(hostile_texts()[:-3] + real_texts()[::11])
    for i in range(0, len(results), 17):
        report = _report(results[i : i + 17])
        try:
            expected: str | type = ref_digest(report)
        except UnicodeEncodeError as exc:  # a lone surrogate (never left by the sanitiser)
            with pytest.raises(UnicodeEncodeError) as raised:
                digest(report)
            assert str(raised.value) == str(exc)
            continue
        assert digest(report) == expected
        assert digest(sanitize_report(report)) == ref_digest(sanitize_report(report))
    assert digest(_report([])) == ref_digest(_report([]))


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(HOSTILE, HOSTILE, st.sampled_from(list(Status))), max_size=6))
def test_generated_digests_as_before(parts: list[tuple[str, str, Status]]) -> None:
    report = _report([CheckResult(check=c, status=s, message=m, log=c + m) for c, m, s in parts])
    clean = sanitize_report(report)
    assert digest(clean) == ref_digest(clean)


def test_is_failure_as_before() -> None:
    for status in Status:
        for _ in range(2):  # computed, then read back
            assert status.is_failure is (status in (Status.FAIL, Status.ERROR))
    assert list(Status) == [Status(v) for v in ("pass", "fail", "error", "skip", "flaky")]


# -- the events reader ----------------------------------------------------------------------------


def _outcome(read: Any, obj: dict[str, Any]) -> RunReport | str:
    try:
        result: RunReport = read(_Where("e.jsonl", "line 1: "), obj, "generic", "acme/x")
    except InputError as exc:
        return str(exc)
    return result


RESULTS: list[Any] = [
    {"check": "t", "status": "fail", "message": "m"},
    {"check": " t ", "status": "PASS", "log": "l\x00", "duration_s": 1, "exit_code": 2},
    {"check": "t", "status": "fail", "extra": 1},
    {"check": "", "status": "fail"},
    {"check": "t", "status": "nope"},
    {"check": "t", "status": "fail", "duration_s": -1},
    {"check": "x" * 1001, "status": "fail"},
    {"check": "t", "status": "skip", "message": 5},
    "result",
    None,
    [],
]


@pytest.mark.parametrize("i", range(len(RESULTS)))
def test_run_events_read_as_before(i: int) -> None:
    for results in ([RESULTS[i]], [RESULTS[0], RESULTS[i]], [RESULTS[i], *RESULTS]):
        obj = {"repository": "acme/x", "run": {"id": 7, "commit": "c"}, "results": results}
        expected = _outcome(ref_run_event, obj)
        assert _outcome(events._run_event, obj) == expected
        if isinstance(expected, RunReport):
            assert event_to_report(obj, _Where("e.jsonl", "line 1: "), None) == expected


# -- sanitize_report ------------------------------------------------------------------------------


def ref_sanitize_report(report: RunReport) -> RunReport:
    where = f"{report.repository[:200]!r} run {report.run_id[:200]!r}"
    sanitize.check_int(
        report.attempt, source=where, location="attempt", minimum=0, maximum=sanitize.INT32_MAX
    )
    return replace(
        report,
        source=clean_line(report.source, sanitize.SOURCE_CHARS, key=True) or "unknown",
        repository=clean_line(report.repository, 200, key=True, secrets=False) or "unknown/unknown",
        run_id=clean_line(report.run_id, sanitize.RUN_ID_CHARS, key=True) or "unknown",
        commit=clean_optional(report.commit, sanitize.COMMIT_CHARS),
        branch=clean_optional(report.branch, sanitize.BRANCH_CHARS),
        url=clean_optional(report.url, URL_CHARS),
        status=clean_optional(report.status, sanitize.STATUS_CHARS),
        results=tuple(ref_sanitize_result(r) for r in report.results),
    )


_FIELDS = ("source", "repository", "run_id", "commit", "branch", "url", "status", "results")


def _same_report(report: RunReport) -> None:
    for _ in range(2):  # the second time with the fields' cleaning remembered
        try:
            old = ref_sanitize_report(report)
        except InputError as exc:
            with pytest.raises(InputError) as raised:
                sanitize_report(report)
            assert str(raised.value) == str(exc)
            return
        new = sanitize_report(report)
        assert new == old, report
        for name in _FIELDS:  # the same values of the same types
            assert type(getattr(new, name)) is type(getattr(old, name)), name
        assert all(type(a) is type(b) for a, b in zip(new.results, old.results, strict=True))


class Text(str):
    """A ``str`` of another type: cleaned each time, never taken from what was remembered."""


def test_reports_sanitize_as_before() -> None:
    texts = [*hostile_texts()[:-3], *real_texts()[::97], "main", "generic", "acme/x", "failure"]
    for i, text in enumerate(texts):
        other = texts[(i * 13 + 5) % len(texts)]
        for values in ((text, other), (other, text), ("generic", text), (text, "main")):
            a, b = values
            _same_report(
                RunReport(
                    source=a, repository=b or "acme/x", run_id=a, commit=b, branch=a, url=b,
                    status=a, results=tuple(_results([a, b])),
                )
            )  # fmt: skip
    for value in (Text("main"), Text("main\x00"), Text("")):
        _same_report(RunReport(source=value, repository=value, run_id="1", branch=value))
    for attempt in (0, 1, -1, 2**31, True):
        _same_report(RunReport(source="g", repository="a/b", run_id="1", attempt=attempt))
    lists = RunReport(source="g", repository="a/b", run_id="1", results=[])  # type: ignore[arg-type]
    _same_report(lists)


@settings(max_examples=300, deadline=None)
@given(HOSTILE, HOSTILE, st.sampled_from(["main", "generic", "acme/x", "", "x" * 300]))
def test_generated_reports_sanitize_as_before(text: str, other: str, repeated: str) -> None:
    for source, repository, branch in ((text, other, repeated), (repeated, repeated, text)):
        report = RunReport(
            source=source,
            repository=repository,
            run_id=other,
            commit=text,
            branch=branch,
            url=other,
            status=repeated,
            results=(CheckResult(check=text or "t", status=Status.FAIL, message=other),),
        )
        _same_report(report)


# -- apply_failure --------------------------------------------------------------------------------


def ref_apply_failure(ctx: IngestContext, work: IssueWork, f: Failure, now: datetime) -> None:
    row = work.row
    work.touched = True
    latest = f.at >= row["last_seen"] or (work.is_new and row["occurrences"] == 0)
    if f.at < row["first_seen"] or (work.is_new and work.earliest is None):
        work.earliest = f
    row["occurrences"] += 1
    work.new_occurrences += 1
    row["first_seen"] = min(row["first_seen"], f.at)
    row["last_seen"] = max(row["last_seen"], f.at)
    row["updated_at"] = now
    entry = work.checks.get(f.check_pk)
    if entry is None:
        work.checks[f.check_pk] = [f.at, f.at, 1]
    else:
        entry[0], entry[1], entry[2] = min(entry[0], f.at), max(entry[1], f.at), entry[2] + 1
    group._regress(ctx, work, f)
    group._count_down_snooze(work, f)
    if f.result.affected:
        known = row["affected_models"]
        merged = list(dict.fromkeys((*known, *f.result.affected)))[:MAX_AFFECTED]
        if merged != known:
            row["affected_models"] = merged
    if latest:
        work.latest = f


def _failure(at: datetime, check_pk: int, affected: tuple[str, ...]) -> Failure:
    result = CheckResult(check=f"c{check_pk}", status=Status.FAIL, affected=affected)
    report = RunReport(source="g", repository="a/b", run_id="1", commit="abc", results=(result,))
    kind: Any = None  # (not read by ``apply_failure``)
    return Failure(
        1, check_pk, 1, report, result, at, "m", "m", "m", "t", kind, Scope.CHECK, "", False
    )


def _works(base: datetime) -> list[IssueWork]:
    works = []
    for state in ("open", "resolved", "auto_resolved", "regressed", "ignored"):
        for snooze in (None, 1, 3):
            for resolved_at in (None, base, base + timedelta(hours=5)):
                for is_new, occurrences in ((False, 4), (True, 0), (True, 2)):
                    row = {
                        "state": state,
                        "resolved_at": resolved_at,
                        "snooze_occurrences": snooze,
                        "snoozed_until": base if snooze else None,
                        "occurrences": occurrences,
                        "first_seen": base,
                        "last_seen": base + timedelta(hours=2),
                        "affected_models": ["m1"],
                    }
                    works.append(IssueWork(row, is_new, ()))
    return works


def test_failures_apply_as_before() -> None:
    base = datetime(2026, 11, 1, tzinfo=UTC)
    ats = [base + timedelta(hours=h) for h in (-3, 0, 1, 2, 3, 6, 2, -3)]
    now = base + timedelta(days=1)
    for work in _works(base):
        old, new = deepcopy(work), deepcopy(work)
        ctx_old, ctx_new = (
            IngestContext(None, None, IngestSummary(), {}, 1, None)  # type: ignore[arg-type]
            for _ in range(2)
        )
        for i, at in enumerate(ats):
            affected = (("m1", f"m{i}") if i % 2 else ()) + (("x",) * i)
            f = _failure(at, i % 3, affected)
            ref_apply_failure(ctx_old, old, f, now)
            group.apply_failure(ctx_new, new, f, now)
            assert new == old
            assert (new.latest is old.latest) and (new.earliest is old.earliest)
            assert ctx_new.summary == ctx_old.summary


# -- a check's history ----------------------------------------------------------------------------

_OLD_FAILED = ("fail", "error")


def ref_add_pass_time(h: CheckHistory, at: datetime) -> None:
    if at.tzinfo is None:
        at = at.replace(tzinfo=UTC)
    value = (at - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(microseconds=1)
    times = list(h.pass_times or ())
    if value in times:
        return
    times.append(value)
    times.sort()
    h.pass_times = times[-MAX_PASS_TIMES:]


def ref_apply(
    h: CheckHistory,
    status: Status,
    *,
    at: datetime | None,
    commit: str | None,
    run_key: str,
    attempt: int,
    flaky_clean_runs: int,
) -> bool:
    if status is Status.SKIP:
        return False
    failed = status.is_failure
    retried = attempt > 1 and run_key == h.last_run_key and h.last_status in _OLD_FAILED
    evidence = (
        status is Status.FLAKY
        or (failed and commit is not None and commit == h.last_pass_commit)
        or (not failed and commit is not None and commit == h.last_fail_commit)
        or (not failed and retried)
    )
    h.runs += 1
    h.recent = ((h.recent << 1) | int(failed or evidence)) & ((1 << 63) - 1)
    if failed:
        h.failures += 1
        h.consecutive_failures += 1
        h.last_fail_at = _later(h.last_fail_at, at)
        h.last_fail_commit = commit or h.last_fail_commit
    else:
        h.consecutive_failures = 0
        h.last_pass_at = _later(h.last_pass_at, at)
        h.last_pass_commit = commit or h.last_pass_commit
        if status is Status.FLAKY:
            h.failures += 1
        elif at is not None:
            ref_add_pass_time(h, at)
    h.last_status = status.value
    h.last_run_at = _later(h.last_run_at, at)
    h.last_run_key = run_key
    if evidence:
        h.flaky = True
        h.flaky_clean_runs = 0
    elif h.flaky:
        if failed:
            h.flaky_clean_runs = 0
        else:
            h.flaky_clean_runs += 1
            if h.flaky_clean_runs >= flaky_clean_runs:
                h.flaky = False
                h.flaky_clean_runs = 0
    return evidence


_BASE = datetime(2026, 11, 1, tzinfo=UTC)
OUTCOMES = st.lists(
    st.tuples(
        st.sampled_from(list(Status)),
        st.one_of(st.none(), st.integers(-5, 90)),  # minutes after _BASE (None: no time)
        st.booleans(),  # naive (no time zone)
        st.sampled_from([None, "", "c1", "c2"]),
        st.sampled_from(["r1", "r2"]),
        st.integers(1, 3),
    ),
    max_size=160,
)


def _outcome_of(apply: Any, status: Status, clean_runs: int, kw: dict[str, Any]) -> object:
    """What ``apply`` returns, or the words of what it raises (naive and aware times mixed)."""
    try:
        return bool(apply(status, flaky_clean_runs=clean_runs, **kw))
    except TypeError as exc:
        return str(exc)


@settings(max_examples=300, deadline=None)
@given(OUTCOMES, st.integers(1, 4))
def test_histories_apply_as_before(outcomes: list[Any], clean_runs: int) -> None:
    new, old = CheckHistory(), CheckHistory()
    for status, minutes, naive, commit, run_key, attempt in outcomes:
        at = None if minutes is None else _BASE + timedelta(minutes=minutes, microseconds=minutes)
        if at is not None and naive:
            at = at.replace(tzinfo=None)
        kw: Any = {"at": at, "commit": commit, "run_key": run_key, "attempt": attempt}
        old_before, new_before = old.pass_times, new.pass_times
        kept = list(new_before or ())
        assert _outcome_of(new.apply, status, clean_runs, kw) == _outcome_of(
            partial(ref_apply, old), status, clean_runs, kw
        )
        assert new == old
        # a new list when the old code made one, and never a change to the list it replaced
        assert (new.pass_times is new_before) == (old.pass_times is old_before)
        assert list(new_before or ()) == kept


def test_long_histories_keep_their_latest_pass_times_as_before() -> None:
    rng = random.Random(24)
    new, old = CheckHistory(), CheckHistory()
    for i in range(3000):
        at = _BASE + timedelta(seconds=rng.choice([37 * i, rng.randrange(0, 37 * i + 1)]))
        status = rng.choice([Status.PASS] * 6 + [Status.FAIL, Status.FLAKY, Status.SKIP])
        kw: Any = {"at": at, "commit": f"c{i % 7}", "run_key": f"r{i}", "attempt": 1}
        assert new.apply(status, flaky_clean_runs=3, **kw) == ref_apply(
            old, status, flaky_clean_runs=3, **kw
        )
        assert new == old
    assert old.pass_times is not None and len(old.pass_times) == MAX_PASS_TIMES
