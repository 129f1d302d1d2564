"""What the classifier reads from the configuration, as protocols that ``triagehub.config``'s
``Settings`` and ``RepositoryConfig`` satisfy (so that core never imports the configuration)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Protocol

from triagehub.core.models import Kind, Level
from triagehub.core.user_rules import ClassificationRule, OwnershipRule

__all__ = ["AutomationRuleLike", "ClassifierSettings", "RepositoryLike"]


class AutomationRuleLike(Protocol):
    """An automation rule: what to do with the failures of some kinds in one repository."""

    @property
    def priority(self) -> Level | None: ...

    @property
    def auto_assign(self) -> str | None: ...

    @property
    def sla_hours(self) -> float | None: ...

    @property
    def escalate_after(self) -> float | None: ...


class RepositoryLike(Protocol):
    """A repository's configuration: its priority level and its automation rules."""

    @property
    def priority_level(self) -> Level: ...

    def rule_for(self, kind: Kind) -> tuple[str, AutomationRuleLike] | None: ...


class ClassifierSettings(Protocol):
    """The settings the classifier reads."""

    @property
    def classification_rules(self) -> Sequence[ClassificationRule]: ...

    @property
    def ownership(self) -> Sequence[OwnershipRule]: ...

    @property
    def default_sla_hours(self) -> Mapping[Level, float | None]: ...

    def repository(self, name: str) -> RepositoryLike: ...
