"""Applying recorded commands to a workflow exactly as the service does, and walking a log event by event."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from .. import runtime
from ..audit import (
    HistoryInvalid,
)
from ..calendar import BusinessCalendar
from ..model import Event
from ..service import _compiled, apply_calendars, expression_helpers

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
