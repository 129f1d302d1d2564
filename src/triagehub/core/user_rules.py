"""The declarative rules of ``triagehub.yaml`` the classifier applies: classification and ownership.

They are pure pydantic models (validation only, no I/O); :mod:`triagehub.config` re-exports them
as part of ``Settings``.
"""

from __future__ import annotations

import re

from pydantic import BaseModel, ConfigDict, Field, model_validator

from triagehub.core.models import Category, Decision, HistoryClass, Kind, Level

__all__ = ["ClassificationRule", "OwnershipRule", "RuleMatch", "RuleSet", "StrictModel"]


class StrictModel(BaseModel):
    """A frozen configuration model that rejects unknown keys."""

    model_config = ConfigDict(extra="forbid", frozen=True)


def _compile(value: str | None, what: str) -> re.Pattern[str] | None:
    if value is None:
        return None
    try:
        return re.compile(value)
    except re.error as exc:
        raise ValueError(f"invalid regular expression for {what}: {exc}") from None


def _globs(value: str | list[str] | None) -> tuple[str, ...]:
    if value is None:
        return ()
    return (value,) if isinstance(value, str) else tuple(value)


class RuleMatch(StrictModel):
    """What a classification rule matches; every given condition must hold. Text conditions are
    regular expressions (searched); names are globs (``acme/*``, ``*e2e*``)."""

    source: str | list[str] | None = None
    repository: str | list[str] | None = None
    check: str | list[str] | None = None
    branch: str | list[str] | None = None
    kind: list[Kind] | None = None
    history: list[HistoryClass] | None = None
    message: str | None = None
    log: str | None = None
    attempt_gte: int | None = Field(default=None, ge=1)
    exit_code: list[int] | None = None
    duration_gte: float | None = Field(default=None, ge=0)
    duration_lte: float | None = Field(default=None, ge=0)

    def compiled(self, rule: str) -> tuple[re.Pattern[str] | None, re.Pattern[str] | None]:
        return _compile(self.message, f"rule {rule!r} match.message"), _compile(
            self.log, f"rule {rule!r} match.log"
        )

    def globs(self, name: str) -> tuple[str, ...]:
        value = getattr(self, name)
        return _globs(value)


class RuleSet(StrictModel):
    """What a classification rule sets on the issues it matches."""

    category: Category | None = None
    kind: Kind | None = None
    severity: Level | None = None
    priority: Level | None = None
    decision: Decision | None = None
    expert: str | None = None
    labels: list[str] | None = None
    sla_hours: float | None = Field(default=None, gt=0)
    escalate_after: float | None = Field(default=None, gt=0)
    confidence: float | None = Field(default=None, ge=0, le=1)


class ClassificationRule(StrictModel):
    """One ordered, declarative rule of ``classification_rules``."""

    name: str = Field(min_length=1, max_length=100)
    match: RuleMatch = Field(default_factory=RuleMatch)
    set: RuleSet
    stop: bool = False

    @model_validator(mode="after")
    def _check(self) -> ClassificationRule:
        self.match.compiled(self.name)  # invalid regexes fail here, naming the rule
        if not self.set.model_dump(exclude_none=True):
            raise ValueError(f"rule {self.name!r} sets nothing: give `set:` at least one field")
        return self


class OwnershipRule(StrictModel):
    """CODEOWNERS-style: checks (or repositories) matching the glob are owned by ``owner``."""

    pattern: str = Field(min_length=1)
    owner: str = Field(min_length=1)
    repository: str | None = None
