"""A small synchronous client of GitHub's REST API for what triage needs from GitHub Actions.

The client, :class:`GitHubClient`, is put together from :mod:`.transport` (requests, retries,
ETags, pagination), :mod:`.runs` (workflow runs, jobs, logs), :mod:`.issues` (issues, labels,
comments, search) and :mod:`.pulls` (pull requests).

Contract
--------
:class:`GitHubClient` reads workflow runs, their jobs (with steps) and their logs, and asks GitHub
to re-run a run's failed jobs. For the issue sync (:mod:`triagehub.engine.sync`) it also
reads, creates and edits issues, their labels and comments, the repository's labels, and
searches issues. ``update_comment`` edits a comment (the one that holds an investigation brief)
and answers ``None`` when GitHub no longer has it (404: deleted). For the links to coding agents'
fixes it lists a repository's pull requests.

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

from triagehub.actions.github.client import GitHubClient
from triagehub.actions.github.transport import (
    ACCEPT,
    API_VERSION,
    DEFAULT_BASE_URL,
    DEFAULT_ETAG_CACHE_SIZE,
    PER_PAGE,
    SERVICE,
    UNSPECIFIED_RATE_LIMIT_WAIT_S,
    JSONObject,
    LogTooLargeError,
)

__all__ = [
    "ACCEPT",
    "API_VERSION",
    "DEFAULT_BASE_URL",
    "DEFAULT_ETAG_CACHE_SIZE",
    "PER_PAGE",
    "SERVICE",
    "UNSPECIFIED_RATE_LIMIT_WAIT_S",
    "GitHubClient",
    "JSONObject",
    "LogTooLargeError",
]
