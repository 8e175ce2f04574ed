"""Time travel for auditors: the data each event entered and changed, and the case as of an event."""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ..audit import (
    entered_data,
    summarize,
)
from ..errors import NotFound
from ..model import Event
from .core import ReplayInputError, Snapshot, Stop, Version, World, walk

# --- data history ---------------------------------------------------------------------------------


def flatten(data: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Case data as dotted field paths (nested objects are opened; lists stay whole values)."""
    out: dict[str, Any] = {}
    for key, value in data.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping) and value:
            out.update(flatten(value, name + "."))
        else:
            out[name] = value
    return out


@dataclass(frozen=True)
class Change:
    field: str
    before: Any
    after: Any
    kind: str  # added | changed | removed


def data_changes(before: Mapping[str, Any], after: Mapping[str, Any]) -> tuple[Change, ...]:
    a, b = flatten(before), flatten(after)
    changes = []
    for name in sorted(set(a) | set(b)):
        if name not in a:
            changes.append(Change(name, None, b[name], "added"))
        elif name not in b:
            changes.append(Change(name, a[name], None, "removed"))
        elif a[name] != b[name]:
            changes.append(Change(name, a[name], b[name], "changed"))
    return tuple(changes)


@dataclass(frozen=True)
class TimelineEntry:
    """One event as an auditor reads it: who, when, what, the data entered and what it changed."""

    event: Event
    summary: str
    entered: dict[str, Any]
    changes: tuple[Change, ...] | None  # None when replay could not reach this event
    state_matches: bool | None


def timeline(version: Version, world: World, instance_id: str, events: Sequence[Event]) -> list[TimelineEntry]:
    """Every event with the data it entered and the data it changed (computed by replay)."""
    entries: list[TimelineEntry] = []
    before: dict[str, Any] = {}
    try:
        for step in walk(version, world, instance_id, events):
            after = step.run.data()
            entries.append(TimelineEntry(step.event, summarize(step.event), entered_data(step.event),
                                         data_changes(before, after), step.state_hash == step.event.state_hash))
            before = after
    except Stop:
        pass
    for event in events[len(entries):]:
        entries.append(TimelineEntry(event, summarize(event), entered_data(event), None, None))
    return entries


def variable_history(version: Version, world: World, instance_id: str,
                     events: Sequence[Event]) -> dict[str, list[tuple[int, datetime, str, Any]]]:
    """{field: [(seq, at, actor, value), ...]}: every value an event set or changed.

    A value that merely leaves the case data (a finished side branch's fields) is not a new value, so
    removals show on the timeline's diff but not here.
    """
    found: dict[str, list[tuple[int, datetime, str, Any]]] = {}
    for entry in timeline(version, world, instance_id, events):
        for change in entry.changes or ():
            if change.kind == "removed":
                continue
            found.setdefault(change.field, []).append((entry.event.seq, entry.event.at, entry.event.actor,
                                                       copy.deepcopy(change.after)))
    return dict(sorted(found.items()))


def state_at(version: Version, world: World, instance_id: str, events: Sequence[Event], seq: int) -> Snapshot:
    """The instance as it was right after event `seq`, by replaying up to it."""
    if not any(e.seq == seq for e in events):
        raise NotFound(f"case {instance_id} has no event #{seq}")
    try:
        for step in walk(version, world, instance_id, [e for e in events if e.seq <= seq]):
            if step.event.seq == seq:
                return step.snapshot(instance_id)
    except Stop as stop:
        raise ReplayInputError(f"cannot rebuild case {instance_id} as of event #{seq}: replay stopped at "
                               f"event #{stop.event.seq}: {stop}") from stop
    raise NotFound(f"case {instance_id} has no event #{seq}")  # pragma: no cover - guarded above
