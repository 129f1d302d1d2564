"""The GitHub client's issue endpoints: issues, their labels, assignees and comments, the
repository's labels, and issue search (for the issue sync, :mod:`triagehub.engine.sync`)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import datetime
from urllib.parse import quote

from triagehub.actions.github.transport import (
    PER_PAGE,
    GitHubTransport,
    JSONObject,
    _iso_utc,
    _object,
    _repo_path,
)
from triagehub.actions.http import positive_id as _positive_id
from triagehub.errors import ExternalServiceError


class GitHubIssues(GitHubTransport):
    """Issues, labels, comments and search (see the package docstring)."""

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

    def find_comment(self, repo: str, number: int, marker: str) -> int | None:
        """The id of the issue's first comment whose body starts with ``marker`` (the hidden
        first line by which triagehub finds a comment it wrote: a retry after a lost answer
        edits or keeps that comment instead of posting it twice), else ``None``."""
        for comment in self.list_comments(repo, number):
            body, found = comment.get("body"), comment.get("id")
            if isinstance(body, str) and body.startswith(marker) and isinstance(found, int):
                return found
        return None

    def create_comment(self, repo: str, number: int, body: str) -> JSONObject:
        """Comment on an issue; sent once, never retried (see the module docstring)."""
        path = f"{_repo_path(repo)}/issues/{_positive_id(number, 'number')}/comments"
        return _object(self._write("POST", path, {"body": body}, once=True), "POST comment")

    def update_comment(self, repo: str, comment_id: int, body: str) -> JSONObject | None:
        """Edit a comment (``PATCH /repos/{owner}/{repo}/issues/comments/{comment_id}``; an edit
        is idempotent: retried); ``None`` when GitHub no longer has it (404: deleted)."""
        path = f"{_repo_path(repo)}/issues/comments/{_positive_id(comment_id, 'comment_id')}"
        try:
            answer = self._write("PATCH", path, {"body": body})
        except ExternalServiceError as exc:
            if exc.status == 404:
                return None
            raise
        return _object(answer, f"PATCH comment {comment_id}")

    def search_issues(self, query: str, *, sort: str | None = None) -> Iterator[JSONObject]:
        """Yield the issues matching a search query (``repo:o/r is:issue in:body ...``), page
        after page, up to the 1,000 results GitHub's search gives."""
        if not query.strip():
            raise ValueError("the search query is empty")
        params = {"q": query, "per_page": str(PER_PAGE)}
        if sort is not None:
            params["sort"] = sort
        return self._paginate("/search/issues", params, "items")
