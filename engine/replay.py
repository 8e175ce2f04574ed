"""Replay: rebuild an instance from its definition version and its events alone, and prove its state.

Every event records the inputs of one command. `apply_command` feeds those inputs to a restored
workflow exactly as the service does (same pinned clock, task-id seed and counter, expression helpers
and business-calendar rule), so the state after each event must hash to what the event recorded.
Replay never reads the instance's stored state: only the definition files, the calendars and the log.
"""

from __future__ import annotations

import copy
import sys
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from . import audit, runtime
from .audit import (
    HistoryInvalid,
    entered_data,
    event_from_record,
    export_records,
    read_jsonl,
    select_instances,
    summarize,
    to_csv,
    to_jsonl,
)
from .calendar import BusinessCalendar
from .errors import NotFound
from .model import Event
from .service import _compiled, apply_calendars, expression_helpers

__all__ = [
    "Event", "ReplayResult", "Snapshot", "TimelineEntry", "Version", "World", "audit_group", "export_command",
    "export_records", "read_jsonl", "replay", "replay_command", "replay_events", "replay_history",
    "select_instances", "state_at", "timeline", "variable_history", "verify_history",
]

if TYPE_CHECKING:
    from . import Engine

# Commands that change only the task projection (who holds a task), never the workflow.
PROJECTION_ONLY = frozenset({"task_claimed", "task_unclaimed", "task_assigned"})


# --- what a replay needs: the definition version and the calendars ------------------------------


@dataclass(frozen=True)
class Version:
    """One definition version as replay needs it."""

    process_id: str
    version: int
    content_hash: str
    files: Mapping[str, str]
    manifest: Mapping[str, Any]
    compiled: runtime.CompiledProcess


@dataclass(frozen=True)
class World:
    """Everything outside the log that commands consulted: the business calendars."""

    calendars: Mapping[str, BusinessCalendar]
    default_calendar: BusinessCalendar | None


def compile_version(process_id: str, version: int, content_hash: str, files: Mapping[str, str],
                    definition_id: int = 0) -> Version:
    """A runnable definition version from its files (the compiled spec is cached by content)."""
    loaded = _compiled(definition_id, content_hash, tuple(sorted(files.items())))
    if loaded.package.content_hash != content_hash:
        raise ReplayInputError(f"the files of {process_id} v{version} do not match their content hash "
                               f"{content_hash[:12]}… (they hash to {loaded.package.content_hash[:12]}…)")
    return Version(process_id, version, content_hash, dict(files), loaded.package.manifest, loaded.compiled)


def world_from_config(calendars: Mapping[str, Mapping[str, Any]], default: str | None) -> World:
    cals = {name: BusinessCalendar.from_config(name, cfg) for name, cfg in calendars.items()}
    chosen = cals.get(default or "") or next(iter(cals.values()), None)
    return World(cals, chosen)


ReplayInputError = HistoryInvalid


class Inapplicable(Exception):
    """A recorded command does not fit the replayed state (the task it completed is not ready, ...)."""


# --- applying one recorded command --------------------------------------------------------------


def apply_command(version: Version, world: World, instance_id: str, state: Mapping[str, Any] | None,
                  type_: str, payload: Mapping[str, Any], now: datetime) -> tuple[dict[str, Any], runtime.Run]:
    """The workflow state after one recorded command, computed as the service computes it: restore,
    apply the inputs with time, task ids and helpers pinned, put new timers on their calendars, dump.

    `state` is the state before the command (None for instance_started). Raises runtime.RunFailed when
    the process itself fails and Inapplicable when the command does not fit the state.
    """
    _check_payload(type_, payload)
    counter = runtime.id_counter_of(state) if state else 0
    helpers = expression_helpers(now, world.default_calendar)
    with runtime.pinned(now, instance_id, counter, helpers) as pin:
        if type_ == "instance_started":
            run = start_run(version.compiled, payload)
        else:
            if not state:
                raise Inapplicable(f"{type_} before the instance was started")
            run = runtime.restore(version.compiled, state)
            apply_to_run(run, type_, payload)
            if type_ in PROJECTION_ONLY:
                return dict(state), run
        apply_calendars(run, version.manifest, world.calendars, now)
        return runtime.dump(run, pin.counter), run


def start_run(compiled: runtime.CompiledProcess, payload: Mapping[str, Any]) -> runtime.Run:
    """A new workflow given an instance_started event's inputs: the start data, then the start message."""
    run = runtime.new_run(compiled)
    message = payload.get("message")
    start_message = (message["name"], message.get("payload")) if message is not None else None
    if not run.begin(payload.get("data") or {}, start_message):
        assert message is not None
        raise Inapplicable(f"{compiled.process_id} does not start on message {message['name']!r}")
    return run


def apply_to_run(run: runtime.Run, type_: str, payload: Mapping[str, Any]) -> None:
    """Feed one recorded command's inputs to a restored workflow, exactly as the service's command does.

    The service could call this inside `_running` with the payload it is about to record, so live
    commands and replay cannot drift apart. Projection-only commands (claims) only check their task.
    """
    task_id = str(payload.get("task_id"))
    if type_ in PROJECTION_ONLY:
        if payload.get("task_id") is not None and not run.is_ready_user_task(task_id):
            raise Inapplicable(f"task {task_id} ({payload.get('element_id')}) is not open here")
    elif type_ == "task_completed":
        if not run.is_ready_user_task(task_id):
            raise Inapplicable(f"task {task_id} ({payload.get('element_id')}) is not ready here")
        run.complete(task_id, payload.get("data") or {})
    elif type_ == "timer_fired":
        run.fire_timers()
    elif type_ == "message_delivered":
        # Whether or not a task caught it, the state after is what the log recorded; the hash decides.
        run.deliver(str(payload.get("name")), payload.get("payload"))
    elif type_ == "instance_terminated":
        run.terminate()
    else:
        raise Inapplicable(f"replay does not know how to apply {type_!r} events")


_NEEDS = {"instance_started": ("data",), "task_completed": ("task_id", "data"), "message_delivered": ("name",)}


def _check_payload(type_: str, payload: Mapping[str, Any]) -> None:
    if not isinstance(payload, Mapping):
        raise Inapplicable(f"the recorded {type_} payload is not an object")
    missing = [k for k in _NEEDS.get(type_, ()) if k not in payload]
    if missing:
        raise Inapplicable(f"the recorded {type_} payload lacks {', '.join(missing)}")
    for key in ("data",):
        if key in payload and not isinstance(payload[key], Mapping):
            raise Inapplicable(f"the recorded {type_} {key} is not an object")
    message = payload.get("message")
    if type_ == "instance_started" and message is not None and not (isinstance(message, Mapping)
                                                                     and "name" in message):
        raise Inapplicable("the recorded start message has no name")


# --- walking a log ------------------------------------------------------------------------------


@dataclass(frozen=True)
class ReadyTaskView:
    task_id: str
    element_id: str
    name: str
    lane: str | None


@dataclass(frozen=True)
class Snapshot:
    """An instance as it was right after one event."""

    instance_id: str
    seq: int
    at: datetime
    actor: str
    event_type: str
    status: str
    data: dict[str, Any]
    ready_tasks: tuple[ReadyTaskView, ...]
    completed_elements: tuple[str, ...]
    waiting_timers: tuple[tuple[str, datetime], ...]
    state_hash: str
    recorded_hash: str
    state: dict[str, Any] = field(repr=False, default_factory=dict)

    @property
    def matches_record(self) -> bool:
        return self.state_hash == self.recorded_hash


@dataclass(frozen=True)
class Step:
    event: Event
    state: dict[str, Any]
    state_hash: str
    status: str
    run: runtime.Run

    def snapshot(self, instance_id: str) -> Snapshot:
        run = self.run
        ready = tuple(ReadyTaskView(t.id, t.element_id, t.name, t.lane) for t in run.ready_user_tasks())
        # Spiff hands out its own datetime subclass; callers get plain UTC datetimes.
        timers = tuple((t.element_id, datetime.fromtimestamp(t.due_at.timestamp(), UTC))
                       for t in run.waiting_timers())
        return Snapshot(instance_id, self.event.seq, self.event.at, self.event.actor, self.event.type,
                        self.status, run.data(), ready if self.status == "running" else (),
                        tuple(run.completed_elements()), timers if self.status == "running" else (),
                        self.state_hash, self.event.state_hash, self.state)


class Stop(Exception):
    """Replay could not go on past an event."""

    def __init__(self, event: Event, message: str, *, failed: bool) -> None:
        super().__init__(message)
        self.event = event
        self.failed = failed


def walk(version: Version, world: World, instance_id: str, events: Iterable[Event]) -> Iterator[Step]:
    """Apply each event in order, yielding the state after it; raises Stop where that is impossible."""
    state: dict[str, Any] | None = None
    status = "running"
    for event in events:
        try:
            if state is not None and status != "running" and event.type not in PROJECTION_ONLY:
                raise Inapplicable(f"{event.type} after the instance was {status}")
            state, run = apply_command(version, world, instance_id, state, event.type, event.payload, event.at)
        except runtime.RunFailed as err:
            raise Stop(event, f"the process failed at {err.element or 'an element'}: {err}", failed=True) from err
        except Inapplicable as err:
            raise Stop(event, str(err), failed=False) from err
        except Exception as err:  # noqa: BLE001 - Spiff raises plain errors too (a bad timer cycle: ValueError)
            raise Stop(event, f"the process failed: {type(err).__name__}: {err}", failed=True) from err
        if event.type == "instance_terminated":
            status = "terminated"
        elif run.completed:
            status = "completed"
        yield Step(event, state, runtime.state_hash(state), status, run)


# --- the result -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class ReplayResult:
    """The outcome of replaying one instance.

    `verified`: every event's recorded state hash (and the stored state) was reproduced.
    `diverged_at`: the first event whose replayed state differs from the record (or cannot be applied).
    `failure`: the process itself failed while replaying — a different thing from a divergence.
    """

    instance_id: str
    verified: bool
    events_checked: int
    diverged_at: int | None
    expected_hash: str | None
    actual_hash: str | None
    expected_state: dict[str, Any] | None
    actual_state: dict[str, Any] | None
    failure: str | None
    message: str

    @property
    def outcome(self) -> str:
        """verified | diverged | failed"""
        if self.verified:
            return "verified"
        return "failed" if self.failure is not None else "diverged"

    def differences(self, limit: int = 20) -> list[str]:
        """Paths where the expected and replayed states differ (when both are known)."""
        if self.expected_state is None or self.actual_state is None:
            return []
        return state_diff(self.expected_state, self.actual_state, limit)


def replay_events(version: Version, world: World, instance_id: str, events: Sequence[Event],
                  stored_state: Mapping[str, Any] | None = None, stored_hash: str | None = None) -> ReplayResult:
    """Replay a log and compare every event's state hash, then the stored state's hash (when known)."""
    if stored_state is not None and stored_hash is None:
        stored_hash = runtime.state_hash(stored_state)

    def expected_state_for(expected: str) -> dict[str, Any] | None:
        return dict(stored_state) if stored_state is not None and stored_hash == expected else None

    checked = 0
    last: Step | None = None
    try:
        for step in walk(version, world, instance_id, events):
            checked += 1
            last = step
            if step.state_hash != step.event.state_hash:
                result = ReplayResult(
                    instance_id, False, checked, step.event.seq, step.event.state_hash, step.state_hash,
                    expected_state_for(step.event.state_hash), step.state, None,
                    f"diverged at event #{step.event.seq} ({step.event.type} by {step.event.actor} at "
                    f"{step.event.at.isoformat()}): replaying it gives state {step.state_hash[:12]}…, the log "
                    f"recorded {step.event.state_hash[:12]}…")
                return _with_diff(result)
    except Stop as stop:
        ev = stop.event
        return ReplayResult(
            instance_id, False, checked + 1, ev.seq, ev.state_hash, None, expected_state_for(ev.state_hash),
            last.state if last else None, str(stop) if stop.failed else None,
            f"{'failed' if stop.failed else 'diverged'} at event #{ev.seq} ({ev.type} by {ev.actor}): {stop}")
    if last is None:
        return ReplayResult(instance_id, False, 0, None, stored_hash, None, None, None, None,
                            "nothing to replay: the instance has no events")
    if stored_hash is not None and stored_hash != last.state_hash:
        result = ReplayResult(
            instance_id, False, checked, last.event.seq, stored_hash, last.state_hash,
            dict(stored_state) if stored_state is not None else None, last.state, None,
            f"the stored state ({stored_hash[:12]}…) is not what the log produces ({last.state_hash[:12]}… "
            f"after its last event #{last.event.seq}): the stored state was edited")
        return _with_diff(result)
    return ReplayResult(instance_id, True, checked, None, last.event.state_hash, last.state_hash,
                        dict(stored_state) if stored_state is not None else None, last.state, None,
                        f"verified: {checked} events replayed, every state hash matches")


def _with_diff(result: ReplayResult) -> ReplayResult:
    diffs = result.differences(5)
    if not diffs:
        return result
    return ReplayResult(**{**result.__dict__, "message": result.message + "; differs at " + ", ".join(diffs)})


def state_diff(a: Any, b: Any, limit: int = 20, path: str = "") -> list[str]:
    """Dotted paths where two JSON values differ, at most `limit`."""
    out: list[str] = []
    if isinstance(a, dict) and isinstance(b, dict):
        for key in sorted(set(a) | set(b), key=str):
            if len(out) >= limit:
                break
            sub = f"{path}.{key}" if path else str(key)
            if key not in a or key not in b:
                out.append(sub)
            elif a[key] != b[key]:
                out.extend(state_diff(a[key], b[key], limit - len(out), sub))
        return out
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            if len(out) >= limit:
                break
            if x != y:
                out.extend(state_diff(x, y, limit - len(out), f"{path}[{i}]"))
        return out
    return [path or "(root)"] if a != b else []


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

    from . import org
    from .store import DefinitionRow, InstanceRow

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

    from .store import DefinitionRow

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
    from . import org

    with engine.store.read() as s:
        return World(org.calendars(s), engine._default_calendar(s))


# --- the commands -------------------------------------------------------------------------------


def _engine() -> Engine:
    from . import Engine

    return Engine()


def _progress() -> Any:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    from .cli import console

    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                    console=console, transient=True, disable=not console.is_terminal)


@click.group("audit")
def audit_group() -> None:
    """Check the audit log: hash chains and stored states."""


@audit_group.command("verify")
@click.argument("instance", required=False)
@click.option("--all", "all_", is_flag=True, help="Verify every instance.")
@click.option("--file", "file_", type=click.Path(exists=True, dir_okay=False),
              help="Verify an exported JSON Lines history instead of the database.")
def verify_command(instance: str | None, all_: bool, file_: str | None) -> None:
    """Recompute hash chains; report every edited, deleted, inserted or reordered event (exit 1 on any)."""
    from .cli import friendly

    friendly(_verify)(instance, all_, file_)


def _verify(instance: str | None, all_: bool, file_: str | None) -> None:
    if sum(bool(x) for x in (instance, all_, file_)) != 1:
        raise click.UsageError("give one INSTANCE, --all or --file")
    if file_:
        with open(file_, encoding="utf-8") as fh:
            reports = verify_history(read_jsonl(fh))
    else:
        from .store import InstanceRow

        eng = _engine()
        with eng.store.read() as s:
            ids = audit.instance_ids(s) if all_ else [str(instance)]
        reports = []
        with _progress() as progress:
            task = progress.add_task("verifying", total=len(ids))
            for instance_id in ids:
                with audit.snapshot(eng.store) as s:
                    if not all_ and s.get(InstanceRow, instance_id) is None and not audit.count(s, instance_id):
                        raise NotFound(f"no case {instance_id}")
                    reports.append(audit.verify_instance(s, instance_id))
                progress.advance(task)
    bad = [r for r in reports if not r.ok]
    for report in bad:
        for problem in report.problems:
            click.echo(str(problem))
    events = sum(r.events for r in reports)
    click.echo(f"{len(reports)} instance(s), {events} event(s) checked: "
               + ("chains intact" if not bad else f"{len(bad)} with problems, "
                  f"{sum(len(r.problems) for r in bad)} problem(s)"))
    if bad:
        sys.exit(1)


@click.command("replay")
@click.argument("instance", required=False)
@click.option("--all", "all_", is_flag=True, help="Replay every instance.")
@click.option("--file", "file_", type=click.Path(exists=True, dir_okay=False),
              help="Replay an exported JSON Lines history (works on an empty database).")
@click.option("--verbose", "-v", is_flag=True, help="Print a line for every instance, verified or not.")
def replay_command(instance: str | None, all_: bool, file_: str | None, verbose: bool) -> None:
    """Rebuild instances from their definition version and events alone; prove every state hash."""
    from .cli import friendly

    friendly(_replay)(instance, all_, file_, verbose)


def _replay(instance: str | None, all_: bool, file_: str | None, verbose: bool) -> None:
    if sum(bool(x) for x in (instance, all_, file_)) != 1:
        raise click.UsageError("give one INSTANCE, --all or --file")
    results: list[ReplayResult] = []
    if file_:
        with open(file_, encoding="utf-8") as fh:
            records = read_jsonl(fh)
        eng = _engine() if not any(r.get("record") == "definition" for r in records) else None
        results = replay_history(eng, records)
    else:
        eng = _engine()
        with eng.store.read() as s:
            ids = audit.instance_ids(s) if all_ else [str(instance)]
        with _progress() as progress:
            task = progress.add_task("replaying", total=len(ids))
            for instance_id in ids:
                results.append(replay(eng, instance_id))
                progress.advance(task)
    for r in results:
        if verbose or not r.verified:
            click.echo(f"{r.instance_id}: {r.outcome}: {r.message}")
    counts = {k: sum(r.outcome == k for r in results) for k in ("verified", "diverged", "failed")}
    click.echo(f"{len(results)} instance(s): {counts['verified']} verified, {counts['diverged']} diverged, "
               f"{counts['failed']} failed")
    if counts["verified"] != len(results):
        sys.exit(1)


@click.command("export")
@click.option("--instance", "instances", multiple=True, help="An instance to export (repeatable).")
@click.option("--process", help="Export the instances of this process.")
@click.option("--since", type=click.DateTime(), help="With --process: instances started at or after (UTC).")
@click.option("--format", "fmt", type=click.Choice(["jsonl", "csv"]), default="jsonl", show_default=True)
@click.option("--output", "-o", type=click.Path(dir_okay=False), help="Write here instead of stdout.")
def export_command(instances: tuple[str, ...], process: str | None, since: datetime | None, fmt: str,
                   output: str | None) -> None:
    """Export histories: JSON Lines that `flowdesk replay --file` accepts back, or CSV for spreadsheets."""
    from .cli import friendly

    friendly(_export)(instances, process, since, fmt, output)


def _export(instances: tuple[str, ...], process: str | None, since: datetime | None, fmt: str,
            output: str | None) -> None:
    if bool(instances) == bool(process):
        raise click.UsageError("give --instance ID (repeatable) or --process P [--since DATE]")
    eng = _engine()
    ids = list(instances) or select_instances(eng, process, since.replace(tzinfo=UTC) if since else None)
    records = export_records(eng, ids)
    chunks = to_jsonl(records) if fmt == "jsonl" else to_csv(records)
    if output:
        with Path(output).open("w", encoding="utf-8", newline="") as fh:
            fh.writelines(chunks)
        click.echo(f"exported {len(ids)} instance(s) to {output}", err=True)
    else:
        sys.stdout.writelines(chunks)
