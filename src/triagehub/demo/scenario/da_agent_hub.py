"""acme/da-agent-hub's runs: a Playwright suite on chromium and firefox (scenario 4 and a
one-off ``toHaveText`` failure)."""

from __future__ import annotations

import random
from datetime import datetime, timedelta
from typing import Final

from triagehub.demo.scenario.data import (
    DAYS,
    FLAKY_CHECK,
    FLAKY_FAIL_DAY,
    FLAKY_RERUN_DAYS,
    FLAKY_RETRY_DAYS,
    TIMEOUT_MARKER,
    WEB_REPO,
)
from triagehub.demo.scenario.plan import Result, Run, assign_commits, minute_offsets, tag_run

# (file, title path, line of the test) for each Playwright test.
_PW_TESTS: Final[tuple[tuple[str, str, int], ...]] = (
    ("tests/dashboard.spec.ts", "loads the dashboard", 8),
    ("tests/dashboard.spec.ts", "shows the KPI tiles", 17),
    ("tests/dashboard.spec.ts", "filters › applies the date range filter", 38),
    ("tests/dashboard.spec.ts", "filters › clears all filters", 52),
    ("tests/export.spec.ts", "exports the workbook as CSV", 11),
    ("tests/auth.spec.ts", "redirects anonymous users to the login page", 5),
    ("tests/auth.spec.ts", "signs in with SSO", 14),
    ("tests/agents.spec.ts", "lists the agent sessions", 9),
)
_PW_PROJECTS: Final = ("chromium", "firefox")
_PW_TIMEOUT: Final = f"\x1b[31m{TIMEOUT_MARKER}\x1b[39m"
_PW_EXPORT_ERROR: Final = (
    "Error: \x1b[2mexpect(\x1b[22m\x1b[31mlocator\x1b[39m\x1b[2m).\x1b[22mtoHaveText"
    "\x1b[2m(\x1b[22m\x1b[32mexpected\x1b[39m\x1b[2m)\x1b[22m failed\n\n"
    "Locator:  getByTestId('export-status')\n"
    'Expected: \x1b[32m"Export complete"\x1b[39m\n'
    'Received: \x1b[31m"Export failed: 413 Payload Too Large"\x1b[39m\n'
    "Timeout:  5000ms\n\n"
    "Call log:\n"
    "\x1b[2m  - Expect \"toHaveText\" getByTestId('export-status') with timeout 5000ms\x1b[22m\n"
    "\x1b[2m  - waiting for getByTestId('export-status')\x1b[22m\n"
    '\x1b[2m    {n} × locator resolved to <span data-testid="export-status">Export failed: 413 '
    "Payload Too Large</span>\x1b[22m\n"
    '\x1b[2m      - unexpected value "Export failed: 413 Payload Too Large"\x1b[22m\n'
)


def _pw_header(project: str, file: str, title: str, line: int, number: int) -> str:
    text = f"  {number}) [{project}] › {file}:{line}:3 › {title} "
    return text + "─" * max(3, 100 - len(text))


def _pw_timeout_block(rng: random.Random, file: str, line: int) -> list[str]:
    """One attempt of the date-range test hitting the test timeout, as the list reporter prints."""
    attempts = rng.randint(38, 61)
    return [
        f"    {TIMEOUT_MARKER}",
        "",
        f"    Error: locator.click: {TIMEOUT_MARKER}",
        "    Call log:",
        "      - waiting for getByRole('button', { name: 'Apply' })",
        '        - locator resolved to <button disabled type="submit" class="btn-apply">Apply'
        "</button>",
        "      - attempting click action",
        f"        {attempts} × waiting for element to be visible, enabled and stable",
        "          - element is not enabled",
        f"        - retrying click action, attempt #{attempts}",
        "",
        f"      {line + 2} |     await page.getByLabel('To').fill('2026-11-14');",
        f"    > {line + 3} |     await page.getByRole('button', {{ name: 'Apply' }}).click();",
        "         |                                                       ^",
        f"      {line + 4} |     await expect(page.getByTestId('kpi-revenue'))"
        ".not.toHaveText('—');",
        f"        at /home/runner/work/da-agent-hub/da-agent-hub/{file}:{line + 3}:55",
        "",
    ]


def _pw_timeout_log(
    rng: random.Random, project: str, file: str, title: str, line: int, *, retry_passed: bool
) -> str:
    """Console output of the flaky test: attempt 1 times out; the retry times out again (a
    failure) or passes (Playwright reports the test as flaky)."""
    lines = [_pw_header(project, file, title, line, 1), "", *_pw_timeout_block(rng, file, line)]
    passed = rng.randint(12, 14)
    if retry_passed:
        lines += ["  1 flaky", f"    [{project}] › {file}:{line}:3 › {title}"]
    else:
        lines += ["    Retry #1 " + "─" * 87, "", *_pw_timeout_block(rng, file, line)]
        lines += ["  1 failed", f"    [{project}] › {file}:{line}:3 › {title}"]
    lines.append(f"  1 skipped\n  {passed} passed ({rng.uniform(1.1, 2.4):.1f}m)")
    return "\n".join(lines)


def _pw_export_log(project: str, file: str, title: str, line: int, message: str) -> str:
    plain = message.replace("\x1b[2m", "").replace("\x1b[22m", "")
    for code in ("\x1b[31m", "\x1b[32m", "\x1b[39m"):
        plain = plain.replace(code, "")
    body = ["    " + text if text else "" for text in plain.splitlines()]
    return "\n".join(
        [
            _pw_header(project, file, title, line, 1),
            "",
            *body,
            "",
            f"      {line + 4} |     await page.getByRole('button', {{ name: 'Export' }}).click();",
            f"    > {line + 5} |     await expect(page.getByTestId('export-status'))"
            ".toHaveText('Export complete');",
            f"        at /home/runner/work/da-agent-hub/da-agent-hub/{file}:{line + 5}:52",
        ]
    )


def da_agent_hub_runs(rng: random.Random, origin: datetime) -> list[Run]:
    feature = ("feature/csv-export", "fix/kpi-rounding", "feature/agent-sessions")
    runs: list[Run] = []
    for day in range(DAYS):
        base = origin + timedelta(days=day)
        for minute in minute_offsets(rng, rng.choice((2, 3, 3, 4)), 8 * 60, 20 * 60, 45):
            branch = "main" if rng.random() < 0.8 else rng.choice(feature)
            runs.append(Run(WEB_REPO, 0, day, base + timedelta(minutes=minute), branch=branch))
    for index, run in enumerate(runs):
        run.index = index

    for day in FLAKY_RERUN_DAYS:
        tag_run(runs, day, "flaky_rerun")
    for day in FLAKY_RETRY_DAYS:
        tag_run(runs, day, "flaky_retry")
    flaky_fail = tag_run(runs, FLAKY_FAIL_DAY, "flaky_fail", branch="main")
    tag_run(runs, 6, "export", branch="feature/csv-export")

    assign_commits(rng, runs, lambda r: r.tag == "export")
    # The run after the day-10 failure builds the same commit again, and passes.
    following = runs[flaky_fail.index + 1]
    if following.tag:
        raise RuntimeError("demo scenario: the run after the flaky failure must be untagged")
    following.branch, following.commit = flaky_fail.branch, flaky_fail.commit

    reruns: list[Run] = []
    for run in runs:
        _pw_fill(rng, run)
        if run.tag == "flaky_rerun":
            assert run.finished is not None
            again = Run(
                WEB_REPO,
                run.index,
                run.day,
                run.finished + timedelta(minutes=rng.randint(4, 18)),
                branch=run.branch,
                tag="flaky_rerun_pass",
                commit=run.commit,
                attempt=2,
            )
            _pw_fill(rng, again)
            reruns.append(again)
    return runs + reruns


def _pw_fill(rng: random.Random, run: Run) -> None:
    fails_flaky = run.tag in ("flaky_rerun", "flaky_fail")
    for project in _PW_PROJECTS:
        for file, title, line in _PW_TESTS:
            check = f"{project} › {file} › {title}"
            duration = round(rng.uniform(0.8, 6.5), 2)
            if project == "firefox" and title == "signs in with SSO":
                result = Result(check, "skip", "SSO popup flow is chromium-only", "", 0.0)
            elif check == FLAKY_CHECK and fails_flaky:
                log = _pw_timeout_log(rng, project, file, title, line, retry_passed=False)
                result = Result(check, "fail", _PW_TIMEOUT, log, round(60 + duration, 2))
            elif check == FLAKY_CHECK and run.tag == "flaky_retry":
                log = _pw_timeout_log(rng, project, file, title, line, retry_passed=True)
                result = Result(check, "flaky", _PW_TIMEOUT, log, round(30 + duration, 2))
            elif run.tag == "export" and file == "tests/export.spec.ts":
                message = _PW_EXPORT_ERROR.replace("{n}", str(rng.randint(8, 10)))
                log = _pw_export_log(project, file, title, line, message)
                result = Result(check, "fail", message, log, round(10 + duration, 2))
            else:
                result = Result(check, "pass", duration_s=duration)
            run.results.append(result)
    elapsed = sum(r.duration_s for r in run.results) / 2 + rng.uniform(70, 140)
    run.finished = run.start + timedelta(seconds=round(elapsed))
