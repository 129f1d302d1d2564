"""On-call: experts as assignees, alerts by priority, daily digests.

Routing (:func:`expert_for`, :func:`assign_issues`)
    An issue's expert is the one its automation rule names (``auto_assign``) or a person set;
    when there is none, the brief's default routing by kind and system applies: a failure
    whose pattern spans several repositories or sources -> ``da-architect``; dashboards
    (Tableau, Looker, Power BI) -> ``tableau-expert``; warehouse errors (Snowflake, "Database
    Error", BigQuery, Redshift, a dbt runtime or timeout) -> ``snowflake-expert``; dbt models
    and tests -> ``dbt-expert``; CI workflows and everything else -> ``github-sleuth-expert``.
    When the expert is in the routing table (``experts:``), an unassigned issue in ``open``,
    ``triaged`` or ``regressed`` is assigned (state ``assigned``): to the person of the expert's
    ``github`` list with the fewest open issues (ties: file order), or to its first team when it
    lists only teams. The assignment is an ``assigned`` event (actor ``rule``, ``automatic``)
    and a ``github_oncall`` job sets the GitHub assignee on the mirrored issue.

Alerts (:func:`dispatch_alerts`, :func:`send_digests`)
    A new issue (its ``created`` event) or a regressed one (``state_changed`` to
    ``regressed``) is announced according to ``alerts:`` (per repository and category, then the
    top level; defaults: critical ``immediate``, high ``tick``, medium and low ``digest``):
    ``immediate`` in the ingest transaction itself (:func:`alert_at_once`, called by the
    ingestor), ``tick`` at the next monitor tick, ``digest`` in the daily summary per repository
    and Slack channel (sent at the first tick after ``digest_hour`` UTC, default 9, listing the
    issues announced in the 24 hours before), ``off`` not at all. An immediate alert also
    assigns the issue and mentions the expert (people and teams) on its GitHub issue. The Slack
    channel is the alert route's ``slack``, else the expert's, else the default
    (``SLACK_CHANNEL``). Each alert is an outbox row keyed by its event
    (``notify:{issue}:alert:{event}``): it is sent once, whoever notices it first.

Modules: :mod:`.routing` (experts and assignment), :mod:`.alerts`, :mod:`.digests`,
:mod:`.github` (the assignee and mention on GitHub), :mod:`.tick` (the monitor's step),
:mod:`.at_insert` (the expert or assignee an ingest's new issue is inserted with, so that the
ingest's pass does not write the row a second time).
"""

from triagehub.engine.notify import NOTIFY
from triagehub.engine.oncall.alerts import (
    DEFAULT_MODES,
    LOOKBACK,
    alert_at_once,
    alert_channel,
    alert_mode,
    dispatch_alerts,
)
from triagehub.engine.oncall.common import ASSIGNABLE, GITHUB_ONCALL, OncallSummary
from triagehub.engine.oncall.digests import (
    DEFAULT_DIGEST_HOUR,
    DIGEST,
    DigestLine,
    deliver_digest,
    digest_hour,
    digest_message,
    digest_text,
    send_digests,
)
from triagehub.engine.oncall.github import github_oncall
from triagehub.engine.oncall.routing import (
    assign_issue,
    assign_issues,
    default_expert,
    expert_for,
    open_workload,
    pick_assignee,
)
from triagehub.engine.oncall.tick import oncall_tick

__all__ = [
    "ASSIGNABLE",
    "DEFAULT_DIGEST_HOUR",
    "DEFAULT_MODES",
    "DIGEST",
    "GITHUB_ONCALL",
    "LOOKBACK",
    "NOTIFY",
    "DigestLine",
    "OncallSummary",
    "alert_at_once",
    "alert_channel",
    "alert_mode",
    "assign_issue",
    "assign_issues",
    "default_expert",
    "deliver_digest",
    "digest_hour",
    "digest_message",
    "digest_text",
    "dispatch_alerts",
    "expert_for",
    "github_oncall",
    "oncall_tick",
    "open_workload",
    "pick_assignee",
    "send_digests",
]
