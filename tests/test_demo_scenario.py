"""Structure of the bundled demo data (pure: no database, no pipeline)."""

from __future__ import annotations

import json
import re
from collections import Counter, defaultdict
from datetime import UTC, datetime, timedelta, timezone
from functools import cache
from typing import Any

import pytest
import yaml

from triagehub.demo.scenario import (
    DAYS,
    DEMO_CONFIG_YAML,
    DEMO_REPOSITORIES,
    EXPECTED,
    NETWORK_MARKER,
    TIMEOUT_MARKER,
    demo_events,
)

END = datetime(2026, 11, 21, 23, 0, tzinfo=UTC)
RESULT_STATUSES = {"pass", "fail", "error", "skip", "flaky"}
FAILING = {"fail", "error"}
ISO_Z = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$")

Event = dict[str, Any]


@cache
def _events_json(end: datetime) -> str:
    return json.dumps(demo_events(end), sort_keys=True)


def events(end: datetime = END) -> list[Event]:
    """A fresh copy of the demo events (generated once per ``end``)."""
    loaded: list[Event] = json.loads(_events_json(end))
    return loaded


def when(event: Event) -> datetime:
    return datetime.fromisoformat(event["run"]["finished_at"])


def history(repo: str, check: str) -> list[tuple[Event, dict[str, Any]]]:
    """(event, result) for one check, in run order (finished_at, then attempt)."""
    found = [
        (event, result)
        for event in events()
        if event["repository"] == repo
        for result in event["results"]
        if result["check"] == check
    ]
    found.sort(key=lambda pair: (when(pair[0]), pair[0]["run"]["attempt"]))
    return found


def is_storm(event: Event) -> bool:
    return (event["repository"], event["run"]["id"]) == EXPECTED.storm_run


def mask(text: str) -> str:
    """A crude stand-in for the real normalizer: UUIDs, hex runs and digits become placeholders."""
    text = re.sub(
        r"\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b", "<uuid>", text
    )
    text = re.sub(r"\b[0-9a-f]{8,}\b", "<hex>", text)
    return re.sub(r"\d+", "<n>", text)


def test_same_end_gives_identical_events() -> None:
    first = demo_events(END)
    second = demo_events(END)
    assert first == second
    assert json.dumps(first, sort_keys=True) == json.dumps(second, sort_keys=True)


def test_other_end_shifts_times_but_keeps_the_runs() -> None:
    later = END + timedelta(days=3, hours=5)
    shifted = demo_events(later)
    base = events()
    assert len(shifted) == len(base)

    def shape(evs: list[Event]) -> list[tuple[str, str, int, str, tuple[tuple[str, str], ...]]]:
        return sorted(
            (
                e["repository"],
                e["run"]["id"],
                e["run"]["attempt"],
                e["run"]["commit"],
                tuple((r["check"], r["status"]) for r in e["results"]),
            )
            for e in evs
        )

    assert shape(shifted) == shape(base)
    delta = later - END
    by_key = {(e["repository"], e["run"]["id"], e["run"]["attempt"]): e for e in base}
    for event in shifted:
        original = by_key[(event["repository"], event["run"]["id"], event["run"]["attempt"])]
        assert when(event) - when(original) == delta


def test_end_must_be_timezone_aware_and_is_normalised_to_utc() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        demo_events(datetime(2026, 11, 21, 23, 0))
    plus_two = END.astimezone(timezone(timedelta(hours=2)))
    assert demo_events(plus_two) == events()
    assert demo_events(END.replace(microsecond=123_456)) == events()


def test_runs_cover_fourteen_days_ending_at_end_sorted_by_finish() -> None:
    evs = events()
    finished = [when(e) for e in evs]
    assert finished == sorted(finished)
    start = END - timedelta(days=DAYS)
    assert all(start < moment <= END for moment in finished)
    assert finished[0] < start + timedelta(days=1)
    assert finished[-1] > END - timedelta(days=1)
    for event in evs:
        assert datetime.fromisoformat(event["run"]["started_at"]) < when(event)
    for repo in DEMO_REPOSITORIES:
        days = {(when(e) - start).days for e in evs if e["repository"] == repo}
        assert days == set(range(DAYS)), repo


def test_size_is_modest_and_mostly_green() -> None:
    evs = events()
    results = [r for e in evs for r in e["results"]]
    assert 150 <= len(evs) <= 300
    assert 2_000 <= len(results) <= 6_000
    assert all(10 <= len(e["results"]) <= 30 for e in evs)
    failing = sum(r["status"] in FAILING for r in results)
    assert 0 < failing < len(results) * 0.05
    assert sum(e["run"]["status"] == "success" for e in evs) > len(evs) / 2
    per_repo_day = Counter(
        (e["repository"], (when(e) - (END - timedelta(days=DAYS))).days)
        for e in evs
        if e["run"]["attempt"] == 1
    )
    assert all(2 <= count <= 5 for count in per_repo_day.values())


def test_event_format() -> None:
    seen: set[tuple[str, str, int]] = set()
    for event in events():
        assert set(event) == {"source", "repository", "run", "results"}
        assert event["source"] == "generic"
        assert event["repository"] in DEMO_REPOSITORIES
        run = event["run"]
        assert set(run) == {
            "id",
            "attempt",
            "commit",
            "branch",
            "url",
            "started_at",
            "finished_at",
            "status",
        }
        assert run["id"].isdigit()
        assert re.fullmatch(r"[0-9a-f]{7}", run["commit"])
        assert run["branch"]
        assert run["url"].startswith(f"https://github.com/{event['repository']}/actions/runs/")
        assert ISO_Z.match(run["started_at"])
        assert ISO_Z.match(run["finished_at"])
        key = (event["repository"], run["id"], run["attempt"])
        assert key not in seen
        seen.add(key)
        statuses = [r["status"] for r in event["results"]]
        assert set(statuses) <= RESULT_STATUSES
        expected_status = "failure" if FAILING & set(statuses) else "success"
        assert run["status"] == expected_status
        checks = [r["check"] for r in event["results"]]
        assert len(checks) == len(set(checks))
        for result in event["results"]:
            assert set(result) == {"check", "status", "message", "log", "duration_s"}
            assert isinstance(result["duration_s"], float)
            assert result["duration_s"] >= 0
            if result["status"] in FAILING:
                assert result["message"]
                assert result["log"]
    # A re-run (attempt 2) repeats the run id and commit of attempt 1.
    by_key = {(e["repository"], e["run"]["id"], e["run"]["attempt"]): e for e in events()}
    for (repo, run_id, attempt), event in by_key.items():
        if attempt > 1:
            first = by_key[(repo, run_id, 1)]
            assert first["run"]["commit"] == event["run"]["commit"]
            assert when(first) < datetime.fromisoformat(event["run"]["started_at"])


def test_events_are_json_serialisable() -> None:
    evs = demo_events(END)
    assert json.loads(json.dumps(evs)) == evs


def test_check_naming_per_source() -> None:
    checks = {(e["repository"], r["check"]) for e in events() for r in e["results"]}
    for repo, check in checks:
        if repo == "acme/dbt_cloud":
            assert re.fullmatch(r"dbt build / (seed|model|test)\.jaffle\.\w+", check), check
        elif repo == "acme/roy_kent":
            assert check.startswith("CI / ") and check.count(" / ") == 2, check
        else:
            assert re.fullmatch(r"(chromium|firefox) › tests/\w+\.spec\.ts › .+", check), check


def test_repeated_failure_varies_only_in_volatile_parts() -> None:
    repo, check = EXPECTED.repeated_check
    failures = [(e, r) for e, r in history(repo, check) if r["status"] in FAILING]
    failures = [(e, r) for e, r in failures if not is_storm(e)]
    assert len(failures) == len(EXPECTED.repeated_days) >= 3
    assert len({when(e).date() for e, _ in failures}) >= 3
    messages = [r["message"] for _, r in failures]
    assert len(set(messages)) == len(messages)  # every raw message differs ...
    assert len({mask(m) for m in messages}) == 1  # ... but they share one template
    assert all("/tmp/pytest-of-runner/pytest-" in m for m in messages)
    assert len({r["duration_s"] for _, r in failures}) == len(failures)
    # Never on a commit where the check also passed: recurring, not flaky.
    fail_commits = {e["run"]["commit"] for e, _ in failures}
    for event, result in history(repo, check):
        if event["run"]["commit"] in fail_commits:
            assert result["status"] in FAILING


def test_data_test_failure_counts_vary() -> None:
    repo, check = EXPECTED.data_test_check
    failures = [r for _, r in history(repo, check) if r["status"] in FAILING]
    counts = []
    for result in failures:
        match = re.fullmatch(r"Got (\d+) results, configured to fail if != 0", result["message"])
        assert match, result["message"]
        counts.append(int(match.group(1)))
    assert tuple(counts) == EXPECTED.data_test_counts
    assert len(set(counts)) >= 3


def test_transient_failure_heals() -> None:
    for repo, check in EXPECTED.transient_checks:
        runs = history(repo, check)
        failing = [i for i, (e, r) in enumerate(runs) if r["status"] in FAILING and not is_storm(e)]
        assert 1 <= len(failing) <= 2
        for index in failing:
            assert NETWORK_MARKER in runs[index][1]["message"]
        after = runs[failing[-1] + 1 :]
        assert len(after) >= 3
        assert all(r["status"] == "pass" for _, r in after)
    main_repo, main_check = EXPECTED.transient_check
    assert (main_repo, main_check) in EXPECTED.transient_checks
    assert (
        len([1 for _, r in history(main_repo, main_check) if NETWORK_MARKER in r["message"]]) == 2
    )


def test_flaky_check_fails_and_passes_on_the_same_commit() -> None:
    repo, check = EXPECTED.flaky_check
    runs = history(repo, check)
    outcomes: dict[str, set[str]] = defaultdict(set)
    for event, result in runs:
        outcomes[event["run"]["commit"]].add(result["status"])
    mixed = [commit for commit, seen in outcomes.items() if {"fail", "pass"} <= seen]
    assert len(mixed) >= 3
    # Strongest form: attempt 1 fails, attempt 2 of the same run id passes.
    by_run: dict[str, dict[int, str]] = defaultdict(dict)
    for event, result in runs:
        by_run[event["run"]["id"]][event["run"]["attempt"]] = result["status"]
    reruns = [ids for ids, att in by_run.items() if att.get(1) == "fail" and att.get(2) == "pass"]
    assert len(reruns) == len(EXPECTED.flaky_rerun_days) >= 3
    flaky = [r for _, r in runs if r["status"] == "flaky"]
    assert flaky
    bad = [(e, r) for e, r in runs if r["status"] in {"fail", "flaky"}]
    assert len({when(e).date() for e, _ in bad}) >= 4
    assert all(TIMEOUT_MARKER in r["message"] and "\x1b[" in r["message"] for _, r in bad)
    assert any(r["status"] == "pass" for _, r in runs[-3:])  # still mostly green at the end


def test_persistent_failure_never_passes_once_started() -> None:
    repo, check = EXPECTED.persistent_check
    runs = history(repo, check)
    statuses = [r["status"] for _, r in runs]
    start = next(i for i, status in enumerate(statuses) if status in FAILING)
    assert "pass" in statuses[:start]  # it started inside the window
    tail = runs[start:]
    assert len(tail) >= 6
    assert all(r["status"] in FAILING for _, r in tail)
    assert len({r["message"] for _, r in tail}) == 1
    assert "does not exist" in tail[0][1]["message"]
    repo_runs = [e for e in events() if e["repository"] == repo]
    assert len(repo_runs) - sum(when(e) < when(tail[0][0]) for e in repo_runs) == len(tail)


def test_one_infrastructure_storm() -> None:
    storm = [e for e in events() if is_storm(e)]
    assert len(storm) == 1
    results = storm[0]["results"]
    failing = [r for r in results if r["status"] in FAILING]
    assert len(results) >= 20
    assert len(failing) >= 0.8 * len(results)
    assert all(EXPECTED.storm_marker in r["message"] for r in failing)
    assert len({r["message"] for r in failing}) == len(failing)  # paths differ ...
    assert len({mask(r["message"]) for r in failing}) == 1  # ... one template
    # No other run would trip the storm guard (half of >= 10 checks failing).
    for event in events():
        if not is_storm(event):
            bad = sum(r["status"] in FAILING for r in event["results"])
            assert bad < len(event["results"]) / 2


def test_one_off_failures_fail_exactly_once() -> None:
    for repo, check in EXPECTED.one_off_checks:
        failures = [(e, r) for e, r in history(repo, check) if r["status"] in FAILING]
        assert len([1 for e, _ in failures if not is_storm(e)]) == 1, check
        assert any(r["status"] == "pass" for _, r in history(repo, check))


def test_secrets_are_planted_in_logs() -> None:
    logs = "\n".join(r["log"] for e in events() for r in e["results"])
    for secret in EXPECTED.secrets:
        assert secret in logs
    assert "Authorization: Bearer ghp_" in logs


def test_real_tool_messages_are_used() -> None:
    messages = "\n".join(r["message"] for e in events() for r in e["results"])
    logs = "\n".join(r["log"] for e in events() for r in e["results"])
    assert 'Binder Error: Referenced column "total_amount" not found in FROM clause!' in messages
    assert "configured to fail if != 0" in messages
    assert "\x1b[31m" in messages  # Playwright keeps its ANSI colours
    assert re.search(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{7}Z ##\[error\]", logs, re.M)


def test_demo_config_matches_repositories() -> None:
    config = yaml.safe_load(DEMO_CONFIG_YAML)
    repos = config["repositories"]
    assert set(repos) == set(DEMO_REPOSITORIES)
    for repo, level in DEMO_REPOSITORIES.items():
        assert repos[repo]["priority_level"] == level
        assert repos[repo]["automation_rules"]
    schema = repos["acme/dbt_cloud"]["automation_rules"]["schema_errors"]
    assert schema == {
        "priority": "critical",
        "auto_assign": "dbt-expert",
        "sla_hours": 4,
        "escalate_after": 8,
    }
    assert config["escalation_triggers"] == {
        "high_volume_threshold": 5,
        "critical_response_time": 4,
        "recurring_issue_threshold": 3,
        "cross_repo_correlation_threshold": 2,
    }
