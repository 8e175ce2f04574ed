"""Findings of the hardening review, over HTTP: sessions that end, lockouts that cannot lock anyone out from
elsewhere, and 404 for tasks and cases a caller may not see."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import Flask
from flask.testing import FlaskClient

from engine import Engine

from .conftest import Browser, open_task, start_simple


def logged_in(app: Flask, username: str, address: str = "127.0.0.1") -> Browser:
    browser = Browser(app.test_client())
    browser.client.environ_base["REMOTE_ADDR"] = address
    assert browser.login(username).status_code == 303
    return browser


def copy_of(app: Flask, browser: Browser) -> FlaskClient:
    """Another client holding the same session cookie, as someone who saved it would."""
    thief = app.test_client()
    cookie = browser.client.get_cookie("flowdesk_session")
    assert cookie is not None
    thief.set_cookie("flowdesk_session", cookie.value)
    return thief


def test_a_session_cookie_saved_before_logout_does_not_work_after_it(app: Flask) -> None:
    alice = logged_in(app, "alice")
    saved = copy_of(app, alice)
    assert saved.get("/tasks").status_code == 200
    assert alice.post("/logout").status_code == 303
    assert saved.get("/tasks").status_code == 302  # back to the login page
    assert saved.get("/account").status_code == 302


def test_a_password_reset_ends_every_session_of_that_user(app: Flask, as_user: Callable[[str], Browser]) -> None:
    bob_here, bob_there = logged_in(app, "bob"), logged_in(app, "bob", "10.0.0.2")
    root = as_user("root")
    assert root.post("/users/bob/password", {"password": "new-secret"}).status_code == 303
    assert bob_here.get("/tasks").status_code == 302 and bob_there.get("/tasks").status_code == 302
    assert root.get("/users").status_code == 200  # the admin's own session is untouched


def test_resetting_ones_own_password_keeps_the_current_session_only(app: Flask) -> None:
    here, elsewhere = logged_in(app, "root"), logged_in(app, "root", "10.0.0.2")
    assert here.post("/users/root/password", {"password": "new-secret"}).status_code == 303
    assert here.get("/users").status_code == 200
    assert elsewhere.get("/users").status_code == 302


def test_deactivation_ends_every_session_of_that_user(app: Flask, as_user: Callable[[str], Browser]) -> None:
    bob = logged_in(app, "bob")
    assert as_user("root").post("/users/bob/active", {"active": "false"}).status_code == 303
    assert bob.get("/tasks").status_code == 302
    assert as_user("root").post("/users/bob/active", {"active": "true"}).status_code == 303
    assert bob.get("/tasks").status_code == 302  # reactivating does not revive the old session


def test_five_wrong_passwords_do_not_lock_the_account_from_another_address(app: Flask) -> None:
    attacker = Browser(app.test_client())
    attacker.client.environ_base["REMOTE_ADDR"] = "203.0.113.9"
    for _ in range(5):
        assert attacker.login("bob", "guess").status_code == 401
    refused = attacker.login("bob")
    assert refused.status_code == 401 and "too many failed attempts" in refused.get_data(as_text=True)
    assert logged_in(app, "bob", "198.51.100.7").get("/tasks").status_code == 200


def test_tasks_and_cases_a_caller_may_not_see_answer_404_as_if_missing(
        app: Flask, as_user: Callable[[str], Browser], token: Callable[[str], dict[str, str]],
        web_engine: Engine) -> None:
    instance_id = start_simple(web_engine)
    task = open_task(web_engine, instance_id, "review")  # a desk task; hana is in heads
    hana, api, headers = as_user("hana"), app.test_client(), token("hana")
    for url in (f"/tasks/{task.id}", f"/cases/{instance_id}", "/tasks/no-such-task", "/cases/no-such-case"):
        assert hana.get(url).status_code == 404, url
    assert hana.post(f"/tasks/{task.id}/claim").status_code == 404
    for url in (f"/api/v1/tasks/{task.id}", f"/api/v1/instances/{instance_id}",
                f"/api/v1/instances/{instance_id}/history", "/api/v1/tasks/no-such-task"):
        response: Any = api.get(url, headers=headers)
        assert response.status_code == 404 and response.get_json()["error"] == "not_found", url
    assert web_engine.task(task.id).assignee is None
