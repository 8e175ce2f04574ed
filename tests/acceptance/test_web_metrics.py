"""Prometheus metrics: requests and latencies per endpoint, tasks completed, timers fired, open tasks by group."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from flask import Flask

from engine import Engine, FakeClock
from web import create_app

from .conftest import open_task, start_simple


def sample(text: str, name: str, **labels: str) -> float:
    wanted = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    for line in text.splitlines():
        if line.startswith("#"):
            continue
        metric, _, value = line.rpartition(" ")
        head, _, rest = metric.partition("{")
        found = ",".join(sorted(rest.rstrip("}").split(","))) if rest else ""
        if head == name and found == wanted:
            return float(value)
    raise AssertionError(f"no sample {name}{{{wanted}}} in\n{text}")


def test_metrics_count_requests_tasks_timers_and_open_tasks(app: Flask, as_user: Any, web_engine: Engine,
                                                            clock: FakeClock) -> None:
    instance_id = start_simple(web_engine)
    review = open_task(web_engine, instance_id, "review")
    other = start_simple(web_engine, "R-2")
    web_engine.complete(review.id, {"ok": True}, "alice")
    second = open_task(web_engine, other, "review")
    assert second.due_at is not None
    clock.set(second.due_at + timedelta(hours=1))
    web_engine.run_due()  # the second review's deadline timer fires
    as_user("alice").get("/tasks")
    response = app.test_client().get("/metrics")
    assert response.status_code == 200 and response.content_type.startswith("text/plain")
    text = response.get_data(as_text=True)
    assert sample(text, "flowdesk_http_requests_total", method="GET", endpoint="tasks.index", status="200") == 1
    assert sample(text, "flowdesk_http_request_duration_seconds_count", method="GET", endpoint="tasks.index") == 1
    assert sample(text, "flowdesk_tasks_completed_total", process="simple") == 1
    assert sample(text, "flowdesk_timers_fired_total") == 1
    assert sample(text, "flowdesk_open_tasks", group="heads") == 1  # the approval
    assert sample(text, "flowdesk_open_tasks", group="desk") == 2  # the second review and its chase
    assert sample(text, "flowdesk_overdue_tasks", group="desk") == 1


def test_each_app_has_its_own_registry(web_engine: Engine) -> None:
    first = create_app({"ENGINE": web_engine, "SECRET_KEY": "a"})
    second = create_app({"ENGINE": web_engine, "SECRET_KEY": "b"})
    first.test_client().get("/healthz")
    text = second.test_client().get("/metrics").get_data(as_text=True)
    assert 'endpoint="healthz"' not in text
