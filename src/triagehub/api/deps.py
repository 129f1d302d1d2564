"""The app's shared objects, set once by ``create_app`` on ``app.state``, and the FastAPI
dependencies that hand them to the routes."""

# No ``from __future__ import annotations`` for the aliases below (FastAPI reads them at runtime);
# the state's field types that would import in a circle are named as strings.

from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, cast

from fastapi import Depends, FastAPI, Request
from sqlalchemy import Engine

from triagehub.actions.github import GitHubClient
from triagehub.api.stream import StreamHub
from triagehub.clock import Clock
from triagehub.config import Settings
from triagehub.work.specs import OpenSpecReader

if TYPE_CHECKING:
    from triagehub.api.auth import ApiAuth
    from triagehub.api.prometheus import AppMetrics
    from triagehub.api.routes.webhooks import WebhookConfig
    from triagehub.engine.jobs import JobWorker
    from triagehub.engine.monitor import MonitorLoop
    from triagehub.engine.spec_scan import SpecScanLoop
    from triagehub.work.specs.monitor import SpecMonitor


@dataclass(frozen=True, slots=True)
class ApiState:
    """What the routes read: the store, the settings, the clock, the token checker, the GitHub
    client, the live streams' hub, the OpenSpec reader; and what the lifespan runs."""

    engine: Engine
    settings: Settings
    clock: Clock
    auth: "ApiAuth"
    github: GitHubClient | None
    webhook: "WebhookConfig"
    hub: StreamHub
    reader: OpenSpecReader
    metrics: "AppMetrics"
    worker: "JobWorker | None"
    monitor: "MonitorLoop | None"
    spec_monitor: "SpecMonitor | None" = None  # warms and watches ``reader``
    spec_scan: "SpecScanLoop | None" = None


def state_of(app: FastAPI) -> ApiState:
    return cast(ApiState, app.state.triagehub)


def api_state(request: Request) -> ApiState:
    return state_of(request.app)


# The dependencies are ``async``: they only read ``app.state``, and FastAPI runs a plain ``def``
# dependency in its thread pool, a hop per request and per dependency for nothing.


async def current_state(request: Request) -> ApiState:
    return state_of(request.app)


async def get_engine(request: Request) -> Engine:
    return api_state(request).engine


async def get_settings(request: Request) -> Settings:
    return api_state(request).settings


async def get_clock(request: Request) -> Clock:
    return api_state(request).clock


async def get_github(request: Request) -> GitHubClient | None:
    return api_state(request).github


async def get_hub(request: Request) -> StreamHub:
    return api_state(request).hub


async def get_reader(request: Request) -> OpenSpecReader:
    return api_state(request).reader


StateDep = Annotated[ApiState, Depends(current_state)]
EngineDep = Annotated[Engine, Depends(get_engine)]
SettingsDep = Annotated[Settings, Depends(get_settings)]
ClockDep = Annotated[Clock, Depends(get_clock)]
GitHubDep = Annotated[GitHubClient | None, Depends(get_github)]
HubDep = Annotated[StreamHub, Depends(get_hub)]
ReaderDep = Annotated[OpenSpecReader, Depends(get_reader)]
