"""API errors are JSON `{error, message, details}` with the right status, from one handler."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from flask import Flask

from engine import Engine

from .conftest import open_task, start_simple

Token = Callable[[str], dict[str, str]]


def error_of(response: object, status: int, code: str) -> dict[str, object]:
    body = response.get_json()  # type: ignore[attr-defined]
    assert response.status_code == status, body  # type: ignore[attr-defined]
    assert set(body) == {"error", "message", "details"} and body["error"] == code, body
    assert isinstance(body["message"], str) and body["message"]
    return body  # type: ignore[no-any-return]


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer fd_wrong"}, {"Authorization": "Basic abc"},
                                     {"Authorization": "Bearer "}])
def test_401_without_a_valid_bearer_token(app: Flask, headers: dict[str, str]) -> None:
    response = app.test_client().get("/api/v1/tasks", headers=headers)
    error_of(response, 401, "unauthorized")
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


def test_a_browser_session_is_not_an_api_credential(as_user: object) -> None:
    alice = as_user("alice")  # type: ignore[operator]
    error_of(alice.get("/api/v1/tasks"), 401, "unauthorized")


def test_400_for_malformed_requests(app: Flask, token: Token, web_engine: Engine) -> None:
    task = open_task(web_engine, start_simple(web_engine), "review")
    client, alice = app.test_client(), token("alice")
    for query in ("limit=0", "limit=x", "offset=-1", "status=lost", "list=everything", "due_before=soon",
                  "field=tier", "colour=red"):
        error_of(client.get(f"/api/v1/tasks?{query}", headers=alice), 400, "invalid_input")
    error_of(client.get("/api/v1/instances?status=lost", headers=alice), 400, "invalid_input")
    url = f"/api/v1/tasks/{task.id}"
    error_of(client.post(f"{url}/complete", data="{not json", content_type="application/json", headers=alice),
             400, "invalid_input")
    error_of(client.post(f"{url}/complete", json=[1, 2], headers=alice), 400, "invalid_input")
    error_of(client.post(f"{url}/complete", json={"data": "ok"}, headers=alice), 400, "invalid_input")
    sam = token("sam")
    error_of(client.post(f"{url}/assign", headers=sam), 400, "invalid_input")
    error_of(client.post(f"{url}/assign", json={}, headers=sam), 400, "invalid_input")
    error_of(client.post(f"{url}/assign", json={"assignee": 5}, headers=sam), 400, "invalid_input")
    error_of(client.post(f"{url}/assign", json={"assignee": "hana"}, headers=sam), 400, "invalid_input")


def test_403_404_409_and_422(app: Flask, token: Token, web_engine: Engine) -> None:
    instance_id = start_simple(web_engine)
    task = open_task(web_engine, instance_id, "review")
    client = app.test_client()
    error_of(client.get(f"/api/v1/tasks/{task.id}", headers=token("hana")), 404, "not_found")  # not hers to see
    error_of(client.post("/api/v1/processes/simple/start", json={"data": {}}, headers=token("audrey")), 403,
             "not_allowed")
    error_of(client.get("/api/v1/tasks/nope", headers=token("alice")), 404, "not_found")
    error_of(client.get("/api/v1/instances/nope", headers=token("alice")), 404, "not_found")
    error_of(client.get("/api/v1/no/such/route", headers=token("alice")), 404, "not_found")
    error_of(client.post("/api/v1/processes/nope/start", json={}, headers=token("alice")), 404, "not_found")
    client.post(f"/api/v1/tasks/{task.id}/claim", headers=token("alice"))
    error_of(client.post(f"/api/v1/tasks/{task.id}/claim", headers=token("bob")), 409, "task_held_by_other")
    invalid = error_of(client.post(f"/api/v1/tasks/{task.id}/complete", json={"data": {"email": "x"}},
                                   headers=token("alice")), 422, "form_invalid")
    assert invalid["details"] == {"ok": ["this field is required"], "email": ["'x' is not a 'email'"]}
    start = error_of(client.post("/api/v1/processes/simple/start", json={"data": {"subject": "ab"}},
                                 headers=token("alice")), 422, "form_invalid")
    assert set(start["details"]) == {"subject", "ref", "customer_id"}  # type: ignore[arg-type]


def test_405_is_json_too(app: Flask, token: Token) -> None:
    response = app.test_client().delete("/api/v1/tasks", headers=token("alice"))
    error_of(response, 405, "method_not_allowed")
    assert "GET" in response.headers["Allow"]


def test_html_pages_show_errors_as_pages(as_user: object) -> None:
    alice = as_user("alice")  # type: ignore[operator]
    response = alice.get("/tasks/nope")
    assert response.status_code == 404 and "text/html" in response.content_type
    assert "Not found" in response.get_data(as_text=True)
