"""FlowDesk's thin web layer: staff HTML and the JSON API. It calls only the engine's public face."""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from typing import Any

from flask import Flask, jsonify

from engine import Engine, settings

from . import display, errors, guard, i18n, metrics, security, views
from .api import bp as api_bp
from .audit import bp as audit_bp
from .auth import bp as auth_bp
from .cases import bp as cases_bp
from .designer import bp as designer_bp
from .supervisor import bp as supervisor_bp
from .tasks import bp as tasks_bp


def create_app(config: Mapping[str, Any] | None = None) -> Flask:
    """The application factory: nothing global exists until this runs.

    Config keys: ENGINE (an Engine to use, e.g. in tests), DATABASE_URL (else the engine's setting),
    SECRET_KEY, TIMEZONE (how times are shown and date-time fields read; default: the zone of the
    engine's default business calendar, else UTC),
    DUE_SOON_HOURS (what "due soon" means; default 8), PAGE_SIZE (task list page size; default 25),
    METRICS_TOKEN and SECURE_COOKIES (else FLOWDESK_METRICS_TOKEN and FLOWDESK_SECURE_COOKIES).
    """
    app = Flask(__name__)
    app.config.from_mapping(
        SECRET_KEY=None,
        DATABASE_URL=None,
        TIMEZONE=None,
        DUE_SOON_HOURS=8,
        PAGE_SIZE=25,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_NAME="flowdesk_session",
        MAX_CONTENT_LENGTH=2 * 1024 * 1024,
    )
    if config:
        app.config.from_mapping(config)
    app.config.setdefault("METRICS_TOKEN", settings.get("FLOWDESK_METRICS_TOKEN") or None)
    app.config.setdefault("SECURE_COOKIES", settings.get("FLOWDESK_SECURE_COOKIES"))
    if not app.config.get("SECRET_KEY"):
        # Like FLOWDESK_SECRET_KEY left empty: sessions last as long as this process.
        app.config["SECRET_KEY"] = secrets.token_hex(32)
    engine = app.config.get("ENGINE") or Engine(app.config.get("DATABASE_URL"))
    app.extensions["flowdesk"] = engine
    app.config["TIMEZONE"] = app.config["TIMEZONE"] or engine.default_timezone()

    metrics.install(app, engine)  # first, so its timer starts before any other hook answers
    guard.install(app)
    security.install(app)
    i18n.install(app)
    views.install(app)
    display.install(app)
    errors.install(app)
    for bp in (auth_bp, tasks_bp, cases_bp, supervisor_bp, designer_bp, api_bp, audit_bp):
        app.register_blueprint(bp)

    @app.get("/healthz")
    def healthz() -> Any:
        return jsonify(status="ok")

    return app
