"""Prometheus ``GET /metrics``: gauges read from the store at scrape time and the request count
and latency middleware, one registry per app."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI
from prometheus_client import (
    CollectorRegistry,
    Counter,
    Histogram,
    disable_created_metrics,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import Engine
from sqlalchemy.orm import Session
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from triagehub.store import queries

log = logging.getLogger(__name__)


class StoreCollector(Collector):
    """Gauges read from the store at scrape time (cheap aggregate queries, cached briefly so
    that several scrapers do not multiply the load)."""

    def __init__(self, engine: Engine, cache_seconds: float = 5.0) -> None:
        self.engine = engine
        self.cache_seconds = cache_seconds
        self._cached: tuple[float, queries.StoreGauges] | None = None
        self._lock = threading.Lock()

    def _gauges(self) -> queries.StoreGauges:
        with self._lock:
            if self._cached is not None and time.monotonic() - self._cached[0] < self.cache_seconds:
                return self._cached[1]
            with Session(self.engine) as session:
                gauges = queries.store_gauges(session=session)
            self._cached = (time.monotonic(), gauges)
            return gauges

    def describe(self) -> Iterator[Metric]:
        return iter(())  # registering must not read the store (nor fill the cache)

    def collect(self) -> Iterator[Metric]:
        try:
            gauges = self._gauges()
        except Exception:
            log.exception("reading the store for /metrics failed")
            up = GaugeMetricFamily("triagehub_store_up", "1 when the store could be read")
            up.add_metric([], 0)
            yield up
            return
        up = GaugeMetricFamily("triagehub_store_up", "1 when the store could be read")
        up.add_metric([], 1)
        yield up
        issues = GaugeMetricFamily(
            "triagehub_issues", "Issues by state and category", labels=["state", "category"]
        )
        for (state, category), n in sorted(gauges.issues.items()):
            issues.add_metric([state, category], n)
        yield issues
        runs = CounterMetricFamily(
            "triagehub_ingested_runs", "Runs ingested, by source", labels=["source"]
        )
        for source, n in sorted(gauges.runs.items()):
            runs.add_metric([source], n)
        yield runs
        occurrences = CounterMetricFamily(
            "triagehub_ingested_failures", "Failures (occurrences) ingested"
        )
        occurrences.add_metric([], gauges.occurrences)
        yield occurrences
        outbox = GaugeMetricFamily(
            "triagehub_outbox_depth",
            "Outbox rows not done (pending, running, dead), by kind and status",
            labels=["kind", "status"],
        )
        for (kind, status), n in sorted(gauges.outbox.items()):
            outbox.add_metric([kind, status], n)
        yield outbox
        failing = GaugeMetricFamily(
            "triagehub_outbox_delivery_failures",
            "Outbox rows whose last delivery attempt failed (retrying or dead), by kind and status",
            labels=["kind", "status"],
        )
        for (kind, status), n in sorted(gauges.outbox_failing.items()):
            failing.add_metric([kind, status], n)
        yield failing


class RequestMetrics:
    """ASGI middleware: request counts and latency per route template."""

    def __init__(self, app: ASGIApp, *, requests: Counter, latency: Histogram) -> None:
        self.app = app
        self.requests = requests
        self.latency = latency
        # The series of each (method, route, status), looked up once: ``labels()`` validates,
        # locks and hashes at each call, twice the time of counting and observing.
        self._series: dict[tuple[str, str, int], tuple[Any, Any]] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500
        streaming = False

        async def observe(message: Message) -> None:
            nonlocal status, streaming
            if message["type"] == "http.response.start":
                status = int(message["status"])
                for name, value in message.get("headers", []):
                    if name.lower() == b"content-type" and value.startswith(b"text/event-stream"):
                        streaming = True
                        self._record(scope, status, started)
            await send(message)

        try:
            await self.app(scope, receive, observe)
        finally:
            if not streaming:
                self._record(scope, status, started)

    def _record(self, scope: Scope, status: int, started: float) -> None:
        route = scope.get("route")
        path = getattr(route, "path", None)
        if not path:
            # Routes added outside FastAPI's router (/openapi.json) are named by their path;
            # anything else unmatched shares one label (no label per scanned URL).
            path = scope.get("path", "") if status < 400 else "unmatched"
        method = scope.get("method", "")
        key = (method, path, status)
        series = self._series.get(key)
        if series is None:
            series = self._series[key] = (
                self.requests.labels(method, path, str(status)),
                self.latency.labels(method, path),
            )
        series[0].inc()
        series[1].observe(time.perf_counter() - started)


@dataclass(frozen=True, slots=True)
class AppMetrics:
    """One app's registry, with the request counter and latency histogram the middleware fills."""

    registry: CollectorRegistry
    requests: Counter
    latency: Histogram


def app_metrics(engine: Engine) -> AppMetrics:
    """A registry for one app: request counts and latency, and the store's gauges."""
    disable_created_metrics()  # type: ignore[no-untyped-call]  # no *_created series
    registry = CollectorRegistry(auto_describe=True)
    requests = Counter(
        "triagehub_http_requests",
        "HTTP requests answered, by method, route and status",
        ["method", "route", "status"],
        registry=registry,
    )
    latency = Histogram(
        "triagehub_http_request_duration_seconds",
        "HTTP request latency (to the last byte; to the first for event streams)",
        ["method", "route"],
        buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
        registry=registry,
    )
    registry.register(StoreCollector(engine))
    return AppMetrics(registry, requests, latency)


def install_metrics(app: FastAPI, metrics: AppMetrics) -> None:
    """The request-latency middleware (``GET /metrics`` is a route of
    :mod:`triagehub.api.routes.support`)."""
    app.add_middleware(RequestMetrics, requests=metrics.requests, latency=metrics.latency)
