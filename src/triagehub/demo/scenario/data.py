"""The demo scenario's data: the repositories and their configuration, the scenario days and
checks, the secrets planted in logs, and what the demo must contain (``EXPECTED``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

SEED: Final = 20261120
DAYS: Final = 14

DBT_REPO: Final = "acme/dbt_cloud"
CI_REPO: Final = "acme/roy_kent"
WEB_REPO: Final = "acme/da-agent-hub"

DEMO_REPOSITORIES: Final[dict[str, str]] = {
    DBT_REPO: "critical",
    CI_REPO: "high",
    WEB_REPO: "medium",
}

DEMO_CONFIG_YAML: Final = """\
# triagehub.yaml for the bundled demo (acme/* repositories).
repositories:
  acme/dbt_cloud:
    priority_level: critical
    dbt_project: triage_demo  # the real dbt Core artifacts of the demo belong here
    automation_rules:
      schema_errors: {priority: critical, auto_assign: dbt-expert, sla_hours: 4, escalate_after: 8}
      test_failures: {priority: high, auto_assign: dbt-expert, sla_hours: 24, pattern_check: true}
      performance_issues: {priority: medium, auto_assign: snowflake-expert, sla_hours: 48}
  acme/roy_kent:
    priority_level: high
    automation_rules:
      workflow_failures: {priority: high, auto_assign: github-sleuth-expert, sla_hours: 24}
  acme/da-agent-hub:
    priority_level: medium
    automation_rules:
      dashboard_failures: {priority: medium, auto_assign: tableau-expert, sla_hours: 72}
escalation_triggers:
  high_volume_threshold: 5
  critical_response_time: 4
  recurring_issue_threshold: 3
  cross_repo_correlation_threshold: 2
experts:  # who each expert is; a group is balanced by open workload
  dbt-expert: {github: [priya, dmitri], slack: "#data-alerts"}
  snowflake-expert: {github: [sam], slack: "#warehouse"}
  github-sleuth-expert: {github: [alice, bo], slack: "#ci-alerts"}
  tableau-expert: {github: [lee], slack: "#dashboards"}
  da-architect: {github: [robin]}
"""

# Fake credentials planted in logs so that redaction is exercised. Not real, never were.
FAKE_GITHUB_TOKEN: Final = "ghp_" + "DEMO" * 9
FAKE_DB_PASSWORD: Final = "hunter2"

STORM_MARKER: Final = "No space left on device"
NETWORK_MARKER: Final = "Could not resolve host: github.com"
TIMEOUT_MARKER: Final = "Test timeout of 30000ms exceeded."

CheckRef = tuple[str, str]


@dataclass(frozen=True)
class Expected:
    """What the demo contains, for tests and for the demo command's own sanity checks."""

    repeated_check: CheckRef
    repeated_days: tuple[int, ...]
    data_test_check: CheckRef
    data_test_counts: tuple[int, ...]
    transient_check: CheckRef
    transient_checks: tuple[CheckRef, ...]
    flaky_check: CheckRef
    flaky_rerun_days: tuple[int, ...]
    persistent_check: CheckRef
    persistent_from_day: int
    storm_run: tuple[str, str]
    storm_marker: str
    one_off_checks: tuple[CheckRef, ...]
    secrets: tuple[str, ...]


DBT_PREFIX = "dbt build / "
REPEATED_CHECK = "CI / test (3.11) / Run pytest"
TRANSIENT_CHECKS = (
    "CI / test (3.11) / Install dependencies",
    "CI / test (3.12) / Install dependencies",
)
FLAKY_CHECK = "chromium › tests/dashboard.spec.ts › filters › applies the date range filter"
DATA_TEST = "test.jaffle.unique_stg_customers_customer_id"
PERSISTENT_NODE = "model.jaffle.customer_ltv"

REPEATED_DAYS = (4, 7, 9, 11, 13)
DATA_TEST_DAYS = (1, 3, 6, 8)
DATA_TEST_COUNTS = (3, 5, 7, 4)
FLAKY_RERUN_DAYS = (1, 5, 9, 12)
FLAKY_RETRY_DAYS = (3, 7, 11)
FLAKY_FAIL_DAY = 10
PERSISTENT_DAY = 9
STORM_DAY = 2
TRANSIENT_DAY = 8

EXPECTED: Final = Expected(
    repeated_check=(CI_REPO, REPEATED_CHECK),
    repeated_days=REPEATED_DAYS,
    data_test_check=(DBT_REPO, DBT_PREFIX + DATA_TEST),
    data_test_counts=DATA_TEST_COUNTS,
    transient_check=(CI_REPO, TRANSIENT_CHECKS[0]),
    transient_checks=tuple((CI_REPO, check) for check in TRANSIENT_CHECKS),
    flaky_check=(WEB_REPO, FLAKY_CHECK),
    flaky_rerun_days=FLAKY_RERUN_DAYS,
    persistent_check=(DBT_REPO, DBT_PREFIX + PERSISTENT_NODE),
    persistent_from_day=PERSISTENT_DAY,
    storm_run=(CI_REPO, "11873713521"),
    storm_marker=STORM_MARKER,
    one_off_checks=(
        (DBT_REPO, DBT_PREFIX + "model.jaffle.stg_orders"),
        (CI_REPO, "CI / lint / Run ruff"),
        (CI_REPO, "CI / lint / Run mypy"),
        (CI_REPO, "CI / test (3.12) / Run pytest"),
        (CI_REPO, "CI / integration / Run integration tests"),
        (WEB_REPO, "chromium › tests/export.spec.ts › exports the workbook as CSV"),
        (WEB_REPO, "firefox › tests/export.spec.ts › exports the workbook as CSV"),
    ),
    secrets=(FAKE_GITHUB_TOKEN, f"postgresql://roy:{FAKE_DB_PASSWORD}@"),
)

# run id = base + index * stride: numeric, unique per repository, independent of ``end``.
RUN_IDS: Final[dict[str, tuple[int, int]]] = {
    DBT_REPO: (8_731, 3),
    CI_REPO: (11_873_640_112, 10_487),
    WEB_REPO: (11_902_310_555, 8_219),
}
