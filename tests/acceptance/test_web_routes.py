"""Every route the app serves is listed here and answers without a server error; a new route must be added."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import Flask

from engine import Engine

from .conftest import open_task, start_simple

# endpoint -> (method, url, body, status as admin); {task}, {instance} and {claimed} are filled in from a real case.
ROUTES: dict[str, tuple[str, str, dict[str, Any] | None, int]] = {
    "healthz": ("GET", "/healthz", None, 200),
    "metrics": ("GET", "/metrics", None, 200),
    "auth.login": ("GET", "/login", None, 302),
    "auth.logout": ("POST", "/logout", {}, 303),
    "auth.account": ("GET", "/account", None, 200),
    "auth.new_token": ("POST", "/account/token", {}, 200),
    "i18n.choose_language": ("POST", "/account/language", {"locale": "zh_CN"}, 303),
    "auth.users": ("GET", "/users", None, 200),
    "auth.reset_password": ("POST", "/users/bob/password", {"password": "bob-new-pass"}, 303),
    "auth.create_user": ("POST", "/users", {"username": "carol", "name": "Carol", "password": "carol-pass",
                                            "groups": "desk"}, 303),
    "auth.set_active": ("POST", "/users/hana/active", {"active": "false"}, 303),
    "tasks.home": ("GET", "/", None, 302),
    "tasks.index": ("GET", "/tasks?list=all", None, 200),
    "tasks.show": ("GET", "/tasks/{task}", None, 200),
    "tasks.claim": ("POST", "/tasks/{task}/claim", {}, 303),
    "tasks.unclaim": ("POST", "/tasks/{claimed}/unclaim", {}, 303),
    "tasks.complete": ("POST", "/tasks/{task}/complete", {"ok": "true"}, 303),
    "cases.start_list": ("GET", "/start", None, 200),
    "cases.start_form": ("GET", "/start/simple", None, 200),
    "cases.start": ("POST", "/start/simple", {"subject": "Door", "ref": "R-3", "customer_id": "C2"}, 303),
    "cases.index": ("GET", "/cases", None, 200),
    "cases.show": ("GET", "/cases/{instance}", None, 200),
    "cases.diagram": ("GET", "/cases/{instance}/diagram.json", None, 200),
    "supervisor.index": ("GET", "/supervisor", None, 200),
    "supervisor.assign": ("POST", "/supervisor/tasks/{claimed}/assign", {"assignee": "bob"}, 303),
    "designer.index": ("GET", "/designer", None, 200),
    "designer.version": ("GET", "/designer/simple/1?file=process.yaml", None, 200),
    "designer.download": ("GET", "/designer/simple/1/package.zip", None, 200),
    "designer.upload": ("POST", "/designer/packages", {"action": "validate"}, 422),  # no file: a clear problem
    "api.openapi": ("GET", "/api/v1/openapi.json", None, 200),
    "api.me": ("GET", "/api/v1/me", None, 200),
    "api.processes": ("GET", "/api/v1/processes", None, 200),
    "api.process": ("GET", "/api/v1/processes/simple", None, 200),
    "api.start": ("POST", "/api/v1/processes/simple/start",
                  {"data": {"subject": "Door", "ref": "R-4", "customer_id": "C1"}}, 201),
    "api.definitions": ("GET", "/api/v1/definitions", None, 200),
    "api.definition": ("GET", "/api/v1/definitions/simple/1", None, 200),
    "api.deploy_definition": ("POST", "/api/v1/definitions", None, 400),  # no upload (test_web_designer uploads)
    "api.validate_definition": ("POST", "/api/v1/definitions/validate", None, 400),
    "api.instances": ("GET", "/api/v1/instances", None, 200),
    "api.instance": ("GET", "/api/v1/instances/{instance}", None, 200),
    "api.history": ("GET", "/api/v1/instances/{instance}/history", None, 200),
    "api.instance_timers": ("GET", "/api/v1/instances/{instance}/timers", None, 200),
    "api.diagram": ("GET", "/api/v1/instances/{instance}/diagram", None, 200),
    "api.timers": ("GET", "/api/v1/timers", None, 200),
    "api.tasks": ("GET", "/api/v1/tasks", None, 200),
    "api.task": ("GET", "/api/v1/tasks/{task}", None, 200),
    "api.claim": ("POST", "/api/v1/tasks/{task}/claim", None, 200),
    "api.unclaim": ("POST", "/api/v1/tasks/{claimed}/unclaim", None, 200),
    "api.assign": ("POST", "/api/v1/tasks/{claimed}/assign", {"assignee": "bob"}, 200),
    "api.complete": ("POST", "/api/v1/tasks/{task}/complete", {"data": {"ok": True}}, 200),
}
OTHERS = ("static", "audit.")  # static files, and the audit pages (tested in test_audit_*.py)


def test_every_route_is_listed(app: Flask) -> None:
    served = {rule.endpoint for rule in app.url_map.iter_rules() if not rule.endpoint.startswith(OTHERS)}
    assert served == set(ROUTES)


def test_every_route_answers_an_admin(app: Flask, as_user: Any, token: Callable[[str], dict[str, str]],
                                      web_engine: Engine) -> None:
    for endpoint, (method, url, body, expected) in ROUTES.items():
        instance_id = start_simple(web_engine, f"K-{endpoint}")
        task = open_task(web_engine, instance_id, "review")
        claimed = open_task(web_engine, start_simple(web_engine, f"C-{endpoint}"), "review")
        web_engine.claim(claimed.id, "alice")
        url = url.format(task=task.id, instance=instance_id, claimed=claimed.id)
        if endpoint.startswith("api."):
            client = app.test_client()
            response = client.open(url, method=method, json=body, headers=token("root"))
        else:
            browser = as_user("root")
            response = browser.get(url) if method == "GET" else browser.post(url, body)
        assert response.status_code == expected, (endpoint, response.status_code, response.get_data(as_text=True))
