"""Reads narrowed to what the actor may see: cases, their tasks and timers, and BPMN element names."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Iterator, Mapping
from typing import Any

from engine import Engine, Instance, Task

from . import access
from .access import Actor

CHUNK = 200
MAX_SCAN = 20_000  # cases looked at when filtering a restricted user's case list


def case_tasks(engine: Engine, instance_id: str) -> list[Task]:
    return engine.tasks(instance_id=instance_id, status=None, limit=1000)


def visible_case(engine: Engine, who: Actor, instance_id: str) -> tuple[Instance, list[Task]]:
    """The case and all its tasks, or 404 when there is none or the actor has no part in it (the same answer)."""
    instance = engine.instance(instance_id)
    tasks = case_tasks(engine, instance_id)
    access.require_visible(access.may_read_case(who, instance, tasks), f"no case {instance_id}")
    return instance, tasks


def _visible_ids(engine: Engine, who: Actor) -> set[str]:
    groups = sorted(who.groups | who.supervised)
    ids = {t.instance_id for t in engine.tasks(groups=groups, status=None, limit=MAX_SCAN)} if groups else set()
    ids |= {t.instance_id for t in engine.tasks(assignee=who.username, status=None, limit=MAX_SCAN)}
    return ids


def visible_cases(engine: Engine, who: Actor, *, limit: int, offset: int, **filters: Any) -> list[Instance]:
    """A page of the cases the actor may read, newest first, with the engine's instance filters."""
    if who.reads_all:
        return engine.instances(limit=limit, offset=offset, **filters)
    ids = _visible_ids(engine, who)
    found: list[Instance] = []
    for instance in _scan(engine, filters):
        if instance.id in ids or instance.started_by == who.username:
            found.append(instance)
            if len(found) >= offset + limit:
                break
    return found[offset:offset + limit]


def _scan(engine: Engine, filters: Mapping[str, Any]) -> Iterator[Instance]:
    for start in range(0, MAX_SCAN, CHUNK):
        batch = engine.instances(limit=CHUNK, offset=start, **filters)
        yield from batch
        if len(batch) < CHUNK:
            return


BPMN = "{http://www.omg.org/spec/BPMN/20100524/MODEL}"


def timer_escalations(xml: str) -> tuple[dict[str, str], set[str]]:
    """From BPMN: each timer boundary event's task, and the elements a timer boundary event leads to."""
    attached: dict[str, str] = {}
    targets: set[str] = set()
    try:
        root = ET.fromstring(xml.encode("utf-8"))
    except ET.ParseError:
        return attached, targets
    flows = {f.get("id"): f.get("targetRef") for f in root.iter(f"{BPMN}sequenceFlow")}
    for event in root.iter(f"{BPMN}boundaryEvent"):
        if event.find(f"{BPMN}timerEventDefinition") is None:
            continue
        attached[event.get("id", "")] = event.get("attachedToRef", "")
        for out in event.iter(f"{BPMN}outgoing"):
            target = flows.get((out.text or "").strip())
            if target:
                targets.add(target)
    return attached, targets


def element_names(xml: str) -> dict[str, str]:
    """BPMN element id -> name, for showing timers and history in words."""
    names: dict[str, str] = {}
    try:
        root = ET.fromstring(xml.encode("utf-8"))
    except ET.ParseError:
        return names
    for el in root.iter():
        ident, name = el.get("id"), el.get("name")
        if ident and name:
            names[ident] = " ".join(name.split())
    return names
