"""Acceptance fixtures: the web app over a fresh engine, logged-in test clients, API tokens, a live server."""

from __future__ import annotations

import shutil
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from engine import Engine, FakeClock
from tests.conftest import FIXTURES, MONDAY_MORNING
from web import create_app

SIMPLE = FIXTURES / "packages" / "simple"
PACKAGES = Path(__file__).parent / "packages"
START = {"subject": "Broken tap", "ref": "R-1", "customer_id": "C1"}


class Browser:
    """A test client that logs in through the form and sends the session's CSRF token with every post."""

    def __init__(self, client: FlaskClient) -> None:
        self.client = client

    def csrf(self) -> str:
        with self.client.session_transaction() as session:
            token = session.get("csrf_token")
            if not token:
                token = session["csrf_token"] = "test-csrf-token"
        return str(token)

    def login(self, username: str, password: str | None = None) -> Any:
        self.client.get("/login")
        return self.client.post("/login", data={"username": username, "password": password or f"{username}-pass",
                                                "csrf_token": self.csrf()})

    def get(self, url: str, **kw: Any) -> Any:
        return self.client.get(url, **kw)

    def post(self, url: str, data: dict[str, Any] | None = None, **kw: Any) -> Any:
        return self.client.post(url, data={**(data or {}), "csrf_token": self.csrf()}, **kw)


@pytest.fixture(scope="session")
def template_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A database with the test organisation and the test packages, built once and copied for each test."""
    path = tmp_path_factory.mktemp("template") / "flowdesk.db"
    engine = Engine(f"sqlite:///{path}", clock=FakeClock(MONDAY_MORNING))
    engine.load_org(FIXTURES / "org.yaml")
    for package in (SIMPLE, PACKAGES / "widgets", PACKAGES / "heads_note"):
        engine.deploy(package)
    engine.close()
    return path


@pytest.fixture
def web_engine(template_db: Path, tmp_path: Path, clock: FakeClock) -> Iterator[Engine]:
    """A fresh engine (test organisation, fake clock) with simple, widgets and heads_note deployed."""
    for suffix in ("", "-wal", "-shm"):
        source = template_db.with_name(template_db.name + suffix)
        if source.exists():
            shutil.copy(source, tmp_path / ("flowdesk.db" + suffix))
    engine = Engine(f"sqlite:///{tmp_path / 'flowdesk.db'}", clock=clock, migrate=False)
    yield engine
    engine.close()


@pytest.fixture
def app(web_engine: Engine) -> Flask:
    return create_app({"ENGINE": web_engine, "SECRET_KEY": "test-secret", "TESTING": True,
                       "TIMEZONE": "Europe/Berlin"})


@pytest.fixture
def as_user(app: Flask) -> Callable[[str], Browser]:
    """as_user('alice') — a fresh client with a session logged in as that user.

    The server-side session is opened directly (password hashing is slow on purpose); test_web_auth covers
    the form.
    """

    def make(username: str) -> Browser:
        browser = Browser(app.test_client())
        token = app.extensions["flowdesk"].start_session(username)
        with browser.client.session_transaction() as session:
            session["sid"] = token
            session["csrf_token"] = f"csrf-{username}"
        return browser

    return make


@pytest.fixture
def token(web_engine: Engine) -> Callable[[str], dict[str, str]]:
    """token('alice') — the Authorization header of a new API token for that user."""

    def make(username: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {web_engine.create_token(username)}"}

    return make


def start_simple(engine: Engine, ref: str = "R-1", **extra: Any) -> str:
    return engine.start("simple", {**START, "ref": ref, **extra}, "alice").id


def open_task(engine: Engine, instance_id: str, element_id: str) -> Any:
    found = [t for t in engine.tasks(instance_id=instance_id) if t.element_id == element_id]
    assert len(found) == 1, f"expected one open {element_id} in {instance_id}, got {found}"
    return found[0]


def to_approval(engine: Engine, ref: str = "R-2") -> tuple[str, Any]:
    """A case whose review is done (by alice), waiting for the heads' approval."""
    instance_id = start_simple(engine, ref)
    engine.complete(open_task(engine, instance_id, "review").id, {"ok": True}, "alice")
    return instance_id, open_task(engine, instance_id, "approve")


@pytest.fixture
def live_server(request: pytest.FixtureRequest) -> Iterator[Callable[[Flask], str]]:
    """Serve an app on 127.0.0.1 with an OS-chosen port in a background thread; returns its base URL."""
    from werkzeug.serving import make_server

    servers: list[Any] = []

    def serve(app: Flask) -> str:
        server = make_server("127.0.0.1", 0, app, threaded=True)
        threading.Thread(target=server.serve_forever, name="live-server", daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_port}"

    yield serve
    for server in servers:
        server.shutdown()
