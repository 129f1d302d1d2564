"""The GitHub client's pull requests: the recent pull requests of a repository (for the polling
that links coding agents' fixes to issues, :mod:`triagehub.engine.pull.github_prs`)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Final

from triagehub.actions.github.transport import PER_PAGE, GitHubTransport, JSONObject, _repo_path

PULL_STATES: Final = frozenset({"open", "closed", "all"})
PULL_SORTS: Final = frozenset({"created", "updated", "popularity", "long-running"})


class GitHubPulls(GitHubTransport):
    """Pull requests (see the package docstring)."""

    def list_pull_requests(
        self,
        repo: str,
        *,
        state: str = "all",
        sort: str = "updated",
        direction: str = "desc",
        per_page: int = PER_PAGE,
    ) -> Iterator[JSONObject]:
        """Yield the repository's pull requests (``GET /repos/{owner}/{repo}/pulls``), by default
        every state, most recently updated first, page after page. Each page is conditional on
        its ETag. Arguments are checked at once; requests are made as the iterator is consumed,
        so a caller that stops early (a cap, or pull requests older than it needs) sends no more.
        """
        if state not in PULL_STATES:
            raise ValueError(f"state must be one of {sorted(PULL_STATES)}, got {state!r}")
        if sort not in PULL_SORTS:
            raise ValueError(f"sort must be one of {sorted(PULL_SORTS)}, got {sort!r}")
        if direction not in ("asc", "desc"):
            raise ValueError(f"direction must be asc or desc, got {direction!r}")
        if not 1 <= per_page <= PER_PAGE:
            raise ValueError(f"per_page must be between 1 and {PER_PAGE}, got {per_page}")
        params = {"state": state, "sort": sort, "direction": direction, "per_page": str(per_page)}
        return self._paginate_list(f"{_repo_path(repo)}/pulls", params)
