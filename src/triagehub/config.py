"""``triagehub.yaml``: repositories, automation rules and thresholds, validated with pydantic.

Secrets never come from this file: they come from the environment only (see ``Secrets``).
"""

from __future__ import annotations

import functools
import os
import re
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
)

from triagehub.core.models import Category, Kind, Level
from triagehub.core.user_rules import ClassificationRule as ClassificationRule
from triagehub.core.user_rules import OwnershipRule as OwnershipRule
from triagehub.core.user_rules import RuleMatch as RuleMatch
from triagehub.core.user_rules import RuleSet as RuleSet
from triagehub.core.user_rules import StrictModel as _Strict
from triagehub.errors import ConfigError
from triagehub.locations import CONFIG_ENV as CONFIG_ENV
from triagehub.locations import DATABASE_ENV as DATABASE_ENV
from triagehub.locations import DEFAULT_CONFIG_NAME as DEFAULT_CONFIG_NAME
from triagehub.locations import config_file
from triagehub.locations import default_database_url as default_database_url
from triagehub.locations import demo_database_url as demo_database_url

DBT_CLOUD_TOKEN_ENV = "DBT_CLOUD_API_TOKEN"
DBT_CLOUD_ACCOUNT_ENV = "DBT_CLOUD_ACCOUNT_ID"
DBT_CLOUD_HOST_ENV = "DBT_CLOUD_HOST"
DEFAULT_DBT_CLOUD_HOST = "https://cloud.getdbt.com"

_REPO_NAME = re.compile(r"^[A-Za-z0-9_.\-]+/[A-Za-z0-9_.\-]+$")

# The automation rule names of the product brief, and the failure kinds each one covers. A rule
# with another name says which kinds it covers with ``kinds:``.
RULE_KINDS: dict[str, tuple[Kind, ...]] = {
    "schema_errors": (Kind.SCHEMA, Kind.COMPILATION, Kind.RUNTIME),
    "test_failures": (Kind.TEST, Kind.DATA_TEST),
    "data_quality": (Kind.DATA_TEST, Kind.FRESHNESS),
    "freshness_issues": (Kind.FRESHNESS,),
    "performance_issues": (Kind.TIMEOUT,),
    "dashboard_failures": (Kind.TEST, Kind.TIMEOUT),
    "workflow_failures": (
        Kind.BUILD,
        Kind.DEPLOYMENT,
        Kind.DEPENDENCY,
        Kind.LINT,
        Kind.FORMAT,
        Kind.INFRASTRUCTURE,
        Kind.TIMEOUT,
        Kind.TEST,
    ),
    "build_failures": (Kind.BUILD, Kind.COMPILATION),
    "lint_failures": (Kind.LINT, Kind.FORMAT),
    "dependency_failures": (Kind.DEPENDENCY,),
    "deployment_failures": (Kind.DEPLOYMENT,),
    "infrastructure_issues": (Kind.INFRASTRUCTURE, Kind.TIMEOUT),
}


class AutomationRule(_Strict):
    """What to do with the failures of some kinds in one repository."""

    priority: Level | None = None
    auto_assign: str | None = None
    sla_hours: float | None = Field(default=None, gt=0)
    escalate_after: float | None = Field(default=None, gt=0)
    pattern_check: bool = False
    kinds: tuple[Kind, ...] | None = None


class GitHubSyncConfig(_Strict):
    """``repositories.<name>.github_issues``: mirror this repository's issues into GitHub issues
    (opt-in; see ``triagehub.engine.sync``). ``target`` is the GitHub repository the issues go to
    (the repository itself when not given, or a central hub repository); an issue gets a GitHub
    issue when its category is one of ``categories`` and its priority is at least ``min_priority``;
    its body (counters, last seen) is edited at most once per ``update_every_minutes``."""

    target: str | None = None
    categories: list[Category] = Field(
        default_factory=lambda: [
            Category.CODE_FIX,
            Category.DATA_QUALITY,
            Category.INFRASTRUCTURE,
        ]
    )
    min_priority: Level = Level.MEDIUM
    update_every_minutes: float = Field(default=15, ge=0)
    # The tag of the metadata block in the issue body (``<!-- TAG {...} -->``): the brief's
    # tooling reads ``CLAUDE_METADATA``; blocks with either tag are read back.
    metadata_tag: str = Field(default="TRIAGEHUB_METADATA", pattern=r"^[A-Z][A-Z0-9_]{2,40}$")
    # Issues people open in the target with one of these labels are adopted: classified from
    # their title and body, labelled, assigned and tracked
    # (``triagehub.engine.sync.github_adopt``).
    adopt_labels: list[str] = Field(default_factory=list)

    @field_validator("target")
    @classmethod
    def _target_is_a_repository(cls, value: str | None) -> str | None:
        if value is not None and not _REPO_NAME.match(value):
            raise ValueError(f"target {value!r} is not a GitHub repository of the form owner/name")
        return value


_HANDLE = re.compile(r"^@?[A-Za-z0-9][A-Za-z0-9_.\-]*(?:/[A-Za-z0-9][A-Za-z0-9_.\-]*)?$")


class ExpertConfig(_Strict):
    """``experts.<name>``: who an expert is on GitHub (logins, ``@org/team`` handles; a group is
    balanced by open workload) and on Slack (``#channel`` or ``@handle``)."""

    github: list[str] = Field(default_factory=list)
    slack: str | None = None

    @field_validator("github", mode="before")
    @classmethod
    def _one_or_many(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value

    @field_validator("github")
    @classmethod
    def _handles(cls, value: list[str]) -> list[str]:
        for handle in value:
            if not _HANDLE.match(handle):
                raise ValueError(f"{handle!r} is not a GitHub login or @org/team handle")
        return value

    @property
    def logins(self) -> list[str]:
        """The people (assignable on GitHub), without ``@``."""
        return [h.lstrip("@") for h in self.github if "/" not in h]

    @property
    def teams(self) -> list[str]:
        """The ``@org/team`` handles (mentioned, not assignable)."""
        return [h if h.startswith("@") else f"@{h}" for h in self.github if "/" in h]


AlertMode = Literal["immediate", "tick", "digest", "off"]


class AlertRoute(_Strict):
    """When a new or regressed issue of each priority is announced: ``immediate`` (as it is
    ingested), ``tick`` (at the next monitor tick), ``digest`` (the daily summary) or ``off``;
    ``slack``: the channel, instead of the expert's."""

    critical: AlertMode | None = None
    high: AlertMode | None = None
    medium: AlertMode | None = None
    low: AlertMode | None = None
    slack: str | None = None


class AlertConfig(AlertRoute):
    """``alerts:`` (top level, or per repository): an ``AlertRoute`` with per-category ones."""

    categories: dict[Category, AlertRoute] = Field(default_factory=dict)
    # The hour (UTC) after which each day's digest is sent.
    digest_hour: int | None = Field(default=None, ge=0, le=23)


class RepositoryConfig(_Strict):
    priority_level: Level = Level.MEDIUM
    automation_rules: dict[str, AutomationRule] = Field(default_factory=dict)
    # Re-run the failed jobs of a GitHub Actions run once when its failure is transient.
    self_heal: bool = False
    # dbt artifacts whose project has this name belong to this repository (when `--repo` is
    # not given): `dbt_project: jaffle_shop`.
    dbt_project: str | None = None
    # Green runs in a row after which this repository's issues resolve themselves (overrides
    # lifecycle.auto_resolve_after; a category's own value wins over both).
    auto_resolve_after: int | None = Field(default=None, ge=1)
    # Mirror the issues into GitHub issues (opt-in).
    github_issues: GitHubSyncConfig | None = None
    # When new issues are announced (see ``AlertConfig``); overrides the top-level ``alerts``.
    alerts: AlertConfig | None = None

    def rule_for(self, kind: Kind) -> tuple[str, AutomationRule] | None:
        """The first automation rule (in file order) that covers ``kind``."""
        for name, rule in self.automation_rules.items():
            kinds = rule.kinds if rule.kinds is not None else RULE_KINDS.get(name, ())
            if kind in kinds:
                return name, rule
        return None


@functools.cache
def _default_repository() -> RepositoryConfig:
    return RepositoryConfig()


class EscalationTriggers(_Strict):
    high_volume_threshold: int = Field(default=5, ge=1)
    critical_response_time: float = Field(default=4, gt=0)
    recurring_issue_threshold: int = Field(default=3, ge=1)
    cross_repo_correlation_threshold: int = Field(default=2, ge=1)


class PollConfig(_Strict):
    """Which sources each monitor tick polls (needs their credentials in the environment)."""

    github_actions: bool = False  # every repository of this file (GITHUB_TOKEN)
    dbt_cloud: bool = False  # the dbt_cloud account (DBT_CLOUD_API_TOKEN, ..._ACCOUNT_ID)
    since_hours: float = Field(default=24, gt=0)  # how far back the first poll looks


class LifecycleConfig(_Strict):
    """What the monitor does on each tick (``triagehub monitor``, or in ``triagehub serve``)."""

    # An issue whose checks all passed this many runs in a row (after its last failure) closes:
    # transient failures as auto_resolved, others as resolved. Flaky issues never auto-close.
    auto_resolve_after: int = Field(default=3, ge=1)
    auto_resolve_after_by_category: dict[Category, int] = Field(default_factory=dict)
    # Issues classified false_positive close as false_positive (and stop alerting).
    auto_close_false_positives: bool = True
    # How often `triagehub serve` runs a tick.
    tick_minutes: float = Field(default=5, gt=0)
    # Who an escalation notifies besides the issue's expert: from an issue's second escalation
    # on, and when a critical issue waits for a human (`@oncall`, a Slack handle); none: only
    # the expert.
    escalation_target: str | None = None
    # The agent the agent notification mentions (`@claude`, `@copilot`); none: not sent.
    agent_handle: str | None = None
    # Sources polled at each tick (webhooks need none of this).
    poll: PollConfig = Field(default_factory=PollConfig)

    @field_validator("auto_resolve_after_by_category")
    @classmethod
    def _positive(cls, value: dict[Category, int]) -> dict[Category, int]:
        for category, runs in value.items():
            if runs < 1:
                raise ValueError(f"{category.value}: must be at least 1 run")
        return value


class OpenSpecConfig(_Strict):
    """The ``openspec:`` section: where to look for OpenSpec projects (folders holding an
    ``openspec/`` directory), rescanned every ``scan_minutes``."""

    roots: list[Path] = Field(default_factory=list)
    scan_minutes: float = Field(default=5, gt=0)


class ApiConfig(_Strict):
    """The ``api:`` section: the REST API under ``/api/v1``. Writes always need a ``write``
    token (``triagehub token create``); reads need a token only when this says so."""

    require_token_for_reads: bool = False
    # The largest request body an ingestion endpoint accepts (events, report uploads).
    max_upload_mb: float = Field(default=100, gt=0)
    # The largest body of ``POST /api/v1/events``, which is parsed in memory and ingested in one
    # transaction (holding the write lock while it runs): larger sets of events go in several
    # requests, or through ``triagehub ingest`` (one transaction per file).
    max_events_mb: float = Field(default=10, gt=0)
    # How often the live stream (``GET /api/v1/stream``) looks for new rows.
    stream_poll_seconds: float = Field(default=1.0, gt=0, le=60)


class GroupingConfig(_Strict):
    """The storm guard: a run where at least ``storm_share`` of at least ``storm_min_checks``
    checks fail at once rolls up into one infrastructure issue."""

    storm_min_checks: int = Field(default=10, ge=2)
    storm_share: float = Field(default=0.5, gt=0, le=1)
    # Join a template that masking missed (a word differs, lines reordered) to the issue of a
    # near-identical one in the same check (or repository, for environmental failures).
    join_near_identical: bool = True


class HistoryConfig(_Strict):
    recurring_threshold: int = Field(default=3, ge=2)
    persistent_threshold: int = Field(default=5, ge=2)
    flaky_clean_runs: int = Field(default=10, ge=1)


class LLMConfig(_Strict):
    """The optional LLM classifier (used only with ``ANTHROPIC_API_KEY`` set)."""

    enabled: bool = True
    model: str = "claude-sonnet-5-5"
    confidence_threshold: float = Field(default=0.6, ge=0, le=1)
    daily_budget: int = Field(default=200, ge=0)
    timeout_s: float = Field(default=20.0, gt=0)
    base_url: str | None = None
    # New issues of these priorities are investigated by the monitor (an investigation brief;
    # only with ANTHROPIC_API_KEY set, within daily_budget). [] turns it off.
    auto_investigate: list[Level] = Field(default_factory=lambda: [Level.CRITICAL, Level.HIGH])
    auto_investigate_hours: float = Field(default=24, gt=0)  # how new an issue must be


def _dbt_cloud_host(value: str) -> str:
    """``https://cloud.getdbt.com`` (a bare host name gets ``https://``), without a trailing /."""
    text = value.strip().rstrip("/")
    if "://" not in text:
        text = f"https://{text}"
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.query:
        raise ValueError(
            f"expected a dbt Cloud access URL such as {DEFAULT_DBT_CLOUD_HOST}, got {value!r}"
        )
    return text


class DbtCloudConfig(_Strict):
    """The optional ``dbt_cloud:`` section (``triagehub ingest dbt-cloud``): the account's access
    URL and id. ``DBT_CLOUD_HOST`` and ``DBT_CLOUD_ACCOUNT_ID`` override it; the token comes from
    ``DBT_CLOUD_API_TOKEN`` only (``Secrets``)."""

    host: str = DEFAULT_DBT_CLOUD_HOST
    account_id: int | None = Field(default=None, ge=1)

    @field_validator("host")
    @classmethod
    def _valid_host(cls, value: str) -> str:
        return _dbt_cloud_host(value)

    def with_env(self) -> DbtCloudConfig:
        """This section with ``DBT_CLOUD_HOST`` / ``DBT_CLOUD_ACCOUNT_ID`` taking precedence."""
        host, account_id = self.host, self.account_id
        env_host = os.environ.get(DBT_CLOUD_HOST_ENV, "").strip()
        if env_host:
            try:
                host = _dbt_cloud_host(env_host)
            except ValueError as exc:
                raise ConfigError("environment", DBT_CLOUD_HOST_ENV, str(exc)) from None
        env_account = os.environ.get(DBT_CLOUD_ACCOUNT_ENV, "").strip()
        if env_account:
            if not env_account.isdigit() or int(env_account) < 1:
                raise ConfigError(
                    "environment",
                    DBT_CLOUD_ACCOUNT_ENV,
                    f"expected the numeric account id (the number after /accounts/ in dbt "
                    f"Cloud's URLs), got {env_account[:50]!r}",
                )
            account_id = int(env_account)
        return DbtCloudConfig(host=host, account_id=account_id)


class CategoryActionsConfig(_Strict):
    """``category_actions:``: what each category does besides alerting
    (``triagehub.engine.category_actions``): code fixes resolve only with a linked merged pull
    request or a person (when ``code_fix_requires_pr``), data quality issues notify their owners
    with the upstream freshness state, infrastructure issues notify ``platform_channel`` with what
    is affected, false positives get a proposed classification rule."""

    enabled: bool = True
    code_fix_requires_pr: bool = False
    platform_channel: str | None = None


class WeeklyReportConfig(_Strict):
    """``weekly_report:``: the brief's success metrics as a Markdown report, each week on
    ``weekday`` (0 = Monday) after ``hour`` UTC, posted to Slack (``slack``: a channel; the
    default channel when ``""``) and/or as a GitHub issue in ``github`` (owner/name)."""

    enabled: bool = False
    weekday: int = Field(default=0, ge=0, le=6)
    hour: int = Field(default=9, ge=0, le=23)
    slack: str | None = None
    github: str | None = None

    @field_validator("github")
    @classmethod
    def _repository(cls, value: str | None) -> str | None:
        if value is not None and not _REPO_NAME.match(value):
            raise ValueError(f"{value!r} is not a GitHub repository of the form owner/name")
        return value


class Settings(_Strict):
    """The whole of ``triagehub.yaml``."""

    repositories: dict[str, RepositoryConfig] = Field(default_factory=dict)
    escalation_triggers: EscalationTriggers = Field(default_factory=EscalationTriggers)
    lifecycle: LifecycleConfig = Field(default_factory=LifecycleConfig)
    openspec: OpenSpecConfig = Field(default_factory=OpenSpecConfig)
    api: ApiConfig = Field(default_factory=ApiConfig)
    grouping: GroupingConfig = Field(default_factory=GroupingConfig)
    history: HistoryConfig = Field(default_factory=HistoryConfig)
    default_sla_hours: dict[Level, float | None] = Field(
        default_factory=lambda: {
            Level.CRITICAL: 4.0,
            Level.HIGH: 24.0,
            Level.MEDIUM: 72.0,
            Level.LOW: None,
        }
    )
    classification_rules: list[ClassificationRule] = Field(default_factory=list)
    ownership: list[OwnershipRule] = Field(default_factory=list)
    llm: LLMConfig = Field(default_factory=LLMConfig)
    dbt_cloud: DbtCloudConfig = Field(default_factory=DbtCloudConfig)
    # The routing table: expert name -> GitHub logins/teams and a Slack channel.
    experts: dict[str, ExpertConfig] = Field(default_factory=dict)
    alerts: AlertConfig = Field(default_factory=AlertConfig)
    category_actions: CategoryActionsConfig = Field(default_factory=CategoryActionsConfig)
    weekly_report: WeeklyReportConfig = Field(default_factory=WeeklyReportConfig)

    @field_validator("classification_rules")
    @classmethod
    def _unique_rule_names(cls, value: list[ClassificationRule]) -> list[ClassificationRule]:
        seen: set[str] = set()
        for rule in value:
            if rule.name in seen:
                raise ValueError(f"two classification rules are named {rule.name!r}")
            seen.add(rule.name)
        return value

    @field_validator("repositories")
    @classmethod
    def _repository_names(cls, value: dict[str, RepositoryConfig]) -> dict[str, RepositoryConfig]:
        for name, repo in value.items():
            if not _REPO_NAME.match(name):
                raise ValueError(f"repository name {name!r} is not of the form owner/name")
            for rule_name, rule in repo.automation_rules.items():
                if rule.kinds is None and rule_name not in RULE_KINDS:
                    known = ", ".join(sorted(RULE_KINDS))
                    raise ValueError(
                        f"automation rule {rule_name!r} of {name} is not a known rule name "
                        f"({known}); give it `kinds: [...]` to say which failures it covers"
                    )
        return value

    def repository(self, name: str) -> RepositoryConfig:
        """``name``'s configuration, or the defaults: one shared frozen instance (it is asked
        for once per failure; building a new model each time cost a microsecond)."""
        return self.repositories.get(name) or _default_repository()

    def auto_resolve_after(self, repository: str, category: str) -> int:
        """Green runs in a row that resolve an issue of ``category`` in ``repository``."""
        by_category = {c.value: n for c, n in self.lifecycle.auto_resolve_after_by_category.items()}
        if category in by_category:
            return by_category[category]
        configured = self.repositories.get(repository)
        if configured is not None and configured.auto_resolve_after is not None:
            return configured.auto_resolve_after
        return self.lifecycle.auto_resolve_after

    def dbt_project_repositories(self) -> dict[str, str]:
        """dbt project name -> the repository whose ``dbt_project`` names it."""
        return {r.dbt_project: name for name, r in self.repositories.items() if r.dbt_project}


class Secrets(BaseModel):
    """Secrets, from the environment only; never printed (``SecretStr``)."""

    model_config = ConfigDict(frozen=True)

    github_token: SecretStr | None = None
    webhook_secret: SecretStr | None = None
    anthropic_api_key: SecretStr | None = None
    dbt_cloud_api_token: SecretStr | None = None

    @classmethod
    def from_env(cls) -> Secrets:
        def get(name: str) -> SecretStr | None:
            value = os.environ.get(name)
            return SecretStr(value) if value else None

        return cls(
            github_token=get("GITHUB_TOKEN"),
            webhook_secret=get("TRIAGEHUB_WEBHOOK_SECRET"),
            anthropic_api_key=get("ANTHROPIC_API_KEY"),
            dbt_cloud_api_token=get(DBT_CLOUD_TOKEN_ENV),
        )


def _key_path(loc: tuple[int | str, ...]) -> str:
    parts: list[str] = []
    for item in loc:
        if isinstance(item, int):
            parts.append(f"[{item}]")
        else:
            parts.append(("." if parts else "") + str(item))
    return "".join(parts)


def parse_settings(data: Any, file: str) -> Settings:
    """Validate already-loaded YAML data; errors name the file and the key path."""
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(file, "", f"expected a mapping at the top, got {type(data).__name__}")
    try:
        return Settings.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = tuple(x for x in first["loc"] if isinstance(x, int | str))
        reason = first["msg"]
        if first["type"] == "extra_forbidden":
            reason = "unknown key"
        extra = len(exc.errors()) - 1
        if extra:
            reason += f" (and {extra} more error{'s' if extra > 1 else ''})"
        raise ConfigError(file, _key_path(loc), f"{reason}; got {first.get('input')!r}") from None


def load_settings(path: Path | None = None) -> Settings:
    """Load ``triagehub.yaml``.

    The given path, else ``$TRIAGEHUB_CONFIG``, else ``./triagehub.yaml`` if it exists, else the
    defaults.
    """
    path = config_file(path)
    if path is None:
        return Settings()
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(str(path), "", "file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(str(path), "", f"cannot read: {exc}") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise ConfigError(str(path), where, f"invalid YAML: {exc}") from None
    return parse_settings(data, str(path))
