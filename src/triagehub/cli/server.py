"""``triagehub serve`` and ``worker``: the HTTP server and the outbox's worker."""

import logging
import os
from typing import TYPE_CHECKING, Annotated, Any

import typer

from triagehub.cli.common import err, out, state_of
from triagehub.errors import ConfigError

if TYPE_CHECKING:
    import socket

    from triagehub.actions.github import GitHubClient
    from triagehub.config import Secrets

log = logging.getLogger("triagehub.cli")


def serve(
    ctx: typer.Context,
    host: Annotated[str, typer.Option("--host", help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", min=1, max=65535, help="Port.")] = 8080,
    insecure: Annotated[
        bool,
        typer.Option(
            "--insecure-no-webhook-secret",
            help="Accept unsigned GitHub webhooks when TRIAGEHUB_WEBHOOK_SECRET is not set.",
        ),
    ] = False,
    no_worker: Annotated[
        bool,
        typer.Option(
            "--no-worker",
            help="Do not run queued jobs in this process (run `triagehub worker` instead).",
        ),
    ] = False,
    no_monitor: Annotated[
        bool,
        typer.Option(
            "--no-monitor",
            help="Do not run the lifecycle ticks here (run `triagehub monitor` from cron).",
        ),
    ] = False,
) -> None:
    """Run the HTTP server: the dashboard at /, the REST API at /api/v1, GitHub webhooks at
    POST /webhooks/github, health at GET /healthz.

    Deliveries are verified with TRIAGEHUB_WEBHOOK_SECRET (HMAC-SHA256, X-Hub-Signature-256);
    without it the dashboard and the API still work and webhooks answer 503, unless
    --insecure-no-webhook-secret accepts unsigned ones. It says once, at start, which
    integrations are off."""

    from triagehub.api.app import WebhookConfig, create_app
    from triagehub.config import Secrets

    state = state_of(ctx)
    engine = state.engine()
    listening = bind(host, port)
    secret = Secrets.from_env().webhook_secret
    shown = f"[{host}]" if ":" in host else host
    err.print(
        f"triagehub on http://{shown}:{port}/ (dashboard /, API /api/v1, webhooks "
        "/webhooks/github); Ctrl+C to stop",
        markup=False,
    )
    for line in integrations_off(Secrets.from_env(), insecure=insecure):
        err.print(f"off: {line}", markup=False)
    github = github_from_env()
    api = create_app(
        engine,
        state.settings,
        WebhookConfig(secret.get_secret_value().encode() if secret else None, insecure=insecure),
        github=github,
        run_worker=not no_worker,
        run_monitor=not no_monitor,
    )
    run_server(api, listening, log_level="info")


def bind(host: str, port: int) -> "socket.socket":
    """The listening socket, bound before anything is printed or loaded: a port in use is one
    line and exit 2, not a log after the start-up messages."""
    import socket  # (a command that serves)

    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # IPPROTO_TCP, not 0: asyncio turns Nagle's algorithm off (TCP_NODELAY) only on sockets whose
    # protocol says TCP, and without it every response on a kept-alive connection waited ~40 ms
    # for the client's delayed ACK (headers and body are two writes).
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise ConfigError(
            f"--host {host} --port {port}", "", f"cannot listen: {exc.strerror}"
        ) from None
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


def run_server(api: Any, sock: "socket.socket", *, log_level: str) -> None:
    import uvicorn

    config = uvicorn.Config(api, log_level=log_level, access_log=False)
    uvicorn.Server(config).run(sockets=[sock])


def integrations_off(secrets: "Secrets", *, insecure: bool = False) -> list[str]:
    """What a server started with these secrets will not do, one line each."""
    off = []
    if secrets.webhook_secret is None:
        off.append(
            "GitHub webhooks accept unsigned deliveries (--insecure-no-webhook-secret)"
            if insecure
            else "GitHub webhooks (TRIAGEHUB_WEBHOOK_SECRET is not set: they answer 503)"
        )
    if secrets.github_token is None:
        off.append("GitHub issue sync and re-runs (GITHUB_TOKEN is not set)")
    if not (os.environ.get("SLACK_WEBHOOK_URL") or os.environ.get("SLACK_BOT_TOKEN")):
        off.append("Slack notifications (SLACK_WEBHOOK_URL or SLACK_BOT_TOKEN is not set: logged)")
    if secrets.anthropic_api_key is None:
        off.append("LLM classification (ANTHROPIC_API_KEY is not set: the rules decide)")
    return off


def github_from_env() -> "GitHubClient | None":
    from triagehub.actions.github import GitHubClient
    from triagehub.config import Secrets

    token = Secrets.from_env().github_token
    if token is None:
        return None
    base_url = os.environ.get("TRIAGEHUB_GITHUB_API_URL", "https://api.github.com")
    return GitHubClient(token.get_secret_value(), base_url=base_url)


def worker(
    ctx: typer.Context,
    once: Annotated[bool, typer.Option("--once", help="Run the due jobs, then exit.")] = False,
    interval: Annotated[
        float, typer.Option("--interval", min=0.05, help="Seconds between polls.")
    ] = 1.0,
) -> None:
    """Run the outbox until stopped: webhook deliveries to ingest, self-healing re-runs and
    notifications (Slack), with retries, backoff and a dead-letter state (`triagehub outbox`).

    Several workers may share a PostgreSQL database; a job a dead worker had claimed is done again
    when its lease ends."""
    import time

    from triagehub.engine.jobs import process_jobs

    state = state_of(ctx)
    engine = state.engine()
    github = github_from_env()
    total = 0
    while True:
        try:
            done = process_jobs(engine, state.settings, github=github)
        except Exception:
            if once:
                raise
            # Bad data is isolated per job inside process_jobs; what is left (the database
            # restarting, a network blip) must not end a long-running worker: the leases make
            # the interrupted batch safe to take again.
            log.exception("worker batch failed; trying again in %.1f s", max(interval, 1.0))
            time.sleep(max(interval, 1.0))
            continue
        total += done
        if once and not done:
            break
        if not done:
            time.sleep(interval)
    out.print(f"{total} job(s) done")


def register(app: typer.Typer) -> None:
    """Add ``serve`` and ``worker`` to the root command."""
    app.command()(serve)
    app.command()(worker)
