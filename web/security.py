"""Who is asking: session logins with a per-session CSRF token for HTML, bearer tokens for the API."""

from __future__ import annotations

import hmac
import secrets
from typing import Any
from urllib.parse import urlsplit

from flask import Flask, Response, abort, current_app, g, redirect, request, session, url_for
from flask.sessions import SecureCookieSessionInterface
from werkzeug.exceptions import Unauthorized

from engine import Engine, NotAllowed, NotFound

from .access import Actor

CSRF_FIELD = "csrf_token"
CSRF_HEADER = "X-CSRF-Token"
UNSAFE = {"POST", "PUT", "PATCH", "DELETE"}
# Endpoints reachable without logging in (the API authenticates its own way, by bearer token).
PUBLIC = {"auth.login", "healthz", "metrics", "static"}


def get_engine() -> Engine:
    engine: Engine = current_app.extensions["flowdesk"]
    return engine


def current_actor() -> Actor | None:
    """The logged-in (or token-authenticated) user of this request, with what they supervise."""
    return g.get("actor")


def actor() -> Actor:
    """The current actor; only for views behind the login check."""
    who = current_actor()
    if who is None:
        raise Unauthorized("log in first")
    return who


def actor_for(username: str) -> Actor | None:
    engine = get_engine()
    try:
        user = engine.user(username)
    except NotFound:
        return None
    if not user.active:
        return None
    return Actor(user, frozenset(engine.supervised_groups(username)))


def csrf_token() -> str:
    """This session's CSRF token, created on first use."""
    token = session.get(CSRF_FIELD)
    if not token:
        token = secrets.token_urlsafe(32)
        session[CSRF_FIELD] = token
    return str(token)


SESSION_KEY = "sid"


def log_in(username: str) -> None:
    # A fresh session on login: nothing from before (a planted id, an old token) survives it. The cookie
    # carries only a server-side session's token, so ending that session (logout, a password change,
    # deactivation) makes every copy of the cookie worthless.
    session.clear()
    session[SESSION_KEY] = get_engine().start_session(username)
    session.permanent = False
    csrf_token()


def session_token() -> str | None:
    """The server-side session token of this request's cookie, if any."""
    token = session.get(SESSION_KEY)
    return str(token) if token else None


def log_out() -> None:
    token = session_token()
    if token:
        get_engine().end_session(token)
    session.clear()


def client_address() -> str:
    """The caller's address as the server sees it (a proxy in front must be configured to pass it on)."""
    return request.remote_addr or "unknown"


def bearer_actor() -> Actor:
    """The API caller from `Authorization: Bearer …`; 401 when missing, invalid or revoked."""
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("send an API token as 'Authorization: Bearer <token>'")
    try:
        user = get_engine().user_for_token(token.strip())
    except NotAllowed as err:
        raise Unauthorized(err.message) from err
    who = actor_for(user.username)
    if who is None:
        raise Unauthorized("the token's user is inactive")
    return who


def safe_next(target: str | None) -> str | None:
    """A redirect target only when it stays on this site."""
    if not target:
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return None
    return target


def _is_api() -> bool:
    return request.blueprint == "api" or request.path.startswith("/api/")


def _before_request() -> Any:
    if _is_api():
        return None  # the api blueprint authenticates by bearer token
    token = session_token()
    if token:
        try:
            username = get_engine().session_user(token).username
        except NotAllowed:
            username = None
        who = actor_for(username) if username else None
        if who is None:
            session.clear()
        else:
            g.actor = who
    if request.method in UNSAFE:
        sent = request.form.get(CSRF_FIELD) or request.headers.get(CSRF_HEADER) or ""
        expected = session.get(CSRF_FIELD) or ""
        if not expected or not hmac.compare_digest(str(sent), str(expected)):
            abort(400, description="The form's security token is missing or out of date. "
                                   "Go back, reload the page and try again.")
    if request.endpoint is None or request.endpoint in PUBLIC:
        return None
    if g.get("actor") is None:
        return redirect(url_for("auth.login", next=request.full_path.rstrip("?")))
    return None


# bpmn-js and the small inline styles need 'unsafe-inline' for styles only; scripts come from this site alone.
CSP = ("default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
       "object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'")


def _headers(response: Response) -> Response:
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("Referrer-Policy", "same-origin")
    if response.mimetype == "text/html":
        response.headers.setdefault("Content-Security-Policy", CSP)
        response.headers.setdefault("X-Frame-Options", "DENY")
        response.headers.setdefault("Cache-Control", "no-store")
    return response


class SessionCookies(SecureCookieSessionInterface):
    """Session cookies marked Secure per SECURE_COOKIES: "auto" when the request came over HTTPS (behind a
    proxy, have it pass the scheme on), "1" always, "0" never."""

    def get_cookie_secure(self, app: Flask) -> bool:
        mode = str(app.config.get("SECURE_COOKIES") or "auto").lower()
        if mode in ("1", "true", "yes", "on"):
            return True
        if mode in ("0", "false", "no", "off"):
            return False
        return bool(request) and request.is_secure


def install(app: Flask) -> None:
    app.session_interface = SessionCookies()
    app.before_request(_before_request)
    app.after_request(_headers)
    app.jinja_env.globals["csrf_token"] = csrf_token
    app.jinja_env.globals["current_actor"] = current_actor
