"""The remediation workflow's shapes: classify again, spec proposal, remediation session, assign
session (their bodies and answers), and an issue's remediation attempts."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from triagehub.api.common import NO_NUL
from triagehub.api.schemas.common import Out

Reason = Annotated[
    str | None,
    Field(min_length=1, max_length=2000, pattern=NO_NUL, description="Why (on the timeline)."),
]


class AttemptOut(Out):
    """A session or pull request that tried to fix the issue, and what came of it: `succeeded`
    (the issue was resolved after the fix was in, before failing again), `failed` (it failed
    again first, or the pull request was closed unmerged), `pending`, or `cancelled` (a
    remediation session cancelled before its agent started)."""

    kind: Literal["session", "pull_request"]
    ref: str = Field(description="The session id, or the pull request's URL.")
    label: str
    status: str = Field(description="The session's status, or the pull request's state.")
    started_at: datetime
    fixed_at: datetime | None = Field(description="When the fix was in: session end or merge.")
    outcome: Literal["succeeded", "failed", "pending", "cancelled"]
    outcome_at: datetime | None
    reason: str
    by_agent: bool
    pull_request: str | None = Field(description="A session's pull request (its fix).")


class ClassifyIn(BaseModel):
    """Classify again: a dry run unless `apply` is true."""

    model_config = ConfigDict(extra="forbid")

    apply: bool = False
    reason: Reason = None


class ReclassificationOut(Out):
    issue_id: int
    applied: bool
    occurrence: dict[str, Any] = Field(description="The failure classified: id, check, run, at.")
    before: dict[str, Any]
    after: dict[str, Any]
    changes: dict[str, dict[str, Any]] = Field(description="field -> {from, to}: what differs.")
    kept_by_person: list[str] = Field(description="Fields a person set: kept as they are.")


class SpecProposalIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    project: str | None = Field(
        default=None,
        max_length=4096,
        pattern=NO_NUL,
        description="The OpenSpec project's id (GET /api/v1/specs); default: the only one.",
    )
    change_id: str | None = Field(default=None, max_length=200, pattern=NO_NUL)
    capability: str | None = Field(default=None, max_length=300, pattern=NO_NUL)
    reason: Reason = None


class SpecProposalOut(Out):
    issue_id: int
    change_id: str
    project: str
    path: str
    created: bool
    change: dict[str, Any]
    validation: dict[str, Any]


class RemediationIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: Reason = None


class RemediationOut(Out):
    issue_id: int
    session: dict[str, Any] = Field(description="The pending session (GET /api/v1/agents/{id}).")
    handed_off_on: str | None = Field(description="The GitHub issue the hand-off comments on.")
    agent_env: dict[str, str] = Field(
        description="The environment of the agent's hook script that attaches its session."
    )


class CancelRemediationIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: Reason = None


class AssignSessionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    session_id: str = Field(
        min_length=1,
        max_length=200,
        pattern=NO_NUL,
        description="An agent session's id, or the hand-off key it was started under.",
    )
    reason: Reason = None


class AssignedSessionOut(Out):
    issue_id: int
    session: dict[str, Any]


class CancelledSessionOut(Out):
    issue_id: int
    session: dict[str, Any] = Field(description="The session, now `cancelled`.")
