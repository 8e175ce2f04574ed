"""Logging in and out, the user's own account (API token), and the admins' users page."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, flash, redirect, render_template, request, url_for

from engine import Conflict, InvalidInput, NotAllowed, settings

from . import access
from .security import actor, client_address, current_actor, get_engine, log_in, log_out, safe_next, session_token

bp = Blueprint("auth", __name__)


@bp.route("/login", methods=["GET", "POST"])
def login() -> Any:
    next_url = safe_next(request.values.get("next"))
    if request.method == "GET":
        if current_actor() is not None:
            return redirect(next_url or url_for("tasks.index"))
        return render_template("auth/login.html", next=next_url, username="")
    username = request.form.get("username", "").strip()
    password = request.form.get("password", "")
    try:
        user = get_engine().authenticate(username, password, address=client_address(),
                                         max_failures=settings.get_int("FLOWDESK_LOGIN_ATTEMPTS"))
    except NotAllowed as err:
        return render_template("auth/login.html", next=next_url, username=username, error=err.message), 401
    log_in(user.username)
    return redirect(next_url or url_for("tasks.index"), 303)


@bp.post("/logout")
def logout() -> Any:
    log_out()
    flash("You are logged out.")
    return redirect(url_for("auth.login"), 303)


@bp.get("/account")
def account() -> Any:
    return render_template("auth/account.html", who=actor(), token=None)


@bp.post("/account/token")
def new_token() -> Any:
    who = actor()
    token = get_engine().create_token(who.username)
    return render_template("auth/account.html", who=who, token=token)


@bp.get("/users")
def users() -> Any:
    who = actor()
    access.require(who.is_admin, "only admins manage users")
    engine = get_engine()
    return render_template("auth/users.html", users=engine.users(), groups={g.id: g for g in engine.groups()})


@bp.post("/users")
def create_user() -> Any:
    who = actor()
    access.require(who.is_admin, "only admins manage users")
    engine = get_engine()
    form = request.form
    try:
        engine.create_user(form.get("username", "").strip(), form.get("name", ""), form.get("password", ""),
                           groups=tuple(form.getlist("groups")), roles=tuple(form.getlist("roles")) or ("staff",))
    except (InvalidInput, Conflict) as err:
        flash(err.message, "error")
        return render_template("auth/users.html", users=engine.users(),
                               groups={g.id: g for g in engine.groups()}, new=form), err.status
    flash(f"User {form.get('username')} was created.")
    return redirect(url_for("auth.users"), 303)


@bp.post("/users/<username>/active")
def set_active(username: str) -> Any:
    who = actor()
    access.require(who.is_admin, "only admins manage users")
    if username == who.username:
        flash("You cannot deactivate your own account.", "error")
        return redirect(url_for("auth.users"), 303)
    active = request.form.get("active") == "true"
    get_engine().set_user_active(username, active)
    flash(f"{username} was {'activated' if active else 'deactivated'}.")
    return redirect(url_for("auth.users"), 303)


@bp.post("/users/<username>/password")
def reset_password(username: str) -> Any:
    who = actor()
    access.require(who.is_admin, "only admins manage users")
    engine = get_engine()
    engine.user(username)
    password = request.form.get("password", "")
    try:
        # Every session of that user ends; resetting one's own password keeps the current one.
        engine.set_password(username, password, keep_session=session_token() if username == who.username else None)
    except InvalidInput as err:
        flash(err.message, "error")
        return render_template("auth/users.html", users=engine.users(),
                               groups={g.id: g for g in engine.groups()}, failed=username), 400
    flash(f"The password of {username} was reset.")
    return redirect(url_for("auth.users"), 303)
