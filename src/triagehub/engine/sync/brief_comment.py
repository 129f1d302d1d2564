"""The ``brief_github`` job: an issue's investigation brief in ONE comment on its GitHub issue.

The first brief creates the comment; a later one edits it (``PATCH
/repos/{owner}/{repo}/issues/comments/{comment_id}``); when GitHub no longer has it (404: a
person deleted it) a new one is created and remembered. The comment's id is kept in the
``brief_comment:{issue_id}`` state row of the jobs table (with the GitHub issue it is on), written
as soon as GitHub answers, in a transaction of its own.

Exactly once: a comment is created only after looking for one that holds this issue's marker
(:func:`~triagehub.engine.brief_text.brief_marker`, the first line of the body) among the GitHub
issue's comments, so a retry after a crash (the comment was created, its id was not stored, or
the answer was lost) edits that comment instead of adding one. Jobs of one issue never run at the
same time, and a job that a later one replaces is skipped (the later one writes the newer text).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from triagehub.core.redact import redact
from triagehub.engine.brief_text import (
    BRIEF_COMMENT,
    BRIEF_GITHUB,
    brief_marker,
    state_key,
    take_turn,
)
from triagehub.engine.jobs import (
    PENDING,
    RUNNING,
    Deferred,
    Job,
    JobContext,
    Outcome,
    job_handler,
    recall,
    remember_now,
)
from triagehub.engine.sync.github_links import FORBIDDEN, GONE
from triagehub.engine.sync.github_push import SYNC
from triagehub.errors import ExternalServiceError
from triagehub.store import tables as t

if TYPE_CHECKING:
    from triagehub.actions.github import GitHubClient


def _sync_waiting(session: Session, issue_id: int) -> bool:
    """Whether a sync job of the issue (which may create its GitHub issue) is still to run."""
    jobs = t.jobs
    return (
        session.execute(
            select(jobs.c.id)
            .where(
                jobs.c.kind == SYNC,
                jobs.c.key.like(f"{SYNC}:{issue_id}:%"),
                or_(jobs.c.status == PENDING, jobs.c.status == RUNNING),
            )
            .limit(1)
        ).first()
        is not None
    )


def write_comment(
    github: GitHubClient, repo: str, number: int, issue_id: int, body: str, known: int | None
) -> tuple[str, int | None, Any]:
    """Edit the brief's comment (``known``, else the one found by its marker) or create it;
    return what was done (``updated``, ``found``, ``created``, ``recreated``, ``locked``), the
    comment id to remember when it is new, and GitHub's answer."""
    if known is not None:
        answer = github.update_comment(repo, known, body)
        if answer is not None:
            return "updated", None, answer
    found = github.find_comment(repo, number, brief_marker(issue_id))
    if found is not None:
        answer = github.update_comment(repo, found, body)
        if answer is not None:
            return "found", found, answer
    try:
        answer = github.create_comment(repo, number, body)
    except ExternalServiceError as exc:
        if exc.status == 403 and exc.retry_after is None:  # a locked conversation
            return "locked", None, redact(str(exc))[:500]
        raise
    created = answer.get("id")
    if not isinstance(created, int):
        raise ExternalServiceError("github", None, "the created comment has no id")
    return ("recreated" if known is not None else "created"), created, answer


@job_handler(BRIEF_GITHUB)
def post_brief_comment(job: Job, ctx: JobContext) -> Outcome:
    """One ``brief_github`` job (see the module docstring)."""
    issue_id, body = int(job.data["issue_id"]), str(job.data["body"])
    skipped = take_turn(job, ctx, issue_id)
    if skipped is not None:
        return skipped
    now = ctx.clock.now()
    i = t.issues.c
    with Session(ctx.engine) as session:
        link = session.execute(
            select(i.github_repo, i.github_number, i.github_status).where(i.id == issue_id)
        ).first()
        stored = recall(session, state_key(BRIEF_COMMENT, issue_id))
        if link is not None and link.github_number is None and _sync_waiting(session, issue_id):
            raise Deferred(30.0, f"issue {issue_id} is not on GitHub yet: its sync is queued")
    if link is None or link.github_number is None or link.github_repo is None:
        return Outcome(result={"issue": issue_id, "skipped": "no linked GitHub issue"})
    if link.github_status in (GONE, FORBIDDEN):
        return Outcome(
            result={"issue": issue_id, "skipped": f"the GitHub issue is {link.github_status}"}
        )
    if ctx.github is None:
        raise ExternalServiceError("github", None, "no GITHUB_TOKEN: cannot post the brief")
    repo, number = str(link.github_repo), int(link.github_number)
    known = None
    if stored is not None and (stored.get("repo"), stored.get("number")) == (repo, number):
        known = stored.get("comment_id") if isinstance(stored.get("comment_id"), int) else None
    action, new_id, answer = write_comment(ctx.github, repo, number, issue_id, body, known)
    if new_id is not None:  # a new comment: remembered at once
        data = {"issue_id": issue_id, "repo": repo, "number": number, "comment_id": new_id}
        remember_now(
            ctx.engine,
            kind=BRIEF_COMMENT,
            key=state_key(BRIEF_COMMENT, issue_id),
            data=data,
            now=now,
        )
    result: dict[str, Any] = {"issue": issue_id, "action": action}
    if isinstance(answer, dict):
        result.update(comment_id=answer.get("id"), url=answer.get("html_url"))
    else:
        result["reason"] = answer
    return Outcome(result=result)
