"""dbt Cloud: job runs pulled from the Administrative API v2, ingested as ``RunReport``\\ s.

:class:`DbtCloudClient` is the network side. It reads, for one account (``{host}/api/v2/accounts/
{account_id}``):

* ``GET runs/?order_by=-finished_at&limit=..&offset=..[&job_definition_id=..]&include_related=
  ["job","trigger"]``: the runs, newest first, page after page (offset/limit, until a short or
  empty page or ``extra.pagination.total_count``); a run seen twice (pages shift while new runs
  finish) is yielded once;
* ``GET runs/{id}/?include_related=["job","trigger","run_steps"]``: one run with its steps and
  their console ``logs``;
* ``GET runs/{id}/artifacts/{path}``: ``run_results.json``, ``manifest.json``, ``sources.json`` of
  the run's last step, streamed to a file (404: the run did not write it).

Requests carry ``Authorization: Token <token>``. Retries (429 honouring ``Retry-After``, 5xx and
connection errors with exponential backoff and jitter, a bounded number of attempts) are the
shared :class:`~triagehub.actions.http.Retrier`'s; every failure is an
:class:`~triagehub.errors.ExternalServiceError` (``service="dbt-cloud"``). 401 and 403 are raised
at once with a message naming ``DBT_CLOUD_API_TOKEN`` and the account. The token never appears in
an error, a log record or ``repr(client)``.

:func:`poll_dbt_cloud` lists the completed runs (success and error; cancelled and unfinished runs
are skipped) that finished after the cursor (else after ``since`` ago), downloads each run's
artifacts into a temporary folder and parses them with the dbt Core parser
(:func:`triagehub.sources.dbt.parse_artifacts_full`, lineage and owners included). A failed run
without ``run_results.json`` (compilation and Jinja errors stop dbt before ``target/`` is written)
is read from its steps' console logs (:func:`triagehub.sources.dbt.parse_console_log`); a step
that is not dbt at all (``Clone git repository``...) becomes one failing check
``dbt Cloud / <job> / <step>``. The report names the dbt Cloud run (source ``dbt_cloud``, run id,
commit, branch, URL, times). Runs are ingested oldest first, one transaction per run together with
the cursor (the run's ``finished_at``), so a failure part-way leaves every stored run consistent
and the next poll resumes at the run that failed.

It lives beside ``poll.py`` (the GitHub Actions poller), not in ``sources/``: it does network and
database work, while the translation of artifacts and logs stays in ``sources/dbt.py``.
"""

from __future__ import annotations

import contextlib
import json
import logging
import random
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Final
from urllib.parse import quote

import httpx
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from triagehub.actions.http import HttpClient, Retrier, describe, read_error_text
from triagehub.clock import Clock, SystemClock
from triagehub.config import (
    DBT_CLOUD_ACCOUNT_ENV,
    DBT_CLOUD_TOKEN_ENV,
    DEFAULT_DBT_CLOUD_HOST,
    Settings,
)
from triagehub.core.models import CheckResult, RunReport, Status
from triagehub.core.redact import REDACTED, redact
from triagehub.core.timeparse import parse_time
from triagehub.engine.ingest import Ingestor, IngestSummary
from triagehub.engine.pull.github_actions import read_cursor, save_cursor
from triagehub.errors import ExternalServiceError, InputError
from triagehub.sources.dbt import (
    MAX_ARTIFACT_BYTES,
    parse_artifacts_full,
    parse_console_log,
    with_lineage,
)
from triagehub.sources.events import REPOSITORY

log = logging.getLogger(__name__)

SERVICE: Final = "dbt-cloud"
SOURCE: Final = "dbt_cloud"
PAGE_SIZE: Final = 100  # the API's maximum ``limit``
LIST_RELATED: Final = ("job", "trigger")
RUN_RELATED: Final = ("job", "trigger", "run_steps")
ARTIFACTS: Final = ("run_results.json", "sources.json", "manifest.json")
_MAX_REASON_CHARS: Final = 500
_CHUNK_BYTES: Final = 64 * 1024
_FALLBACK_LOG_LINES: Final = 200


class RunStatus:
    """dbt Cloud's numeric run (and run step) statuses."""

    QUEUED: Final = 1
    STARTING: Final = 2
    RUNNING: Final = 3
    SUCCESS: Final = 10
    ERROR: Final = 20
    CANCELLED: Final = 30


JSONObject = dict[str, Any]


class DbtCloudClient(HttpClient):
    """dbt Cloud Administrative API v2 for one account: runs, their steps and artifacts.

    ``token`` is a service token or personal access token (the caller reads
    ``DBT_CLOUD_API_TOKEN``); ``host`` is the account's access URL (``https://cloud.getdbt.com``,
    ``https://emea.dbt.com``, a cell or single-tenant URL). Use it as a context manager, or call
    :meth:`close`. See the module docstring for requests, retries and errors.
    """

    def __init__(
        self,
        token: str,
        account_id: int,
        *,
        host: str = DEFAULT_DBT_CLOUD_HOST,
        timeout_s: float = 30.0,
        max_retries: int = 3,
        max_wait_s: float = 60.0,
        backoff_base_s: float = 1.0,
        page_size: int = PAGE_SIZE,
        user_agent: str = "triagehub",
        clock: Clock | None = None,
        sleep: Callable[[float], None] = time.sleep,
        rng: random.Random | None = None,
    ) -> None:
        if not token:
            raise ValueError(f"a dbt Cloud API token is required ({DBT_CLOUD_TOKEN_ENV})")
        if isinstance(account_id, bool) or not isinstance(account_id, int) or account_id < 1:
            raise ValueError(f"account_id must be a positive integer, got {account_id!r}")
        if not 1 <= page_size <= PAGE_SIZE:
            raise ValueError(f"page_size must be between 1 and {PAGE_SIZE}, got {page_size}")
        if timeout_s <= 0:
            raise ValueError(f"timeout_s must be > 0, got {timeout_s}")
        base = httpx.URL(host.rstrip("/"))
        if base.scheme not in ("http", "https") or not base.host:
            raise ValueError(f"host must be an http(s) URL, got {host!r}")
        self._token = token
        self._host = str(base)
        self._account_id = account_id
        self._api = f"{self._host}/api/v2/accounts/{account_id}"
        self._page_size = page_size
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
        self._http = httpx.Client(
            timeout=httpx.Timeout(timeout_s),
            headers={"User-Agent": user_agent},
            follow_redirects=False,
        )

    @property
    def account_id(self) -> int:
        return self._account_id

    @property
    def host(self) -> str:
        return self._host

    def __repr__(self) -> str:
        return f"DbtCloudClient(host={self._host!r}, account_id={self._account_id})"

    # -- runs ------------------------------------------------------------------------------

    def list_runs(
        self,
        *,
        job_id: int | None = None,
        order_by: str = "-finished_at",
        include_related: Iterable[str] = LIST_RELATED,
    ) -> Iterator[JSONObject]:
        """Yield the account's runs (of job ``job_id`` if given) in ``order_by`` order, page after
        page; requests are made as the iterator is consumed."""
        params = {"order_by": order_by, "limit": str(self._page_size)}
        if job_id is not None:
            params["job_definition_id"] = str(_positive_id(job_id, "job_id"))
        related = list(include_related)
        if related:
            params["include_related"] = json.dumps(related, separators=(",", ":"))
        return self._paginate(f"{self._api}/runs/", params)

    def get_run(self, run_id: int, *, include_related: Iterable[str] = RUN_RELATED) -> JSONObject:
        """One run (``GET runs/{id}/``), with its steps and their logs by default."""
        url = f"{self._api}/runs/{_positive_id(run_id, 'run_id')}/"
        params: dict[str, str] = {}
        related = list(include_related)
        if related:
            params["include_related"] = json.dumps(related, separators=(",", ":"))
        data = self._get_json(url, params).get("data")
        if not isinstance(data, dict):
            raise ExternalServiceError(
                SERVICE, 200, f"GET {_path(url)}: expected the run object in 'data'"
            )
        return data

    def download_artifact(
        self, run_id: int, path: str, dest: Path, *, max_bytes: int = MAX_ARTIFACT_BYTES
    ) -> bool:
        """Stream artifact ``path`` of a run (its last step's) into ``dest``.

        Returns ``False`` (and writes nothing) when the run has no such artifact (404). A
        download that breaks part-way is retried like a request; one larger than ``max_bytes``
        is refused with an error.
        """
        if not path or path.startswith("/") or ".." in path.split("/"):
            raise ValueError(f"artifact path must be relative, got {path!r}")
        url = f"{self._api}/runs/{_positive_id(run_id, 'run_id')}/artifacts/{quote(path)}"
        where = _path(url)
        attempt = 0
        while True:
            try:
                response = self._send("GET", url, stream=True)
            except ExternalServiceError as exc:
                if exc.status == 404:
                    return False
                raise
            with contextlib.closing(response):
                declared = response.headers.get("content-length", "")
                if declared.isdigit() and int(declared) > max_bytes:
                    raise ExternalServiceError(
                        SERVICE, response.status_code, f"GET {where}: over {max_bytes} bytes"
                    )
                try:
                    written = 0
                    with dest.open("wb") as fh:
                        for chunk in response.iter_bytes(_CHUNK_BYTES):
                            written += len(chunk)
                            if written > max_bytes:
                                raise ExternalServiceError(
                                    SERVICE,
                                    response.status_code,
                                    f"GET {where}: over {max_bytes} bytes",
                                )
                            fh.write(chunk)
                    return True
                except httpx.TransportError as exc:
                    reason = f"GET {where}: download broke: {describe(exc)}"
                    wait = self._retry.backoff(attempt)
                    self._retry.wait_or_raise(attempt, None, reason, wait, False, exc)
                    attempt += 1

    # -- internals -------------------------------------------------------------------------

    def _paginate(self, url: str, params: Mapping[str, str]) -> Iterator[JSONObject]:
        offset = 0
        seen: set[object] = set()
        while True:
            body = self._get_json(url, {**params, "offset": str(offset)})
            data = body.get("data")
            if not isinstance(data, list) or not all(isinstance(i, dict) for i in data):
                raise ExternalServiceError(
                    SERVICE, 200, f"GET {_path(url)}: expected a list of runs in 'data'"
                )
            for run in data:
                key = run.get("id")
                if key in seen:
                    continue  # a run that moved to the next page while we paged
                seen.add(key)
                yield run
            offset += len(data)
            total = _total_count(body)
            if len(data) < self._page_size or (total is not None and offset >= total):
                return

    def _get_json(self, url: str, params: Mapping[str, str]) -> JSONObject:
        full = str(httpx.URL(url, params=params)) if params else url
        response = self._send("GET", full)
        try:
            parsed: object = json.loads(response.content)
        except ValueError as exc:
            raise ExternalServiceError(
                SERVICE, response.status_code, f"GET {_path(full)}: answer is not JSON ({exc})"
            ) from exc
        if not isinstance(parsed, dict):
            raise ExternalServiceError(
                SERVICE,
                response.status_code,
                f"GET {_path(full)}: expected a JSON object, got {type(parsed).__name__}",
            )
        return parsed

    def _send(self, method: str, url: str, *, stream: bool = False) -> httpx.Response:
        headers = {"Accept": "application/json", "Authorization": f"Token {self._token}"}
        try:
            return self._retry.send(
                self._http,
                method,
                url,
                headers,
                where=_path(url),
                error_message=self._error_message,
                stream=stream,
                follow_redirects=True,  # httpx drops Authorization on another origin
            )
        except ExternalServiceError as exc:
            if exc.status in (401, 403):
                what = (
                    "dbt Cloud rejected the API token for"
                    if exc.status == 401
                    else "the API token may not read the runs of"
                )
                raise ExternalServiceError(
                    SERVICE,
                    exc.status,
                    self._scrub(
                        f"{method} {_path(url)}: {what} account {self._account_id} at "
                        f"{self._host} ({_reason(exc)}); check {DBT_CLOUD_TOKEN_ENV} (a service "
                        f"token or personal access token that can read runs) and "
                        f"{DBT_CLOUD_ACCOUNT_ENV}"
                    ),
                ) from None
            raise

    def _error_message(self, response: httpx.Response) -> str:
        """dbt Cloud's ``status.user_message`` (and developer message) from an error answer."""
        text = read_error_text(response)
        message = _message_from_body(text) or response.reason_phrase or "no message"
        return message[:_MAX_REASON_CHARS]

    def _scrub(self, text: str) -> str:
        return redact(text).replace(self._token, REDACTED)


def _reason(exc: ExternalServiceError) -> str:
    """The service's own words in an error (after ``METHOD /path: ``)."""
    text = str(exc).split(": ", 1)[-1]
    return text.split(": ", 1)[-1]


def _message_from_body(text: str) -> str:
    try:
        body: object = json.loads(text)
    except ValueError:
        return " ".join(text.split())[:200]
    if not isinstance(body, dict):
        return ""
    status = body.get("status")
    parts: list[str] = []
    if isinstance(status, dict):
        for key in ("user_message", "developer_message"):
            value = status.get(key)
            if isinstance(value, str) and value.strip() and value.strip() not in parts:
                parts.append(value.strip())
    for key in ("detail", "message"):
        value = body.get(key)
        if not parts and isinstance(value, str) and value.strip():
            parts.append(value.strip())
    return ": ".join(parts)


def _total_count(body: Mapping[str, Any]) -> int | None:
    extra = body.get("extra")
    pagination = extra.get("pagination") if isinstance(extra, dict) else None
    total = pagination.get("total_count") if isinstance(pagination, dict) else None
    return total if isinstance(total, int) and not isinstance(total, bool) else None


def _positive_id(value: int, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ValueError(f"{what} must be a positive integer, got {value!r}")
    return value


def _path(url: str) -> str:
    return httpx.URL(url).path


# -- polling -----------------------------------------------------------------------------------


@dataclass
class DbtCloudPollSummary:
    """What one :func:`poll_dbt_cloud` did."""

    account_id: int
    job_id: int | None = None
    runs_seen: int = 0  # completed runs finished since the cursor, cancelled ones included
    runs_ingested: int = 0  # runs whose report went to the store (an already stored one counts)
    runs_skipped: int = 0  # cancelled, or passed without artifacts, or unreadable
    artifacts_fetched: int = 0
    artifact_errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    ingest: IngestSummary = field(default_factory=IngestSummary)

    def as_dict(self) -> dict[str, Any]:
        return {
            "account_id": self.account_id,
            "job_id": self.job_id,
            "runs_seen": self.runs_seen,
            "runs_ingested": self.runs_ingested,
            "runs_skipped": self.runs_skipped,
            "artifacts_fetched": self.artifacts_fetched,
            "artifact_errors": self.artifact_errors,
            "artifact_warnings": self.warnings,
            **self.ingest.as_dict(),
        }


def cursor_name(account_id: int, job_id: int | None) -> str:
    return f"dbt-cloud:{account_id}:{job_id or '*'}"


def poll_dbt_cloud(
    engine: Engine,
    settings: Settings,
    client: DbtCloudClient,
    *,
    job_id: int | None = None,
    since: timedelta,
    repository: str | None,
    clock: Clock | None = None,
) -> DbtCloudPollSummary:
    """Ingest the dbt Cloud runs finished since the cursor (or ``since`` ago); see the module.

    ``repository`` is ``OWNER/NAME`` for every run; without it, each run's dbt project is looked
    up in ``triagehub.yaml`` (a repository's ``dbt_project``). Raises
    :class:`~triagehub.errors.InputError` when a run's repository cannot be told, and
    :class:`~triagehub.errors.ExternalServiceError` when dbt Cloud fails for good; the runs
    stored before stay stored, and the cursor stops before the run that failed.
    """
    now = (clock or SystemClock()).now()
    projects = settings.dbt_project_repositories()
    if repository is not None and not REPOSITORY.match(repository):
        raise InputError("--repo", repository, "expected OWNER/NAME")
    if repository is None and not projects:
        raise InputError(
            "--repo",
            "",
            "cannot tell the repository of dbt Cloud runs: pass --repo OWNER/NAME, or name the "
            "dbt project of a repository in triagehub.yaml (`dbt_project: <name>`)",
        )
    summary = DbtCloudPollSummary(account_id=client.account_id, job_id=job_id)
    name = cursor_name(client.account_id, job_id)
    with Session(engine) as session:
        cursor = read_cursor(session, name)
    start = cursor or now - since

    pending: list[tuple[datetime, int, JSONObject]] = []
    for run in client.list_runs(job_id=job_id):
        finished = _run_time(run, "finished_at")
        if finished is None or not run.get("is_complete", True):
            continue  # queued or running: it is picked up once it has finished
        if finished <= start:
            break  # newest first: everything after this was seen by an earlier poll
        if not isinstance(run.get("id"), int):
            raise ExternalServiceError(SERVICE, 200, "a run without a numeric 'id' was listed")
        pending.append((finished, run["id"], run))
    pending.sort(key=lambda item: (item[0], item[1]))
    summary.runs_seen = len(pending)

    unsaved: datetime | None = None  # the cursor past runs skipped since the last stored one
    for finished, run_id, run in pending:
        report = _report(client, run, repository, projects, summary)
        if report is None:
            summary.runs_skipped += 1
            unsaved = finished
            continue
        with Session(engine) as session, session.begin():
            ingestor = Ingestor(session, settings, clock=clock)
            ingestor.add(report)
            ingestor.flush()
            save_cursor(session, name, finished, now)
        unsaved = None
        summary.ingest.add(ingestor.summary)
        summary.runs_ingested += 1
        log.info("ingested dbt Cloud run %s", run_id, extra={"run_id": run_id})
    if unsaved is not None:
        with Session(engine) as session, session.begin():
            save_cursor(session, name, unsaved, now)
    return summary


def _report(
    client: DbtCloudClient,
    run: JSONObject,
    repository: str | None,
    projects: Mapping[str, str],
    summary: DbtCloudPollSummary,
) -> RunReport | None:
    """The report of one completed run, or ``None`` when there is nothing to ingest."""
    run_id: int = run["id"]
    status = run.get("status")
    if status not in (RunStatus.SUCCESS, RunStatus.ERROR):
        return None  # cancelled (or a status this client does not know)
    failed = status == RunStatus.ERROR
    origin = f"dbt Cloud run {run_id}"
    report: RunReport | None = None
    with tempfile.TemporaryDirectory(prefix=f"triagehub-dbt-cloud-{run_id}-") as tmp:
        folder = Path(tmp)
        found: list[str] = []
        for artifact in ARTIFACTS:
            if artifact == "manifest.json" and not found:
                break  # nothing to read the manifest with
            if client.download_artifact(run_id, artifact, folder / artifact):
                found.append(artifact)
                summary.artifacts_fetched += 1
        if found:
            try:
                parsed = parse_artifacts_full(
                    folder, repository=repository, project_repositories=projects
                )
            except InputError as exc:
                if exc.location == "repository":
                    raise _with_origin(exc, origin) from None
                summary.artifact_errors.append(f"{origin}: {_relative(str(exc), tmp)}")
            else:
                summary.warnings.extend(f"{origin}: {_relative(w, tmp)}" for w in parsed.warnings)
                report = with_lineage(parsed)
    if failed and (report is None or not any(r.status.is_failure for r in report.results)):
        # No artifacts (dbt stopped before writing target/), unreadable ones, or ones of a step
        # that did not fail: the failing steps' console logs say what went wrong.
        known = report.repository if report is not None else None
        from_logs = _report_from_steps(client, run, repository, projects, summary, known)
        if from_logs is not None:
            report = from_logs if report is None else _merge(report, from_logs)
    if report is None:
        return None
    return replace(
        report,
        source=SOURCE,
        run_id=str(run_id),
        attempt=1,
        commit=_text(run.get("git_sha")) or report.commit,
        branch=_text(run.get("git_branch")) or report.branch,
        url=_text(run.get("href")) or report.url,
        started_at=_run_time(run, "started_at") or report.started_at,
        finished_at=_run_time(run, "finished_at") or report.finished_at,
        status="failure" if failed else "success",
    )


def _report_from_steps(
    client: DbtCloudClient,
    run: JSONObject,
    repository: str | None,
    projects: Mapping[str, str],
    summary: DbtCloudPollSummary,
    known_repository: str | None,
) -> RunReport | None:
    """The failure of a failed run as its failing steps' console logs tell it."""
    run_id: int = run["id"]
    origin = f"dbt Cloud run {run_id}"
    steps = run.get("run_steps")
    if not isinstance(steps, list) or not steps:
        run = client.get_run(run_id)
        steps = run.get("run_steps")
    steps = [s for s in steps or [] if isinstance(s, dict)]
    failed_steps = [s for s in steps if s.get("status") == RunStatus.ERROR] or steps[-1:]
    lines: list[str] = []
    for step in failed_steps:
        text = step.get("logs") or step.get("truncated_debug_logs") or ""
        if isinstance(text, str):
            lines.extend(text.splitlines())
    parsed: RunReport | None = None
    try:
        parsed = parse_console_log(
            lines, repository=repository, project_repositories=projects, origin=origin
        )
    except InputError as exc:
        if exc.location == "repository" and "dbt project" in exc.reason:
            raise  # a dbt project triagehub.yaml does not map: fix the config, poll again
    if parsed is not None and any(r.status.is_failure for r in parsed.results):
        return parsed
    # Not dbt output (the run failed cloning the repository, creating the profile...), or dbt
    # output without a failure: the failing step itself is the check.
    repository = repository or (parsed.repository if parsed else None) or known_repository
    if repository is None:
        summary.artifact_errors.append(
            f"{origin}: failed outside dbt and its repository cannot be told: pass --repo"
        )
        return None
    job = run.get("job")
    job_name = _text(job.get("name")) if isinstance(job, dict) else None
    step_name = _text(failed_steps[-1].get("name")) if failed_steps else None
    check = " / ".join(p for p in ("dbt Cloud", job_name, step_name or "run") if p)
    tail = "\n".join(lines[-_FALLBACK_LOG_LINES:])
    message = _text(run.get("status_message")) or _last_line(lines) or "the run failed"
    return RunReport(
        source=SOURCE,
        repository=repository,
        run_id=str(run_id),
        results=(CheckResult(check=check, status=Status.ERROR, message=message, log=tail),),
    )


def _merge(report: RunReport, extra: RunReport) -> RunReport:
    known = {r.check for r in report.results}
    added = tuple(r for r in extra.results if r.check not in known and r.status.is_failure)
    return replace(report, results=report.results + added)


def _with_origin(exc: InputError, origin: str) -> InputError:
    return InputError(origin, exc.location, exc.reason)


def _relative(text: str, tmp: str) -> str:
    """A message about a downloaded artifact without the temporary folder's path."""
    return text.replace(tmp + "/", "").replace(tmp, "artifacts")


def _run_time(run: Mapping[str, Any], key: str) -> datetime | None:
    value = run.get(key)
    if value in (None, ""):
        return None
    try:
        return parse_time(value)
    except ValueError as exc:
        raise ExternalServiceError(
            SERVICE, 200, f"run {run.get('id')}: {key} is not a time ({exc})"
        ) from None


def _text(value: object) -> str | None:
    return value.strip() if isinstance(value, str) and value.strip() else None


def _last_line(lines: list[str]) -> str | None:
    for line in reversed(lines):
        if line.strip():
            return line.strip()[:_MAX_REASON_CHARS]
    return None
