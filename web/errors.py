"""Errors map to HTTP here, in one place: engine errors carry their status; JSON for the API, a page for people."""

from __future__ import annotations

import re
from typing import Any

from flask import Flask, jsonify, redirect, render_template, request, url_for
from werkzeug.exceptions import HTTPException, InternalServerError

from engine import EngineError

from .i18n import error_message


def _code_of(err: HTTPException) -> str:
    return re.sub(r"[^a-z0-9]+", "_", (err.name or "error").lower()).strip("_")


def describe(err: Exception) -> tuple[int, str, str, Any]:
    """(status, code, message, details) of any error the app may answer with."""
    if isinstance(err, EngineError):
        return err.status, err.code, error_message(err), err.details
    if isinstance(err, HTTPException):
        return err.code or 500, _code_of(err), err.description or err.name, None
    return 500, "internal_server_error", "something went wrong on our side", None


def wants_json() -> bool:
    return request.blueprint == "api" or request.path.startswith("/api/")


def handle(err: Exception) -> Any:
    if isinstance(err, InternalServerError) and err.original_exception is not None:
        err = err.original_exception if isinstance(err.original_exception, HTTPException | EngineError) else err
    status, code, message, details = describe(err)
    if wants_json():
        response = jsonify(error=code, message=message, details=details)
        response.status_code = status
        if status == 401:
            response.headers["WWW-Authenticate"] = 'Bearer realm="flowdesk"'
        if isinstance(err, HTTPException) and status == 405:
            allowed = err.get_headers()
            response.headers.update({k: v for k, v in allowed if k == "Allow"})
        return response
    if status == 401:
        return redirect(url_for("auth.login", next=request.full_path.rstrip("?")))
    return render_template("error.html", status=status, code=code, message=message, details=details), status


def install(app: Flask) -> None:
    app.register_error_handler(EngineError, handle)
    app.register_error_handler(HTTPException, handle)
