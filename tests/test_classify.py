"""The deterministic classifier: every rule family, the heuristics, routing, SLA, user rules."""

from __future__ import annotations

import enum
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from triagehub.config import Settings, load_settings, parse_settings
from triagehub.core.classify import Classifier, ClassifyInput, detect_kind, exit_code_of
from triagehub.core.classify.rules import TEXT_RULES
from triagehub.core.fingerprint import normalize
from triagehub.core.history import CheckHistory
from triagehub.core.models import (
    Category,
    Decision,
    HistoryClass,
    IssueState,
    Kind,
    Level,
    Scope,
    Status,
)
from triagehub.errors import ConfigError

# One real-looking message per built-in text rule: (rule name, source, check, message).
RULE_SAMPLES = [
    (
        "web_assertion",
        "playwright",
        "e2e › login",
        "Error: expect(locator).toHaveText(expected) failed",
    ),
    ("network_timeout", "generic", "CI / test", "httpx.ReadTimeout: timed out after 30s"),
    ("timeout", "playwright", "e2e › login", "Test timeout of 30000ms exceeded."),
    ("network", "generic", "CI / deps", "curl: (6) Could not resolve host: github.com"),
    ("capacity", "generic", "CI / build", "OSError: [Errno 28] No space left on device"),
    ("dbt_freshness", "dbt", "source.shop.raw.orders", "Source raw.orders is past due: freshness"),
    ("dbt_data_test", "dbt", "test.shop.unique_id", "Got 5 results, configured to fail if != 0"),
    (
        "schema_change",
        "dbt",
        "model.shop.orders",
        "This model has an enforced contract that failed",
    ),
    (
        "database_runtime",
        "generic",
        "nightly / load",
        'Binder Error: Referenced column "amount" not found',
    ),
    (
        "dbt_compilation",
        "dbt",
        "model.shop.orders",
        "Compilation Error in model orders: 'ref' is undefined",
    ),
    (
        "dependency",
        "generic",
        "CI / deps",
        "ERROR: No matching distribution found for nosuchpkg==9.9",
    ),
    ("formatter", "generic", "CI / style", "would reformat src/app.py"),
    ("linter", "generic", "CI / lint", "src/app.py:3:1: F401 `os` imported but unused"),
    (
        "compiler",
        "generic",
        "CI / build",
        "main.c:3:5: error: expected ';' before 'return'\nfatal error: build stopped",
    ),
    (
        "deployment",
        "generic",
        "CD / release",
        "Deployment failed: pod api-7f9 is in CrashLoopBackOff",
    ),
    ("assertion", "junit", "tests/test_a.py::test_x", "AssertionError: assert 1 == 2"),
    (
        "registry_unreachable",
        "generic",
        "CI / deps",
        "WARNING: Retrying (Retry(total=4)) after connection broken by 'NewConnectionError(...)'",
    ),
    ("busy", "generic", "nightly / enqueue", "Error: in prepare, database is locked (5)"),
    ("corrupt_download", "generic", "CI / setup", "gzip: stdin: not in gzip format"),
    (
        "corrupt_data",
        "generic",
        "backup / verify",
        "gzip: dump.gz: invalid compressed data--crc error",
    ),
    ("environment", "generic", "CI / db", 'FATAL:  database "nope_db" does not exist'),
    ("data_integrity", "generic", "nightly / load", "UNIQUE constraint failed: customers.email"),
    (
        "git",
        "generic",
        "CI / merge",
        "error: pathspec 'v2.4.1' did not match any file(s) known to git",
    ),
    ("push_rejected", "generic", "CI / push", " ! [rejected]        main -> main (fetch first)"),
    ("compiler_symptom", "generic", "step", "SyntaxError: Unexpected token '{'"),
    (
        "deploy_wait",
        "generic",
        "CD / deploy",
        "Error: UPGRADE FAILED: timed out waiting for the condition",
    ),
    ("runner_lost", "generic", "CI / build", "The runner has received a shutdown signal."),
    (
        "missing_relation",
        "dbt",
        "model.shop.orders",
        'Database Error in model orders: relation "raw.orders" does not exist',
    ),
]


def test_every_text_rule_has_a_sample() -> None:
    assert {r.name for r in TEXT_RULES} == {name for name, *_ in RULE_SAMPLES}


@pytest.mark.parametrize(("rule", "source", "check", "message"), RULE_SAMPLES)
def test_each_text_rule_fires_on_its_sample(
    rule: str, source: str, check: str, message: str
) -> None:
    match = detect_kind(source, check, normalize(message))
    assert match.rule == rule
    assert match.confidence == 0.9


@pytest.mark.parametrize(
    ("check", "kind"),
    [
        ("dbt build / test.shop.not_null_x", "data_test"),
        ("dbt build / model.shop.orders", "runtime"),
        ("CI / lint", "lint"),
        ("CI / deploy production", "deployment"),
        ("CI / install dependencies", "dependency"),
        ("CI / build wheel", "build"),
        ("tests/test_api.py::test_get", "test"),
    ],
)
def test_check_name_rules_decide_when_the_text_says_nothing(check: str, kind: str) -> None:
    match = detect_kind("generic", check, "something went wrong")
    assert match.kind.value == kind and match.confidence == 0.7


def test_weak_text_rules_yield_to_the_check_name() -> None:
    # A database error in a deploy step is a deployment problem; in a dbt model, a runtime one.
    deploy = detect_kind("generic", "CD / migrate", normalize('ERROR: relation "x" does not exist'))
    assert deploy.kind.value == "deployment" and "over missing_relation" in deploy.rule
    dbt = detect_kind("dbt", "model.shop.x", normalize("Runtime Error in model x"))
    assert dbt.kind.value == "runtime"
    lint = detect_kind("generic", "CI / lint / node --check", "SyntaxError: Unexpected token")
    assert lint.kind.value == "lint"


def test_exit_codes_decide_when_nothing_else_does() -> None:
    timeout = detect_kind("generic", "nightly / wait", "Process completed", exit_code=124)
    assert (timeout.kind.value, timeout.transient) == ("timeout", False)  # not proof of transience
    killed = detect_kind("generic", "nightly / wait", "Process completed", exit_code=137)
    assert killed.kind.value == "infrastructure"


def test_fallback_is_low_confidence() -> None:
    match = detect_kind("generic", "step 3", "something went wrong")
    assert match.rule == "fallback" and match.confidence == 0.4


def test_environmental_kinds_group_per_repository() -> None:
    assert detect_kind("generic", "x", normalize("connect ECONNREFUSED 10.0.0.1:80")).environmental
    assert detect_kind("generic", "x", normalize("No space left on device")).environmental
    # A test's own time limit is the test's problem, grouped per check.
    assert not detect_kind("playwright", "e2e › a", "Test timeout of <dur> exceeded.").environmental


def _input(message: str, **kw: Any) -> ClassifyInput:
    base: dict[str, Any] = {
        "source": "generic",
        "repository": "acme/app",
        "check": "tests/test_a.py::test_x",
        "status": Status.FAIL,
        "branch": "feature/x",
        "history": HistoryClass.NEW,
    }
    base.update(kw)
    template = normalize(message)
    return ClassifyInput(
        text=template,
        kind=detect_kind(base["source"], base["check"], template),
        message=message,
        **base,
    )


CLASSIFIER = Classifier(Settings())


@pytest.mark.parametrize(
    ("history", "decision"),
    [
        (HistoryClass.PERSISTENT, "needs_spec"),
        (HistoryClass.RECURRING, "needs_spec"),
        (HistoryClass.NEW, "one_off_fix"),
        (HistoryClass.FLAKY, "pending"),
    ],
)
def test_decision_follows_history(history: HistoryClass, decision: str) -> None:
    c = CLASSIFIER.classify(_input("AssertionError: assert 1 == 2", history=history))
    assert c.decision.value == decision
    assert f"decision={decision}" in c.rationale


def test_not_implemented_and_e2e_paths_lean_to_a_spec() -> None:
    c = CLASSIFIER.classify(_input("NotImplementedError: refunds are not implemented"))
    assert c.decision.value == "needs_spec"
    e2e = _input("AssertionError: x", check="tests/e2e/test_checkout.py::test_pay")
    recurring = CLASSIFIER.classify(
        _input(
            "AssertionError: x",
            check="tests/test_unit.py::test_pay",
            history=HistoryClass.RECURRING,
        )
    )
    assert recurring.decision.value == "needs_spec"
    assert "integration/e2e path +1" in CLASSIFIER.classify(e2e).rationale


def test_setup_failures_lean_to_a_one_off_fix() -> None:
    c = CLASSIFIER.classify(
        _input("error in setup of test_x: fixture 'db' not found", history=HistoryClass.RECURRING)
    )
    assert c.decision.value == "one_off_fix"


def test_transient_failures_are_watched_not_fixed() -> None:
    c = CLASSIFIER.classify(_input("curl: (7) Failed to connect to x port 443: Connection refused"))
    assert c.category.value == "transient_failure" and c.decision.value == "ignore"
    persistent = CLASSIFIER.classify(
        _input("No space left on device", history=HistoryClass.PERSISTENT)
    )
    assert persistent.category.value == "infrastructure_issue"


@pytest.mark.parametrize(
    ("message", "branch", "severity"),
    [
        ("Found vulnerability CVE-2024-3094 in xz", "feature/x", "critical"),
        ("production outage: checkout is down", "feature/x", "critical"),
        ("would reformat src/a.py", "main", "low"),
        ("Got 1 result, configured to warn if != 0", "feature/x", "low"),
        ("error[E0308]: mismatched types", "feature/x", "high"),
        ("AssertionError: assert 1 == 2", "main", "high"),
        ("AssertionError: assert 1 == 2", "feature/x", "medium"),
    ],
)
def test_severity(message: str, branch: str, severity: str) -> None:
    assert CLASSIFIER.classify(_input(message, branch=branch)).severity.value == severity


def test_priority_combines_severity_repository_and_history() -> None:
    settings = parse_settings(
        {
            "repositories": {
                "acme/crit": {"priority_level": "critical"},
                "acme/low": {"priority_level": "low"},
            }
        },
        "t.yaml",
    )
    classifier = Classifier(settings)
    msg = "AssertionError: assert 1 == 2"
    assert classifier.classify(_input(msg, repository="acme/crit")).priority.value == "high"
    assert classifier.classify(_input(msg, repository="acme/low")).priority.value == "low"
    # persistent raises it, but critical needs a high-severity failure (here: on main)
    assert (
        classifier.classify(
            _input(msg, repository="acme/crit", history=HistoryClass.PERSISTENT)
        ).priority.value
        == "high"
    )
    assert (
        classifier.classify(
            _input(msg, repository="acme/crit", history=HistoryClass.PERSISTENT, branch="main")
        ).priority.value
        == "critical"
    )


def _settings(data: dict[str, Any]) -> Settings:
    return parse_settings(data, "triagehub.yaml")


def test_automation_rules_route_and_set_the_sla() -> None:
    classifier = Classifier(
        _settings(
            {
                "repositories": {
                    "acme/app": {
                        "automation_rules": {
                            "test_failures": {
                                "auto_assign": "qa",
                                "sla_hours": 12,
                                "priority": "critical",
                            }
                        }
                    }
                }
            }
        )
    )
    c = classifier.classify(_input("AssertionError: x"))
    assert (c.expert, c.sla_hours, c.priority.value) == ("qa", 12, "critical")


def test_default_sla_follows_the_final_priority() -> None:
    c = CLASSIFIER.classify(_input("AssertionError: x"))
    assert c.priority.value == "medium" and c.sla_hours == 72


def test_user_rules_match_every_condition_and_set_fields() -> None:
    classifier = Classifier(
        _settings(
            {
                "classification_rules": [
                    {
                        "name": "oom-in-e2e",
                        "match": {
                            "source": "playwright",
                            "repository": "acme/*",
                            "check": "*e2e*",
                            "branch": ["main", "release/*"],
                            "kind": ["test"],
                            "history": ["new", "recurring"],
                            "message": r"toHaveText",
                            "log": r"Killed",
                            "attempt_gte": 2,
                            "exit_code": [137],
                            "duration_gte": 10,
                        },
                        "set": {
                            "category": "infrastructure_issue",
                            "severity": "high",
                            "decision": "one_off_fix",
                            "expert": "infra",
                            "labels": ["oom"],
                            "sla_hours": 8,
                        },
                    }
                ]
            }
        )
    )
    inp = _input(
        "Error: expect(locator).toHaveText(expected) failed",
        source="playwright",
        check="e2e › dashboard",
        branch="release/1.2",
        attempt=2,
        log="chromium Killed\nProcess completed with exit code 137.",
        duration_s=42.0,
    )
    c = classifier.classify(inp)
    assert c.rules_fired == ("oom-in-e2e",)
    assert (c.category.value, c.severity.value, c.decision.value) == (
        "infrastructure_issue",
        "high",
        "one_off_fix",
    )
    assert (c.expert, c.labels, c.sla_hours, c.confidence) == ("infra", ("oom",), 8, 0.95)
    assert "rule 'oom-in-e2e' set" in c.rationale
    # Any condition failing keeps the rule quiet.
    for change in (
        {"attempt": 1},
        {"branch": "feature/x"},
        {"duration_s": 1.0},
        {"log": "Process completed with exit code 1."},
        {"check": "unit › dashboard"},
    ):
        fields = {
            "source": "playwright",
            "check": "e2e › dashboard",
            "branch": "release/1.2",
            "attempt": 2,
            "log": "chromium Killed\nProcess completed with exit code 137.",
            "duration_s": 42.0,
        } | change
        other = classifier.classify(
            _input("Error: expect(locator).toHaveText(expected) failed", **fields)
        )
        assert other.rules_fired == (), change


def test_rules_apply_in_order_and_stop_ends_the_list() -> None:
    classifier = Classifier(
        _settings(
            {
                "classification_rules": [
                    {
                        "name": "first",
                        "match": {"kind": ["test"]},
                        "set": {"severity": "low", "labels": ["a"]},
                    },
                    {
                        "name": "second",
                        "match": {},
                        "set": {"severity": "high", "labels": ["b"]},
                        "stop": True,
                    },
                    {"name": "third", "match": {}, "set": {"severity": "critical"}},
                ]
            }
        )
    )
    c = classifier.classify(_input("AssertionError: x"))
    assert c.rules_fired == ("first", "second")
    assert c.severity.value == "high" and c.labels == ("a", "b")


def test_ownership_last_match_wins_and_rules_come_first() -> None:
    settings = _settings(
        {
            "ownership": [
                {"pattern": "tests/*", "owner": "@qa"},
                {"pattern": "tests/payments/*", "owner": "@payments"},
            ]
        }
    )
    classifier = Classifier(settings)
    assert (
        classifier.classify(_input("AssertionError: x", check="tests/payments/test_a.py")).expert
        == "@payments"
    )
    assert classifier.classify(_input("AssertionError: x", check="tests/test_b.py")).expert == "@qa"
    assert classifier.classify(_input("AssertionError: x", check="lint")).expert is None


def test_exit_codes_are_read_from_logs() -> None:
    assert exit_code_of("##[error]Process completed with exit code 2.") == 2
    assert exit_code_of("make: *** [all] Error 1", "Command exited with code 137") == 137
    assert exit_code_of("nothing here") is None


@pytest.mark.parametrize(
    ("yaml_text", "path_part", "reason_part"),
    [
        (
            "classification_rules:\n  - name: bad\n    match: {message: '(unclosed'}\n"
            "    set: {severity: low}\n",
            "classification_rules[0]",
            "rule 'bad' match.message",
        ),
        (
            "classification_rules:\n  - name: typo\n    match: {mesage: x}\n"
            "    set: {severity: low}\n",
            "classification_rules[0].match.mesage",
            "unknown key",
        ),
        (
            "classification_rules:\n  - name: empty\n    set: {}\n",
            "classification_rules[0]",
            "sets nothing",
        ),
        (
            "classification_rules:\n  - name: x\n    set: {severity: huge}\n",
            "classification_rules[0].set.severity",
            "critical",
        ),
        (
            "classification_rules:\n  - {name: a, set: {severity: low}}\n"
            "  - {name: a, set: {severity: low}}\n",
            "classification_rules",
            "two classification rules are named 'a'",
        ),
    ],
)
def test_config_errors_name_the_rule_and_the_file(
    tmp_path: Path, yaml_text: str, path_part: str, reason_part: str
) -> None:
    path = tmp_path / "triagehub.yaml"
    path.write_text(yaml_text)
    with pytest.raises(ConfigError) as info:
        load_settings(path)
    assert info.value.file == str(path)
    assert info.value.key_path.startswith(path_part)
    assert reason_part in info.value.reason


T0 = datetime(2026, 11, 1, tzinfo=UTC)


def _hist(
    h: CheckHistory, status: str, i: int, commit: str | None = None, attempt: int = 1
) -> bool:
    return h.apply(
        Status(status),
        at=T0 + timedelta(hours=i),
        commit=commit or f"c{i}",
        run_key=f"r{i}" if attempt == 1 else f"r{i - 1}",
        attempt=attempt,
        flaky_clean_runs=3,
    )


def _cls(h: CheckHistory, occurrences: int) -> str:
    return h.history_class(
        issue_occurrences=occurrences, recurring_threshold=3, persistent_threshold=5
    ).value


def test_history_moves_from_new_to_recurring_to_persistent() -> None:
    h = CheckHistory()
    _hist(h, "fail", 0)
    assert _cls(h, 1) == "new"
    _hist(h, "pass", 1)
    _hist(h, "fail", 2)
    _hist(h, "fail", 3)
    assert _cls(h, 3) == "recurring"
    for i in range(4, 7):
        _hist(h, "fail", i)
    assert h.consecutive_failures == 5 and _cls(h, 6) == "persistent"


def test_flaky_is_sticky_until_enough_clean_runs() -> None:
    h = CheckHistory()
    _hist(h, "fail", 0, commit="abc")
    assert _hist(h, "pass", 1, commit="abc")  # same commit: evidence
    assert _cls(h, 1) == "flaky"
    _hist(h, "pass", 2)
    _hist(h, "pass", 3)
    assert _cls(h, 1) == "flaky"
    _hist(h, "pass", 4)
    assert _cls(h, 1) == "new"


def test_pass_on_retry_is_flaky_evidence() -> None:
    h = CheckHistory()
    _hist(h, "fail", 0)
    assert _hist(h, "pass", 1, attempt=2)
    assert h.flaky


# -- transient means proven transient; clear text over check names -------------------------------


@pytest.mark.parametrize(
    ("check", "message"),
    [
        ("CD / deploy", "Error: UPGRADE FAILED: timed out waiting for the condition"),
        ("e2e/checkout.spec.ts › pays", "Test timeout of 30000ms exceeded."),
        (
            "CI / integration",
            "##[error]The job running on runner x has exceeded the maximum "
            "execution time of 360 minutes.",
        ),
        ("CI / smoke", "Process completed with exit code 124. Timed out after 600s"),
    ],
)
def test_a_failure_without_evidence_of_transience_is_not_ignored(check: str, message: str) -> None:
    c = CLASSIFIER.classify(_input(message, check=check))
    assert c.category.value != "transient_failure"
    assert c.decision.value != "ignore"


def test_a_helm_wait_timeout_is_a_deployment_failure() -> None:
    c = CLASSIFIER.classify(
        _input("Error: UPGRADE FAILED: timed out waiting for the condition", check="CD / deploy")
    )
    assert c.kind.value == "deployment" and c.severity.value == "high"


def test_a_first_seen_test_timeout_stays_pending() -> None:
    c = CLASSIFIER.classify(
        _input("Test timeout of 30000ms exceeded.", source="playwright", check="e2e › login")
    )
    assert c.decision.value == "pending"


@pytest.mark.parametrize(
    "message",
    [
        "curl: (56) Recv failure: Connection reset by peer",
        "pip._vendor.urllib3: Retrying (Retry(total=4)) after connection broken by "
        "'NewConnectionError(<pip._vendor.urllib3.connection.HTTPSConnection>)': /simple/pkg/",
        "The runner has received a shutdown signal. This can happen when the runner service is "
        "stopped, or a manually started runner is canceled.",
    ],
)
def test_known_transient_signatures_are_ignored_and_watched(message: str) -> None:
    c = CLASSIFIER.classify(_input(message, check="CI / build"))
    assert (c.category.value, c.decision.value) == ("transient_failure", "ignore")


def test_a_timeout_on_a_check_that_passed_on_retry_is_transient() -> None:
    c = CLASSIFIER.classify(
        _input(
            "Test timeout of 30000ms exceeded.",
            source="playwright",
            check="e2e › login",
            history=HistoryClass.FLAKY,
        )
    )
    assert c.category.value == "transient_failure"


@pytest.mark.parametrize(
    ("message", "kind"),
    [
        ("Runtime Error in model orders (models/orders.sql)\n  division by zero", "runtime"),
        (
            'Database Error in model orders\n  relation "analytics.raw_orders" does not exist',
            "schema",
        ),
    ],
)
def test_a_dbt_error_under_a_dbt_build_check_keeps_the_kind_its_text_says(
    message: str, kind: str
) -> None:
    found = detect_kind("github_actions", "dbt build / Run dbt build", normalize(message))
    assert found.kind.value == kind


def test_a_credentials_error_in_a_deploy_step_is_a_deployment_failure() -> None:
    found = detect_kind(
        "github_actions",
        "deploy / Deploy to production",
        normalize(
            "Unable to locate credentials. You can configure credentials by running "
            '"aws configure".'
        ),
    )
    assert found.kind.value == "deployment"


def test_a_warning_stays_at_most_medium_even_under_a_high_priority_rule() -> None:
    settings = parse_settings(
        {
            "repositories": {
                "acme/app": {
                    "priority_level": "critical",
                    "automation_rules": {"test_failures": {"priority": "high"}},
                }
            }
        },
        "t.yaml",
    )
    c = Classifier(settings).classify(
        _input(
            "Warning in test not_null_orders_id\n  Got 3 results, configured to warn if != 0",
            source="dbt",
            check="test.shop.not_null_orders_id",
        )
    )
    assert (c.severity.value, c.priority.value) == ("low", "medium")


def test_critical_priority_needs_a_high_severity_failure() -> None:
    settings = parse_settings({"repositories": {"acme/app": {"priority_level": "critical"}}}, "t")
    noisy = Classifier(settings).classify(
        _input("curl: (56) Recv failure: Connection reset by peer", history=HistoryClass.PERSISTENT)
    )
    assert noisy.severity.value == "medium" and noisy.priority.value == "high"
    broken_main = Classifier(settings).classify(
        _input("AssertionError: assert total == 42", branch="main")
    )
    assert (broken_main.severity.value, broken_main.priority.value) == ("high", "critical")


@pytest.mark.parametrize(
    "vocabulary", [Category, Kind, Level, HistoryClass, Decision, IssueState, Scope]
)
def test_a_vocabulary_member_formats_as_its_plain_value(vocabulary: type[enum.Enum]) -> None:
    # The classifier's rationale formats members as themselves and the ingest stores str() of
    # them (both cheaper than ``.value``, issue #24): each must give the plain value.
    for member in vocabulary:
        assert type(str(member)) is str
        assert str(member) == f"{member}" == f"{member:}" == member.value


def test_the_rationale_names_values_not_members() -> None:
    c = CLASSIFIER.classify(_input("AssertionError: assert 1 == 2", branch="main"))
    assert c.rationale == (
        "kind=test: rule assertion matched 'AssertionError'; history=new; "
        "category=code_fix_required: test failure; severity=high: fails on the main branch; "
        "priority=high: severity high, repository medium, history new; "
        "decision=one_off_fix: score -1 (new -1; spec at >= 2)"
    )
