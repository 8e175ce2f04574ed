"""Logging in and out: database users, safe session cookies, CSRF on every form, lockout after failures."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from flask import Flask

from engine import Engine

from .conftest import Browser, start_simple


def test_anonymous_visitors_are_sent_to_the_login_page(app: Flask) -> None:
    client = app.test_client()
    response = client.get("/tasks?list=mine")
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login?next=/tasks?list%3Dmine") or \
        response.headers["Location"].startswith("/login?next=%2Ftasks")
    assert client.get("/").status_code == 302
    assert client.get("/healthz").get_json() == {"status": "ok"}
    assert b"Log in to FlowDesk" in client.get("/login").data


def test_logging_in_leads_back_where_the_user_was_going(app: Flask) -> None:
    browser = Browser(app.test_client())
    browser.get("/login")
    response = browser.client.post("/login?next=/cases", data={"username": "alice", "password": "alice-pass",
                                                               "csrf_token": browser.csrf()})
    assert response.status_code == 303 and response.headers["Location"] == "/cases"
    page = browser.get("/tasks").get_data(as_text=True)
    assert "Alice Desk" in page and "Log out" in page


def test_next_never_leads_off_the_site(app: Flask) -> None:
    browser = Browser(app.test_client())
    browser.get("/login")
    for target in ("https://evil.example/", "//evil.example/x", "javascript:alert(1)"):
        response = browser.client.post("/login", data={"username": "alice", "password": "alice-pass",
                                                       "next": target, "csrf_token": browser.csrf()})
        assert response.headers["Location"] == "/tasks"


def test_the_session_cookie_is_httponly_and_samesite_lax(app: Flask) -> None:
    browser = Browser(app.test_client())
    browser.get("/login")
    response = browser.client.post("/login", data={"username": "alice", "password": "alice-pass",
                                                   "csrf_token": browser.csrf()})
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and cookie.startswith("flowdesk_session=")


def test_a_wrong_password_is_refused_with_a_message(app: Flask) -> None:
    browser = Browser(app.test_client())
    response = browser.login("alice", "wrong")
    assert response.status_code == 401
    assert "unknown user or wrong password" in response.get_data(as_text=True)
    assert 'value="alice"' in response.get_data(as_text=True)  # the user name is kept
    assert browser.get("/tasks").status_code == 302


def test_repeated_failures_lock_the_account_and_say_so(app: Flask) -> None:
    browser = Browser(app.test_client())
    for _ in range(5):
        assert browser.login("bob", "nope").status_code == 401
    response = browser.login("bob")  # even the right password is refused while locked
    assert response.status_code == 401
    assert "too many failed attempts" in response.get_data(as_text=True)


def test_logging_out_ends_the_session(as_user: Any) -> None:
    alice = as_user("alice")
    response = alice.post("/logout")
    assert response.status_code == 303 and response.headers["Location"] == "/login"
    assert alice.get("/tasks").status_code == 302


def test_posts_without_the_csrf_token_are_refused(as_user: Any, web_engine: Engine) -> None:
    alice = as_user("alice")
    instance_id = start_simple(web_engine)
    task = web_engine.tasks(instance_id=instance_id)[0]
    for url, data in ((f"/tasks/{task.id}/claim", {}), (f"/tasks/{task.id}/complete", {"ok": "true"}),
                      ("/logout", {}), ("/start/simple", {"subject": "x"})):
        response = alice.client.post(url, data=data)
        assert response.status_code == 400, url
        assert "security token" in response.get_data(as_text=True)
        response = alice.client.post(url, data={**data, "csrf_token": "forged"})
        assert response.status_code == 400, url
    assert web_engine.task(task.id).assignee is None
    assert alice.get("/tasks").status_code == 200  # still logged in


def test_the_login_form_itself_needs_the_token(app: Flask) -> None:
    client = app.test_client()
    response = client.post("/login", data={"username": "alice", "password": "alice-pass"})
    assert response.status_code == 400


def test_the_csrf_token_changes_with_a_new_login(app: Flask) -> None:
    browser = Browser(app.test_client())
    browser.get("/login")
    before = browser.csrf()
    browser.client.post("/login", data={"username": "alice", "password": "alice-pass", "csrf_token": before})
    assert browser.csrf() != before


def test_the_account_page_creates_an_api_token(as_user: Any, web_engine: Engine) -> None:
    alice = as_user("alice")
    assert "alice" in alice.get("/account").get_data(as_text=True)
    html = alice.post("/account/token").get_data(as_text=True)
    token = html.split('<code class="token">')[1].split("<")[0]
    assert web_engine.user_for_token(token).username == "alice"


def test_admins_list_users_and_reset_passwords(as_user: Any, app: Flask) -> None:
    root = as_user("root")
    page = root.get("/users").get_data(as_text=True)
    for name in ("alice", "bob", "hana", "sam", "audrey", "root"):
        assert f'id="user-{name}"' in page
    response = root.post("/users/bob/password", {"password": "new-secret"})
    assert response.status_code == 303
    assert Browser(app.test_client()).login("bob", "new-secret").status_code == 303
    assert root.post("/users/bob/password", {"password": "123"}).status_code == 400
    assert root.post("/users/nobody/password", {"password": "long-enough"}).status_code == 404


def test_only_admins_manage_users(as_user: Any) -> None:
    for name in ("alice", "sam", "audrey"):
        browser = as_user(name)
        assert browser.get("/users").status_code == 403
        assert browser.post("/users/bob/password", {"password": "new-secret"}).status_code == 403
        assert browser.post("/users", {"username": "eve", "name": "Eve", "password": "eve-pass"}).status_code == 403
        assert browser.post("/users/bob/active", {"active": "false"}).status_code == 403


def test_admins_create_users_who_can_then_log_in_and_work_in_their_group(
        as_user: Any, app: Flask, web_engine: Any) -> None:
    root = as_user("root")
    created = root.post("/users", {"username": "carol", "name": "Carol Desk", "password": "carol-pass",
                                   "groups": "desk", "roles": "staff"})
    assert created.status_code == 303
    assert web_engine.user("carol").groups == ("desk",)
    assert Browser(app.test_client()).login("carol", "carol-pass").status_code == 303
    again = root.post("/users", {"username": "carol", "name": "Carol", "password": "carol-pass"})
    assert again.status_code == 409 and "already exists" in again.get_data(as_text=True)
    bad = root.post("/users", {"username": "Bad Name", "name": "x", "password": "long-enough"})
    assert bad.status_code == 400
    assert root.post("/users", {"username": "dave", "name": "D", "password": "dave-pass",
                                "groups": "nowhere"}).status_code == 400


def test_a_deactivated_user_cannot_log_in_until_reactivated(as_user: Any, app: Flask) -> None:
    root = as_user("root")
    assert root.post("/users/bob/active", {"active": "false"}).status_code == 303
    assert Browser(app.test_client()).login("bob", "bob-pass").status_code != 303
    assert root.post("/users/bob/active", {"active": "true"}).status_code == 303
    assert Browser(app.test_client()).login("bob", "bob-pass").status_code == 303


def test_every_post_form_in_the_templates_carries_the_csrf_token() -> None:
    templates = Path(__file__).resolve().parents[2] / "web" / "templates"
    forms = 0
    for path in templates.rglob("*.html"):
        for form in re.findall(r"<form\b[^>]*method=\"post\"[^>]*>.*?</form>", path.read_text(), re.S | re.I):
            forms += 1
            assert "csrf_token" in form or "csrf_field()" in form, f"{path.name}: {form[:120]}"
    assert forms >= 8
