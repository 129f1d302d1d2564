"""dbt Cloud's Administrative API v2: the client that reads job runs, their steps and artifacts.

:class:`DbtCloudClient` reads, for one account (``{host}/api/v2/accounts/{account_id}``):

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

The polling that ingests the runs is :mod:`triagehub.engine.pull.dbt_cloud`.
"""

from __future__ import annotations

import contextlib
import json
import logging
import random
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any, Final
from urllib.parse import quote

import httpx

from triagehub.actions.http import (
    HttpClient,
    Retrier,
    check_base_url,
    copy_capped,
    describe,
    error_body,
    new_http_client,
    parse_json_object,
    positive_id,
    read_error_message,
    scrub_secret,
)
from triagehub.actions.http import url_for_message as _path
from triagehub.clock import Clock
from triagehub.config import DBT_CLOUD_ACCOUNT_ENV, DBT_CLOUD_TOKEN_ENV, DEFAULT_DBT_CLOUD_HOST
from triagehub.errors import ExternalServiceError
from triagehub.sources.dbt import MAX_ARTIFACT_BYTES

log = logging.getLogger(__name__)

SERVICE: Final = "dbt-cloud"
PAGE_SIZE: Final = 100  # the API's maximum ``limit``
LIST_RELATED: Final = ("job", "trigger")
RUN_RELATED: Final = ("job", "trigger", "run_steps")


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
        base = check_base_url(host, "host")
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
            clock=clock,
            sleep=sleep,
            rng=rng,
            scrub=self._scrub,
            logger=log,
        )
        self._http = new_http_client(timeout_s, {"User-Agent": user_agent})

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
            params["job_definition_id"] = str(positive_id(job_id, "job_id"))
        related = list(include_related)
        if related:
            params["include_related"] = json.dumps(related, separators=(",", ":"))
        return self._paginate(f"{self._api}/runs/", params)

    def get_run(self, run_id: int, *, include_related: Iterable[str] = RUN_RELATED) -> JSONObject:
        """One run (``GET runs/{id}/``), with its steps and their logs by default."""
        url = f"{self._api}/runs/{positive_id(run_id, 'run_id')}/"
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
        url = f"{self._api}/runs/{positive_id(run_id, 'run_id')}/artifacts/{quote(path)}"
        where = _path(url)
        attempt = 0
        while True:
            try:
                response = self._send("GET", url, stream=True)
            except ExternalServiceError as exc:
                if exc.status == 404:
                    return False
                raise
            too_large = _too_large(f"GET {where}: over {max_bytes} bytes", response.status_code)
            with contextlib.closing(response):
                try:
                    copy_capped(response, dest, max_bytes, too_large)
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
        return parse_json_object(
            response.content, SERVICE, response.status_code, f"GET {_path(full)}"
        )

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
        return read_error_message(response, _message_from_body)

    def _scrub(self, text: str) -> str:
        return scrub_secret(text, self._token)


def _too_large(message: str, status: int) -> Callable[[int | None], ExternalServiceError]:
    """The error of an artifact over the size limit (whether it said so or not)."""
    return lambda _declared: ExternalServiceError(SERVICE, status, message)


def _reason(exc: ExternalServiceError) -> str:
    """The service's own words in an error (after ``METHOD /path: ``)."""
    text = str(exc).split(": ", 1)[-1]
    return text.split(": ", 1)[-1]


def _message_from_body(text: str) -> str:
    body = error_body(text)
    if isinstance(body, str):
        return body
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
