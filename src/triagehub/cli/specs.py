"""``triagehub specs``: OpenSpec projects, read from the filesystem (the source of truth); the
spec events of what was done (created, archived, scanned) are recorded in the store.

Without ``--root``, the roots come from ``openspec.roots`` in triagehub.yaml. The root command's
state (``--db``, ``--config``) is read through the context object, so this module never imports
:mod:`triagehub.cli.main`.
"""

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table

from triagehub.cli.common import OutputFormat as Format
from triagehub.cli.common import err, out
from triagehub.cli.common import state_of as _state
from triagehub.clock import SystemClock
from triagehub.errors import InputError

if TYPE_CHECKING:
    from triagehub.work.specs import OpenSpecReader, Project

specs_app = typer.Typer(
    rich_markup_mode="markdown",
    help="OpenSpec change proposals and specs: list, show (with validation), create (also from "
    "a needs_spec issue) and archive.",
    no_args_is_help=True,
)


RootOption = Annotated[
    list[Path] | None,
    typer.Option(
        "--root",
        help="A folder holding OpenSpec projects (or one project); repeatable. Default: "
        "openspec.roots of triagehub.yaml.",
        show_default=False,
    ),
]
ProjectOption = Annotated[
    str | None,
    typer.Option("--project", "-p", help="The project id or path (needed when several)."),
]
FormatOption = Annotated[Format, typer.Option("--format", help="table or json.")]


def _reader(ctx: typer.Context, roots: list[Path] | None) -> "OpenSpecReader":
    from triagehub.work.specs import OpenSpecReader
    from triagehub.work.specs.snapshot import default_snapshot_dir

    if roots:
        return OpenSpecReader(roots, snapshot_dir=default_snapshot_dir())
    configured = _state(ctx).settings.openspec.roots
    if not configured:
        raise InputError(
            "--root",
            "",
            "no OpenSpec roots: pass --root DIR or set openspec.roots in triagehub.yaml",
        )
    return OpenSpecReader(configured, snapshot_dir=default_snapshot_dir())


def _projects(reader: "OpenSpecReader", ref: str | None) -> "list[Project]":
    if ref is not None:
        return [reader.project(ref)]
    projects = reader.projects()
    if not projects:
        reader.project(None)  # raises the "no project found" error
    return projects


def _emit(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, ensure_ascii=False) + "\n")


def _when(value: Any) -> str:
    return value.strftime("%Y-%m-%d %H:%M") if value else "-"


@specs_app.command("list")
def specs_list(
    ctx: typer.Context,
    roots: RootOption = None,
    project: ProjectOption = None,
    archived: Annotated[bool, typer.Option("--archived", help="Archived changes too.")] = False,
    specs: Annotated[bool, typer.Option("--specs", help="List the main specs instead.")] = False,
    fmt: FormatOption = Format.table,
) -> None:
    """Changes (task progress and deltas) of every project, most recently modified first."""
    reader = _reader(ctx, roots)
    projects = _projects(reader, project)
    if specs:
        rows = [s.summary_json() for p in projects for s in reader.specs(p)]
        if fmt is Format.json:
            _emit({"specs": rows})
            return
        table = Table(title=f"{len(rows)} spec(s)", title_justify="left")
        for name in ("project", "capability", "requirements", "problems"):
            table.add_column(name)
        for row in rows:
            table.add_row(
                row["project"], row["id"], str(row["requirement_count"]), "; ".join(row["problems"])
            )
        out.print(table, markup=False)
        return
    changes = [c for p in projects for c in reader.changes(p, archived=archived)]
    problems = [msg for p in projects for msg in reader.symlinked_changes(p)]
    if fmt is Format.json:
        _emit({"changes": [c.summary_json() for c in changes], "problems": problems})
        return
    table = Table(title=f"{len(changes)} change(s)", title_justify="left")
    for name, kw in (
        ("project", {}),
        ("change", {}),
        ("status", {}),
        ("tasks", {"justify": "right"}),
        ("deltas", {"justify": "right"}),
        ("modified", {}),
        ("problems", {"max_width": 60, "overflow": "fold"}),
    ):
        table.add_column(name, **kw)
    for c in changes:
        table.add_row(
            c.project,
            c.folder if c.archived else c.id,
            c.status,
            f"{c.completed_tasks}/{c.total_tasks}",
            str(len(c.deltas)),
            _when(c.last_modified),
            "; ".join(c.problems),
        )
    out.print(table, markup=False)
    for message in problems:
        err.print(f"warning: {message}", markup=False)


@specs_app.command("show")
def specs_show(
    ctx: typer.Context,
    item: Annotated[str, typer.Argument(help="A change id (or archive folder) or a capability.")],
    roots: RootOption = None,
    project: ProjectOption = None,
    lenient: Annotated[
        bool, typer.Option("--no-strict", help="Warnings do not fail validation.")
    ] = False,
    fmt: FormatOption = Format.table,
) -> None:
    """A change (proposal, tasks, deltas) or a spec, with its validation."""
    reader = _reader(ctx, roots)
    p = reader.project(project)
    try:
        change = reader.change(p, item)
    except InputError:
        try:
            spec = reader.spec(p, item)
        except InputError:
            raise InputError(
                f"project {p.id}", item, "no such change (active or archived) or spec"
            ) from None
        report = reader.validate_spec(p, item, strict=not lenient)
        if fmt is Format.json:
            _emit({**spec.to_json(), "validation": report.to_json()})
            return
        out.print(f"spec {spec.id} ({p.id}): {len(spec.requirements)} requirement(s)", markup=False)
        out.print(f"purpose: {spec.overview}", markup=False)
        for req in spec.requirements:
            out.print(f"- {req.name} ({len(req.scenarios)} scenario(s))", markup=False)
        _print_report(report.to_json())
        return
    report = reader.validate_change(p, change.folder, strict=not lenient)
    if fmt is Format.json:
        _emit({**change.to_json(), "validation": report.to_json()})
        return
    state = f"archived {change.archived_on}" if change.archived else change.status
    out.print(f"change {change.id} ({p.id}, {state}) at {change.path}", markup=False)
    out.print(f"tasks: {change.completed_tasks}/{change.total_tasks}", markup=False)
    if change.why:
        out.print(f"why: {change.why}", markup=False)
    for problem in change.problems:
        out.print(f"problem: {problem}", markup=False)
    table = Table(title=f"{len(change.deltas)} delta(s)", title_justify="left")
    for name in ("spec", "operation", "requirement", "scenarios"):
        table.add_column(name)
    for d in change.deltas:
        name = d.requirement.name if d.requirement else f"{d.rename_from} -> {d.rename_to}"
        scenarios = str(len(d.requirement.scenarios)) if d.requirement else "-"
        table.add_row(d.spec, d.operation, name, scenarios)
    out.print(table, markup=False)
    _print_report(report.to_json())


def _print_report(report: dict[str, Any]) -> None:
    verdict = "valid" if report["valid"] else "INVALID"
    mode = "strict" if report["strict"] else "lenient"
    out.print(f"validation ({mode}): {verdict}", markup=False)
    for issue in report["issues"]:
        line = f":{issue['line']}" if "line" in issue else ""
        out.print(f"  {issue['level']} {issue['path']}{line}: {issue['message']}", markup=False)


@specs_app.command("create")
def specs_create(
    ctx: typer.Context,
    change_id: Annotated[
        str | None, typer.Argument(help="The new change id (kebab-case).", show_default=False)
    ] = None,
    from_issue: Annotated[
        int | None,
        typer.Option("--from-issue", help="Draft it from this needs_spec issue and link them."),
    ] = None,
    capability: Annotated[
        str | None, typer.Option("--capability", help="With --from-issue: the capability.")
    ] = None,
    description: Annotated[
        str | None, typer.Option("--description", help="Written to the change's README.md.")
    ] = None,
    roots: RootOption = None,
    project: ProjectOption = None,
    fmt: FormatOption = Format.table,
) -> None:
    """Create a change as `openspec new change` does (or drafted from an issue); recorded as a
    spec event."""
    from triagehub.work.evidence import build_pack
    from triagehub.work.specs import create_change, create_change_from_issue
    from triagehub.work.specs.activity import record_created

    reader = _reader(ctx, roots)
    p = reader.project(project)
    clock = SystemClock()
    if from_issue is None and change_id is None:
        raise InputError("triagehub specs create", "", "give a CHANGE_ID or --from-issue ID")
    engine = _state(ctx).engine()
    if from_issue is not None:
        try:
            linked = create_change_from_issue(
                engine,
                p,
                from_issue,
                clock=clock,
                change_id=change_id,
                capability=capability,
                actor="cli",
                evidence=build_pack,
            )
            if linked.created:
                record_created(
                    engine, p, linked.change_id, actor="cli", clock=clock, issue_id=from_issue
                )
        finally:
            engine.dispose()
        data = linked.to_json()
        message = (
            f"created change {linked.change_id} at {linked.path}, linked to issue #{from_issue}"
            if linked.created
            else f"issue #{from_issue} is already linked to change {linked.change_id}"
        )
    else:
        assert change_id is not None
        try:
            path = create_change(p, change_id, clock=clock, description=description)
            record_created(engine, p, change_id, actor="cli", clock=clock)
        finally:
            engine.dispose()
        data = {"change_id": change_id, "path": str(path), "created": True}
        message = f"created change {change_id} at {path}"
    if fmt is Format.json:
        _emit({"project": p.id, **data})
    else:
        out.print(message, markup=False)


@specs_app.command("archive")
def specs_archive(
    ctx: typer.Context,
    change_id: Annotated[str, typer.Argument(help="The change to archive.")],
    roots: RootOption = None,
    project: ProjectOption = None,
    cli: Annotated[
        bool | None,
        typer.Option(
            "--openspec-cli/--no-openspec-cli",
            help="Use the openspec CLI (default: when it is installed).",
            show_default=False,
        ),
    ] = None,
    fmt: FormatOption = Format.table,
) -> None:
    """Archive a change: apply its deltas to the main specs and move it to changes/archive/;
    recorded as a spec event."""
    from triagehub.work.specs import archive_change
    from triagehub.work.specs.activity import record_archived

    reader = _reader(ctx, roots)
    p = reader.project(project)
    clock = SystemClock()
    before = reader.change(p, change_id)
    result = archive_change(p, change_id, clock=clock, use_cli=cli)
    engine = _state(ctx).engine()
    try:
        record_archived(
            engine, p, result, actor="cli", clock=clock, change=None if before.archived else before
        )
    finally:
        engine.dispose()
    if fmt is Format.json:
        _emit({"project": p.id, **result.to_json()})
        return
    totals = ", ".join(f"{k} {v}" for k, v in result.totals.items())
    out.print(
        f"archived {change_id} as {result.archived_as} (via {result.via}); specs updated: "
        f"{'yes' if result.specs_updated else 'no'} ({totals})",
        markup=False,
    )
    for warning in result.warnings:
        err.print(f"warning: {warning}", markup=False)


@specs_app.command("scan")
def specs_scan(
    ctx: typer.Context,
    roots: RootOption = None,
    project: ProjectOption = None,
    fmt: FormatOption = Format.table,
) -> None:
    """Record the spec events of changes made on disk since the last scan (new changes, task
    progress, archived, removed), as `triagehub serve` does in the background."""
    from triagehub.work.specs.activity import scan

    reader = _reader(ctx, roots)
    chosen = _projects(reader, project)
    engine = _state(ctx).engine()
    try:
        result = scan(engine, reader, clock=SystemClock(), projects=chosen, actor="cli-scan")
    finally:
        engine.dispose()
    if fmt is Format.json:
        _emit(result.as_dict())
        return
    counts = ", ".join(f"{k} {len(v)}" for k, v in sorted(result.recorded.items()))
    out.print(f"scanned {result.projects} project(s): {counts or 'nothing new'}", markup=False)
