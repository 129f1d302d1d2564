"""A small stateful fake of GitHub's REST API for what Prism cannot do.

Two real HTTP servers on 127.0.0.1 (ephemeral ports): the API (``fake.base_url``) and log storage
(``fake.storage_url``, another origin, like GitHub's signed log URLs). Usage::

    with FakeGitHub() as fake:
        fake.add_runs(250)
        fake.script(Reply(502), Reply(403, headers={...}))   # the next API answers, in order
        client = GitHubClient(fake.token, base_url=fake.base_url, sleep=sleeps.append)
        ...
        assert [r.query.get("page") for r in fake.requests] == [None, "2", "3"]

What it does, as GitHub does:

* ``GET /repos/{o}/{r}/actions/runs`` and ``/actions/workflows/{file-or-id}/runs``: the runs of
  ``fake.runs``, newest first, filtered by ``branch``, ``status`` (a status or a conclusion) and
  ``created`` (``>=ISO``, ``<=ISO`` or an ISO date-time), paginated with ``per_page`` (default 30,
  at most 100) and ``page``, with ``total_count`` and ``Link`` headers (``next``, ``last``,
  ``first``, ``prev``) carrying absolute URLs.
* ``GET .../actions/runs/{id}``; ``.../runs/{id}/jobs`` (``filter=latest`` keeps the jobs of
  the run's last attempt); ``.../runs/{id}/attempts/{n}/jobs``. Unknown ids answer 404 in GitHub's
  error envelope.
* ``GET .../actions/jobs/{id}/logs`` and ``.../runs/{id}/logs``: ``302`` to log storage with a
  signed-looking query; storage serves ``fake.job_logs`` / ``fake.run_logs`` bytes, with a
  ``Content-Length`` unless ``fake.storage_sends_length`` is false (then the body ends when the
  connection closes). With ``fake.storage_gate`` (a ``threading.Event``) set to an event, storage
  sends the first half of the body and waits for the event before sending the rest.
* ``POST .../actions/runs/{id}/rerun-failed-jobs``: ``201 {}``, recorded in ``fake.reruns``.
* Issues (``fake.issues[(repo, number)]``, repository names lower-cased): ``GET``/``POST
  /repos/{o}/{r}/issues`` (list with ``state``, ``labels``, ``since``, ``sort``, ``direction``,
  ``creator``, paginated; create, numbered from 1 per repository, by ``fake.login``), ``GET``/
  ``PATCH .../issues/{n}``, ``GET``/``POST .../issues/{n}/comments``, ``GET``/``PATCH``/``DELETE
  .../issues/comments/{id}`` (404 once deleted, also by ``fake.delete_comment``), ``POST
  .../issues/{n}/labels`` and ``DELETE .../issues/{n}/labels/{name}`` (404 ``Label does not
  exist``), ``GET``/``POST .../labels`` (422 ``already_exists``; labels an issue is created or
  labelled with are made with GitHub's default colour ``ededed`` when missing), ``GET
  /search/issues`` (``repo:``, ``is:``, ``in:`` and ``state:`` qualifiers, every other word or
  quoted phrase must be in the title or body; issues younger than ``fake.search_lag`` seconds are
  not found yet, like GitHub's index).
  ``fake.gone[(repo, number)] = 404 or 410`` makes an issue answer that status;
  ``fake.locked`` issues refuse comments with 403. Times come from ``fake.now()``.
  ``fake.human_*`` methods make the changes a person would (with their login).
* Pull requests (``fake.pulls[repo]``, numbered in the issues' sequence): ``GET
  /repos/{o}/{r}/pulls`` with ``state`` (default ``open``), ``sort`` (``created``, default, or
  ``updated``), ``direction`` (default ``desc``), paginated like the issues; ``fake.add_pull``
  opens one, ``fake.merge_pull`` merges it (both move its ``updated_at``).
* Every JSON answer has a weak ``ETag``; a matching ``If-None-Match`` gets ``304`` with no body.
* ``Authorization`` other than ``Bearer <fake.token>`` answers 401 ``Bad credentials``; no
  ``Authorization`` at all is allowed (a public repository).

``fake.script(*behaviours)`` queues answers taken, one per request, by the next API requests
before any of the above: :class:`Reply` (any status, body and headers), :class:`Disconnect`
(close the connection without answering) or :class:`DoThenDisconnect` (do what the request asks,
then close the connection without answering: the answer is lost). ``fake.intercept``, when set,
picks such a behaviour (or None) for each request the script does not. Every request is recorded
(``fake.requests``, ``fake.storage_requests``) with its headers and body, valid or not.
"""

from __future__ import annotations

import hashlib
import json
import re
import shlex
import threading
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Self
from urllib.parse import parse_qs, unquote, urlencode, urlsplit

from triagehub.clock import SystemClock

DEFAULT_TOKEN = "ghp_FakeTokenForTests0123456789abcdefABCD"
DOCS = "https://docs.github.com/rest"
SIGNATURE = "urlSigningMethod=HMACV1&urlSignature=c2VjcmV0LXNpZ25hdHVyZQ%3D%3D"


@dataclass(frozen=True)
class Reply:
    """One scripted answer: ``body`` is JSON-encoded unless it is bytes."""

    status: int
    body: object = None
    headers: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Disconnect:
    """Close the connection without answering (the client sees a transport error)."""


@dataclass(frozen=True)
class DoThenDisconnect:
    """Do the request (e.g. create the issue), then close the connection without answering."""


Behaviour = Reply | Disconnect | DoThenDisconnect


@dataclass(frozen=True)
class Recorded:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]  # lower-case names
    body: bytes = b""

    @property
    def authorization(self) -> str | None:
        return self.headers.get("authorization")

    @property
    def json(self) -> Any:
        return json.loads(self.body) if self.body else None


def make_run(
    run_id: int,
    *,
    name: str = "CI",
    path: str = ".github/workflows/ci.yml",
    workflow_id: int = 161335,
    branch: str = "main",
    status: str = "completed",
    conclusion: str | None = "failure",
    created_at: datetime | None = None,
    run_attempt: int = 1,
) -> dict[str, Any]:
    created = created_at or datetime(2026, 11, 1, tzinfo=UTC) + timedelta(minutes=run_id)
    stamp = created.strftime("%Y-%m-%dT%H:%M:%SZ")
    return {
        "id": run_id,
        "name": name,
        "path": path,
        "workflow_id": workflow_id,
        "head_branch": branch,
        "head_sha": hashlib.sha1(str(run_id).encode()).hexdigest(),
        "run_number": run_id,
        "run_attempt": run_attempt,
        "event": "push",
        "status": status,
        "conclusion": conclusion,
        "created_at": stamp,
        "updated_at": stamp,
        "html_url": f"https://github.com/octo-org/octo-repo/actions/runs/{run_id}",
    }


def make_job(job_id: int, run_id: int, *, attempt: int = 1, name: str = "test") -> dict[str, Any]:
    return {
        "id": job_id,
        "run_id": run_id,
        "run_attempt": attempt,
        "name": name,
        "status": "completed",
        "conclusion": "failure",
        "steps": [
            {"name": "Set up job", "status": "completed", "conclusion": "success", "number": 1},
            {"name": "Run tests", "status": "completed", "conclusion": "failure", "number": 2},
        ],
    }


_ROUTES: tuple[tuple[str, re.Pattern[str]], ...] = tuple(
    (name, re.compile(pattern))
    for name, pattern in (
        ("runs", r"/repos/[^/]+/[^/]+/actions/runs"),
        ("workflow_runs", r"/repos/[^/]+/[^/]+/actions/workflows/(?P<workflow>[^/]+)/runs"),
        ("run", r"/repos/[^/]+/[^/]+/actions/runs/(?P<run>\d+)"),
        ("jobs", r"/repos/[^/]+/[^/]+/actions/runs/(?P<run>\d+)/jobs"),
        ("attempt_jobs", r"/repos/[^/]+/[^/]+/actions/runs/(?P<run>\d+)/attempts/(?P<n>\d+)/jobs"),
        ("job_logs", r"/repos/[^/]+/[^/]+/actions/jobs/(?P<job>\d+)/logs"),
        ("run_logs", r"/repos/[^/]+/[^/]+/actions/runs/(?P<run>\d+)/logs"),
        ("rerun", r"/repos/[^/]+/[^/]+/actions/runs/(?P<run>\d+)/rerun-failed-jobs"),
        ("issues", r"/repos/(?P<repo>[^/]+/[^/]+)/issues"),
        ("issue", r"/repos/(?P<repo>[^/]+/[^/]+)/issues/(?P<number>\d+)"),
        ("comments", r"/repos/(?P<repo>[^/]+/[^/]+)/issues/(?P<number>\d+)/comments"),
        ("comment", r"/repos/(?P<repo>[^/]+/[^/]+)/issues/comments/(?P<comment>\d+)"),
        ("issue_labels", r"/repos/(?P<repo>[^/]+/[^/]+)/issues/(?P<number>\d+)/labels"),
        (
            "issue_label",
            r"/repos/(?P<repo>[^/]+/[^/]+)/issues/(?P<number>\d+)/labels/(?P<name>[^/]+)",
        ),
        ("labels", r"/repos/(?P<repo>[^/]+/[^/]+)/labels"),
        ("issue_assignees", r"/repos/(?P<repo>[^/]+/[^/]+)/issues/(?P<number>\d+)/assignees"),
        ("search", r"/search/issues"),
        ("compare", r"/repos/(?P<repo>[^/]+/[^/]+)/compare/(?P<range>.+)"),
        ("pulls", r"/repos/(?P<repo>[^/]+/[^/]+)/pulls"),
    )
)
_ISSUE_ROUTES = frozenset(
    {
        "issues",
        "issue",
        "comments",
        "comment",
        "issue_labels",
        "issue_label",
        "labels",
        "issue_assignees",
    }
)
DEFAULT_LOGIN = "triagehub-bot"


class FakeGitHub:
    def __init__(self, *, token: str | None = DEFAULT_TOKEN) -> None:
        self.token = token
        self.runs: list[dict[str, Any]] = []
        self.jobs: dict[int, list[dict[str, Any]]] = {}
        self.job_logs: dict[int, bytes] = {}
        self.run_logs: dict[int, bytes] = {}
        self.storage_sends_length = True
        self.storage_gate: threading.Event | None = None
        self.requests: list[Recorded] = []
        self.storage_requests: list[Recorded] = []
        self.reruns: list[int] = []
        self.login = DEFAULT_LOGIN
        self.now: Callable[[], datetime] = SystemClock().now
        self.issues: dict[tuple[str, int], dict[str, Any]] = {}
        self.comments: dict[tuple[str, int], list[dict[str, Any]]] = {}
        self.labels: dict[str, dict[str, dict[str, Any]]] = {}
        self.gone: dict[tuple[str, int], int] = {}
        self.locked: set[tuple[str, int]] = set()
        self.search_lag = 0.0
        # Commit history per repository (lower case), oldest first: what the compare API reads.
        self.commits: dict[str, list[dict[str, Any]]] = {}
        # Pull requests per repository (lower case), in the shape of GitHub's list items.
        self.pulls: dict[str, list[dict[str, Any]]] = {}
        # Consulted for each API request when no scripted answer is queued: a behaviour, or None.
        self.intercept: Callable[[Recorded], Behaviour | None] | None = None
        self._ids = 1000
        self._script: deque[Behaviour] = deque()
        self._lock = threading.Lock()
        self._lock_issues = threading.RLock()
        self._api = _Server(self, storage=False)
        self._storage = _Server(self, storage=True)
        self.base_url = self._api.url
        self.storage_url = self._storage.url

    # -- set-up ---------------------------------------------------------------------------

    def add_runs(self, count: int, **overrides: Any) -> list[dict[str, Any]]:
        start = len(self.runs) + 1
        added = [make_run(start + i, **overrides) for i in range(count)]
        self.runs.extend(added)
        return added

    def add_commit(
        self, repo: str, sha: str, message: str, *, author: str = "dev", files: Sequence[str] = ()
    ) -> dict[str, Any]:
        """Append a commit to ``repo``'s history (in the shape of GitHub's commit objects)."""
        commit = {
            "sha": sha,
            "html_url": f"https://github.com/{repo}/commit/{sha}",
            "commit": {
                "message": message,
                "author": {"name": author, "email": f"{author}@example.com", "date": self.stamp()},
            },
            "author": {"login": author},
            "files": [{"filename": f, "status": "modified"} for f in files],
        }
        self.commits.setdefault(repo.lower(), []).append(commit)
        return commit

    # -- issues: state and what people do on GitHub ---------------------------------------

    def next_id(self) -> int:
        with self._lock:
            self._ids += 1
            return self._ids

    def stamp(self) -> str:
        return self.now().astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")

    def label(self, repo: str, name: str, color: str = "ededed", description: str = "") -> Any:
        labels = self.labels.setdefault(repo.lower(), {})
        if name.lower() not in labels:
            labels[name.lower()] = {
                "id": self.next_id(),
                "node_id": f"LA_{name}",
                "url": f"{self.base_url}/repos/{repo}/labels/{name}",
                "name": name,
                "color": color,
                "default": False,
                "description": description or None,
            }
        return labels[name.lower()]

    def create_issue(
        self, repo: str, title: str, body: str, labels: list[str], login: str
    ) -> dict[str, Any]:
        repo = repo.lower()
        number = self.next_number(repo)
        stamp = self.stamp()
        issue = {
            "id": self.next_id(),
            "node_id": f"I_kwDO{number:06d}",
            "number": number,
            "url": f"{self.base_url}/repos/{repo}/issues/{number}",
            "html_url": f"https://github.com/{repo}/issues/{number}",
            "title": title,
            "body": body,
            "state": "open",
            "state_reason": None,
            "locked": False,
            "labels": [self.label(repo, name) for name in labels],
            "assignee": None,
            "assignees": [],
            "user": {"login": login, "id": 1, "type": "User"},
            "comments": 0,
            "created_at": stamp,
            "updated_at": stamp,
            "closed_at": None,
            "closed_by": None,
            "author_association": "OWNER",
        }
        self.issues[(repo, number)] = issue
        self.comments[(repo, number)] = []
        return issue

    def next_number(self, repo: str) -> int:
        """The next issue or pull request number of ``repo`` (one sequence, as on GitHub)."""
        repo = repo.lower()
        with self._lock:
            numbers = [n for r, n in self.issues if r == repo]
            numbers += [pr["number"] for pr in self.pulls.get(repo, [])]
            return 1 + max(numbers, default=0)

    def add_pull(
        self,
        repo: str,
        title: str,
        body: str,
        *,
        login: str = "claude[bot]",
        user_type: str = "Bot",
        head: str = "claude/fix",
    ) -> dict[str, Any]:
        """Open a pull request from ``head`` into ``main`` (what an agent or a person does)."""
        number = self.next_number(repo)
        stamp = self.stamp()
        pr = {
            "id": self.next_id(),
            "node_id": f"PR_kwDO{number:06d}",
            "number": number,
            "url": f"{self.base_url}/repos/{repo}/pulls/{number}",
            "html_url": f"https://github.com/{repo}/pull/{number}",
            "state": "open",
            "locked": False,
            "title": title,
            "body": body,
            "user": {"login": login, "id": 3, "type": user_type},
            "labels": [],
            "draft": False,
            "head": {"ref": head, "sha": f"{number:040x}", "label": f"{repo.split('/')[0]}:{head}"},
            "base": {"ref": "main", "sha": "0" * 40, "label": f"{repo.split('/')[0]}:main"},
            "author_association": "NONE",
            "created_at": stamp,
            "updated_at": stamp,
            "closed_at": None,
            "merged_at": None,
            "merge_commit_sha": None,
        }
        self.pulls.setdefault(repo.lower(), []).append(pr)
        return pr

    def pull(self, repo: str, number: int) -> dict[str, Any]:
        return next(pr for pr in self.pulls[repo.lower()] if pr["number"] == number)

    def merge_pull(self, repo: str, number: int) -> dict[str, Any]:
        pr = self.pull(repo, number)
        stamp = self.stamp()
        pr.update(
            state="closed",
            closed_at=stamp,
            merged_at=stamp,
            updated_at=stamp,
            merge_commit_sha=f"{number + 1:040x}",
        )
        return pr

    def issue(self, repo: str, number: int) -> dict[str, Any]:
        return self.issues[(repo.lower(), number)]

    def touch(self, issue: dict[str, Any]) -> None:
        issue["updated_at"] = self.stamp()

    def set_state(self, repo: str, number: int, state: str, login: str, reason: str | None) -> None:
        issue = self.issue(repo, number)
        issue["state"] = state
        if state == "closed":
            issue["state_reason"] = reason or "completed"
            issue["closed_at"] = self.stamp()
            issue["closed_by"] = {"login": login, "id": 2, "type": "User"}
        else:
            issue["state_reason"] = "reopened" if reason is None else reason
            issue["closed_at"] = None
        self.touch(issue)

    def add_comment(self, repo: str, number: int, body: str, login: str) -> dict[str, Any]:
        issue = self.issue(repo, number)
        comment_id = self.next_id()
        stamp = self.stamp()
        comment = {
            "id": comment_id,
            "node_id": f"IC_{comment_id}",
            "url": f"{self.base_url}/repos/{repo}/issues/comments/{comment_id}",
            "html_url": f"{issue['html_url']}#issuecomment-{comment_id}",
            "issue_url": issue["url"],
            "body": body,
            "user": {"login": login, "id": 3, "type": "User"},
            "created_at": stamp,
            "updated_at": stamp,
            "author_association": "OWNER",
        }
        self.comments[(repo.lower(), number)].append(comment)
        issue["comments"] += 1
        self.touch(issue)
        return comment

    def find_comment(self, repo: str, comment_id: int) -> tuple[int, dict[str, Any]] | None:
        """The issue number and the comment ``comment_id`` of ``repo``, or None."""
        for (r, number), comments in self.comments.items():
            for comment in comments:
                if r == repo.lower() and comment["id"] == comment_id:
                    return number, comment
        return None

    def delete_comment(self, repo: str, comment_id: int) -> None:
        """Delete a comment, as a person may (its id then answers 404)."""
        found = self.find_comment(repo, comment_id)
        assert found is not None, f"no comment {comment_id} in {repo}"
        number, comment = found
        self.comments[(repo.lower(), number)].remove(comment)
        issue = self.issue(repo, number)
        issue["comments"] -= 1
        self.touch(issue)

    def human_close(self, repo: str, number: int, login: str, reason: str = "completed") -> None:
        self.set_state(repo, number, "closed", login, reason)

    def human_reopen(self, repo: str, number: int, login: str) -> None:
        self.set_state(repo, number, "open", login, None)

    def human_label(
        self, repo: str, number: int, *names: str, remove: tuple[str, ...] = ()
    ) -> None:
        issue = self.issue(repo, number)
        kept = [lb for lb in issue["labels"] if lb["name"] not in remove]
        have = {lb["name"] for lb in kept}
        issue["labels"] = kept + [self.label(repo, n) for n in names if n not in have]
        self.touch(issue)

    def human_assign(self, repo: str, number: int, login: str) -> None:
        issue = self.issue(repo, number)
        user = {"login": login, "id": 4, "type": "User"}
        issue["assignee"], issue["assignees"] = user, [user]
        self.touch(issue)

    def script(self, *behaviours: Behaviour) -> None:
        with self._lock:
            self._script.extend(behaviours)

    def next_behaviour(self) -> Behaviour | None:
        with self._lock:
            return self._script.popleft() if self._script else None

    def record(self, entry: Recorded, *, storage: bool) -> None:
        with self._lock:
            (self.storage_requests if storage else self.requests).append(entry)

    # -- lifecycle ------------------------------------------------------------------------

    def __enter__(self) -> Self:
        self._api.start()
        self._storage.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._api.stop()
        self._storage.stop()


class _Server:
    def __init__(self, fake: FakeGitHub, *, storage: bool) -> None:
        handler = type("Handler", (_StorageHandler if storage else _ApiHandler,), {"fake": fake})
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._httpd.server_address[1]}"
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)


class _Handler(BaseHTTPRequestHandler):
    fake: FakeGitHub
    storage = False

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        return

    def _record(self) -> Recorded:
        parts = urlsplit(self.path)
        query = {k: v[-1] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
        length = int(self.headers.get("content-length") or 0)
        body = self.rfile.read(length) if length else b""
        entry = Recorded(
            method=self.command,
            path=parts.path,
            query=query,
            headers={k.lower(): v for k, v in self.headers.items()},
            body=body,
        )
        self.fake.record(entry, storage=self.storage)
        return entry

    def _send(self, status: int, body: bytes, headers: Mapping[str, str]) -> None:
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        if "content-length" not in {n.lower() for n in headers}:
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if body and self.command != "HEAD":
            self.wfile.write(body)

    def _json(self, status: int, body: object, headers: Mapping[str, str] | None = None) -> None:
        encoded = json.dumps(body).encode()
        out = {"Content-Type": "application/json; charset=utf-8", **(headers or {})}
        self._send(status, encoded, out)

    def _error(self, status: int, message: str) -> None:
        self._json(status, {"message": message, "documentation_url": DOCS, "status": str(status)})


class _ApiHandler(_Handler):
    def do_GET(self) -> None:
        self._handle()

    def do_POST(self) -> None:
        self._handle()

    def do_PATCH(self) -> None:
        self._handle()

    def do_DELETE(self) -> None:
        self._handle()

    def _handle(self) -> None:
        request = self._record()
        behaviour = self.fake.next_behaviour()
        if behaviour is None and self.fake.intercept is not None:
            behaviour = self.fake.intercept(request)
        if isinstance(behaviour, Disconnect):
            self.close_connection = True
            return
        if isinstance(behaviour, DoThenDisconnect):
            self._silent = True
            self._route(request)
            self.close_connection = True
            return
        if isinstance(behaviour, Reply):
            raw = behaviour.body
            if raw is None:
                body = b""
            elif isinstance(raw, bytes):
                body = raw
            else:
                body = json.dumps(raw).encode()
            self._send(behaviour.status, body, behaviour.headers)
            return
        auth = request.authorization
        if auth is not None and (self.fake.token is None or auth != f"Bearer {self.fake.token}"):
            self._error(401, "Bad credentials")
            return
        self._route(request)

    _silent = False  # DoThenDisconnect: act, but send nothing

    def _send(self, status: int, body: bytes, headers: Mapping[str, str]) -> None:
        if self._silent:
            return
        super()._send(status, body, headers)

    def _route(self, request: Recorded) -> None:
        for name, pattern in _ROUTES:
            match = pattern.fullmatch(request.path)
            if match is None:
                continue
            args = match.groupdict()
            if name in _ISSUE_ROUTES or name == "search":
                with self.fake._lock_issues:
                    self._issues_route(name, request, args)
                return
            if name == "compare" and request.method == "GET":
                self._compare(request, args["repo"], args["range"])
                return
            if name == "pulls" and request.method == "GET":
                self._list_pulls(request, args["repo"].lower())
                return
            if name == "rerun" and request.method == "POST":
                self._rerun(int(args["run"]))
                return
            if request.method != "GET" or name == "rerun":
                break
            if name == "runs":
                self._list_runs(request, None)
            elif name == "workflow_runs":
                self._list_runs(request, args["workflow"])
            elif name == "run":
                self._get_run(request, int(args["run"]))
            elif name == "jobs":
                self._list_jobs(request, int(args["run"]), None)
            elif name == "attempt_jobs":
                self._list_jobs(request, int(args["run"]), int(args["n"]))
            elif name == "job_logs":
                self._redirect_to_storage(
                    f"/jobs/{args['job']}", int(args["job"]) in self.fake.job_logs
                )
            elif name == "run_logs":
                self._redirect_to_storage(
                    f"/runs/{args['run']}", int(args["run"]) in self.fake.run_logs
                )
            return
        self._error(404, "Not Found")

    # -- answers ----------------------------------------------------------------------------

    def _conditional_json(
        self, request: Recorded, body: object, headers: Mapping[str, str] | None = None
    ) -> None:
        encoded = json.dumps(body).encode()
        etag = f'W/"{hashlib.sha256(encoded).hexdigest()[:32]}"'
        out = {"ETag": etag, **(headers or {})}
        if request.headers.get("if-none-match") == etag:
            self._send(304, b"", out)
            return
        self._send(200, encoded, {"Content-Type": "application/json; charset=utf-8", **out})

    def _paginated(self, request: Recorded, key: str, items: list[dict[str, Any]]) -> None:
        per_page = min(int(request.query.get("per_page", "30")), 100)
        page = int(request.query.get("page", "1"))
        last = max(1, -(-len(items) // per_page))
        chunk = items[(page - 1) * per_page : page * per_page]
        links = []
        for rel, number in (("prev", page - 1), ("next", page + 1), ("last", last), ("first", 1)):
            if rel in ("prev", "first") and page == 1:
                continue
            if rel in ("next", "last") and page >= last:
                continue
            query = {**request.query, "page": str(number)}
            links.append(f'<{self.fake.base_url}{request.path}?{urlencode(query)}>; rel="{rel}"')
        headers = {"Link": ", ".join(links)} if links else {}
        self._conditional_json(request, {"total_count": len(items), key: chunk}, headers)

    def _compare(self, request: Recorded, repo: str, span: str) -> None:
        base, sep, head = span.partition("...")
        history = self.fake.commits.get(repo.lower(), [])
        shas = [c["sha"] for c in history]
        if not sep or base not in shas or head not in shas:
            self._error(404, "Not Found")
            return
        lo, hi = shas.index(base), shas.index(head)
        ahead = history[lo + 1 : hi + 1]
        files: dict[str, dict[str, Any]] = {}
        for c in ahead:
            for f in c["files"]:
                files.setdefault(f["filename"], f)
        body = {
            "status": "ahead" if ahead else "identical",
            "ahead_by": len(ahead),
            "behind_by": 0,
            "total_commits": len(ahead),
            "html_url": f"https://github.com/{repo}/compare/{base}...{head}",
            "commits": [{k: v for k, v in c.items() if k != "files"} for c in ahead],
            "files": list(files.values()),
        }
        self._conditional_json(request, body)

    def _list_runs(self, request: Recorded, workflow: str | None) -> None:
        runs = sorted(self.fake.runs, key=lambda r: (r["created_at"], r["id"]), reverse=True)
        query = request.query
        if workflow is not None:
            runs = [
                r
                for r in runs
                if str(r["workflow_id"]) == workflow or r["path"].split("/")[-1] == workflow
            ]
        if "branch" in query:
            runs = [r for r in runs if r["head_branch"] == query["branch"]]
        if "status" in query:
            wanted = query["status"]
            runs = [r for r in runs if wanted in (r["status"], r["conclusion"])]
        if "created" in query:
            runs = [r for r in runs if _created_matches(r["created_at"], query["created"])]
        self._paginated(request, "workflow_runs", runs)

    def _get_run(self, request: Recorded, run_id: int) -> None:
        for run in self.fake.runs:
            if run["id"] == run_id:
                self._conditional_json(request, run)
                return
        self._error(404, "Not Found")

    def _list_jobs(self, request: Recorded, run_id: int, attempt: int | None) -> None:
        if not any(r["id"] == run_id for r in self.fake.runs):
            self._error(404, "Not Found")
            return
        jobs = self.fake.jobs.get(run_id, [])
        if attempt is not None:
            jobs = [j for j in jobs if j["run_attempt"] == attempt]
        elif request.query.get("filter", "latest") == "latest" and jobs:
            latest = max(j["run_attempt"] for j in jobs)
            jobs = [j for j in jobs if j["run_attempt"] == latest]
        self._paginated(request, "jobs", jobs)

    def _redirect_to_storage(self, path: str, exists: bool) -> None:
        if not exists:
            self._error(404, "Not Found")
            return
        location = f"{self.fake.storage_url}{path}?{SIGNATURE}"
        self._send(302, b"", {"Location": location})

    def _rerun(self, run_id: int) -> None:
        if not any(r["id"] == run_id for r in self.fake.runs):
            self._error(404, "Not Found")
            return
        self.fake.reruns.append(run_id)
        self._json(201, {})

    # -- issues, labels, comments, search ----------------------------------------------------

    def _paginated_array(self, request: Recorded, items: list[dict[str, Any]]) -> None:
        per_page = min(int(request.query.get("per_page", "30")), 100)
        page = int(request.query.get("page", "1"))
        last = max(1, -(-len(items) // per_page))
        chunk = items[(page - 1) * per_page : page * per_page]
        links = []
        if page < last:
            query = {**request.query, "page": str(page + 1)}
            links.append(f'<{self.fake.base_url}{request.path}?{urlencode(query)}>; rel="next"')
        headers = {"Link": ", ".join(links)} if links else {}
        self._conditional_json(request, chunk, headers)

    def _issues_route(self, name: str, request: Recorded, args: dict[str, str]) -> None:
        fake, method = self.fake, request.method
        if name == "search":
            if method == "GET":
                self._search(request)
            else:
                self._error(404, "Not Found")
            return
        repo = args["repo"].lower()
        if name == "labels":
            if method == "GET":
                labels = list(fake.labels.get(repo, {}).values())
                self._paginated_array(request, labels)
            elif method == "POST":
                data = request.json or {}
                if str(data.get("name", "")).lower() in fake.labels.get(repo, {}):
                    self._json(
                        422,
                        {
                            "message": "Validation Failed",
                            "errors": [
                                {"resource": "Label", "code": "already_exists", "field": "name"}
                            ],
                            "documentation_url": DOCS,
                        },
                    )
                    return
                label = fake.label(
                    repo, data["name"], data.get("color", "ededed"), data.get("description", "")
                )
                self._json(201, label)
            else:
                self._error(404, "Not Found")
            return
        if name == "issues":
            if method == "POST":
                data = request.json or {}
                if not isinstance(data.get("title"), str) or not data["title"]:
                    self._json(422, {"message": "Validation Failed", "documentation_url": DOCS})
                    return
                created = fake.create_issue(
                    repo,
                    data["title"],
                    data.get("body") or "",
                    list(data.get("labels") or []),
                    fake.login,
                )
                self._json(201, created)
            elif method == "GET":
                self._list_issues(request, repo)
            else:
                self._error(404, "Not Found")
            return
        if name == "comment":
            self._comment(request, repo, int(args["comment"]))
            return
        number = int(args["number"])
        if (repo, number) in fake.gone:
            status = fake.gone[(repo, number)]
            self._error(status, "This issue was deleted" if status == 410 else "Not Found")
            return
        issue = fake.issues.get((repo, number))
        if issue is None:
            self._error(404, "Not Found")
            return
        if name == "issue":
            if method == "GET":
                self._conditional_json(request, issue)
            elif method == "PATCH":
                data = request.json or {}
                if "state" in data and data["state"] not in ("open", "closed"):
                    self._json(422, {"message": "Validation Failed", "documentation_url": DOCS})
                    return
                for key in ("title", "body"):
                    if key in data:
                        issue[key] = data[key]
                if "state" in data and data["state"] != issue["state"]:
                    fake.set_state(
                        repo, number, data["state"], fake.login, data.get("state_reason")
                    )
                fake.touch(issue)
                self._json(200, issue)
            else:
                self._error(404, "Not Found")
        elif name == "comments":
            if method == "GET":
                since = request.query.get("since")
                comments = [
                    c
                    for c in fake.comments[(repo, number)]
                    if since is None or _parse_time(c["updated_at"]) >= _parse_time(since)
                ]
                self._paginated_array(request, comments)
            elif method == "POST":
                if (repo, number) in fake.locked:
                    self._error(403, "Unable to create comment because issue is locked.")
                    return
                data = request.json or {}
                self._json(201, fake.add_comment(repo, number, data.get("body", ""), fake.login))
            else:
                self._error(404, "Not Found")
        elif name == "issue_assignees":
            if method != "POST":
                self._error(404, "Not Found")
                return
            data = request.json or {}
            have = {a["login"] for a in issue["assignees"]}
            for login in data.get("assignees") or []:
                # GitHub ignores who cannot be assigned; here: anything that is not a login.
                if isinstance(login, str) and "/" not in login and login not in have:
                    issue["assignees"].append({"login": login, "type": "User"})
                    have.add(login)
            issue["assignee"] = issue["assignees"][0] if issue["assignees"] else None
            fake.touch(issue)
            self._json(201, issue)
        elif name == "issue_labels":
            if method == "POST":
                data = request.json
                names = data.get("labels", []) if isinstance(data, dict) else data
                fake.human_label(repo, number, *names)
                self._json(200, issue["labels"])
            elif method == "GET":
                self._paginated_array(request, issue["labels"])
            else:
                self._error(404, "Not Found")
        elif name == "issue_label":
            label = unquote(args["name"])
            if method != "DELETE":
                self._error(404, "Not Found")
            elif label not in {lb["name"] for lb in issue["labels"]}:
                self._error(404, "Label does not exist")
            else:
                fake.human_label(repo, number, remove=(label,))
                self._json(200, issue["labels"])

    def _comment(self, request: Recorded, repo: str, comment_id: int) -> None:
        fake, method = self.fake, request.method
        found = fake.find_comment(repo, comment_id)
        if found is None or (repo, found[0]) in fake.gone:
            self._error(404, "Not Found")
            return
        number, comment = found
        if method == "GET":
            self._conditional_json(request, comment)
        elif method == "PATCH":
            data = request.json
            if not isinstance(data, dict) or not isinstance(data.get("body"), str):
                self._json(422, {"message": "Validation Failed", "documentation_url": DOCS})
                return
            comment["body"] = data["body"]
            comment["updated_at"] = fake.stamp()
            fake.touch(fake.issue(repo, number))
            self._json(200, comment)
        elif method == "DELETE":
            fake.delete_comment(repo, comment_id)
            self._send(204, b"", {})
        else:
            self._error(404, "Not Found")

    def _list_issues(self, request: Recorded, repo: str) -> None:
        query = request.query
        issues = [i for (r, _), i in self.fake.issues.items() if r == repo]
        state = query.get("state", "open")
        if state != "all":
            issues = [i for i in issues if i["state"] == state]
        if query.get("labels"):
            wanted = set(query["labels"].split(","))
            issues = [i for i in issues if wanted <= {lb["name"] for lb in i["labels"]}]
        if query.get("creator"):
            issues = [i for i in issues if i["user"]["login"] == query["creator"]]
        if query.get("since"):
            since = _parse_time(query["since"])
            issues = [i for i in issues if _parse_time(i["updated_at"]) >= since]
        key = "created_at" if query.get("sort", "created") == "created" else "updated_at"
        issues.sort(
            key=lambda i: (i[key], i["number"]), reverse=query.get("direction", "desc") == "desc"
        )
        self._paginated_array(request, issues)

    def _list_pulls(self, request: Recorded, repo: str) -> None:
        query = request.query
        pulls = list(self.fake.pulls.get(repo, []))
        state = query.get("state", "open")
        if state != "all":
            pulls = [pr for pr in pulls if pr["state"] == state]
        key = "updated_at" if query.get("sort", "created") == "updated" else "created_at"
        pulls.sort(
            key=lambda pr: (pr[key], pr["number"]), reverse=query.get("direction", "desc") == "desc"
        )
        self._paginated_array(request, pulls)

    def _search(self, request: Recorded) -> None:
        words = shlex.split(request.query.get("q", ""))
        issues = list(self.fake.issues.items())
        terms: list[str] = []
        for word in words:
            qualifier, sep, value = word.partition(":")
            if sep and qualifier == "repo":
                issues = [(k, i) for k, i in issues if k[0] == value.lower()]
            elif sep and qualifier == "state":
                issues = [(k, i) for k, i in issues if i["state"] == value]
            elif sep and qualifier in ("is", "in"):
                continue
            else:
                terms.append(word.lower())
        horizon = self.fake.now() - timedelta(seconds=self.fake.search_lag)
        found = [
            i
            for _, i in issues
            if all(term in f"{i['title']}\n{i['body']}".lower() for term in terms)
            and _parse_time(i["created_at"]) <= horizon
        ]
        found.sort(key=lambda i: i["number"])
        per_page = min(int(request.query.get("per_page", "30")), 100)
        page = int(request.query.get("page", "1"))
        chunk = found[(page - 1) * per_page : page * per_page]
        body = {"total_count": len(found), "incomplete_results": False, "items": chunk}
        headers = {}
        if page * per_page < len(found):
            query = {**request.query, "page": str(page + 1)}
            headers["Link"] = f'<{self.fake.base_url}{request.path}?{urlencode(query)}>; rel="next"'
        self._conditional_json(request, body, headers)


class _StorageHandler(_Handler):
    storage = True

    def do_GET(self) -> None:
        request = self._record()
        kind, _, ident = request.path.strip("/").partition("/")
        source = {"jobs": self.fake.job_logs, "runs": self.fake.run_logs}.get(kind, {})
        if not ident.isdigit() or int(ident) not in source:
            self._send(404, b"<Error><Code>BlobNotFound</Code></Error>", {})
            return
        body = source[int(ident)]
        content_type = "application/zip" if kind == "runs" else "text/plain"
        self.send_response(200)
        self.send_header("Content-Type", content_type)
        if self.fake.storage_sends_length:
            self.send_header("Content-Length", str(len(body)))
        # else HTTP/1.0 without Content-Length: the body ends when the connection closes.
        self.end_headers()
        gate = self.fake.storage_gate
        if gate is not None:  # send half, then wait until the test lets the rest go
            half = len(body) // 2
            self.wfile.write(body[:half])
            self.wfile.flush()
            gate.wait(timeout=10)
            body = body[half:]
        self.wfile.write(body)
        self.close_connection = True


def _created_matches(created_at: str, expression: str) -> bool:
    stamp = _parse_time(created_at)
    if expression.startswith(">="):
        return stamp >= _parse_time(expression[2:])
    if expression.startswith("<="):
        return stamp <= _parse_time(expression[2:])
    return stamp == _parse_time(expression)


def _parse_time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))
