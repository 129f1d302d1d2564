"""The brief's labels on GitHub issues: which ones an issue carries, and creating, adding and
removing them (only triagehub's own labels: people's labels stay)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Final

from triagehub.core.models import Category

if TYPE_CHECKING:
    from triagehub.actions.github import GitHubClient

CLASSIFIED_LABEL: Final = "triagehub:classified"

# The labels of the brief: name -> (colour, description). Created on first use.
LABELS: Final[Mapping[str, tuple[str, str]]] = {
    "category:transient_failure": (
        "fbca04",
        "Transient failure: network, a flaky service or runner; passes on a re-run",
    ),
    "category:code_fix_required": ("d73a4a", "Needs a change in the code or its tests"),
    "category:data_quality_issue": (
        "5319e7",
        "Data quality: a dbt test or freshness check found bad, missing or late data",
    ),
    "category:infrastructure_issue": (
        "1d76db",
        "Infrastructure: runners, services, credentials or dependencies",
    ),
    "category:false_positive": ("cfd3d7", "The check itself looks wrong: not a real failure"),
    "priority:critical": ("b60205", "Critical: security or production outage; act now"),
    "priority:high": ("d93f0b", "High: build or main-branch failure, blocking dependency"),
    "priority:medium": ("fbca04", "Medium: test or lint failure"),
    "priority:low": ("0e8a16", "Low: warnings, style"),
    CLASSIFIED_LABEL: ("0075ca", "Classified by triagehub (rules, history or LLM)"),
    "history:new": ("c2e0c6", "First failure of this check"),
    "history:flaky": ("f9d0c4", "Flaky: passed and failed on the same commit, or on retry"),
    "history:recurring": ("e99695", "Recurring: 3 or more occurrences"),
    "history:persistent": ("b60205", "Persistent: 5 or more consecutive failures"),
}
MANAGED_PREFIXES: Final = ("category:", "priority:", "history:")


def managed_labels(category: str, priority: str, history_class: str) -> list[str]:
    """The triagehub labels an issue carries now (sorted)."""
    labels = [f"priority:{priority}", f"history:{history_class}"]
    if category != Category.PENDING.value:
        labels += [f"category:{category}", CLASSIFIED_LABEL]
    return sorted(label for label in labels if label in LABELS)


def is_managed(name: str) -> bool:
    """A label triagehub sets and removes itself."""
    return name == CLASSIFIED_LABEL or name.startswith(MANAGED_PREFIXES)


def ensure_labels(
    github: GitHubClient, cache: dict[str, Any], target: str, names: Sequence[str]
) -> None:
    """Create the brief's labels ``target`` does not have yet (its labels are listed once per
    target and batch: ``cache`` is the job batch's)."""
    known_by_target: dict[str, set[str]] = cache.setdefault("github_labels", {})
    key = target.lower()
    if key not in known_by_target:
        known_by_target[key] = {
            str(label.get("name", "")).lower() for label in github.list_labels(target)
        }
    known = known_by_target[key]
    for name in names:
        if name.lower() in known or name not in LABELS:
            continue
        color, description = LABELS[name]
        github.create_label(target, name=name, color=color, description=description)
        known.add(name.lower())


def update_labels(
    github: GitHubClient,
    cache: dict[str, Any],
    target: str,
    number: int,
    labels: Sequence[str],
    current: Sequence[str],
) -> bool:
    """Bring the GitHub issue's triagehub labels from ``current`` to ``labels`` (people's labels
    are left alone); return whether anything changed."""
    add = [name for name in labels if name not in current]
    remove = [name for name in current if name not in labels and is_managed(name)]
    if add:
        ensure_labels(github, cache, target, add)
        github.add_labels(target, number, add)
    for name in remove:
        github.remove_label(target, number, name)
    return bool(add or remove)
