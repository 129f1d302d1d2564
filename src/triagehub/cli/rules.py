"""``triagehub rules``: the classification rules triagehub proposes (false positives).

``triagehub rules accept ISSUE --config triagehub.yaml`` appends the rule proposed on an issue (its
``category_action`` event, :mod:`triagehub.engine.category_actions`) to ``classification_rules``:
the file is read, the rule added, the result validated as a whole, then written through a temporary
file (never half-written). A file without ``classification_rules`` gets the section appended as text
(its comments are kept); otherwise the file is rewritten from its data (its comments are lost, which
the command says).
"""

import os
import tempfile
from pathlib import Path
from typing import Annotated, Any

import typer

from triagehub.cli.common import out, session_of
from triagehub.errors import ConfigError, InputError

rules_app = typer.Typer(
    rich_markup_mode="markdown",
    help="Classification rules triagehub proposes (for false positives).",
    no_args_is_help=True,
)


def proposal_of(ctx: typer.Context, issue_id: int) -> dict[str, Any]:
    from sqlalchemy import select

    from triagehub.engine.category_actions import ACTION
    from triagehub.store import tables as t

    with session_of(ctx) as session:
        found = session.execute(
            select(t.issue_events.c.data)
            .where(t.issue_events.c.issue_id == issue_id, t.issue_events.c.kind == ACTION)
            .order_by(t.issue_events.c.id.desc())
        ).scalars()
        for data in found:
            if isinstance(data, dict) and isinstance(data.get("rule"), dict):
                return dict(data["rule"])
    raise InputError("issue", str(issue_id), "no classification rule was proposed on this issue")


@rules_app.command("show")
def show(ctx: typer.Context, issue: Annotated[int, typer.Argument(help="The issue id.")]) -> None:
    """Print the rule proposed on an issue (YAML)."""
    from triagehub.engine.category_actions import rule_yaml

    out.print(rule_yaml(proposal_of(ctx, issue)), markup=False)


@rules_app.command("accept")
def accept(
    ctx: typer.Context,
    issue: Annotated[int, typer.Argument(help="The issue id.")],
    config: Annotated[Path, typer.Option("--config-file", help="The triagehub.yaml to edit.")],
) -> None:
    """Add the rule proposed on an issue to the configuration's classification_rules."""
    import yaml

    from triagehub.config import parse_settings

    rule = proposal_of(ctx, issue)
    try:
        text = config.read_text(encoding="utf-8") if config.exists() else ""
        data = yaml.safe_load(text) if text.strip() else {}
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(str(config), "", f"cannot read: {exc}") from None
    if not isinstance(data, dict):
        raise ConfigError(str(config), "", "expected a mapping at the top")
    rules = list(data.get("classification_rules") or [])
    if any(isinstance(r, dict) and r.get("name") == rule["name"] for r in rules):
        out.print(f"{config}: rule {rule['name']} is there already", markup=False)
        return
    data["classification_rules"] = [*rules, rule]
    parse_settings(data, str(config))  # the whole file stays valid, or nothing is written
    if "classification_rules" not in (yaml.safe_load(text) or {}):
        block = yaml.safe_dump(
            {"classification_rules": [rule]}, sort_keys=False, allow_unicode=True
        )
        new_text = text + ("" if not text or text.endswith("\n") else "\n") + block
        note = ""
    else:
        new_text = yaml.safe_dump(data, sort_keys=False, allow_unicode=True)
        note = " (the file was rewritten from its data: its comments are gone)"
    fd, tmp = tempfile.mkstemp(dir=config.parent or Path(), prefix=".triagehub-", suffix=".yaml")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(new_text)
        Path(tmp).replace(config)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    out.print(f"{config}: added rule {rule['name']}{note}", markup=False)
