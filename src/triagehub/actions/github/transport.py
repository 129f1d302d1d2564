"""The transport of the GitHub client: requests, retries, errors, ETags, JSON and pagination.

:class:`GitHubTransport` is what :class:`~triagehub.actions.github.GitHubClient`'s endpoints
(:mod:`.runs`, :mod:`.issues`) send through; the contract (headers, pagination, conditional
requests, retries, secrets) is the package's docstring, :mod:`triagehub.actions.github`.
"""

from __future__ import annotations

import json
import logging
import random
import re
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final
from urllib.parse import quote

import httpx

from triagehub.actions.http import (
    HttpClient,
    Retrier,
    check_base_url,
    error_body,
    float_or_none,
    new_http_client,
    parse_json,
    parse_json_object,
    read_error_message,
    retry_after_s,
    scrub_secret,
)
from triagehub.actions.http import url_for_message as _where
from triagehub.clock import Clock
from triagehub.errors import ExternalServiceError

# The package's logger: retry records name ``triagehub.actions.github``, as they always have.
log = logging.getLogger("triagehub.actions.github")

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


class GitHubTransport(HttpClient):
    """Sending to GitHub's REST API: the constructor's arguments are
    :class:`~triagehub.actions.github.GitHubClient`'s."""

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
        base = check_base_url(base_url, "base_url")
        self._token = token or None
        self._base_url = str(base)
        self._base = base
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
        self._once = self._retry.without_retries()
        self._etags = _ETagCache(etag_cache_size)
        self._http = new_http_client(timeout_s, {"User-Agent": user_agent})

    # -- internals: URLs -------------------------------------------------------------------

    def _url(self, path: str) -> str:
        return self._base_url + path

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
        status, body, link = self._get_raw(full)
        parsed = parse_json_object(body, SERVICE, status, f"GET {_where(full)}", self._scrub)
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
            items = parse_json(body, SERVICE, status, f"GET {_where(full)}", self._scrub)
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
        what = f"{method} {_where(url)}"
        return parse_json(raw, SERVICE, response.status_code, what, self._scrub)

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
        return read_error_message(response, _message_from_body)

    def _scrub(self, text: str) -> str:
        return scrub_secret(text, self._token)


# -- module helpers ---------------------------------------------------------------------------


def _repo_path(repo: str) -> str:
    owner, _, name = repo.partition("/")
    if not _REPO_RE.fullmatch(repo) or name in (".", ".."):
        raise ValueError(f"repository must be 'owner/name', got {repo!r}")
    return f"/repos/{quote(owner, safe='')}/{quote(name, safe='')}"


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
    body = error_body(text)
    if isinstance(body, str):
        return body
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
