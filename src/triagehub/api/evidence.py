"""``GET /api/v1/issues/{issue_id}/evidence``: the evidence pack of an issue (no LLM), and
``POST /api/v1/issues/{issue_id}/investigate``: the investigation brief by Claude (falls back to
the evidence pack alone).

The shapes below document the pack in the OpenAPI document; the answer is rendered from
:func:`triagehub.work.evidence.build_pack`.
"""

# No ``from __future__ import annotations``: FastAPI reads the route's annotations, which name
# dependencies made inside ``evidence_router``.

from typing import Annotated, Any

from fastapi import APIRouter, Depends
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from triagehub.actions.github import GitHubClient
from triagehub.api.v1 import (
    PREFIX,
    ApiAuth,
    ApiProblem,
    Caller,
    IdPath,
    JSONBody,
    problem_responses,
)
from triagehub.clock import Clock
from triagehub.config import Settings
from triagehub.engine.investigate import investigate
from triagehub.errors import InputError
from triagehub.work.evidence import build_pack


class _Out(BaseModel):
    model_config = ConfigDict(extra="forbid")


class NumberedLine(_Out):
    line: int
    text: str


class RunRef(_Out):
    run: str | None
    attempt: int | None = None
    commit: str | None
    branch: str | None = None
    url: str | None
    at: str | None
    lines: int | None = None
    log_kept: bool | None = None


class KeyExcerpt(_Out):
    check: str
    run: RunRef | None
    message: str
    lines: list[NumberedLine]
    key_lines: list[int]


class GreenDiffOut(_Out):
    against_run: str
    new_lines: int
    total_lines: int
    lines: list[NumberedLine]


class HistoryOut(_Out):
    check: str
    runs: int
    failures: int
    failure_rate: float | None
    flip_rate: float | None
    flaky: bool
    consecutive_failures: int
    recent: list[str]
    first_failure: RunRef | None
    last_pass: RunRef | None
    last_fail_commit: str | None


class SuspectCommit(_Out):
    sha: str
    author: str | None
    date: str | None
    message: str
    url: str | None


class SuspectsOut(_Out):
    status: str
    reason: str | None = None
    base: str | None
    head: str | None
    compare_url: str | None = None
    total_commits: int | None = None
    commits: list[SuspectCommit]
    files: list[str]
    files_in_errors: list[str] = []


class LineageOut(_Out):
    affected_models: list[str]
    owners: list[str]


class ResolutionOut(_Out):
    state: str
    reason: str
    by: str
    at: str | None
    related_prs: list[str]


class SimilarOut(_Out):
    id: int
    title: str
    repository: str
    state: str
    last_seen: str | None
    resolution: ResolutionOut | None


class EvidencePackOut(_Out):
    issue_id: int
    repository: str
    title: str
    state: str
    category: str
    kind: str
    severity: str
    key_excerpt: KeyExcerpt | None
    green_diff: GreenDiffOut | None
    green_diff_note: str
    history: HistoryOut | None
    suspects: SuspectsOut
    lineage: LineageOut
    affected_checks: list[str]
    checks_count: int
    similar: list[SimilarOut]
    related_prs: list[str]
    digest: str


class HypothesisOut(_Out):
    cause: str
    evidence: list[str]
    likelihood: float


class BriefOut(_Out):
    summary: str
    hypotheses: list[HypothesisOut]
    cause: str
    suggest_rerun: bool
    next_step: str
    fix_outline: str
    confidence: float


class InvestigationOut(_Out):
    issue_id: int
    status: str
    detail: str
    fallback: bool
    model: str | None
    brief: BriefOut | None
    evidence: EvidencePackOut


def evidence_router(
    engine: Engine, settings: Settings, clock: Clock, auth: ApiAuth, github: GitHubClient | None
) -> APIRouter:
    router = APIRouter(prefix=PREFIX)
    read = Depends(auth.reader())
    write = Depends(auth.writer())

    @router.get(
        "/issues/{issue_id}/evidence",
        tags=["issues"],
        response_model=None,
        responses={200: {"model": EvidencePackOut}, **problem_responses(401, 404, 422)},
    )
    def get_evidence(caller: Annotated[Caller, read], issue_id: IdPath) -> Response:
        """The evidence pack of an issue, as data (no LLM): the key excerpt; the diff against the
        last green run of the same check (the failing log's lines whose masked form the last
        passing log did not print, when a passing log was kept); the check's history (first
        failure, last pass with run, commit and time, failure and flip rates, recent outcomes);
        the suspect commits between the last passing and the first failing commit (GitHub's
        compare API, at most 20, with the changed files the error lines mention); dbt lineage and
        owners; affected checks; similar issues of the same pattern with how the resolved ones
        were resolved. `digest` identifies the content."""
        with Session(engine) as session:
            pack: dict[str, Any] | None = build_pack(
                session=session, issue_id=issue_id, github=github
            )
        if pack is None:
            raise ApiProblem(404, "not-found", "Not Found", f"no issue {issue_id}")
        return JSONBody(pack)

    @router.post(
        "/issues/{issue_id}/investigate",
        tags=["issues"],
        response_model=None,
        responses={200: {"model": InvestigationOut}, **problem_responses(401, 403, 404, 422)},
    )
    def post_investigate(caller: Annotated[Caller, write], issue_id: IdPath) -> Response:
        """Investigate an issue with Claude: a brief (summary; ranked root-cause hypotheses, each
        citing evidence as `line N` or `commit SHA`; cause `change`, `environment`, `flaky`,
        `data` or `unknown`, with `suggest_rerun` for environment and flaky; next step; fix
        outline; confidence), validated, cached per issue and evidence digest, within the daily
        LLM budget, and posted on the timeline. `status` says what happened (`ok`, `cached`,
        `skipped_disabled` without an API key, `skipped_budget`, `invalid`, `error`, `timeout`,
        `rate_limited`); without a brief (`fallback`), the evidence pack is the answer."""
        try:
            result = investigate(engine, settings, issue_id, clock=clock, github=github)
        except InputError as exc:
            raise ApiProblem(404, "not-found", "Not Found", f"no issue {issue_id}") from exc
        return JSONBody(result.to_json())

    return router
