"""Findings of the hardening review: /metrics is not served to anyone, and session cookies are Secure over HTTPS."""

from __future__ import annotations

import re

from flask import Flask

from engine import Engine
from web import create_app


def make_app(web_engine: Engine, **config: object) -> Flask:
    return create_app({"ENGINE": web_engine, "SECRET_KEY": "test-secret", "TESTING": True, **config})


def test_metrics_without_a_token_answer_only_this_machine(web_engine: Engine) -> None:
    client = make_app(web_engine, METRICS_TOKEN=None).test_client()
    assert client.get("/metrics").status_code == 200  # the test client is 127.0.0.1
    assert client.get("/metrics", environ_base={"REMOTE_ADDR": "::1"}).status_code == 200
    remote = client.get("/metrics", environ_base={"REMOTE_ADDR": "203.0.113.9"})
    assert remote.status_code == 403 and b"FLOWDESK_METRICS_TOKEN" in remote.data
    assert b"flowdesk_" not in remote.data


def test_metrics_with_a_token_need_it_from_everywhere(web_engine: Engine) -> None:
    client = make_app(web_engine, METRICS_TOKEN="s3cret-scrape").test_client()
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": "Basic s3cret-scrape"}):
        response = client.get("/metrics", headers=headers)
        assert response.status_code == 401 and b"flowdesk_" not in response.data, headers
    ok = client.get("/metrics", headers={"Authorization": "Bearer s3cret-scrape"},
                    environ_base={"REMOTE_ADDR": "203.0.113.9"})
    assert ok.status_code == 200 and b"flowdesk_http_requests" in ok.data


def login_cookie(app: Flask, base_url: str) -> str:
    client = app.test_client()
    page = client.get("/login", base_url=base_url).get_data(as_text=True)
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert csrf is not None
    response = client.post("/login", base_url=base_url, data={
        "username": "alice", "password": "alice-pass", "csrf_token": csrf.group(1)})
    assert response.status_code == 303
    return str(response.headers["Set-Cookie"])


def test_session_cookies_are_secure_when_served_over_https(web_engine: Engine) -> None:
    app = make_app(web_engine)  # SECURE_COOKIES=auto
    assert "Secure" in login_cookie(app, "https://flowdesk.example")
    assert "Secure" not in login_cookie(app, "http://127.0.0.1")
    assert "Secure" in login_cookie(make_app(web_engine, SECURE_COOKIES="1"), "http://127.0.0.1")
    assert "Secure" not in login_cookie(make_app(web_engine, SECURE_COOKIES="0"), "https://flowdesk.example")


def test_the_content_security_policy_is_kept(app: Flask) -> None:
    response = app.test_client().get("/login")
    assert "script-src 'self'" in response.headers["Content-Security-Policy"]
    assert response.headers["X-Frame-Options"] == "DENY"
