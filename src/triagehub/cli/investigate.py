"""``triagehub investigate ID``: the investigation brief of an issue (Claude), or its evidence
pack alone when there is no API key, the budget is spent or the answer is unusable."""

import json
import os
import sys
from contextlib import ExitStack
from typing import Annotated, Any

import typer

from triagehub.cli.common import OutputFormat, out, state_of
from triagehub.clock import SystemClock

GITHUB_API_URL_ENV = "TRIAGEHUB_GITHUB_API_URL"


def _print_pack(pack: dict[str, Any]) -> None:
    out.print(f"#{pack['issue_id']} {pack['title']}  ({pack['repository']})", highlight=False)
    diff = pack.get("green_diff")
    out.print(f"Diff against the last green run: {pack['green_diff_note']}", highlight=False)
    if diff:
        for line in diff["lines"]:
            out.print(f"  {line['line']:>5}  {line['text']}", highlight=False, markup=False)
    elif pack.get("key_excerpt"):
        for line in pack["key_excerpt"]["lines"]:
            out.print(f"  {line['line']:>5}  {line['text']}", highlight=False, markup=False)
    h = pack.get("history")
    if h:
        last = h.get("last_pass") or {}
        first = h.get("first_failure") or {}
        out.print(
            f"History of {h['check']}: {h['failures']} failures in {h['runs']} runs; last pass "
            f"run {last.get('run', '-')} at {last.get('commit', '-')}; first failure run "
            f"{first.get('run', '-')} at {first.get('commit', '-')}",
            highlight=False,
            markup=False,
        )
    sus = pack["suspects"]
    if sus["commits"]:
        out.print(f"Suspect commits ({sus.get('total_commits')}):", highlight=False)
        for c in sus["commits"]:
            out.print(f"  {c['sha'][:12]} {c['message']} ({c['author']})", markup=False)
        if sus.get("files_in_errors"):
            out.print("  named in the error: " + ", ".join(sus["files_in_errors"]), markup=False)
    else:
        out.print(f"Suspect commits: {sus.get('reason') or 'none'}", markup=False)


def investigate_command(
    ctx: typer.Context,
    issue_id: Annotated[int, typer.Argument(help="The issue id.", min=1)],
    fmt: Annotated[OutputFormat, typer.Option("--format", help="table or json.")] = (
        OutputFormat.table
    ),
) -> None:
    """Investigate an issue: Claude's brief (hypotheses citing log lines and commits, change vs
    environment, next step, fix outline), cached per evidence; the evidence pack alone without
    ANTHROPIC_API_KEY. Suspect commits need GITHUB_TOKEN."""
    from triagehub.actions.github import GitHubClient
    from triagehub.config import Secrets
    from triagehub.engine.investigate import investigate

    state = state_of(ctx)
    engine = state.engine()
    token = Secrets.from_env().github_token
    with ExitStack() as stack:
        github = None
        if token is not None:
            base = os.environ.get(GITHUB_API_URL_ENV, "https://api.github.com")
            github = stack.enter_context(GitHubClient(token.get_secret_value(), base_url=base))
        result = investigate(engine, state.settings, issue_id, clock=SystemClock(), github=github)
    if fmt is OutputFormat.json:
        sys.stdout.write(json.dumps(result.to_json(), indent=2, default=str) + "\n")
        return
    brief = result.brief
    if brief is None:
        out.print(f"No brief ({result.status}: {result.detail}); the evidence pack:", markup=False)
        _print_pack(result.evidence)
        return
    out.print(f"Brief by {result.model} ({result.status}), confidence {brief['confidence']:.2f}")
    out.print(brief["summary"], markup=False)
    out.print(
        f"Cause: {brief['cause']}" + (" — suggest a rerun" if brief["suggest_rerun"] else ""),
        markup=False,
    )
    for n, h in enumerate(brief["hypotheses"], start=1):
        cites = ", ".join(h["evidence"])
        out.print(f"  {n}. ({h['likelihood']:.2f}) {h['cause']} [{cites}]", markup=False)
    out.print(f"Next step: {brief['next_step']}", markup=False)
    out.print(f"Fix outline: {brief['fix_outline']}", markup=False)


def register(app: typer.Typer) -> None:
    app.command("investigate")(investigate_command)
