"""Whether the optional LLM step runs, and its client: kept apart from ``engine.refine`` (its
jobs and queries) so that a command can ask without loading them (an ingest with no key)."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from triagehub.clock import Clock, SystemClock

if TYPE_CHECKING:  # the LLM client (and its SDK) is imported only when an LLM is configured
    from triagehub.actions.llm import LLMClassifier
    from triagehub.config import Settings

API_KEY_ENV = "ANTHROPIC_API_KEY"


def llm_configured(settings: Settings) -> bool:
    """Whether the LLM step runs: ``llm.enabled`` in the config and ``ANTHROPIC_API_KEY`` set."""
    return settings.llm.enabled and bool(os.environ.get(API_KEY_ENV))


def llm_from_settings(settings: Settings, *, clock: Clock | None = None) -> LLMClassifier | None:
    """The LLM classifier, when enabled in the config and ``ANTHROPIC_API_KEY`` is set."""
    key = os.environ.get(API_KEY_ENV)
    if not llm_configured(settings) or not key:
        return None
    from triagehub.actions.llm import LLMClassifier

    c = settings.llm
    return LLMClassifier(
        api_key=key,
        model=c.model,
        base_url=c.base_url,
        timeout_s=c.timeout_s,
        daily_budget=max(c.daily_budget, 1),
        clock=(clock or SystemClock()).now,
    )
