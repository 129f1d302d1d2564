"""The GitHub client: the runs, issue and pull request endpoints over one transport."""

from __future__ import annotations

from triagehub.actions.github.issues import GitHubIssues
from triagehub.actions.github.pulls import GitHubPulls
from triagehub.actions.github.runs import GitHubRuns


class GitHubClient(GitHubRuns, GitHubIssues, GitHubPulls):
    """GitHub REST API for workflow runs, jobs, logs, re-runs, issues and pull requests (see
    the package docstring).

    ``token`` is a GitHub token (the caller reads ``GITHUB_TOKEN``) or ``None`` for
    unauthenticated requests. ``base_url`` is ``https://api.github.com`` or a GitHub Enterprise
    Server API root (``https://ghe.example.com/api/v3``). ``timeout_s`` bounds each network
    operation (connect, each read), as in httpx. Use it as a context manager, or call
    :meth:`close`.
    """

    def __repr__(self) -> str:
        auth = "token" if self._token else "anonymous"
        return f"GitHubClient(base_url={self._base_url!r}, auth={auth})"
