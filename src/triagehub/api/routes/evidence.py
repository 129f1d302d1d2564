"""``GET /api/v1/issues/{issue_id}/evidence``: the evidence pack of an issue (no LLM), and
``POST /api/v1/issues/{issue_id}/investigate``: the investigation brief by Claude (falls back to
the evidence pack alone).

The shapes in :mod:`triagehub.api.schemas.evidence` document the pack in the OpenAPI document;
the answer is rendered from :func:`triagehub.work.evidence.build_pack`.
"""

# No ``from __future__ import annotations``: FastAPI reads the routes' annotations.

from typing import Any

from fastapi import APIRouter
from fastapi.responses import Response
from sqlalchemy.orm import Session

from triagehub.api.auth import ReadCaller, WriteCaller
from triagehub.api.common import PREFIX, IdPath, JSONBody
from triagehub.api.deps import ClockDep, EngineDep, GitHubDep, SettingsDep
from triagehub.api.problems import not_found
from triagehub.api.schemas.common import problem_responses
from triagehub.api.schemas.evidence import EvidencePackOut, InvestigationOut
from triagehub.engine.investigate import investigate
from triagehub.errors import InputError
from triagehub.work.evidence import build_pack

router = APIRouter(prefix=PREFIX)


@router.get(
    "/issues/{issue_id}/evidence",
    tags=["issues"],
    response_model=None,
    responses={200: {"model": EvidencePackOut}, **problem_responses(401, 404, 422)},
)
def get_evidence(
    caller: ReadCaller, engine: EngineDep, github: GitHubDep, issue_id: IdPath
) -> Response:
    """The evidence pack of an issue, as data (no LLM): the key excerpt; the diff against the
    last green run of the same check (the failing log's lines whose masked form the last
    passing log did not print, when a passing log was kept); the check's history (first
    failure, last pass with run, commit and time, failure and flip rates, recent outcomes);
    the suspect commits between the last passing and the first failing commit (GitHub's
    compare API, at most 20, with the changed files the error lines mention); dbt lineage and
    owners; affected checks; similar issues of the same pattern with how the resolved ones
    were resolved. `digest` identifies the content."""
    with Session(engine) as session:
        pack: dict[str, Any] | None = build_pack(session=session, issue_id=issue_id, github=github)
    if pack is None:
        raise not_found("issue", issue_id)
    return JSONBody(pack)


@router.post(
    "/issues/{issue_id}/investigate",
    tags=["issues"],
    response_model=None,
    responses={200: {"model": InvestigationOut}, **problem_responses(401, 403, 404, 422)},
)
def post_investigate(
    caller: WriteCaller,
    engine: EngineDep,
    settings: SettingsDep,
    clock: ClockDep,
    github: GitHubDep,
    issue_id: IdPath,
) -> Response:
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
        raise not_found("issue", issue_id) from exc
    return JSONBody(result.to_json())
