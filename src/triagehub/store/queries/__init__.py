"""Read-side queries. They take a keyword-only ``session`` and return plain domain objects.

The package is split by what is read (issues, the issue search, runs and checks, store-wide
aggregates, the live stream, API tokens); every name is importable from here as before, and is
imported on first use: ``triagehub issues list`` loads the issues module alone (not the search,
runs, overview, stream and token modules, nor what they import).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from triagehub.lazy import lazy_attributes

if TYPE_CHECKING:
    from triagehub.store.queries.issues import (
        MAX_CHECKS_LISTED,
        MAX_SIMILAR,
        MAX_TIMELINE_RUNS,
        EventView,
        IssueDetail,
        IssueView,
        OccurrenceView,
        get_issue,
        issue_lifecycle,
        issue_occurrences,
        list_issues,
    )
    from triagehub.store.queries.overview import (
        PatternView,
        StoreCounts,
        StoreGauges,
        counts,
        list_patterns,
        store_gauges,
    )
    from triagehub.store.queries.paging import (
        MAX_PAGE_SIZE,
        MAX_TEXT_QUERY,
        Page,
        decode_cursor,
        encode_cursor,
    )
    from triagehub.store.queries.runs import (
        MAX_RUN_FAILURES,
        CheckView,
        RunView,
        get_check,
        get_run,
        list_checks,
        list_runs,
    )
    from triagehub.store.queries.search import (
        ISSUE_SORTS,
        IssueQuery,
        narrowed_by_index,
        search_issues,
    )
    from triagehub.store.queries.stream import (
        agent_events_since,
        issue_events_since,
        occurrences_since,
        spec_events_since,
        stream_heads,
    )
    from triagehub.store.queries.tokens import (
        TOKEN_PREFIX,
        TOKEN_SCOPES,
        TokenView,
        authenticate_token,
        create_api_token,
        dashboard_session_ended,
        end_dashboard_session,
        hash_token,
        list_api_tokens,
        revoke_api_token,
    )

# The names of the package, by the module that holds them.
_LAZY = {
    **dict.fromkeys(
        (
            "MAX_CHECKS_LISTED",
            "MAX_SIMILAR",
            "MAX_TIMELINE_RUNS",
            "EventView",
            "IssueDetail",
            "IssueView",
            "OccurrenceView",
            "get_issue",
            "issue_lifecycle",
            "issue_occurrences",
            "list_issues",
        ),
        "issues",
    ),
    **dict.fromkeys(
        (
            "PatternView",
            "StoreCounts",
            "StoreGauges",
            "counts",
            "list_patterns",
            "store_gauges",
        ),
        "overview",
    ),
    **dict.fromkeys(
        (
            "MAX_PAGE_SIZE",
            "MAX_TEXT_QUERY",
            "Page",
            "decode_cursor",
            "encode_cursor",
        ),
        "paging",
    ),
    **dict.fromkeys(
        (
            "MAX_RUN_FAILURES",
            "CheckView",
            "RunView",
            "get_check",
            "get_run",
            "list_checks",
            "list_runs",
        ),
        "runs",
    ),
    **dict.fromkeys(
        (
            "ISSUE_SORTS",
            "IssueQuery",
            "narrowed_by_index",
            "search_issues",
        ),
        "search",
    ),
    **dict.fromkeys(
        (
            "agent_events_since",
            "issue_events_since",
            "occurrences_since",
            "spec_events_since",
            "stream_heads",
        ),
        "stream",
    ),
    **dict.fromkeys(
        (
            "TOKEN_PREFIX",
            "TOKEN_SCOPES",
            "TokenView",
            "authenticate_token",
            "create_api_token",
            "dashboard_session_ended",
            "end_dashboard_session",
            "hash_token",
            "list_api_tokens",
            "revoke_api_token",
        ),
        "tokens",
    ),
}


__getattr__ = lazy_attributes(__name__, _LAZY)


__all__ = [
    "ISSUE_SORTS",
    "MAX_CHECKS_LISTED",
    "MAX_PAGE_SIZE",
    "MAX_RUN_FAILURES",
    "MAX_SIMILAR",
    "MAX_TEXT_QUERY",
    "MAX_TIMELINE_RUNS",
    "TOKEN_PREFIX",
    "TOKEN_SCOPES",
    "CheckView",
    "EventView",
    "IssueDetail",
    "IssueQuery",
    "IssueView",
    "OccurrenceView",
    "Page",
    "PatternView",
    "RunView",
    "StoreCounts",
    "StoreGauges",
    "TokenView",
    "agent_events_since",
    "authenticate_token",
    "counts",
    "create_api_token",
    "dashboard_session_ended",
    "decode_cursor",
    "encode_cursor",
    "end_dashboard_session",
    "get_check",
    "get_issue",
    "get_run",
    "hash_token",
    "issue_events_since",
    "issue_lifecycle",
    "issue_occurrences",
    "list_api_tokens",
    "list_checks",
    "list_issues",
    "list_patterns",
    "list_runs",
    "narrowed_by_index",
    "occurrences_since",
    "revoke_api_token",
    "search_issues",
    "spec_events_since",
    "store_gauges",
    "stream_heads",
]
