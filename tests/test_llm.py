"""The LLM classifier against a real local HTTP fake of the Anthropic Messages API.

The official SDK is pointed at the fake through ``base_url``; nothing of ours is patched.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from fake_anthropic import (
    GOOD_INPUT,
    FakeAnthropic,
    RawBody,
    Slow,
    TextAnswer,
    ToolAnswer,
    overloaded,
    rate_limited,
    server_error,
    tool_answer,
)
from triagehub.actions.llm import (
    DEFAULT_MODEL,
    TOOL_NAME,
    LLMClassifier,
    LLMRequest,
    LLMVerdict,
    VerdictLRU,
)
from triagehub.clock import FixedClock
from triagehub.core.models import Category, Decision, Kind, Level

NOON = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)


@pytest.fixture
def fake() -> Iterator[FakeAnthropic]:
    with FakeAnthropic() as server:
        yield server


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(NOON)


def make_request(fingerprint: str = "fp-1", **changes: Any) -> LLMRequest:
    request = LLMRequest(
        fingerprint=fingerprint,
        repository="acme/shop",
        check="tests/test_cart.py::test_total",
        source="junit",
        template="AssertionError: expected <N> items, got <N>",
        excerpt="E   AssertionError: expected 5 items, got 7\ntests/test_cart.py:42: in test_total",
        history_class="new",
        occurrences=1,
        rules_verdict={
            "category": "code_fix_required",
            "kind": "test",
            "severity": "medium",
            "decision": "one_off_fix",
        },
        rules_confidence=0.4,
    )
    return dataclasses.replace(request, **changes)


def make_classifier(fake: FakeAnthropic, clock: FixedClock, **options: Any) -> LLMClassifier:
    settings: dict[str, Any] = {
        "api_key": fake.api_key,
        "base_url": fake.base_url,
        "timeout_s": 5.0,
        "max_retries": 2,
        "clock": clock.now,
    }
    settings.update(options)
    return LLMClassifier(**settings)


# -- good answers, the request, the cache ------------------------------------------------------


def test_good_answer_gives_a_verdict_in_our_vocabulary(
    fake: FakeAnthropic, clock: FixedClock
) -> None:
    fake.enqueue(tool_answer(category="transient_failure", kind="infrastructure", severity="high"))
    with make_classifier(fake, clock) as llm:
        outcome = llm.classify(make_request())

    assert outcome.status == "ok"
    verdict = outcome.verdict
    assert verdict is not None
    assert verdict.category is Category.TRANSIENT
    assert verdict.kind is Kind.INFRASTRUCTURE
    assert verdict.severity is Level.HIGH
    assert verdict.decision is Decision.ONE_OFF_FIX
    assert verdict.confidence == pytest.approx(0.82)
    assert verdict.rationale == GOOD_INPUT["rationale"]
    assert verdict.model == DEFAULT_MODEL
    assert len(fake.requests) == 1


def test_request_forces_the_triage_tool_with_our_vocabulary(
    fake: FakeAnthropic, clock: FixedClock
) -> None:
    with make_classifier(fake, clock) as llm:
        llm.classify(make_request())

    (request,) = fake.requests
    body = request.body
    assert request.path == "/v1/messages"
    assert request.headers["anthropic-version"]
    assert body["model"] == DEFAULT_MODEL
    assert body["tool_choice"] == {"type": "tool", "name": TOOL_NAME}
    (tool,) = body["tools"]
    assert tool["name"] == TOOL_NAME
    properties = tool["input_schema"]["properties"]
    assert set(properties["category"]["enum"]) == {c.value for c in Category} - {
        "pending_classification"
    }
    assert set(properties["kind"]["enum"]) == {k.value for k in Kind}
    assert set(properties["severity"]["enum"]) == {level.value for level in Level}
    assert set(properties["decision"]["enum"]) == {d.value for d in Decision}
    assert tool["input_schema"]["required"] == [
        "category",
        "kind",
        "severity",
        "decision",
        "confidence",
        "rationale",
    ]


def test_prompt_carries_template_excerpt_check_history_and_rules_verdict(
    fake: FakeAnthropic, clock: FixedClock
) -> None:
    with make_classifier(fake, clock) as llm:
        llm.classify(make_request(history_class="recurring", occurrences=4))

    prompt = fake.requests[0].body["messages"][0]["content"]
    assert "AssertionError: expected <N> items, got <N>" in prompt
    assert "expected 5 items, got 7" in prompt
    assert "tests/test_cart.py::test_total" in prompt
    assert '"history_class": "recurring"' in prompt
    assert '"occurrences": 4' in prompt
    assert '"decision": "one_off_fix"' in prompt
    assert '"rules_confidence": 0.4' in prompt


def test_model_is_configurable(fake: FakeAnthropic, clock: FixedClock) -> None:
    with make_classifier(fake, clock, model="claude-haiku-5-5") as llm:
        outcome = llm.classify(make_request())

    assert fake.requests[0].body["model"] == "claude-haiku-5-5"
    assert outcome.verdict is not None
    assert outcome.verdict.model == "claude-haiku-5-5"


def test_second_call_for_the_same_fingerprint_is_served_from_the_cache(
    fake: FakeAnthropic, clock: FixedClock
) -> None:
    with make_classifier(fake, clock) as llm:
        first = llm.classify(make_request("fp-same"))
        second = llm.classify(make_request("fp-same", excerpt="another excerpt"))

    assert first.status == "ok"
    assert second.status == "cached"
    assert second.verdict == first.verdict
    assert len(fake.requests) == 1


def test_caller_supplied_cache_mapping_is_read_and_written(
    fake: FakeAnthropic, clock: FixedClock
) -> None:
    stored = LLMVerdict(
        Category.INFRASTRUCTURE, Kind.TIMEOUT, Level.HIGH, Decision.PENDING, 0.7, "seen", "m"
    )
    backing: dict[str, LLMVerdict] = {"fp-known": stored}
    with make_classifier(fake, clock, cache=backing) as llm:
        known = llm.classify(make_request("fp-known"))
        new = llm.classify(make_request("fp-new"))

    assert known.status == "cached"
    assert known.verdict == stored
    assert new.status == "ok"
    assert backing["fp-new"] == new.verdict
    assert len(fake.requests) == 1


def test_cache_put_hook_seeds_the_cache(fake: FakeAnthropic, clock: FixedClock) -> None:
    verdict = LLMVerdict(
        Category.FALSE_POSITIVE, Kind.LINT, Level.LOW, Decision.IGNORE, 0.9, "known", "m"
    )
    with make_classifier(fake, clock) as llm:
        llm.cache_put("fp-seeded", verdict)
        outcome = llm.classify(make_request("fp-seeded"))
        assert llm.cache_get("fp-seeded") == verdict
        assert llm.cache_get("fp-other") is None

    assert outcome.status == "cached"
    assert fake.requests == []


def test_lru_cache_evicts_the_least_recently_used_fingerprint() -> None:
    verdict = LLMVerdict(
        Category.CODE_FIX, Kind.TEST, Level.MEDIUM, Decision.PENDING, 0.5, "r", "m"
    )
    lru = VerdictLRU(maxsize=2)
    lru["a"] = verdict
    lru["b"] = verdict
    assert lru["a"] == verdict  # "a" is now the most recently used
    lru["c"] = verdict

    assert set(lru) == {"a", "c"}


def test_verdict_round_trips_through_a_dict() -> None:
    verdict = LLMVerdict(
        Category.DATA_QUALITY, Kind.FRESHNESS, Level.CRITICAL, Decision.NEEDS_SPEC, 0.6, "r", "m"
    )

    assert LLMVerdict.from_dict(verdict.to_dict()) == verdict
    with pytest.raises(ValueError, match="category"):
        LLMVerdict.from_dict({**verdict.to_dict(), "category": "nope"})


# -- malformed answers -------------------------------------------------------------------------


def test_wrong_enum_value_is_invalid(fake: FakeAnthropic, clock: FixedClock) -> None:
    fake.enqueue(tool_answer(category="flaky_test"))
    with make_classifier(fake, clock) as llm:
        outcome = llm.classify(make_request())

    assert outcome.status == "invalid"
    assert outcome.verdict is None
    assert "'category'" in outcome.detail
    assert "'flaky_test'" in outcome.detail


def test_missing_field_is_invalid(fake: FakeAnthropic, clock: FixedClock) -> None:
    answer = {key: value for key, value in GOOD_INPUT.items() if key != "rationale"}
    fake.enqueue(ToolAnswer(input=answer))
    with make_classifier(fake, clock) as llm:
        outcome = llm.classify(make_request())

    assert outcome.status == "invalid"
    assert "missing field(s) 'rationale'" in outcome.detail


def test_text_block_instead_of_tool_use_is_invalid(fake: FakeAnthropic, clock: FixedClock) -> None:
    fake.enqueue(TextAnswer("Looks flaky to me."))
    with make_classifier(fake, clock) as llm:
        outcome = llm.classify(make_request())

    assert outcome.status == "invalid"
    assert "no record_triage tool_use block" in outcome.detail
    assert "stop_reason=end_turn" in outcome.detail


def test_invalid_json_body_is_invalid(fake: FakeAnthropic, clock: FixedClock) -> None:
    fake.enqueue(RawBody(b'{"id": "msg_1", "content": [', status=200))
    with make_classifier(fake, clock) as llm:
        outcome = llm.classify(make_request())

    assert outcome.status == "invalid"
    assert "not valid JSON" in outcome.detail
    assert len(fake.requests) == 1


def test_non_json_body_is_invalid(fake: FakeAnthropic, clock: FixedClock) -> None:
    fake.enqueue(RawBody(b"<html>gateway</html>", content_type="text/html"))
    with make_classifier(fake, clock) as llm:
        outcome = llm.classify(make_request())

    assert outcome.status == "invalid"
    assert "expected a Messages API message" in outcome.detail


@pytest.mark.parametrize(
    ("tool_input", "reason"),
    [
        ({**GOOD_INPUT, "confidence": 1.5}, "'confidence'"),
        ({**GOOD_INPUT, "confidence": -0.1}, "'confidence'"),
        ({**GOOD_INPUT, "confidence": "0.9"}, "'confidence'"),
        ({**GOOD_INPUT, "confidence": True}, "'confidence'"),
        ({**GOOD_INPUT, "rationale": "   "}, "'rationale'"),
        ({**GOOD_INPUT, "rationale": "x" * 2001}, "at most 2000"),
        ({**GOOD_INPUT, "kind": 3}, "'kind'"),
        ({**GOOD_INPUT, "severity": "urgent"}, "'severity'"),
        ({**GOOD_INPUT, "decision": "rewrite"}, "'decision'"),
        ({**GOOD_INPUT, "category": "pending_classification"}, "'category'"),
        ({**GOOD_INPUT, "priority": "high"}, "unexpected field(s) 'priority'"),
        (["code_fix_required"], "expected an object"),
    ],
    ids=[
        "confidence-above-1",
        "confidence-below-0",
        "confidence-string",
        "confidence-bool",
        "blank-rationale",
        "long-rationale",
        "kind-not-string",
        "unknown-severity",
        "unknown-decision",
        "pending-category",
        "extra-field",
        "input-not-object",
    ],
)
def test_malformed_tool_input_is_invalid(
    fake: FakeAnthropic, clock: FixedClock, tool_input: object, reason: str
) -> None:
    fake.enqueue(ToolAnswer(input=tool_input))
    with make_classifier(fake, clock) as llm:
        outcome = llm.classify(make_request())

    assert outcome.status == "invalid"
    assert outcome.verdict is None
    assert reason in outcome.detail


def test_tool_use_of_another_tool_is_invalid(fake: FakeAnthropic, clock: FixedClock) -> None:
    fake.enqueue(ToolAnswer(name="something_else"))
    with make_classifier(fake, clock) as llm:
        outcome = llm.classify(make_request())

    assert outcome.status == "invalid"
    assert "content: tool_use" in outcome.detail


def test_invalid_answer_is_not_cached(fake: FakeAnthropic, clock: FixedClock) -> None:
    fake.enqueue(TextAnswer())
    with make_classifier(fake, clock) as llm:
        first = llm.classify(make_request("fp-retry"))
        second = llm.classify(make_request("fp-retry"))

    assert (first.status, second.status) == ("invalid", "ok")
    assert len(fake.requests) == 2


# -- rate limits, overload, timeouts, errors ---------------------------------------------------


def test_rate_limit_then_success_is_ok_after_one_retry(
    fake: FakeAnthropic, clock: FixedClock
) -> None:
    fake.enqueue(rate_limited(retry_after="0"), tool_answer())
    with make_classifier(fake, clock) as llm:
        outcome = llm.classify(make_request())

    assert outcome.status == "ok"
    assert len(fake.requests) == 2
    assert [r.retry_count for r in fake.requests] == [0, 1]
    assert llm.calls_today == 1  # the SDK's retries are one call of the budget


def test_persistent_overload_is_rate_limited_after_bounded_retries(
    fake: FakeAnthropic, clock: FixedClock
) -> None:
    fake.default = overloaded(retry_after="0.1")
    started = time.monotonic()
    with make_classifier(fake, clock, max_retries=2) as llm:
        outcome = llm.classify(make_request())
    elapsed = time.monotonic() - started

    assert outcome.status == "rate_limited"
    assert outcome.verdict is None
    assert "529" in outcome.detail
    assert "overloaded_error" in outcome.detail
    assert len(fake.requests) == 3
    # Two waits of retry-after (0.1 s), not the SDK's backoff (at least 0.375 s + 0.75 s).
    assert 0.2 <= elapsed < 1.0


def test_persistent_rate_limit_is_rate_limited(fake: FakeAnthropic, clock: FixedClock) -> None:
    fake.default = rate_limited(retry_after="0.05")
    with make_classifier(fake, clock, max_retries=1) as llm:
        outcome = llm.classify(make_request())

    assert outcome.status == "rate_limited"
    assert "429" in outcome.detail
    assert len(fake.requests) == 2


def test_long_retry_after_stops_retrying_and_cools_down(
    fake: FakeAnthropic, clock: FixedClock
) -> None:
    fake.enqueue(rate_limited(retry_after="3600"))
    started = time.monotonic()
    with make_classifier(fake, clock, max_retry_wait_s=30.0) as llm:
        first = llm.classify(make_request("fp-a"))
        elapsed = time.monotonic() - started
        during = llm.classify(make_request("fp-b"))
        clock.set(NOON + timedelta(seconds=3601))
        after = llm.classify(make_request("fp-b"))

    assert first.status == "rate_limited"
    assert "3600" in first.detail
    assert elapsed < 2.0
    assert during.status == "rate_limited"
    assert "cooling down" in during.detail
    assert after.status == "ok"
    assert len(fake.requests) == 2


def test_slow_answer_times_out_quickly(fake: FakeAnthropic, clock: FixedClock) -> None:
    fake.default = Slow(delay_s=5.0)
    started = time.monotonic()
    with make_classifier(fake, clock, timeout_s=0.3, max_retries=1) as llm:
        outcome = llm.classify(make_request())
    elapsed = time.monotonic() - started

    assert outcome.status == "timeout"
    assert outcome.verdict is None
    assert len(fake.requests) == 2  # the SDK retries timeouts too
    assert elapsed < 2.5


def test_server_error_is_an_error_after_retries(fake: FakeAnthropic, clock: FixedClock) -> None:
    fake.default = server_error(retry_after="0.01")
    with make_classifier(fake, clock, max_retries=1) as llm:
        outcome = llm.classify(make_request())

    assert outcome.status == "error"
    assert "500" in outcome.detail
    assert "api_error" in outcome.detail
    assert len(fake.requests) == 2


def test_wrong_api_key_is_an_error_without_retry(fake: FakeAnthropic, clock: FixedClock) -> None:
    with make_classifier(fake, clock, api_key="sk-ant-api03-wrong-key-000000000000000000") as llm:
        outcome = llm.classify(make_request())

    assert outcome.status == "error"
    assert "401" in outcome.detail
    assert "wrong-key" not in outcome.detail
    assert len(fake.requests) == 1


def test_unreachable_server_is_an_error(clock: FixedClock) -> None:
    with FakeAnthropic() as gone:
        base_url, api_key = gone.base_url, gone.api_key
    llm = LLMClassifier(
        api_key=api_key, base_url=base_url, timeout_s=1.0, max_retries=0, clock=clock.now
    )
    with llm:
        outcome = llm.classify(make_request())

    assert outcome.status == "error"
    assert "could not reach" in outcome.detail


def test_api_key_never_appears_in_detail_or_logs(
    clock: FixedClock, caplog: pytest.LogCaptureFixture
) -> None:
    key = "plain-looking-credential-7f3a9c"
    with FakeAnthropic(api_key=key) as fake:
        fake.enqueue(server_error(), tool_answer())
        caplog.set_level(logging.DEBUG)
        with make_classifier(fake, clock, max_retries=0) as llm:
            failed = llm.classify(make_request("fp-1"))
            ok = llm.classify(make_request("fp-2"))

    assert (failed.status, ok.status) == ("error", "ok")
    assert key not in failed.detail
    assert key not in ok.detail
    assert key not in caplog.text
    ours = [r for r in caplog.records if r.name.startswith("triagehub")]
    assert len(ours) == 2


def test_api_key_echoed_by_the_server_is_scrubbed_from_the_detail(clock: FixedClock) -> None:
    key = "plain-looking-credential-7f3a9c"
    with FakeAnthropic(api_key=key) as fake:
        fake.enqueue(dataclasses.replace(server_error(), message=f"bad credential {key}"))
        with make_classifier(fake, clock, max_retries=0) as llm:
            outcome = llm.classify(make_request())

    assert outcome.status == "error"
    assert "bad credential" in outcome.detail
    assert key not in outcome.detail


# -- disabled, budget --------------------------------------------------------------------------


def test_no_api_key_is_skipped_without_a_request(
    fake: FakeAnthropic, clock: FixedClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ANTHROPIC_API_KEY", fake.api_key)  # the environment is not consulted
    for api_key in (None, ""):
        llm = LLMClassifier(api_key=api_key, base_url=fake.base_url, clock=clock.now)
        outcome = llm.classify(make_request())
        assert outcome.status == "skipped_disabled"
        assert outcome.verdict is None
        assert not llm.enabled

    assert fake.requests == []


def test_spent_budget_skips_a_new_fingerprint(fake: FakeAnthropic, clock: FixedClock) -> None:
    with make_classifier(fake, clock, daily_budget=1) as llm:
        first = llm.classify(make_request("fp-1"))
        second = llm.classify(make_request("fp-2"))
        again = llm.classify(make_request("fp-1"))

    assert first.status == "ok"
    assert second.status == "skipped_budget"
    assert second.verdict is None
    assert "budget of 1" in second.detail
    assert again.status == "cached"  # the cache costs no budget
    assert len(fake.requests) == 1


def test_failed_call_counts_against_the_budget(fake: FakeAnthropic, clock: FixedClock) -> None:
    fake.enqueue(server_error())
    with make_classifier(fake, clock, daily_budget=1, max_retries=0) as llm:
        failed = llm.classify(make_request("fp-1"))
        refused = llm.classify(make_request("fp-2"))

    assert (failed.status, refused.status) == ("error", "skipped_budget")
    assert len(fake.requests) == 1


def test_budget_resets_on_the_next_utc_day(fake: FakeAnthropic, clock: FixedClock) -> None:
    clock.set(datetime(2026, 11, 21, 23, 59, tzinfo=UTC))
    with make_classifier(fake, clock, daily_budget=1) as llm:
        first = llm.classify(make_request("fp-1"))
        # 01:30 in UTC+2 is still 23:30 UTC on the 21st: the same budget day.
        clock.set(datetime(2026, 11, 22, 1, 30, tzinfo=timezone(timedelta(hours=2))))
        same_day = llm.classify(make_request("fp-2"))
        clock.set(datetime(2026, 11, 22, 0, 0, 30, tzinfo=UTC))
        next_day = llm.classify(make_request("fp-2"))
        remaining = llm.budget_remaining

    assert first.status == "ok"
    assert same_day.status == "skipped_budget"
    assert next_day.status == "ok"
    assert remaining == 0
    assert len(fake.requests) == 2


def test_naive_clock_is_a_programming_error(fake: FakeAnthropic) -> None:
    with (
        make_classifier(fake, FixedClock(datetime(2026, 11, 21, 12, 0))) as llm,
        pytest.raises(ValueError, match="timezone-aware"),
    ):
        llm.classify(make_request())


# -- secrets -----------------------------------------------------------------------------------


def test_secrets_are_redacted_from_the_request_body(fake: FakeAnthropic, clock: FixedClock) -> None:
    github_token = "ghp_" + "A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r8"
    aws_key = "AKIAIOSFODNN7EXAMPLE"
    request = make_request(
        excerpt=(
            "Traceback (most recent call last):\n"
            f"  git clone https://x-access-token:{github_token}@github.com/acme/shop\n"
            "  password=hunter2-very-secret\n"
            f"  aws_access_key_id {aws_key}\n"
            "  Authorization: Bearer eyJabc.def-ghi_jkl.mno\n"
            "ConnectionError: refused"
        ),
        template="connect postgres://svc:s3cr3t-pw@db.internal:<N>/shop failed",
        check="deploy / api_key=live-key-123456",
    )
    with make_classifier(fake, clock) as llm:
        outcome = llm.classify(request)

    assert outcome.status == "ok"
    sent = fake.requests[0].text
    for secret in (
        github_token,
        aws_key,
        "hunter2-very-secret",
        "eyJabc.def-ghi_jkl.mno",
        "s3cr3t-pw",
        "live-key-123456",
        fake.api_key,
    ):
        assert secret not in sent
    assert "[REDACTED]" in sent
    assert "ConnectionError: refused" in sent
