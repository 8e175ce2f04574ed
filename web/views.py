"""What every page shares: time shown in the configured zone, labels, due badges, paging links."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from flask import Flask, current_app, request, url_for

from .security import get_engine


def zone() -> ZoneInfo:
    return ZoneInfo(str(current_app.config.get("TIMEZONE") or "UTC"))


def now() -> datetime:
    """The engine's clock, so pages agree with the engine (and tests can move time)."""
    return get_engine().clock.now()


def aware(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def when(value: Any, fmt: str | None = None) -> str:
    """A moment in the configured zone, in the user's language (or with an explicit strftime format)."""
    if value is None or value == "":
        return "—"
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            return value
    if not isinstance(value, datetime):
        return str(value)
    local = aware(value).astimezone(zone())
    if fmt is not None:
        return local.strftime(fmt)
    from .i18n import format_when

    return format_when(local)


def iso(value: datetime | None) -> str:
    return aware(value).isoformat() if value else ""


def humanize(value: Any) -> str:
    """Turn an identifier like `maintenance_quality` into `Maintenance quality`."""
    text = str(value).replace("_", " ").strip()
    return text[:1].upper() + text[1:]


def due_state(due: datetime | None) -> str:
    """'overdue', 'soon' or '' for a due time."""
    if due is None:
        return ""
    current = now()
    due = aware(due)
    if due < current:
        return "overdue"
    if due < current + timedelta(hours=float(current_app.config.get("DUE_SOON_HOURS", 8))):
        return "soon"
    return ""


def page_url(**changes: Any) -> str:
    """This page's URL with some query arguments changed (None removes one)."""
    args: dict[str, Any] = request.args.to_dict(flat=False)
    for key, value in changes.items():
        if value is None:
            args.pop(key, None)
        else:
            args[key] = [str(value)]
    assert request.endpoint is not None
    return url_for(request.endpoint, **(request.view_args or {}), **args)


def is_scalar(value: Any) -> bool:
    return value is None or isinstance(value, str | int | float | bool)


def show(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


def install(app: Flask) -> None:
    app.jinja_env.filters.update(when=when, iso=iso, humanize=humanize, due_state=due_state, show=show)
    app.jinja_env.tests["scalar"] = is_scalar
    app.jinja_env.tests["mapping"] = lambda v: isinstance(v, dict)
    app.jinja_env.tests["sequence_value"] = lambda v: isinstance(v, list | tuple)
    app.jinja_env.globals.update(page_url=page_url, now=now,
                                  has_endpoint=lambda name: name in current_app.view_functions)
    app.jinja_env.trim_blocks = True
    app.jinja_env.lstrip_blocks = True
