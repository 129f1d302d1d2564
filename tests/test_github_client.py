"""GitHubClient against a stateful fake GitHub (behaviour) and Prism (requests match the spec)."""

from __future__ import annotations

import io
import itertools
import logging
import random
import threading
import zipfile
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from fake_github import DEFAULT_TOKEN, Disconnect, FakeGitHub, Reply, make_job, make_run
from triagehub.actions.github import GitHubClient, LogTooLargeError
from triagehub.clock import FixedClock
from triagehub.errors import ExternalServiceError

pytest_plugins = ["prism"]

NOW = datetime(2026, 11, 21, 12, 0, 0, tzinfo=UTC)
REPO = "octo-org/octo-repo"


@pytest.fixture
def fake() -> Iterator[FakeGitHub]:
    with FakeGitHub() as server:
        yield server


@pytest.fixture
def sleeps() -> list[float]:
    return []


def make_client(
    base_url: str,
    sleeps: list[float],
    *,
    token: str | None = DEFAULT_TOKEN,
    max_retries: int = 3,
    etag_cache_size: int = 256,
) -> GitHubClient:
    return GitHubClient(
        token,
        base_url=base_url,
        timeout_s=5,
        max_retries=max_retries,
        etag_cache_size=etag_cache_size,
        clock=FixedClock(NOW),
        sleep=sleeps.append,
        rng=random.Random(7),
    )


@pytest.fixture
def client(fake: FakeGitHub, sleeps: list[float]) -> Iterator[GitHubClient]:
    with make_client(fake.base_url, sleeps) as github:
        yield github


def rate_limited(status: int, **headers: str) -> Reply:
    message = "API rate limit exceeded for user ID 1."
    return Reply(
        status, {"message": message, "documentation_url": "https://docs.github.com"}, headers
    )


# -- workflow runs ------------------------------------------------------------------------------


def test_runs_are_read_across_three_pages_by_following_link_headers(
    client: GitHubClient, fake: FakeGitHub
) -> None:
    fake.add_runs(250)

    runs = list(client.list_workflow_runs(REPO))

    assert [r["id"] for r in runs] == list(range(250, 0, -1))
    assert [r.query.get("page") for r in fake.requests] == [None, "2", "3"]
    assert {r.query["per_page"] for r in fake.requests} == {"100"}


def test_runs_are_requested_lazily_page_by_page(client: GitHubClient, fake: FakeGitHub) -> None:
    fake.add_runs(250)

    first = list(itertools.islice(client.list_workflow_runs(REPO), 100))

    assert len(first) == 100
    assert len(fake.requests) == 1


def test_list_runs_sends_since_branch_and_status_filters(
    client: GitHubClient, fake: FakeGitHub
) -> None:
    fake.add_runs(3, branch="main", created_at=NOW - timedelta(days=2))
    fake.add_runs(2, branch="main", created_at=NOW - timedelta(hours=1))
    fake.add_runs(2, branch="dev", created_at=NOW - timedelta(hours=1))
    since = datetime(2026, 11, 21, 13, 0, tzinfo=timezone(timedelta(hours=2)))

    runs = list(client.list_workflow_runs(REPO, since=since, branch="main", status="failure"))

    assert [r["id"] for r in runs] == [5, 4]
    assert fake.requests[0].query == {
        "per_page": "100",
        "created": ">=2026-11-21T11:00:00Z",
        "branch": "main",
        "status": "failure",
    }


def test_list_runs_asks_for_completed_runs_by_default(
    client: GitHubClient, fake: FakeGitHub
) -> None:
    list(client.list_workflow_runs(REPO))

    assert fake.requests[0].query == {"per_page": "100", "status": "completed"}


def test_since_must_be_timezone_aware(client: GitHubClient, fake: FakeGitHub) -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        client.list_workflow_runs(REPO, since=datetime(2026, 11, 1))

    assert fake.requests == []


def test_workflow_file_uses_the_workflow_runs_endpoint(
    client: GitHubClient, fake: FakeGitHub
) -> None:
    fake.add_runs(2, path=".github/workflows/ci.yml")
    fake.add_runs(1, name="Nightly", path=".github/workflows/nightly.yml", workflow_id=7)

    runs = list(client.list_workflow_runs(REPO, workflow=".github/workflows/nightly.yml"))

    assert [r["id"] for r in runs] == [3]
    assert fake.requests[0].path == "/repos/octo-org/octo-repo/actions/workflows/nightly.yml/runs"


def test_workflow_name_filters_the_repository_runs_by_name(
    client: GitHubClient, fake: FakeGitHub
) -> None:
    fake.add_runs(2, name="CI")
    fake.add_runs(1, name="Nightly", path=".github/workflows/nightly.yml")

    runs = list(client.list_workflow_runs(REPO, workflow="CI"))

    assert [r["id"] for r in runs] == [2, 1]
    assert fake.requests[0].path == "/repos/octo-org/octo-repo/actions/runs"


@pytest.mark.parametrize("repo", ["octo-org/octo-repo/../x", "octo-repo", "octo-org/..", ""])
def test_malformed_repository_is_refused_before_any_request(
    client: GitHubClient, fake: FakeGitHub, repo: str
) -> None:
    with pytest.raises(ValueError, match="owner/name"):
        client.get_run(repo, 1)

    assert fake.requests == []


def test_get_run_returns_the_run(client: GitHubClient, fake: FakeGitHub) -> None:
    fake.add_runs(3)

    run = client.get_run(REPO, 2)

    assert run == make_run(2)


# -- jobs ---------------------------------------------------------------------------------------


def test_list_jobs_asks_for_the_latest_attempt_and_keeps_steps(
    client: GitHubClient, fake: FakeGitHub
) -> None:
    fake.add_runs(1)
    fake.jobs[1] = [make_job(10, 1, attempt=1), make_job(20, 1, attempt=2)]

    jobs = client.list_jobs(REPO, 1)

    assert [j["id"] for j in jobs] == [20]
    assert [s["name"] for s in jobs[0]["steps"]] == ["Set up job", "Run tests"]
    assert fake.requests[0].query == {"per_page": "100", "filter": "latest"}


def test_list_jobs_of_an_attempt_uses_the_attempt_endpoint(
    client: GitHubClient, fake: FakeGitHub
) -> None:
    fake.add_runs(1)
    fake.jobs[1] = [make_job(10, 1, attempt=1), make_job(20, 1, attempt=2)]

    jobs = client.list_jobs(REPO, 1, attempt=1)

    assert [j["id"] for j in jobs] == [10]
    assert fake.requests[0].path == "/repos/octo-org/octo-repo/actions/runs/1/attempts/1/jobs"


def test_list_jobs_follows_pagination(client: GitHubClient, fake: FakeGitHub) -> None:
    fake.add_runs(1)
    fake.jobs[1] = [make_job(i, 1) for i in range(1, 151)]

    jobs = client.list_jobs(REPO, 1)

    assert len(jobs) == 150
    assert len(fake.requests) == 2


# -- conditional requests -----------------------------------------------------------------------


def test_repeated_request_sends_if_none_match_and_a_304_returns_the_cached_body(
    client: GitHubClient, fake: FakeGitHub
) -> None:
    fake.add_runs(1)

    first = client.get_run(REPO, 1)
    second = client.get_run(REPO, 1)

    assert second == first
    assert "if-none-match" not in fake.requests[0].headers
    assert fake.requests[1].headers["if-none-match"].startswith('W/"')


def test_changed_resource_replaces_the_cached_body(client: GitHubClient, fake: FakeGitHub) -> None:
    (run,) = fake.add_runs(1, status="in_progress", conclusion=None)
    client.get_run(REPO, 1)
    run.update(status="completed", conclusion="failure")

    again = client.get_run(REPO, 1)

    assert again["conclusion"] == "failure"


def test_etag_cache_keeps_only_the_most_recent_urls(fake: FakeGitHub, sleeps: list[float]) -> None:
    fake.add_runs(2)
    with make_client(fake.base_url, sleeps, etag_cache_size=1) as github:
        github.get_run(REPO, 1)
        github.get_run(REPO, 2)
        github.get_run(REPO, 1)

    assert ["if-none-match" in r.headers for r in fake.requests] == [False, False, False]


def test_paginated_lists_are_served_from_the_cache_on_304(
    client: GitHubClient, fake: FakeGitHub
) -> None:
    fake.add_runs(150)

    first = list(client.list_workflow_runs(REPO))
    second = list(client.list_workflow_runs(REPO))

    assert second == first
    assert [("if-none-match" in r.headers) for r in fake.requests] == [False, False, True, True]


# -- logs ---------------------------------------------------------------------------------------


def test_job_log_follows_the_redirect_without_sending_authorization(
    client: GitHubClient, fake: FakeGitHub
) -> None:
    fake.job_logs[42] = b"2026-11-21T10:00:00Z line one\r\nline two\nlast line\n"

    lines = list(client.download_job_log(REPO, 42))

    assert lines == ["2026-11-21T10:00:00Z line one", "line two", "last line"]
    assert fake.requests[0].authorization == f"Bearer {DEFAULT_TOKEN}"
    assert len(fake.storage_requests) == 1
    assert fake.storage_requests[0].authorization is None


def test_job_log_drops_the_byte_order_mark(client: GitHubClient, fake: FakeGitHub) -> None:
    fake.job_logs[42] = "\ufeffhello\nwörld\n".encode()

    assert list(client.download_job_log(REPO, 42)) == ["hello", "wörld"]


def test_job_log_lines_arrive_before_the_whole_log_is_sent(
    client: GitHubClient, fake: FakeGitHub
) -> None:
    fake.job_logs[42] = b"".join(b"line %d\n" % i for i in range(100_000))
    fake.storage_gate = threading.Event()  # storage sends half the log, then waits for this
    try:
        lines = client.download_job_log(REPO, 42)
        head = list(itertools.islice(lines, 3))
    finally:
        fake.storage_gate.set()

    assert head == ["line 0", "line 1", "line 2"]
    assert len(list(lines)) == 100_000 - 3


def test_missing_job_log_raises_404(client: GitHubClient, fake: FakeGitHub) -> None:
    with pytest.raises(ExternalServiceError) as caught:
        list(client.download_job_log(REPO, 404))

    assert caught.value.status == 404
    assert fake.storage_requests == []


def test_job_log_url_is_the_signed_storage_location(client: GitHubClient, fake: FakeGitHub) -> None:
    fake.job_logs[42] = b"x\n"

    url = client.job_log_url(REPO, 42)

    assert url.startswith(f"{fake.storage_url}/jobs/42?")
    assert fake.storage_requests == []


def test_run_logs_archive_is_streamed_into_dest(client: GitHubClient, fake: FakeGitHub) -> None:
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("test/2_Run tests.txt", "FAILED tests/test_x.py::test_y\n" * 1000)
    fake.run_logs[7] = archive.getvalue()
    dest = io.BytesIO()

    written = client.download_run_logs(REPO, 7, dest, max_bytes=1_000_000)

    assert written == len(fake.run_logs[7])
    with zipfile.ZipFile(dest) as zf:
        assert zf.namelist() == ["test/2_Run tests.txt"]
    assert fake.storage_requests[0].authorization is None


def test_run_logs_larger_than_max_bytes_are_refused_from_content_length(
    client: GitHubClient, fake: FakeGitHub
) -> None:
    fake.run_logs[7] = b"PK" + b"\0" * 5000
    dest = io.BytesIO()

    with pytest.raises(LogTooLargeError, match="5002 bytes, more than max_bytes=1000"):
        client.download_run_logs(REPO, 7, dest, max_bytes=1000)

    assert dest.getvalue() == b""


def test_run_logs_larger_than_max_bytes_are_refused_while_streaming(
    client: GitHubClient, fake: FakeGitHub
) -> None:
    fake.run_logs[7] = b"PK" + b"\0" * 500_000
    fake.storage_sends_length = False
    dest = io.BytesIO()

    with pytest.raises(LogTooLargeError, match="refused while streaming"):
        client.download_run_logs(REPO, 7, dest, max_bytes=100_000)

    assert len(dest.getvalue()) <= 100_000


# -- re-runs ------------------------------------------------------------------------------------


def test_rerun_failed_jobs_posts_to_the_run(client: GitHubClient, fake: FakeGitHub) -> None:
    fake.add_runs(1)

    client.rerun_failed_jobs(REPO, 1)

    assert fake.reruns == [1]
    assert fake.requests[0].method == "POST"
    assert fake.requests[0].path == "/repos/octo-org/octo-repo/actions/runs/1/rerun-failed-jobs"


# -- rate limits and retries --------------------------------------------------------------------


def test_exhausted_rate_limit_waits_until_reset_then_succeeds(
    client: GitHubClient, fake: FakeGitHub, sleeps: list[float]
) -> None:
    fake.add_runs(1)
    reset = str(int(NOW.timestamp()) + 1)
    fake.script(rate_limited(403, **{"x-ratelimit-remaining": "0", "x-ratelimit-reset": reset}))

    run = client.get_run(REPO, 1)

    assert run["id"] == 1
    assert sleeps == [1.0]
    assert len(fake.requests) == 2


def test_rate_limit_reset_beyond_max_wait_raises_with_retry_after(
    client: GitHubClient, fake: FakeGitHub, sleeps: list[float]
) -> None:
    reset = str(int(NOW.timestamp()) + 3600)
    fake.script(rate_limited(403, **{"x-ratelimit-remaining": "0", "x-ratelimit-reset": reset}))

    with pytest.raises(ExternalServiceError) as caught:
        client.get_run(REPO, 1)

    assert (caught.value.status, caught.value.retry_after) == (403, 3600.0)
    assert "API rate limit exceeded" in str(caught.value)
    assert sleeps == []


def test_secondary_rate_limit_429_waits_retry_after(
    client: GitHubClient, fake: FakeGitHub, sleeps: list[float]
) -> None:
    fake.add_runs(1)
    fake.script(rate_limited(429, **{"retry-after": "7"}))

    client.get_run(REPO, 1)

    assert sleeps == [7.0]


def test_forbidden_without_rate_limit_headers_raises_at_once(
    client: GitHubClient, fake: FakeGitHub, sleeps: list[float]
) -> None:
    fake.script(Reply(403, {"message": "Resource not accessible by integration"}))

    with pytest.raises(ExternalServiceError, match="Resource not accessible by integration"):
        client.rerun_failed_jobs(REPO, 1)

    assert sleeps == []


def test_bad_gateway_is_retried_with_backoff_then_succeeds(
    client: GitHubClient, fake: FakeGitHub, sleeps: list[float]
) -> None:
    fake.add_runs(1)
    fake.script(Reply(502, b"<html>Bad Gateway</html>"))

    assert client.get_run(REPO, 1)["id"] == 1
    assert len(sleeps) == 1
    assert 0.5 <= sleeps[0] <= 1.0


def test_server_errors_give_up_after_max_retries_with_growing_waits(
    client: GitHubClient, fake: FakeGitHub, sleeps: list[float]
) -> None:
    fake.script(*[Reply(502, {"message": "Server Error"})] * 4)

    with pytest.raises(ExternalServiceError) as caught:
        client.get_run(REPO, 1)

    assert caught.value.status == 502
    assert "gave up after 4 attempts" in str(caught.value)
    assert len(fake.requests) == 4
    for wait, ceiling in zip(sleeps, (1.0, 2.0, 4.0), strict=True):
        assert ceiling / 2 <= wait <= ceiling


def test_dropped_connection_is_retried_then_succeeds(
    client: GitHubClient, fake: FakeGitHub, sleeps: list[float]
) -> None:
    fake.add_runs(1)
    fake.script(Disconnect())

    assert client.get_run(REPO, 1)["id"] == 1
    assert len(sleeps) == 1


def test_unreachable_server_raises_without_status_after_retries(sleeps: list[float]) -> None:
    with FakeGitHub() as stopped:
        url = stopped.base_url  # the port is closed once the fake stops
    with (
        make_client(url, sleeps, max_retries=2) as github,
        pytest.raises(ExternalServiceError) as caught,
    ):
        github.get_run(REPO, 1)

    assert caught.value.status is None
    assert "ConnectError" in str(caught.value)
    assert len(sleeps) == 2


# -- errors raised at once ----------------------------------------------------------------------


def test_bad_credentials_raise_401_at_once_with_githubs_message(
    fake: FakeGitHub, sleeps: list[float]
) -> None:
    fake.add_runs(1)
    wrong = "ghp_WrongTokenWrongToken0123456789abcd"
    with (
        make_client(fake.base_url, sleeps, token=wrong) as github,
        pytest.raises(ExternalServiceError) as caught,
    ):
        github.get_run(REPO, 1)

    assert caught.value.status == 401
    assert "Bad credentials" in str(caught.value)
    assert (len(fake.requests), sleeps) == (1, [])


def test_unknown_run_raises_404_at_once(
    client: GitHubClient, fake: FakeGitHub, sleeps: list[float]
) -> None:
    with pytest.raises(ExternalServiceError) as caught:
        client.get_run(REPO, 999)

    assert caught.value.status == 404
    assert "GET /repos/octo-org/octo-repo/actions/runs/999: Not Found" in str(caught.value)
    assert (len(fake.requests), sleeps) == (1, [])


@pytest.mark.parametrize(
    ("status", "message"),
    [
        (401, "Requires authentication"),
        (404, "Not Found"),
        (410, "Gone"),
        (422, "Validation Failed"),
    ],
)
def test_client_errors_raise_at_once(
    client: GitHubClient, fake: FakeGitHub, sleeps: list[float], status: int, message: str
) -> None:
    fake.script(Reply(status, {"message": message, "documentation_url": "https://docs.github.com"}))

    with pytest.raises(ExternalServiceError) as caught:
        list(client.list_workflow_runs(REPO))

    assert caught.value.status == status
    assert message in str(caught.value)
    assert (len(fake.requests), sleeps) == (1, [])


def test_validation_error_details_are_in_the_message(
    client: GitHubClient, fake: FakeGitHub
) -> None:
    body = {
        "message": "Validation Failed",
        "errors": [{"resource": "WorkflowRun", "field": "status", "code": "invalid"}],
    }
    fake.script(Reply(422, body))

    with pytest.raises(ExternalServiceError, match="Validation Failed: WorkflowRun status invalid"):
        client.get_run(REPO, 1)


def test_next_page_link_to_another_host_is_not_followed(
    client: GitHubClient, fake: FakeGitHub
) -> None:
    page = {"total_count": 200, "workflow_runs": [make_run(1)]}
    link = f'<{fake.storage_url}/steal?page=2>; rel="next"'
    fake.script(Reply(200, page, {"Link": link}))

    with pytest.raises(ExternalServiceError, match="outside"):
        list(client.list_workflow_runs(REPO))

    assert fake.storage_requests == []


# -- secrets ------------------------------------------------------------------------------------


def test_token_is_redacted_from_error_messages(client: GitHubClient, fake: FakeGitHub) -> None:
    fake.script(Reply(422, {"message": f"token {DEFAULT_TOKEN} is not valid here"}))

    with pytest.raises(ExternalServiceError) as caught:
        client.get_run(REPO, 1)

    assert DEFAULT_TOKEN not in str(caught.value)
    assert "[REDACTED]" in str(caught.value)


def test_token_is_redacted_from_retry_logs(
    client: GitHubClient, fake: FakeGitHub, caplog: pytest.LogCaptureFixture
) -> None:
    fake.add_runs(1)
    fake.script(Reply(503, {"message": f"echo: Authorization: Bearer {DEFAULT_TOKEN}"}))

    with caplog.at_level(logging.WARNING, logger="triagehub.actions.github"):
        client.get_run(REPO, 1)

    assert caplog.records
    assert DEFAULT_TOKEN not in caplog.text
    assert "retrying" in caplog.text


def test_token_that_redact_does_not_recognise_is_still_removed(
    fake: FakeGitHub, sleeps: list[float]
) -> None:
    token = "plain-opaque-credential-0123"
    fake.token = token
    fake.script(Reply(400, {"message": f"bad header {token}"}))
    with (
        make_client(fake.base_url, sleeps, token=token) as github,
        pytest.raises(ExternalServiceError) as caught,
    ):
        github.get_run(REPO, 1)

    assert token not in str(caught.value)


def test_repr_does_not_show_the_token(client: GitHubClient) -> None:
    assert DEFAULT_TOKEN not in repr(client)


def test_without_a_token_requests_are_unauthenticated(
    fake: FakeGitHub, sleeps: list[float]
) -> None:
    fake.add_runs(1)
    with make_client(fake.base_url, sleeps, token=None) as github:
        github.get_run(REPO, 1)

    assert fake.requests[0].authorization is None
    assert fake.requests[0].headers["user-agent"] == "triagehub"
    assert fake.requests[0].headers["x-github-api-version"] == "2022-11-28"


def test_list_pull_requests_checks_its_arguments_before_any_request(
    fake: FakeGitHub, sleeps: list[float]
) -> None:
    bad: list[dict[str, Any]] = [
        {"state": "merged"},
        {"sort": "title"},
        {"direction": "up"},
        {"per_page": 101},
    ]
    with make_client(fake.base_url, sleeps) as github:
        for arguments in bad:
            with pytest.raises(ValueError):
                github.list_pull_requests(REPO, **arguments)
        with pytest.raises(ValueError, match="owner/name"):
            github.list_pull_requests("not-a-repository")

    assert fake.requests == []


# -- Prism: every request the client makes is valid for GitHub's OpenAPI description ----------


@pytest.fixture
def prism_client(prism_url: str) -> Iterator[GitHubClient]:
    with make_client(prism_url, [], max_retries=0) as github:
        yield github


@pytest.mark.node
def test_prism_accepts_list_runs_with_since_branch_and_status(prism_client: GitHubClient) -> None:
    since = datetime(2026, 11, 1, tzinfo=UTC)

    runs = list(prism_client.list_workflow_runs(REPO, since=since, branch="main", status="failure"))

    assert runs and isinstance(runs[0]["id"], int)


@pytest.mark.node
def test_prism_accepts_get_run(prism_client: GitHubClient) -> None:
    assert isinstance(prism_client.get_run(REPO, 30433642)["id"], int)


@pytest.mark.node
def test_prism_accepts_list_jobs(prism_client: GitHubClient) -> None:
    jobs = prism_client.list_jobs(REPO, 29679449)

    assert jobs and jobs[0]["steps"]


@pytest.mark.node
def test_prism_accepts_list_jobs_of_an_attempt(prism_client: GitHubClient) -> None:
    assert prism_client.list_jobs(REPO, 29679449, attempt=2)


@pytest.mark.node
def test_prism_accepts_rerun_failed_jobs(prism_client: GitHubClient) -> None:
    prism_client.rerun_failed_jobs(REPO, 29679449)


@pytest.mark.node
def test_prism_answers_job_logs_with_a_redirect_to_log_storage(
    prism_client: GitHubClient,
) -> None:
    url = prism_client.job_log_url(REPO, 399444496)

    assert url.startswith("https://pipelines.actions.githubusercontent.com/")
    assert "signedlogcontent" in url


@pytest.mark.node
def test_prism_answers_run_logs_with_a_redirect_to_log_storage(
    prism_client: GitHubClient,
) -> None:
    url = prism_client.run_logs_url(REPO, 29679449)

    assert url.startswith("https://pipelines.actions.githubusercontent.com/")


@pytest.mark.node
def test_prism_refuses_an_invalid_request_with_422(prism_client: GitHubClient) -> None:
    with pytest.raises(ExternalServiceError) as caught:
        list(prism_client.list_workflow_runs(REPO, status="not-a-status"))

    assert caught.value.status == 422
    assert "Invalid request" in str(caught.value)


@pytest.mark.node
def test_prism_accepts_list_pull_requests(prism_client: GitHubClient) -> None:
    pulls = list(prism_client.list_pull_requests(REPO, state="all", sort="updated"))

    assert pulls and isinstance(pulls[0]["number"], int)
    assert pulls[0]["html_url"].startswith("https://github.com/")
    assert pulls[0]["head"]["ref"] and "merged_at" in pulls[0]
