"""The issue table of the CLI: a few columns by default so that the title gets the room, more on
request (``--wide``, ``--columns``), one line per issue, cut with an ellipsis to fit the terminal
(80 columns and up)."""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from rich import box
from rich.table import Table

from triagehub.errors import InputError

if TYPE_CHECKING:
    from triagehub.store.queries import IssueView


@dataclass(frozen=True)
class Column:
    header: str
    value: Callable[[IssueView], str]
    justify: str = "left"


COLUMNS: dict[str, Column] = {
    "id": Column("id", lambda i: str(i.id), "right"),
    "priority": Column("priority", lambda i: i.priority),
    "state": Column("state", lambda i: i.state),
    "repository": Column("repository", lambda i: i.repository),
    "category": Column("category", lambda i: i.category),
    "kind": Column("kind", lambda i: i.kind),
    "severity": Column("severity", lambda i: i.severity),
    "history": Column("history", lambda i: i.history_class),
    "decision": Column("decision", lambda i: i.decision),
    "expert": Column("expert", lambda i: i.assignee or i.expert or "-"),
    "occ": Column("occ", lambda i: str(i.occurrences), "right"),
    "checks": Column("checks", lambda i: str(i.checks_count), "right"),
    "last_seen": Column("last seen", lambda i: i.last_seen.strftime("%m-%d %H:%M")),
    "title": Column("title", lambda i: i.title),
}
DEFAULT_COLUMNS = (
    "id",
    "priority",
    "state",
    "occ",
    "last_seen",
    "title",
)  # + repository if several
WIDE_COLUMNS = (
    "id",
    "repository",
    "priority",
    "state",
    "category",
    "kind",
    "history",
    "decision",
    "occ",
    "checks",
    "last_seen",
    "title",
)
MIN_TITLE = 20


def parse_columns(text: str | None, *, wide: bool = False) -> tuple[str, ...]:
    """The columns ``--columns a,b,c`` (or ``--wide``) ask for; the title always comes last."""
    if text is None:
        return WIDE_COLUMNS if wide else DEFAULT_COLUMNS
    names = [part.strip().replace(" ", "_").replace("-", "_") for part in text.split(",")]
    unknown = [n for n in names if n not in COLUMNS]
    if unknown or not any(names):
        raise InputError(
            "--columns",
            "",
            f"unknown column(s) {', '.join(map(repr, unknown)) or 'none given'}; "
            f"choose from: {', '.join(COLUMNS)}",
        )
    chosen = [n for n in dict.fromkeys(names) if n != "title"]
    return (*chosen, "title")


def _fit(natural: dict[str, int], room: int) -> dict[str, int]:
    """Shrink the widest columns first until they fit in ``room`` (each keeps 4 characters)."""
    widths = dict(natural)
    while sum(widths.values()) > room:
        name = max(widths, key=lambda n: widths[n])
        if widths[name] <= 4:
            break
        widths[name] -= 1
    return widths


def issues_table(
    issues: list[IssueView], title: str, columns: tuple[str, ...], *, width: int
) -> Table:
    """One line per issue in ``width`` characters. The title gets at least a third of the line
    (and never less than 20 characters); the other columns keep their natural width when they
    can, else the widest are cut with ``…`` (full values: ``issues show``, ``--format json``)."""
    if columns == DEFAULT_COLUMNS and len({i.repository for i in issues}) > 1:
        columns = ("id", "repository", *DEFAULT_COLUMNS[1:])  # which repository, when several
    rows = [[COLUMNS[name].value(issue) for name in columns] for issue in issues]
    others = [name for name in columns if name != "title"]
    natural = {
        name: max([len(COLUMNS[name].header), *(len(row[columns.index(name)]) for row in rows)])
        for name in others
    }
    title_room = max(MIN_TITLE, width // 3)
    widths = _fit(natural, width - title_room - 2 * len(columns))
    table = Table(
        title=title,
        title_justify="left",
        expand=True,
        box=box.SIMPLE_HEAD,
        pad_edge=False,
        show_edge=False,
        collapse_padding=True,
    )
    for name in columns:
        column = COLUMNS[name]
        kwargs: dict[str, Any] = {
            "justify": column.justify,
            "no_wrap": True,
            "overflow": "ellipsis",
        }
        if name == "title":
            kwargs.update(ratio=1, min_width=MIN_TITLE)
        else:
            kwargs.update(min_width=widths[name], max_width=widths[name])
        table.add_column(column.header, **kwargs)
    for row in rows:
        table.add_row(*row)
    return table


def _plain(value: object) -> str:
    if isinstance(value, dict):
        if set(value) >= {"from", "to"}:
            return f"{_plain(value['from'])} → {_plain(value['to'])}"
        return "; ".join(f"{k} {_plain(v)}" for k, v in value.items() if v is not None)
    if isinstance(value, list | tuple):
        shown = ", ".join(_plain(v) for v in value[:3])
        return f"{shown} and {len(value) - 3} more" if len(value) > 3 else shown
    return "-" if value is None else str(value)


def timeline_summary(data: dict[str, Any]) -> str:
    """A timeline event's data as a person reads it: ``priority high → critical``, lists cut to
    three, no empty values (the rationale is shown with the classification)."""
    parts = [
        f"{key.replace('_', ' ')} {_plain(value)}"
        for key, value in data.items()
        if key != "rationale" and value not in (None, "", [], {})
    ]
    return ", ".join(parts)


class ListFormat(enum.StrEnum):
    table = "table"
    json = "json"
    markdown = "markdown"


def _md_cell(text: str) -> str:
    return " ".join(text.replace("\\", "\\\\").replace("|", "\\|").split())


def issues_markdown(issues: list[IssueView], title: str, columns: tuple[str, ...]) -> str:
    """A GitHub-flavoured Markdown table (e.g. for ``$GITHUB_STEP_SUMMARY``), full titles."""
    if columns == DEFAULT_COLUMNS and len({i.repository for i in issues}) > 1:
        columns = ("id", "repository", *DEFAULT_COLUMNS[1:])
    lines = [f"### {_md_cell(title)}", ""]
    if not issues:
        return "\n".join([*lines, "No issues.", ""])
    lines.append("| " + " | ".join(COLUMNS[name].header for name in columns) + " |")
    lines.append(
        "|" + "|".join("---:" if COLUMNS[n].justify == "right" else "---" for n in columns) + "|"
    )
    for issue in issues:
        cells = (_md_cell(COLUMNS[name].value(issue)) for name in columns)
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join([*lines, ""])
