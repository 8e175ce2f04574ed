"""Replaying an instance stored in the database against its stored state."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .. import audit
from ..errors import NotFound
from ..model import Event

if TYPE_CHECKING:
    from .. import Engine
from .core import ReplayInputError, Version, World
from .result import ReplayResult, replay_events

# --- from the database ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Stored:
    """One stored instance's log with what replaying it needs."""

    instance_id: str
    version: Version
    world: World
    events: list[Event]
    state: dict[str, Any] | None


def load(engine: Engine, instance_id: str) -> Stored:
    """The log of a stored instance and the definition version its start event names."""
    from sqlalchemy import select

    from .. import org
    from ..store import DefinitionRow, InstanceRow

    with audit.snapshot(engine.store) as s:
        row = s.get(InstanceRow, instance_id)
        events = audit.history(s, instance_id)
        if row is None and not events:
            raise NotFound(f"no case {instance_id}")
        start = events[0].payload if events and events[0].type == "instance_started" else {}
        definition = None
        if start.get("process_id") and start.get("definition_version") is not None:
            definition = s.scalar(select(DefinitionRow).where(
                DefinitionRow.process_id == start["process_id"],
                DefinitionRow.version == int(start["definition_version"])))
        if definition is None and row is not None:
            definition = s.get(DefinitionRow, row.definition_id)
        if definition is None:
            raise ReplayInputError(f"case {instance_id}: its definition version is not deployed here")
        loaded = engine._loaded(definition)
        version = Version(definition.process_id, definition.version, definition.content_hash,
                          dict(definition.files), loaded.package.manifest, loaded.compiled)
        world = World(org.calendars(s), engine._default_calendar(s))
        state = dict(row.state) if row is not None else None
    return Stored(instance_id, version, world, events, state)


def replay(engine: Engine, instance_id: str) -> ReplayResult:
    """Replay a stored instance from its definition version and events; compare with its stored state."""
    stored = load(engine, instance_id)
    result = replay_events(stored.version, stored.world, instance_id, stored.events, stored.state)
    if stored.state is None and result.verified:
        last = stored.events[-1]
        return ReplayResult(instance_id, False, result.events_checked, last.seq, last.state_hash,
                            result.actual_hash, None, result.actual_state, None,
                            f"the log replays, but the instance row is missing (deleted after event #{last.seq})")
    return result
