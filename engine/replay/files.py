"""Replaying and verifying exported JSON Lines histories (they carry their definitions and calendars)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .. import audit
from ..audit import (
    event_from_record,
    read_jsonl,
)
from ..errors import NotFound
from ..model import Event

if TYPE_CHECKING:
    from .. import Engine
from .core import ReplayInputError, Version, World, compile_version, world_from_config
from .result import ReplayResult, replay_events


@dataclass
class _Exported:
    header: dict[str, Any]
    events: list[Event] = field(default_factory=list)


def split_history(records: Iterable[Mapping[str, Any] | str]) -> tuple[World | None, dict[str, dict[str, Any]],
                                                                        list[_Exported]]:
    """The calendars, the definitions by content hash and the cases of exported records (or their lines)."""
    given = list(records)
    items: Sequence[Mapping[str, Any]] = (read_jsonl(str(r) for r in given)
                                          if any(isinstance(r, str) for r in given)
                                          else [r for r in given if not isinstance(r, str)])
    world: World | None = None
    definitions: dict[str, dict[str, Any]] = {}
    instances: dict[str, _Exported] = {}
    for r in items:
        kind = r.get("record")
        if kind == "calendars":
            world = world_from_config(r.get("calendars") or {}, r.get("default"))
        elif kind == "definition":
            definitions[str(r["content_hash"])] = dict(r)
        elif kind == "instance":
            instances[str(r["instance_id"])] = _Exported(dict(r))
        elif kind == "event":
            owner = instances.get(str(r["instance_id"]))
            if owner is None:
                owner = instances[str(r["instance_id"])] = _Exported({"instance_id": r["instance_id"]})
            owner.events.append(event_from_record(r))
    return world, definitions, list(instances.values())


def replay_history(engine: Engine | None, history: Iterable[Mapping[str, Any] | str]) -> list[ReplayResult]:
    """Replay exported records (one result per instance); the definition files and calendars come from the
    export, so this works on an empty database. Without them, the engine's deployed versions are used."""
    world, definitions, instances = split_history(history)
    results = []
    for item in instances:
        instance_id = str(item.header["instance_id"])
        try:
            version = _version_for(engine, item, definitions)
        except (ReplayInputError, NotFound) as err:
            results.append(ReplayResult(instance_id, False, 0, None, None, None, None, None, err.message,
                                        f"cannot replay {instance_id}: {err.message}"))
            continue
        use_world = world or (_engine_world(engine) if engine is not None else World({}, None))
        events = sorted(item.events, key=lambda e: e.seq)
        results.append(replay_events(version, use_world, instance_id, events,
                                     stored_hash=item.header.get("state_hash")))
    return results


def verify_history(history: Iterable[Mapping[str, Any] | str]) -> list[audit.ChainReport]:
    """Recompute the hash chains of exported records (events in the order the file lists them)."""
    _world, _defs, instances = split_history(history)
    reports = []
    for item in instances:
        instance_id = str(item.header["instance_id"])
        problems = audit.verify_events(instance_id, item.events, item.header.get("state_hash"))
        listed = item.header.get("events")
        if isinstance(listed, int) and listed != len(item.events):
            problems.append(audit.ChainProblem(instance_id, None, "count", f"the export header lists {listed} "
                                               f"events but the file holds {len(item.events)}"))
        reports.append(audit.ChainReport(instance_id, len(item.events), tuple(problems)))
    return reports


def _version_for(engine: Engine | None, item: _Exported, definitions: Mapping[str, Mapping[str, Any]]) -> Version:
    header = item.header
    start = item.events[0].payload if item.events and item.events[0].type == "instance_started" else {}
    process_id = header.get("process_id") or start.get("process_id")
    number = header.get("definition_version") or start.get("definition_version")
    content = header.get("content_hash")
    if content and content in definitions:
        d = definitions[content]
        return compile_version(str(d["process_id"]), int(d["version"]), str(content), d["files"])
    if engine is None or not process_id or number is None:
        raise ReplayInputError(f"the export has no definition for {process_id} v{number}")
    from sqlalchemy import select

    from ..store import DefinitionRow

    with engine.store.read() as s:
        row = s.scalar(select(DefinitionRow).where(DefinitionRow.process_id == process_id,
                                                   DefinitionRow.version == int(number)))
        if row is None or (content and row.content_hash != content):
            raise ReplayInputError(f"{process_id} v{number} is not in the export and not deployed here"
                                   + (" with the same content" if row is not None else ""))
        loaded = engine._loaded(row)
        return Version(row.process_id, row.version, row.content_hash, dict(row.files), loaded.package.manifest,
                       loaded.compiled)


def _engine_world(engine: Engine) -> World:
    from .. import org

    with engine.store.read() as s:
        return World(org.calendars(s), engine._default_calendar(s))
