"""The per-failure functions of ``core`` give the same answers since they remember them and skip
work that cannot match (issue #24): ``detect_kind`` (a memo of ``_detect_kind``), ``exit_code_of``
(no regex over ASCII text without "exit"), ``mask_check`` (the names and patterns of a check
remembered) and ``grouping_key`` (a memo of the digest).

They decide a failure's kind, scope and fingerprint, so their output must not change: this module
keeps the previous implementations, as they were on main at f626d51, and compares them on real
messages and logs (the classification corpus, the CiDiff and Loghub logs), on the ingest
benchmark's generated failures and on generated text, with the memos empty, warm and overflowing.
"""

from __future__ import annotations

import importlib.util
import itertools
import json
import random
import re
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from corpus_texts import CORPUS, corpus_texts, windows
from triagehub.core import classify, fingerprint
from triagehub.core.classify import _check_rule, _detect_kind, detect_kind, exit_code_of
from triagehub.core.classify.rules import CHECK_RULES, KindRule
from triagehub.core.excerpt import error_text, extract
from triagehub.core.fingerprint import (
    _check_names,
    _digest,
    grouping_key,
    mask_check,
    normalize,
)
from triagehub.core.models import Scope
from triagehub.core.redact import redact

TESTS = Path(__file__).resolve().parent
SHARED_DATA = TESTS.parent.parent / "shared" / "data"
BENCHMARKS = TESTS.parent / "benchmarks"

# -- the reference copies (main at f626d51) -------------------------------------------------------

_EXIT_CODE = re.compile(
    r"(?:exit(?:ed)? (?:with )?(?:code|status)|returned non-zero exit status|exit code:?)\s+(\d+)",
    re.IGNORECASE,
)


def reference_exit_code_of(*texts: str) -> int | None:
    for text in texts:
        codes = _EXIT_CODE.findall(text[-20_000:])
        if codes:
            return int(codes[-1])
    return None


def reference_mask_check(template: str, check: str) -> str:
    if not check or not template:
        return template
    for name in _check_names(check):
        if name in template:
            pattern = rf"(?<![\w-]){re.escape(name)}(?![\w-])"
            template = re.sub(pattern, "<check>", template)
    return template


def reference_check_rule(source: str, check: str) -> tuple[KindRule | None, bool]:
    """``_check_rule`` as it was on main at 98ca4f0 (two passes over the rules)."""
    test_like = source in classify._TEST_SOURCES or any(
        r.name == "check_test" and r.matches("", check, source) for r in CHECK_RULES
    )
    rule = next((r for r in CHECK_RULES if r.matches("", check, source)), None)
    return rule, test_like


def reference_grouping_key(
    *, scope: Scope, repository: str, check: str | None, template: str, version: int
) -> str:
    return _digest(f"v{version}", scope.value, repository, check or "", template)[:32]


# -- real inputs ---------------------------------------------------------------------------------


def _cases() -> list[dict[str, object]]:
    lines = CORPUS.read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines if line.strip()]


def _log_windows() -> list[str]:
    texts = []
    for folder, pattern in (("cidiff", "*/*.log"), ("loghub2k", "*/*.log")):
        for path in sorted((SHARED_DATA / folder).glob(pattern)):
            texts += windows(path.read_text(encoding="utf-8", errors="replace"), 8, 7)[:150]
    return texts


def _benchmark() -> ModuleType:
    spec = importlib.util.spec_from_file_location("ingest_benchmark", BENCHMARKS / "ingest.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("ingest_benchmark", module)
    spec.loader.exec_module(module)
    return module


def benchmark_failures(total: int = 4000) -> list[tuple[str, str, str]]:
    """(repository, check, message) of the ingest benchmark's failing workload."""
    bench = _benchmark()
    checks = bench.catalogue(random.Random(bench.SEED))
    runs = bench.generate_runs(
        random.Random(bench.SEED + 1),
        checks,
        total=total,
        run_size=bench.FAILING_RUN_SIZE,
        fail_share=1.0,
        prefix="t",
    )
    return [(r["repository"], x["check"], x["message"]) for r in runs for x in r["results"]]


def failure_inputs() -> Iterator[tuple[str, str, str, str, int | None]]:
    """(source, check, template, redacted message, exit code) as the ingest makes them: the
    corpus cases, the benchmark's failures (also under other sources and checks) and windows
    of real logs (with the exit codes that decide a kind when nothing else does)."""
    for case in _cases():
        message = redact(str(case.get("message") or ""))
        log = str(case.get("log") or "")
        excerpt = redact(extract(log).text) if log else ""
        template = normalize(error_text(message, excerpt)) or "<no message>"
        code = case.get("exit_code")
        yield (
            str(case["source"]),
            str(case["check"]),
            template,
            message,
            code if isinstance(code, int) else exit_code_of(message, excerpt),
        )
    checks = sorted({str(c["check"]) for c in _cases()})
    sources = sorted({str(c["source"]) for c in _cases()} | {"dbt", "playwright", "junit"})
    for i, (_, check, message) in enumerate(benchmark_failures()):
        template = normalize(error_text(message)) or "<no message>"
        yield "generic", check, template, message, exit_code_of(message)
        # The same template under another source and a corpus check (a weak rule yields).
        yield sources[i % len(sources)], checks[i % len(checks)], template, message, None
        # A check whose name says nothing: the exit code decides when the text does not either.
        yield "generic", f"job {i % 7}", template, message, (None, 124, 137, 2)[i % 4]
    for i, text in enumerate(_log_windows()[::4]):
        template = normalize(error_text(text)) or "<no message>"
        code = (None, 124, 137, 1)[i % 4]
        yield sources[i % len(sources)], checks[i % len(checks)], template, text, code


@pytest.fixture(scope="module")
def inputs() -> list[tuple[str, str, str, str, int | None]]:
    found = list(failure_inputs())
    assert len(found) > 5000
    return found


# -- detect_kind ---------------------------------------------------------------------------------


def test_detect_kind_remembers_the_kind_it_works_out(
    inputs: list[tuple[str, str, str, str, int | None]],
) -> None:
    classify.clear_caches()
    for _ in range(2):  # the memo empty, then warm
        for source, check, template, _message, code in inputs:
            assert detect_kind(source, check, template, code) == _detect_kind(
                source, check, template, code
            ), (source, check, template, code)
    assert len(classify._KINDS) <= classify._KINDS.limit


def test_the_kind_memo_stays_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    classify.clear_caches()
    monkeypatch.setattr(classify._KINDS, "limit", 5)
    first = detect_kind("generic", "ci / lint", "E501 Line too long")
    assert detect_kind("generic", "ci / lint", "E501 Line too long") is first  # remembered
    for i in range(12):
        check, text = f"tests/test_{i}.py::t", f"Error: connect ECONNREFUSED {i}"
        assert detect_kind("generic", check, text) == _detect_kind("generic", check, text, None)
        assert len(classify._KINDS) <= 5
    assert detect_kind("generic", "ci / lint", "E501 Line too long") == first


def test_check_rule_finds_the_same_rule_in_one_pass(
    inputs: list[tuple[str, str, str, str, int | None]],
) -> None:
    assert [r.name for r in CHECK_RULES].count("check_test") == 1
    checks = sorted({check for _, check, *_ in inputs})
    # Names every rule matches, several rules match, or only ``check_test`` beside another.
    checks += [
        "test.jaffle.unique_orders_id", "source.raw.orders", "model.jaffle.stg_orders",
        "lint / test", "deploy tests", "build-and-test", "e2e publish", "format (prettier)",
        "TEST", "Spec", "pytest", "install deps", "package test", "", " ", "tests/ci",
    ]  # fmt: skip
    sources = sorted({source for source, *_ in inputs} | {"dbt", "playwright", "junit", "x"})
    _check_rule.cache_clear()
    for i, check in enumerate(checks):
        for source in (sources[i % len(sources)], "generic", "playwright"):
            assert _check_rule(source, check) == reference_check_rule(source, check), check


@settings(max_examples=1500, deadline=None)
@given(
    st.lists(
        st.sampled_from(
            ["test", "lint", "build", "deploy", "format", "model.", "test.", "source.", "e2e",
             "install", "spec", "/", " ", "-", "x", "T", "é", "::", "fmt", "CD /"]
        ),
        max_size=8,
    ).map("".join),
    st.sampled_from(["generic", "dbt", "playwright", "junit", "github"]),
)  # fmt: skip
def test_generated_check_names_find_the_same_rule(check: str, source: str) -> None:
    assert _check_rule.__wrapped__(source, check) == reference_check_rule(source, check)


# -- exit_code_of --------------------------------------------------------------------------------


def _assert_same_exit_codes(texts: list[str], what: str) -> None:
    assert texts, f"no {what}"
    differ = [t for t in texts if exit_code_of(t) != reference_exit_code_of(t)]
    assert not differ, f"{len(differ)} of {len(texts)} {what} differ: {differ[:3]!r}"
    for a, b in itertools.pairwise(texts):
        assert exit_code_of(a, b) == reference_exit_code_of(a, b)


def test_exit_codes_of_the_corpus_are_the_same() -> None:
    _assert_same_exit_codes(corpus_texts(size=12, step=5), "corpus texts")


def test_exit_codes_of_real_logs_are_the_same() -> None:
    if not (SHARED_DATA / "cidiff").is_dir():
        pytest.skip(f"{SHARED_DATA} is absent (../shared/data beside the repository)")
    texts = _log_windows()
    for path in sorted((SHARED_DATA / "cidiff").glob("*/*.log")):
        texts.append(path.read_text(encoding="utf-8", errors="replace"))  # whole logs (the tail)
    _assert_same_exit_codes(texts, "log windows")


def test_exit_codes_of_the_benchmark_messages_are_the_same() -> None:
    _assert_same_exit_codes([m for _, _, m in benchmark_failures()], "benchmark messages")


def test_non_ascii_text_is_still_searched() -> None:
    # Under IGNORECASE, "ı" (dotless i) and "İ" match "i": lower-casing would not find "exit".
    for text in ("EXıT CODE 3", "exİted with status 4", "ſ make: exıt code: 5 ✗"):
        assert "exit" not in text.lower()
        assert exit_code_of(text) == reference_exit_code_of(text) is not None
    assert exit_code_of("Process completed with Exit Code 7.") == 7


_PIECES = [
    "exit", "EXIT", "Exit", "exıt", "EXİT", "ed", " with ", " code", " status", ": ", " ", "  ",
    "returned non-zero exit status", "\n", "\t", "12", "3", "é", "ſ", "K", "Process completed ",
]  # fmt: skip


@settings(max_examples=1500, deadline=None)
@given(st.lists(st.sampled_from(_PIECES), max_size=12).map("".join), st.text(max_size=20))
def test_generated_text_gives_the_same_exit_code(text: str, other: str) -> None:
    assert exit_code_of(text) == reference_exit_code_of(text)
    assert exit_code_of(other, text) == reference_exit_code_of(other, text)
    assert exit_code_of(text + other) == reference_exit_code_of(text + other)


_WORDS = ["exit", "EXIT", "Exit", "exıt", "EXİT", "eXıt", "returned non-zero exit status"]


@settings(max_examples=1500, deadline=None)
@given(
    st.text(max_size=8),
    st.sampled_from(_WORDS),
    st.sampled_from(["", "ed", "ED"]),
    st.sampled_from(["", " with ", " WITH "]),
    st.sampled_from(["", " code", " Status", " code:", " CODE"]),
    st.sampled_from([" ", "\t", "  ", "\n", ""]),
    st.integers(0, 300),
    st.text(max_size=8),
)
def test_generated_exit_phrases_give_the_same_code(
    before: str, word: str, ed: str, with_: str, what: str, gap: str, code: int, after: str
) -> None:
    text = f"{before}{word}{ed}{with_}{what}{gap}{code}{after}"
    assert exit_code_of(text) == reference_exit_code_of(text)


# -- mask_check and grouping_key ----------------------------------------------------------------


def test_mask_check_masks_the_same_names(
    inputs: list[tuple[str, str, str, str, int | None]],
) -> None:
    fingerprint._names_of.cache_clear()
    fingerprint._standalone.cache_clear()
    checks = [check for _, check, *_ in inputs[:: max(1, len(inputs) // 400)]]
    checks += ["model.jaffle.stg_orders", "tests/test_db.py::test_conn", "e2e-checkout", ""]
    for _ in range(2):  # the checks' names worked out, then remembered
        for i, (_, check, template, message, _) in enumerate(inputs):
            named = f"{template}\nin {check} and {check.rsplit('.', 1)[-1]} ({message[:40]})"
            for text in (template, named):
                assert mask_check(text, check) == reference_mask_check(text, check)
            other = checks[i % len(checks)]
            assert mask_check(named, other) == reference_mask_check(named, other)


def test_grouping_key_is_the_same_digest(
    inputs: list[tuple[str, str, str, str, int | None]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for limit in (fingerprint._KEYS.limit, 7):  # the memo large, then overflowing
        fingerprint._KEYS.clear()
        monkeypatch.setattr(fingerprint._KEYS, "limit", limit)
        for _ in range(2):
            for i, (_, check, template, _, _) in enumerate(inputs):
                scope = (Scope.CHECK, Scope.REPOSITORY, Scope.STORM)[i % 3]
                args = {
                    "scope": scope,
                    "repository": f"acme/repo{i % 5}",
                    "check": check if scope is Scope.CHECK else None,
                    "template": template,
                    "version": 1 + i % 2,
                }
                assert grouping_key(**args) == reference_grouping_key(**args)  # type: ignore[arg-type]
                assert len(fingerprint._KEYS) <= limit
    # "" and None as the check are one digest, as before.
    both = [
        grouping_key(scope=Scope.CHECK, repository="r", check=c, template="t", version=2)
        for c in ("", None)
    ]
    assert both[0] == both[1]
