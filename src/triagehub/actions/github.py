"""A small synchronous client of GitHub's REST API for what triage needs from GitHub Actions.

Contract
--------
:class:`GitHubClient` reads workflow runs, their jobs (with steps) and their logs, and asks GitHub
to re-run a run's failed jobs. For the issue sync (:mod:`triagehub.actions.sync`) it also
reads, creates and edits issues, their labels and comments, the repository's labels, and
searches issues.

Every problem GitHub or the network causes is raised as
:class:`~triagehub.errors.ExternalServiceError` (``service="github"``), after the retries below;
``status`` is GitHub's HTTP status (``None`` when no answer came at all) and the message carries
GitHub's own ``message``. Bad arguments (a repository that is not ``owner/name``, a naive
``since``) raise :class:`ValueError` before any request.

Requests
    ``Accept: application/vnd.github+json`` (``application/json`` as a second choice),
    ``X-GitHub-Api-Version: 2022-11-28``, the given
    ``User-Agent``, and ``Authorization: Bearer <token>`` when a token was given (none: requests
    go unauthenticated, which GitHub allows on public repositories at a lower rate limit). The
    token is sent only to ``base_url``'s origin: never to log storage, never to a pagination link
    that points elsewhere (that is refused with an error rather than followed).

Pagination
    Lists ask for ``per_page=100`` and follow ``Link: <...>; rel="next"`` until there is none, or
    until the items seen reach the answer's ``total_count``.

Conditional requests
    The ``ETag`` of each JSON answer is remembered per URL (in memory, the last
    ``etag_cache_size`` URLs) and sent back as ``If-None-Match``; a ``304 Not Modified`` (which
    GitHub does not count against the rate limit) returns the remembered body.

Retries and waits, for one request, at most ``max_retries`` times after the first attempt (the
loop is :class:`triagehub.actions.http.Retrier`, shared with the dbt Cloud client):
    * 403 or 429 with ``retry-after``: wait that long (a secondary rate limit);
    * 403 or 429 with ``x-ratelimit-remaining: 0``: wait until ``x-ratelimit-reset`` (at least 1 s);
    * 429, or 403 whose message speaks of a rate limit, with neither header: wait 60 s (GitHub's
      advice);
    * 5xx (honouring ``retry-after`` when present), connection errors and timeouts: exponential
      backoff with jitter (``backoff_base_s`` x 2^attempt x a random factor in [0.5, 1]).

    A wait longer than ``max_wait_s`` is not slept: the error is raised at once with
    ``retry_after`` set, so that a worker can put the job back for later. Other answers >= 400
    (400, 401, 403, 404, 410, 422, ...) are raised at once. ``rerun_failed_jobs`` is retried like
    any request: GitHub answers a duplicate re-run of a run that is already running with 403,
    which is then raised.

    Requests that are not idempotent (``create_issue``, ``create_comment``) are sent once and
    never retried here: a lost answer may hide a created issue, so the caller (the outbox) looks
    for it before trying again. A rate-limit answer to them is still raised with ``retry_after``.

Logs
    ``/actions/jobs/{id}/logs`` and ``/actions/runs/{id}/logs`` answer ``302`` with a short-lived
    signed URL on log storage (another host). The client reads the ``Location`` itself and fetches
    it with no ``Authorization`` header; the signed URL's query string is never put into an error
    message or a log record. Job logs are streamed line by line; run log archives (zip) are
    streamed into a binary file and refused (:class:`LogTooLargeError`) beyond ``max_bytes``.

Secrets
    Every message that leaves this module (exceptions, log records) goes through
    :func:`triagehub.core.redact.redact`, and the token itself is replaced by ``[REDACTED]``
    wherever it appears. ``repr(client)`` does not show it.

Time comes from an injected :class:`~triagehub.clock.Clock` and waits go through an injected
``sleep`` so that tests neither read the wall clock nor wait.
"""

from __future__ import annotations

import contextlib
import json
import logging
import random
import re
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import IO, Any, Final
from urllib.parse import quote

import httpx

from triagehub.actions.http import (
    HttpClient,
    Retrier,
    describe,
    float_or_none,
    read_error_text,
    retry_after_s,
)
from triagehub.actions.http import url_for_message as _where
from triagehub.clock import Clock, SystemClock
from triagehub.core.redact import REDACTED, redact
from triagehub.errors import ExternalServiceError

log = logging.getLogger(__name__)

SERVICE: Final = "github"
DEFAULT_BASE_URL: Final = "https://api.github.com"
API_VERSION: Final = "2022-11-28"
# GitHub's media type first; ``application/json`` as a fallback for servers that only know the
# generic type (Prism on GitHub's OpenAPI description answers 406 to the vendor type alone).
ACCEPT: Final = "application/vnd.github+json, application/json;q=0.9"
PER_PAGE: Final = 100
DEFAULT_ETAG_CACHE_SIZE: Final = 256
# GitHub's advice for a rate-limit answer that says neither how long nor until when.
UNSPECIFIED_RATE_LIMIT_WAIT_S: Final = 60.0
_MAX_REASON_CHARS: Final = 500
_CHUNK_BYTES: Final = 64 * 1024
_REDIRECTS: Final = frozenset({301, 302, 303, 307, 308})
_REPO_RE: Final = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]*)/[A-Za-z0-9._-]+")
_LINK_RE: Final = re.compile(r"<([^>]*)>([^,<]*)")
_REL_RE: Final = re.compile(r"""(?i)\brel\s*=\s*(?:"([^"]*)"|([^\s;,]+))""")

JSONObject = dict[str, Any]


class LogTooLargeError(ExternalServiceError):
    """A log archive larger than the ``max_bytes`` the caller accepts (nothing more is read)."""


@dataclass(frozen=True)
class _Cached:
    etag: str
    body: bytes
    link: str | None


@dataclass(frozen=True)
class _Page:
    url: str
    status: int
    body: JSONObject
    link: str | None


class _ETagCache:
    """A bounded, thread-safe LRU map of URL -> (ETag, body, Link header)."""

    def __init__(self, size: int) -> None:
        self._size = size
        self._entries: OrderedDict[str, _Cached] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, url: str) -> _Cached | None:
        with self._lock:
            entry = self._entries.get(url)
            if entry is not None:
                self._entries.move_to_end(url)
            return entry

    def put(self, url: str, entry: _Cached) -> None:
        if self._size <= 0:
            return
        with self._lock:
            self._entries[url] = entry
            self._entries.move_to_end(url)
            while len(self._entries) > self._size:
                self._entries.popitem(last=False)

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)


class GitHubClient(HttpClient):
    """GitHub REST API for workflow runs, jobs, logs and re-runs (see the module docstring).

    ``token`` is a GitHub token (the caller reads ``GITHUB_TOKEN``) or ``None`` for
    unauthenticated requests. ``base_url`` is ``https://api.github.com`` or a GitHub Enterprise
    Server API root (``https://ghe.example.com/api/v3``). ``timeout_s`` bounds each network
    operation (connect, each read), as in httpx. Use it as a context manager, or call
    :meth:`close`.
    """

    def __init__(
        self,
        token: str | None,
        *,
        base_url: str = DEFAULT_BASE_URL,
        timeout_s: float = 30.0,
        max_retries: int = 3,
        max_wait_s: float = 60.0,
        backoff_base_s: float = 1.0,
        user_agent: str = "triagehub",
        etag_cache_size: int = DEFAULT_ETAG_CACHE_SIZE,
        clock: Clock | None = None,
        sleep: Callable[[float], None] = time.sleep,
        rng: random.Random | None = None,
    ) -> None:
        if max_retries < 0:
            raise ValueError(f"max_retries must be >= 0, got {max_retries}")
        if timeout_s <= 0 or max_wait_s < 0 or backoff_base_s < 0:
            raise ValueError("timeout_s must be > 0, max_wait_s and backoff_base_s >= 0")
        base = httpx.URL(base_url.rstrip("/"))
        if base.scheme not in ("http", "https") or not base.host:
            raise ValueError(f"base_url must be an http(s) URL, got {base_url!r}")
        self._token = token or None
        self._base_url = str(base)
        self._base = base
        self._retry = Retrier(
            SERVICE,
            max_retries=max_retries,
            max_wait_s=max_wait_s,
            backoff_base_s=backoff_base_s,
            clock=clock if clock is not None else SystemClock(),
            sleep=sleep,
            rng=rng if rng is not None else random.Random(),
            scrub=self._scrub,
            logger=log,
        )
        self._once = Retrier(
            SERVICE,
            max_retries=0,
            max_wait_s=max_wait_s,
            backoff_base_s=backoff_base_s,
            clock=clock if clock is not None else SystemClock(),
            sleep=sleep,
            rng=random.Random(0),
            scrub=self._scrub,
            logger=log,
        )
        self._etags = _ETagCache(etag_cache_size)
        self._http = httpx.Client(
            timeout=httpx.Timeout(timeout_s),
            headers={"User-Agent": user_agent},
            follow_redirects=False,
        )

    def __repr__(self) -> str:
        auth = "token" if self._token else "anonymous"
        return f"GitHubClient(base_url={self._base_url!r}, auth={auth})"

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

    # -- issues, labels, comments, search ---------------------------------------------------

    def get_issue(self, repo: str, number: int) -> JSONObject:
        """One issue (``GET /repos/{owner}/{repo}/issues/{number}``), conditional on its ETag."""
        path = f"{_repo_path(repo)}/issues/{_positive_id(number, 'number')}"
        return self._get_json(self._url(path), None).body

    def list_issues(
        self,
        repo: str,
        *,
        state: str = "all",
        labels: Sequence[str] = (),
        since: datetime | None = None,
        sort: str = "updated",
        direction: str = "desc",
    ) -> Iterator[JSONObject]:
        """Yield the repository's issues (pull requests included, as GitHub lists them), page
        after page; ``since`` (timezone-aware) keeps those updated at or after it."""
        params = {
            "state": state,
            "sort": sort,
            "direction": direction,
            "per_page": str(PER_PAGE),
        }
        if labels:
            params["labels"] = ",".join(labels)
        if since is not None:
            params["since"] = _iso_utc(since)
        return self._paginate_list(f"{_repo_path(repo)}/issues", params)

    def create_issue(
        self, repo: str, *, title: str, body: str, labels: Sequence[str] = ()
    ) -> JSONObject:
        """Open an issue; sent once, never retried (see the module docstring)."""
        payload: JSONObject = {"title": title, "body": body}
        if labels:
            payload["labels"] = list(labels)
        answer = self._write("POST", f"{_repo_path(repo)}/issues", payload, once=True)
        return _object(answer, "POST issues")

    def update_issue(
        self,
        repo: str,
        number: int,
        *,
        title: str | None = None,
        body: str | None = None,
        state: str | None = None,
        state_reason: str | None = None,
    ) -> JSONObject:
        """Edit an issue: only the fields given are sent (an edit is idempotent: retried)."""
        payload: JSONObject = {}
        for name, value in (
            ("title", title),
            ("body", body),
            ("state", state),
            ("state_reason", state_reason),
        ):
            if value is not None:
                payload[name] = value
        if not payload:
            raise ValueError("update_issue needs at least one field to change")
        path = f"{_repo_path(repo)}/issues/{_positive_id(number, 'number')}"
        return _object(self._write("PATCH", path, payload), f"PATCH issue {number}")

    def add_labels(self, repo: str, number: int, labels: Sequence[str]) -> list[JSONObject]:
        """Add labels to an issue (those it has already stay); return the issue's labels."""
        if not labels:
            raise ValueError("add_labels needs at least one label")
        path = f"{_repo_path(repo)}/issues/{_positive_id(number, 'number')}/labels"
        answer = self._write("POST", path, {"labels": list(labels)})
        if not isinstance(answer, list):
            return []
        return [item for item in answer if isinstance(item, dict)]

    def add_assignees(self, repo: str, number: int, logins: Sequence[str]) -> JSONObject:
        """Add assignees to an issue (``POST .../issues/{n}/assignees``; those it has stay, and
        GitHub silently drops logins that cannot be assigned); return the issue."""
        if not logins:
            raise ValueError("add_assignees needs at least one login")
        path = f"{_repo_path(repo)}/issues/{_positive_id(number, 'number')}/assignees"
        answer = self._write("POST", path, {"assignees": list(logins)})
        return _object(answer, f"POST issue {number} assignees")

    def remove_label(self, repo: str, number: int, name: str) -> bool:
        """Remove a label from an issue; ``False`` when the issue did not have it (404 on the
        label, while the issue itself exists)."""
        path = (
            f"{_repo_path(repo)}/issues/{_positive_id(number, 'number')}/labels/"
            f"{quote(name, safe='')}"
        )
        try:
            self._write("DELETE", path, None)
        except ExternalServiceError as exc:
            if exc.status == 404 and "label does not exist" in str(exc).lower():
                return False
            raise
        return True

    def list_labels(self, repo: str) -> Iterator[JSONObject]:
        """Yield the repository's labels, page after page."""
        return self._paginate_list(f"{_repo_path(repo)}/labels", {"per_page": str(PER_PAGE)})

    def create_label(
        self, repo: str, *, name: str, color: str, description: str
    ) -> JSONObject | None:
        """Create a repository label; ``None`` when it exists already (GitHub's 422
        ``already_exists``)."""
        payload = {"name": name, "color": color, "description": description[:100]}
        try:
            answer = self._write("POST", f"{_repo_path(repo)}/labels", payload)
        except ExternalServiceError as exc:
            if exc.status == 422 and "already_exists" in str(exc):
                return None
            raise
        return _object(answer, "POST labels")

    def list_comments(
        self, repo: str, number: int, *, since: datetime | None = None
    ) -> Iterator[JSONObject]:
        """Yield an issue's comments, oldest first; ``since``: updated at or after it."""
        params = {"per_page": str(PER_PAGE)}
        if since is not None:
            params["since"] = _iso_utc(since)
        path = f"{_repo_path(repo)}/issues/{_positive_id(number, 'number')}/comments"
        return self._paginate_list(path, params)

    def create_comment(self, repo: str, number: int, body: str) -> JSONObject:
        """Comment on an issue; sent once, never retried (see the module docstring)."""
        path = f"{_repo_path(repo)}/issues/{_positive_id(number, 'number')}/comments"
        return _object(self._write("POST", path, {"body": body}, once=True), "POST comment")

    def search_issues(self, query: str, *, sort: str | None = None) -> Iterator[JSONObject]:
        """Yield the issues matching a search query (``repo:o/r is:issue in:body ...``), page
        after page, up to the 1,000 results GitHub's search gives."""
        if not query.strip():
            raise ValueError("the search query is empty")
        params = {"q": query, "per_page": str(PER_PAGE)}
        if sort is not None:
            params["sort"] = sort
        return self._paginate("/search/issues", params, "items")

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
        written = 0
        response = self._open_log(path)
        with contextlib.closing(response):
            declared = _int_or_none(response.headers.get("content-length"))
            if declared is not None and declared > max_bytes:
                raise LogTooLargeError(
                    SERVICE,
                    response.status_code,
                    f"{what} is {declared} bytes, more than max_bytes={max_bytes}",
                )
            try:
                for chunk in response.iter_bytes(_CHUNK_BYTES):
                    if written + len(chunk) > max_bytes:
                        raise LogTooLargeError(
                            SERVICE,
                            response.status_code,
                            f"{what} is more than max_bytes={max_bytes} (refused while streaming)",
                        )
                    dest.write(chunk)
                    written += len(chunk)
            except httpx.TransportError as exc:
                raise ExternalServiceError(
                    SERVICE, None, self._scrub(f"GET {path}: log stream broke: {describe(exc)}")
                ) from exc
        return written

    # -- internals: URLs -------------------------------------------------------------------

    def _url(self, path: str) -> str:
        return self._base_url + path

    def _job_log_path(self, repo: str, job_id: int) -> str:
        return f"{_repo_path(repo)}/actions/jobs/{_positive_id(job_id, 'job_id')}/logs"

    def _run_logs_path(self, repo: str, run_id: int) -> str:
        return f"{_repo_path(repo)}/actions/runs/{_positive_id(run_id, 'run_id')}/logs"

    def _api_headers(self) -> dict[str, str]:
        headers = {"Accept": ACCEPT, "X-GitHub-Api-Version": API_VERSION}
        if self._token:
            headers["Authorization"] = f"Bearer {self._token}"
        return headers

    def _same_origin(self, url: httpx.URL) -> bool:
        base = self._base
        return (url.scheme, url.host, url.port) == (base.scheme, base.host, base.port)

    # -- internals: JSON and pagination ----------------------------------------------------

    def _paginate(self, path: str, params: Mapping[str, str], key: str) -> Iterator[JSONObject]:
        url: str | None = self._url(path)
        query: Mapping[str, str] | None = params
        seen = 0
        visited: set[str] = set()
        while url is not None:
            page = self._get_json(url, query)
            visited.add(page.url)
            items = page.body.get(key)
            if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
                raise ExternalServiceError(
                    SERVICE,
                    page.status,
                    self._scrub(f"GET {_where(page.url)}: expected a list of objects in {key!r}"),
                )
            yield from items
            seen += len(items)
            total = page.body.get("total_count")
            next_url = _next_link(page.link)
            if next_url is None or not items or (isinstance(total, int) and seen >= total):
                return
            resolved = httpx.URL(page.url).join(next_url)
            if not self._same_origin(resolved):
                raise ExternalServiceError(
                    SERVICE,
                    page.status,
                    self._scrub(
                        f"GET {_where(page.url)}: the next page's link points to "
                        f"{_where(str(resolved), with_host=True)}, outside {self._base_url}; "
                        "not following it (the token is only sent to the API)"
                    ),
                )
            if str(resolved) in visited:
                raise ExternalServiceError(
                    SERVICE,
                    page.status,
                    self._scrub(f"GET {_where(page.url)}: pagination links loop"),
                )
            url, query = str(resolved), None

    def _get_json(self, url: str, params: Mapping[str, str] | None) -> _Page:
        full = str(httpx.URL(url, params=params)) if params else url
        headers = self._api_headers()
        cached = self._etags.get(full)
        if cached is not None:
            headers["If-None-Match"] = cached.etag
        response = self._send("GET", full, headers, follow_redirects=True)
        status = response.status_code
        if status == 304 and cached is not None:
            body, link = cached.body, cached.link
        elif 200 <= status < 300:
            body, link = response.content, response.headers.get("link")
            etag = response.headers.get("etag")
            if etag:
                self._etags.put(full, _Cached(etag=etag, body=body, link=link))
        else:
            raise ExternalServiceError(
                SERVICE, status, self._scrub(f"GET {_where(full)}: unexpected answer {status}")
            )
        try:
            parsed: object = json.loads(body)
        except ValueError as exc:
            raise ExternalServiceError(
                SERVICE, status, self._scrub(f"GET {_where(full)}: answer is not JSON ({exc})")
            ) from exc
        if not isinstance(parsed, dict):
            raise ExternalServiceError(
                SERVICE,
                status,
                self._scrub(
                    f"GET {_where(full)}: expected a JSON object, got {type(parsed).__name__}"
                ),
            )
        return _Page(url=full, status=status, body=parsed, link=link)

    def _paginate_list(self, path: str, params: Mapping[str, str]) -> Iterator[JSONObject]:
        """Like :meth:`_paginate`, for endpoints whose answer is a bare JSON array (no
        ``total_count``): a page shorter than ``per_page`` is the last one."""
        per_page = int(params.get("per_page", PER_PAGE))
        url: str | None = self._url(path)
        query: Mapping[str, str] | None = params
        visited: set[str] = set()
        while url is not None:
            full = str(httpx.URL(url, params=query)) if query else url
            status, body, link = self._get_raw(full)
            visited.add(full)
            try:
                items: object = json.loads(body)
            except ValueError as exc:
                raise ExternalServiceError(
                    SERVICE, status, self._scrub(f"GET {_where(full)}: answer is not JSON ({exc})")
                ) from exc
            if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
                raise ExternalServiceError(
                    SERVICE,
                    status,
                    self._scrub(f"GET {_where(full)}: expected a JSON array of objects"),
                )
            yield from items
            next_url = _next_link(link)
            if next_url is None or len(items) < per_page:
                return
            resolved = httpx.URL(full).join(next_url)
            if not self._same_origin(resolved) or str(resolved) in visited:
                raise ExternalServiceError(
                    SERVICE,
                    status,
                    self._scrub(
                        f"GET {_where(full)}: the next page's link "
                        f"({_where(str(resolved), with_host=True)}) leaves {self._base_url} or "
                        "loops; not following it"
                    ),
                )
            url, query = str(resolved), None

    def _get_raw(self, full: str) -> tuple[int, bytes, str | None]:
        """GET with the ETag cache: (status, body, Link header) of a 2xx or a cached 304."""
        headers = self._api_headers()
        cached = self._etags.get(full)
        if cached is not None:
            headers["If-None-Match"] = cached.etag
        response = self._send("GET", full, headers, follow_redirects=True)
        status = response.status_code
        if status == 304 and cached is not None:
            return status, cached.body, cached.link
        if 200 <= status < 300:
            body, link = response.content, response.headers.get("link")
            etag = response.headers.get("etag")
            if etag:
                self._etags.put(full, _Cached(etag=etag, body=body, link=link))
            return status, body, link
        raise ExternalServiceError(
            SERVICE, status, self._scrub(f"GET {_where(full)}: unexpected answer {status}")
        )

    def _write(
        self, method: str, path: str, payload: object | None, *, once: bool = False
    ) -> object:
        """Send a JSON body (``None``: no body); return the parsed answer (``None`` if empty)."""
        url = self._url(path)
        headers = self._api_headers()
        content = None
        if payload is not None:
            headers["Content-Type"] = "application/json"
            content = json.dumps(payload, ensure_ascii=False).encode()
        response = self._send(method, url, headers, content=content, once=once)
        raw = response.content
        if not raw.strip():
            return None
        try:
            parsed: object = json.loads(raw)
        except ValueError as exc:
            raise ExternalServiceError(
                SERVICE,
                response.status_code,
                self._scrub(f"{method} {_where(url)}: answer is not JSON ({exc})"),
            ) from exc
        return parsed

    # -- internals: logs -------------------------------------------------------------------

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

    # -- internals: sending, retries, errors -----------------------------------------------

    def _send(
        self,
        method: str,
        url: str,
        headers: Mapping[str, str],
        *,
        stream: bool = False,
        follow_redirects: bool = False,
        content: bytes | None = None,
        once: bool = False,
    ) -> httpx.Response:
        """Send with retries (``once``: no retry); return a response whose status is below 400
        (or raise)."""
        return (self._once if once else self._retry).send(
            self._http,
            method,
            url,
            headers,
            where=_where(url, with_host=not url.startswith(self._base_url)),
            error_message=self._error_message,
            rate_limit_wait=self._rate_limit_wait,
            stream=stream,
            follow_redirects=follow_redirects,
            content=content,
        )

    def _rate_limit_wait(self, response: httpx.Response, message: str) -> float | None:
        """How long a rate-limit answer asks to wait, or ``None`` if it is not one."""
        if response.status_code not in (403, 429):
            return None
        now = self._retry.now()
        asked = retry_after_s(response.headers.get("retry-after"), now)
        if asked is not None:
            return asked
        if response.headers.get("x-ratelimit-remaining") == "0":
            reset = float_or_none(response.headers.get("x-ratelimit-reset"))
            if reset is None:
                return UNSPECIFIED_RATE_LIMIT_WAIT_S
            return max(reset - now, 1.0)
        if response.status_code == 429 or "rate limit" in message.lower():
            return UNSPECIFIED_RATE_LIMIT_WAIT_S
        return None

    def _error_message(self, response: httpx.Response) -> str:
        """GitHub's message from an error answer (read at most 64 KiB; the response is closed)."""
        text = read_error_text(response)
        message = _message_from_body(text) or response.reason_phrase or "no message"
        return message[:_MAX_REASON_CHARS]

    def _scrub(self, text: str) -> str:
        text = redact(text)
        if self._token:
            text = text.replace(self._token, REDACTED)
        return text


# -- module helpers ---------------------------------------------------------------------------


_REF = re.compile(r"[A-Za-z0-9][A-Za-z0-9._/-]{0,199}")


def _repo_path(repo: str) -> str:
    owner, _, name = repo.partition("/")
    if not _REPO_RE.fullmatch(repo) or name in (".", ".."):
        raise ValueError(f"repository must be 'owner/name', got {repo!r}")
    return f"/repos/{quote(owner, safe='')}/{quote(name, safe='')}"


def _positive_id(value: int, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ValueError(f"{what} must be a positive integer, got {value!r}")
    return value


def _iso_utc(moment: datetime) -> str:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"since must be timezone-aware, got naive {moment.isoformat()}")
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _next_link(header: str | None) -> str | None:
    if not header:
        return None
    for target, params in _LINK_RE.findall(header):
        for match in _REL_RE.finditer(params):
            rels = (match.group(1) or match.group(2) or "").lower().split()
            if "next" in rels:
                return str(target).strip()
    return None


def _message_from_body(text: str) -> str:
    """GitHub's ``message`` (with its ``errors`` details), or a problem+json ``title: detail``."""
    try:
        body: object = json.loads(text)
    except ValueError:
        return " ".join(text.split())[:200]
    if not isinstance(body, dict):
        return ""
    parts: list[str] = []
    message = body.get("message")
    if isinstance(message, str) and message:
        parts.append(message)
    errors = body.get("errors")
    if isinstance(errors, list):
        details = [_error_detail(item) for item in errors[:5]]
        if details := [d for d in details if d]:
            parts.append("; ".join(details))
    if not parts:
        title, detail = body.get("title"), body.get("detail")
        parts = [str(p) for p in (title, detail) if isinstance(p, str) and p]
    docs = body.get("documentation_url")
    text_out = ": ".join(parts)
    if isinstance(docs, str) and docs.startswith("https://"):
        text_out += f" ({docs})"
    return text_out


def _error_detail(item: object) -> str:
    if isinstance(item, str):
        return item
    if not isinstance(item, Mapping):
        return ""
    if isinstance(item.get("message"), str) and item["message"]:
        return str(item["message"])
    fields = [str(item[k]) for k in ("resource", "field", "code") if item.get(k) is not None]
    return " ".join(fields)


def _object(answer: object, what: str) -> JSONObject:
    if not isinstance(answer, dict):
        raise ExternalServiceError(SERVICE, None, f"{what}: expected a JSON object in the answer")
    return answer


def _int_or_none(value: str | None) -> int | None:
    if value is None or not value.strip().isdigit():
        return None
    return int(value)
