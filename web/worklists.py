"""The task lists people work from — mine, my groups' unclaimed, overdue, due soon, all — shared by HTML and API."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from flask import current_app

from engine import Engine, InvalidInput, Task

from .access import Actor
from .views import now, zone

LISTS = ("mine", "available", "overdue", "soon", "all")
LIST_TITLES = {
    "mine": "My tasks",
    "available": "Unclaimed in my groups",
    "overdue": "Overdue",
    "soon": "Due soon",
    "all": "All open",
}


@dataclass
class Filters:
    process_id: str | None = None
    due_before: datetime | None = None
    fields: dict[str, str] = field(default_factory=dict)

    def engine_args(self) -> dict[str, Any]:
        args: dict[str, Any] = {}
        if self.process_id:
            args["process_id"] = self.process_id
        if self.fields:
            args["fields"] = dict(self.fields)
        return args


DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")
MOMENT = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$")


def parse_due_date(text: str | None) -> datetime | None:
    """A 'due by' day (the end of that day in the configured time zone) or an RFC 3339 date-time."""
    if text is None:
        return None
    try:
        if MOMENT.match(text):
            moment = datetime.fromisoformat(text.upper())
            moment.astimezone(UTC)  # a moment at the edge of the calendar cannot be stored
            return moment
        if DAY.match(text):
            return datetime.combine(date.fromisoformat(text) + timedelta(days=1), time(0), tzinfo=zone())
    except (ValueError, OverflowError):
        pass
    raise InvalidInput(f"due_before: {text!r} is not a date (YYYY-MM-DD) or an RFC 3339 date-time")


def filters_from(args: Mapping[str, str], field_names: set[str]) -> Filters:
    """Filters from query arguments: process, due_before and `field.NAME` / `f.NAME` business fields."""
    found = Filters(process_id=(args.get("process") or args.get("process_id") or None),
                    due_before=parse_due_date(args.get("due_before") or None))
    for key, value in args.items():
        for prefix in ("f.", "field."):
            if key.startswith(prefix) and value != "":
                name = key[len(prefix):]
                if name not in field_names:
                    raise InvalidInput(f"unknown business field {name!r}")
                found.fields[name] = value
    return found


def business_fields(engine: Engine) -> dict[str, dict[str, Any]]:
    """Every deployed process's business fields by name (label and type), for filters."""
    merged: dict[str, dict[str, Any]] = {}
    for definition in engine.processes():
        for name, cfg in definition.fields.items():
            merged.setdefault(name, dict(cfg) if isinstance(cfg, Mapping) else {})
    return merged


def _min(a: datetime | None, b: datetime | None) -> datetime | None:
    if a is None:
        return b
    if b is None:
        return a
    return min(a, b)


def _soon() -> datetime:
    return now() + timedelta(hours=float(current_app.config.get("DUE_SOON_HOURS", 8)))


def _query(engine: Engine, who: Actor, name: str, filters: Filters) -> tuple[dict[str, Any], int]:
    """The engine filters for a list, and how many leading rows to skip (the overdue ones, for 'due soon')."""
    args = filters.engine_args()
    scope = who.task_scope()
    skip = 0
    due = filters.due_before
    if name == "mine":
        args["assignee"] = who.username
    elif name == "available":
        args["unassigned"] = True
        if scope is not None:
            args["groups"] = scope
    else:
        if scope is not None:
            args["groups"] = scope
        if name == "overdue":
            due = _min(due, now())
        elif name == "soon":
            current = now()
            due = _min(due, _soon())
            if due is not None and due > current:
                # Tasks come sorted by due time, so the overdue ones are exactly the first rows.
                skip = engine.count_tasks(**{**args, "due_before": current})
            else:
                due = current
                skip = engine.count_tasks(**{**args, "due_before": current})
    if due is not None:
        args["due_before"] = due
    return args, skip


def count(engine: Engine, who: Actor, name: str, filters: Filters) -> int:
    args, skip = _query(engine, who, name, filters)
    return max(engine.count_tasks(**args) - skip, 0)


def page(engine: Engine, who: Actor, name: str, filters: Filters, *, limit: int, offset: int) -> tuple[list[Task], int]:
    """One page of a list, and the list's total."""
    if name not in LISTS:
        raise InvalidInput(f"unknown list {name!r}; one of {', '.join(LISTS)}")
    args, skip = _query(engine, who, name, filters)
    total = max(engine.count_tasks(**args) - skip, 0)
    tasks = engine.tasks(limit=limit, offset=offset + skip, **args) if offset < total else []
    return tasks, total


def counts(engine: Engine, who: Actor, filters: Filters) -> dict[str, int]:
    return {name: count(engine, who, name, filters) for name in LISTS}
