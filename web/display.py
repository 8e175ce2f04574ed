"""Case values as people read them: durations in words, times in the calendar's zone, yes/no, lists."""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from .views import aware, zone

_DURATION = re.compile(r"^P(?:(?P<Y>\d+)Y)?(?:(?P<Mo>\d+)M)?(?:(?P<W>\d+)W)?(?:(?P<D>\d+)D)?"
                       r"(?:T(?:(?P<H>\d+)H)?(?:(?P<Mi>\d+)M)?(?:(?P<S>\d+(?:\.\d+)?)S)?)?$")
_UNITS = (("Y", "year"), ("Mo", "month"), ("W", "week"), ("D", "day"), ("H", "hour"), ("Mi", "minute"),
          ("S", "second"))
_DATETIME = re.compile(r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def duration(text: str) -> str | None:
    """'PT1H30M' -> '1 hour 30 minutes'; None when the text is no ISO 8601 duration."""
    match = _DURATION.match(text)
    if not match or text in ("P", "PT"):
        return None
    parts = []
    for key, word in _UNITS:
        amount = match.group(key)
        if amount is not None:
            number = float(amount)
            shown = f"{number:g}"
            parts.append(f"{shown} {word}{'' if number == 1 else 's'}")
    return " ".join(parts) or None


def moment(value: datetime, tz: ZoneInfo) -> str:
    return aware(value).astimezone(tz).strftime("%a %d %b %Y, %H:%M")


def human(value: Any, tz: str | ZoneInfo | None = None) -> str:
    """One scalar value in words; times in `tz` (the task's calendar zone), else the app's zone."""
    where = ZoneInfo(tz) if isinstance(tz, str) else (tz or zone())
    if value is None or value == "":
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, datetime):
        return moment(value, where)
    if isinstance(value, str):
        if _DATETIME.match(value):
            try:
                return moment(datetime.fromisoformat(value), where)
            except ValueError:
                return value
        if _DATE.match(value):
            try:
                return date.fromisoformat(value).strftime("%a %d %b %Y")
            except ValueError:
                return value
        if value.startswith("P"):
            return duration(value) or value
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def install(app: Any) -> None:
    app.jinja_env.filters["human"] = human
