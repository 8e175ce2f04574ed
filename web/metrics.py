"""Prometheus metrics at /metrics, in a registry of this app's own (tests create many apps).

Request counts and latencies are measured here; task and timer figures are read from the database
at scrape time, so they include work done by other processes (workers, the CLI).
"""

from __future__ import annotations

import hmac
import time
from collections.abc import Iterator
from typing import Any

from flask import Flask, Response, g, request
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from engine import Engine


class EngineCollector(Collector):
    """Tasks completed, timers fired and open tasks per group, straight from the engine."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def collect(self) -> Iterator[Metric]:
        completed = CounterMetricFamily("flowdesk_tasks_completed", "User tasks completed, by process",
                                        labels=["process"])
        open_tasks = GaugeMetricFamily("flowdesk_open_tasks", "Open (ready) user tasks, by group", labels=["group"])
        overdue = GaugeMetricFamily("flowdesk_overdue_tasks", "Open tasks past their due time, by group",
                                    labels=["group"])
        now = self.engine.clock.now()
        for definition in self.engine.processes():
            completed.add_metric([definition.process_id],
                                 self.engine.count_tasks(status="completed", process_id=definition.process_id))
        for group in self.engine.groups():
            open_tasks.add_metric([group.id], self.engine.count_tasks(group=group.id))
            overdue.add_metric([group.id], self.engine.count_tasks(group=group.id, due_before=now))
        fired = CounterMetricFamily("flowdesk_timers_fired", "Timers fired")
        fired.add_metric([], len(self.engine.timers(status="fired")))
        pending = GaugeMetricFamily("flowdesk_timers_pending", "Timers waiting to fire")
        pending.add_metric([], len(self.engine.timers(status="pending")))
        yield from (completed, open_tasks, overdue, fired, pending)


def install(app: Flask, engine: Engine) -> None:
    registry = CollectorRegistry()
    requests = Counter("flowdesk_http_requests", "HTTP requests", ["method", "endpoint", "status"],
                       registry=registry)
    latency = Histogram("flowdesk_http_request_duration_seconds", "HTTP request latency", ["method", "endpoint"],
                        registry=registry)
    registry.register(EngineCollector(engine))
    app.extensions["flowdesk_metrics"] = registry

    @app.before_request
    def start_timer() -> None:
        g.started = time.perf_counter()

    @app.after_request
    def observe(response: Response) -> Response:
        started = g.get("started")
        endpoint = request.endpoint or "unknown"
        requests.labels(request.method, endpoint, str(response.status_code)).inc()
        if started is not None:
            latency.labels(request.method, endpoint).observe(time.perf_counter() - started)
        return response

    @app.get("/metrics")
    def metrics() -> Any:
        refused = scrape_refused(app.config.get("METRICS_TOKEN"))
        if refused is not None:
            return refused
        return Response(generate_latest(registry), mimetype=CONTENT_TYPE_LATEST)


LOOPBACK = {"127.0.0.1", "::1"}


def scrape_refused(token: str | None) -> Response | None:
    """None when this request may read /metrics: with FLOWDESK_METRICS_TOKEN set, it must send
    `Authorization: Bearer <token>`; without one, only this machine (loopback) may scrape."""
    if token:
        scheme, _, sent = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() == "bearer" and hmac.compare_digest(sent.strip().encode(), token.encode()):
            return None
        response = Response("send the metrics token as 'Authorization: Bearer <token>'\n", 401,
                            mimetype="text/plain")
        response.headers["WWW-Authenticate"] = 'Bearer realm="flowdesk-metrics"'
        return response
    if request.remote_addr in LOOPBACK:
        return None
    return Response("metrics are served to this machine only; set FLOWDESK_METRICS_TOKEN to scrape from "
                    "elsewhere\n", 403, mimetype="text/plain")
