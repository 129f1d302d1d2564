"""The GitHub client's workflow runs: runs, their jobs, re-runs, commit ranges and logs."""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator
from datetime import datetime
from typing import IO, Final
from urllib.parse import quote

import httpx

from triagehub.actions.github.transport import (
    PER_PAGE,
    SERVICE,
    GitHubTransport,
    JSONObject,
    LogTooLargeError,
    _iso_utc,
    _repo_path,
)
from triagehub.actions.http import copy_capped, describe
from triagehub.actions.http import positive_id as _positive_id
from triagehub.errors import ExternalServiceError

_REDIRECTS: Final = frozenset({301, 302, 303, 307, 308})
_REF: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9._/-]{0,199}")


class GitHubRuns(GitHubTransport):
    """Workflow runs, jobs (with steps), re-runs, compares and logs (see the package docstring)."""

    # -- workflow runs and jobs ------------------------------------------------------------

    def list_workflow_runs(
        self,
        repo: str,
        *,
        since: datetime | None = None,
        workflow: str | None = None,
        branch: str | None = None,
        status: str | None = "completed",
    ) -> Iterator[JSONObject]:
        """Yield the repository's workflow runs, newest first, page after page.

        ``since`` (timezone-aware) keeps runs created at or after it (``created=>=...``);
        ``branch`` and ``status`` (a status or a conclusion: ``completed``, ``failure``...) are
        GitHub's filters. ``workflow`` is a workflow file name (``ci.yml``, or its path
        ``.github/workflows/ci.yml``) or numeric id, which uses the workflow's own runs endpoint,
        or else a workflow name (``CI``), which filters the repository's runs by ``name``.
        Arguments are checked at once; requests are made as the iterator is consumed.
        """
        params: dict[str, str] = {"per_page": str(PER_PAGE)}
        if since is not None:
            params["created"] = f">={_iso_utc(since)}"
        if branch is not None:
            params["branch"] = branch
        if status is not None:
            params["status"] = status
        prefix = _repo_path(repo)
        name_filter: str | None = None
        if workflow is None:
            path = f"{prefix}/actions/runs"
        elif workflow.isdigit() or workflow.endswith((".yml", ".yaml")):
            workflow_id = workflow.rsplit("/", 1)[-1]
            path = f"{prefix}/actions/workflows/{quote(workflow_id, safe='')}/runs"
        else:
            path = f"{prefix}/actions/runs"
            name_filter = workflow
        runs = self._paginate(path, params, "workflow_runs")
        if name_filter is None:
            return runs
        return (run for run in runs if run.get("name") == name_filter)

    def get_run(self, repo: str, run_id: int) -> JSONObject:
        """One workflow run (``GET /repos/{owner}/{repo}/actions/runs/{run_id}``)."""
        path = f"{_repo_path(repo)}/actions/runs/{_positive_id(run_id, 'run_id')}"
        return self._get_json(self._url(path), None).body

    def list_jobs(self, repo: str, run_id: int, *, attempt: int | None = None) -> list[JSONObject]:
        """Every job of a run with its ``steps``: the latest attempt's, or ``attempt``'s."""
        run_path = f"{_repo_path(repo)}/actions/runs/{_positive_id(run_id, 'run_id')}"
        params = {"per_page": str(PER_PAGE)}
        if attempt is None:
            path = f"{run_path}/jobs"
            params["filter"] = "latest"
        else:
            path = f"{run_path}/attempts/{_positive_id(attempt, 'attempt')}/jobs"
        return list(self._paginate(path, params, "jobs"))

    def rerun_failed_jobs(self, repo: str, run_id: int) -> None:
        """Ask GitHub to re-run the failed jobs of a run (and the jobs that depend on them)."""
        path = f"{_repo_path(repo)}/actions/runs/{_positive_id(run_id, 'run_id')}"
        self._send("POST", self._url(f"{path}/rerun-failed-jobs"), self._api_headers()).close()

    def compare_commits(self, repo: str, base: str, head: str) -> JSONObject:
        """``GET /repos/{owner}/{repo}/compare/{base}...{head}``: the commits reachable from
        ``head`` and not from ``base`` (oldest first; GitHub lists at most 250) and the files the
        range changed (at most 300). ``base`` and ``head`` are commit SHAs or branch names."""
        for name, ref in (("base", base), ("head", head)):
            if not _REF.fullmatch(ref) or ".." in ref:
                raise ValueError(f"{name} must be a commit SHA or a branch name, got {ref!r}")
        path = f"{_repo_path(repo)}/compare/{base}...{head}"
        return self._get_json(self._url(path), {"per_page": "100"}).body

    # -- logs ------------------------------------------------------------------------------

    def job_log_url(self, repo: str, job_id: int) -> str:
        """The short-lived signed URL GitHub redirects a job's log to (a secret: do not log it)."""
        return self._log_location(self._job_log_path(repo, job_id))

    def run_logs_url(self, repo: str, run_id: int) -> str:
        """The short-lived signed URL of a run's log archive (a secret: do not log it)."""
        return self._log_location(self._run_logs_path(repo, run_id))

    def download_job_log(self, repo: str, job_id: int) -> Iterator[str]:
        """Yield the lines of a job's log (without line endings), streamed from log storage.

        Arguments are checked at once; the requests are made when iteration starts. Close the
        iterator (or exhaust it) to release the connection. A leading byte-order mark is
        dropped; invalid UTF-8 is replaced.
        """
        return self._log_lines(self._job_log_path(repo, job_id))

    def download_run_logs(self, repo: str, run_id: int, dest: IO[bytes], *, max_bytes: int) -> int:
        """Stream a run's log archive (a zip file) into ``dest``; return the bytes written.

        Raises :class:`LogTooLargeError` when the archive is larger than ``max_bytes``: at once
        when log storage declares a larger ``Content-Length``, otherwise as soon as more than
        ``max_bytes`` arrive (``dest`` then holds a partial archive: discard it).
        """
        if max_bytes <= 0:
            raise ValueError(f"max_bytes must be > 0, got {max_bytes}")
        path = self._run_logs_path(repo, run_id)
        what = f"log archive of {repo} run {run_id}"
        response = self._open_log(path)

        def too_large(declared: int | None) -> LogTooLargeError:
            if declared is not None:
                text = f"{what} is {declared} bytes, more than max_bytes={max_bytes}"
            else:
                text = f"{what} is more than max_bytes={max_bytes} (refused while streaming)"
            return LogTooLargeError(SERVICE, response.status_code, text)

        with contextlib.closing(response):
            try:
                return copy_capped(response, dest, max_bytes, too_large)
            except httpx.TransportError as exc:
                raise ExternalServiceError(
                    SERVICE, None, self._scrub(f"GET {path}: log stream broke: {describe(exc)}")
                ) from exc

    # -- internals: log paths and log storage ---------------------------------------------

    def _job_log_path(self, repo: str, job_id: int) -> str:
        return f"{_repo_path(repo)}/actions/jobs/{_positive_id(job_id, 'job_id')}/logs"

    def _run_logs_path(self, repo: str, run_id: int) -> str:
        return f"{_repo_path(repo)}/actions/runs/{_positive_id(run_id, 'run_id')}/logs"

    def _log_location(self, path: str) -> str:
        response = self._send("GET", self._url(path), self._api_headers(), stream=True)
        response.close()
        location = response.headers.get("location")
        if response.status_code not in _REDIRECTS or not location:
            raise ExternalServiceError(
                SERVICE,
                response.status_code,
                self._scrub(f"GET {path}: expected a redirect to log storage"),
            )
        return str(response.url.join(location))

    def _log_lines(self, path: str) -> Iterator[str]:
        response = self._open_log(path)
        try:
            first = True
            for line in response.iter_lines():
                if first:
                    line = line.removeprefix("\ufeff")
                    first = False
                yield line
        except httpx.TransportError as exc:
            raise ExternalServiceError(
                SERVICE, None, self._scrub(f"GET {path}: log stream broke: {describe(exc)}")
            ) from exc
        finally:
            response.close()

    def _open_log(self, path: str) -> httpx.Response:
        """The open (streaming) response of log storage for an API logs path."""
        response = self._send("GET", self._url(path), self._api_headers(), stream=True)
        location = response.headers.get("location")
        if response.status_code in _REDIRECTS and location:
            response.close()
            target = str(response.url.join(location))
            # Log storage gets no credentials: the signed URL is the authorisation.
            return self._send("GET", target, {"Accept": "*/*"}, stream=True, follow_redirects=True)
        if 200 <= response.status_code < 300:
            return response  # served directly (some GitHub Enterprise Server set-ups)
        response.close()
        raise ExternalServiceError(
            SERVICE,
            response.status_code,
            self._scrub(f"GET {path}: unexpected answer {response.status_code}"),
        )
