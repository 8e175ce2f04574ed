"""The SpiffWorkflow adapter: the only module that imports SpiffWorkflow.

It owns three seams Spiff does not offer: time (Spiff reads the wall clock for timers and task
timestamps), identity (Spiff gives tasks random UUIDs) and evaluation (Spiff runs process text with
eval/exec). During a command all three are pinned, so the same inputs always give the same state,
which is what replay relies on.
"""

from __future__ import annotations

import contextvars
import copy
import hashlib
import json
import uuid
import warnings
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any

import SpiffWorkflow.bpmn.specs.event_definitions.timer as _spiff_timer
import SpiffWorkflow.task as _spiff_task
from SpiffWorkflow.bpmn import BpmnWorkflow
from SpiffWorkflow.bpmn.parser.ValidationException import ValidationException
from SpiffWorkflow.bpmn.script_engine import PythonScriptEngine
from SpiffWorkflow.bpmn.script_engine.python_environment import BasePythonScriptEngineEnvironment
from SpiffWorkflow.bpmn.serializer import BpmnWorkflowSerializer
from SpiffWorkflow.bpmn.specs.event_definitions.message import MessageEventDefinition
from SpiffWorkflow.bpmn.specs.event_definitions.timer import (
    CycleTimerEventDefinition,
    DurationTimerEventDefinition,
    TimeDateEventDefinition,
    TimerEventDefinition,
)
from SpiffWorkflow.bpmn.specs.mixins.events.start_event import StartEvent
from SpiffWorkflow.bpmn.util import BpmnEvent
from SpiffWorkflow.exceptions import SpiffWorkflowException, WorkflowException
from SpiffWorkflow.spiff.parser.process import SpiffBpmnParser
from SpiffWorkflow.spiff.serializer.config import SPIFF_CONFIG
from SpiffWorkflow.util.task import TaskState

from .clock import SystemClock
from .expressions import ExpressionError, Sandbox

_WALL = SystemClock()

# Task-tree size past which finished history is pruned, and how many ancestors of the live part stay.
PRUNE_AT = 150
PRUNE_MARGIN = 8

warnings.filterwarnings("ignore", category=DeprecationWarning, module=r"SpiffWorkflow\..*")

# --- the pinned context of one command ---------------------------------------------------------


@dataclass
class _Pin:
    now: datetime
    seed: uuid.UUID
    counter: int
    helpers: dict[str, Callable[..., Any]] = field(default_factory=dict)


_pin: contextvars.ContextVar[_Pin | None] = contextvars.ContextVar("flowdesk_pin", default=None)


def _pinned_now() -> datetime:
    pin = _pin.get()
    if pin is None:
        # Outside a command (parsing, tooling) Spiff may still ask; it never matters for state.
        return _WALL.now()
    return pin.now


class _SpiffDatetime(datetime):
    """Stands in for `datetime` inside Spiff's timer module so its "now" reads the pin."""

    @classmethod
    def now(cls, tz: Any = None) -> Any:  # type: ignore[override]
        now = _pinned_now()
        return now.astimezone(tz) if tz is not None else now.replace(tzinfo=None)


class _SpiffTime:
    """Stands in for the `time` module inside Spiff's task module (task timestamps)."""

    @staticmethod
    def time() -> float:
        return _pinned_now().timestamp()


def _next_task_id() -> uuid.UUID:
    pin = _pin.get()
    if pin is None:
        return uuid.uuid4()
    pin.counter += 1
    return uuid.uuid5(pin.seed, str(pin.counter))


_spiff_timer.datetime = _SpiffDatetime  # type: ignore[misc]
_spiff_task.time = _SpiffTime  # type: ignore[assignment]
_spiff_task.uuid4 = _next_task_id  # type: ignore[assignment]


@contextmanager
def pinned(now: datetime, seed: str, counter: int, helpers: Mapping[str, Callable[..., Any]]) -> Iterator[_Pin]:
    """Run Spiff with time, task ids and expression helpers fixed for one command."""
    pin = _Pin(now=now, seed=uuid.UUID(seed), counter=counter, helpers=dict(helpers))
    token = _pin.set(pin)
    try:
        yield pin
    finally:
        _pin.reset(token)


# --- evaluation through the sandbox ------------------------------------------------------------


class _SandboxEnvironment(BasePythonScriptEngineEnvironment):
    def __init__(self) -> None:
        super().__init__({})
        self._sandboxes: dict[tuple[str, ...], Sandbox] = {}

    def _sandbox(self) -> Sandbox:
        pin = _pin.get()
        helpers = pin.helpers if pin else {}
        key = tuple(sorted(helpers))
        box = self._sandboxes.get(key)
        if box is None:
            box = Sandbox(_LateBound.wrap(helpers))
            self._sandboxes[key] = box
        return box

    def evaluate(self, expression: str, context: Any, external_context: Any = None) -> Any:
        scope = dict(context)
        if external_context:
            scope.update(external_context)
        return self._sandbox().evaluate(expression, scope, element=_current_element.get())

    def execute(self, script: str, context: Any, external_context: Any = None) -> bool:
        self._sandbox().execute(script, context, element=_current_element.get())
        return True

    def call_service(self, context: Any, **kwargs: Any) -> Any:
        raise ExpressionError("service tasks are not supported", element=_current_element.get())


class _LateBound:
    """Helper functions resolved at call time, so one cached sandbox serves every command."""

    @staticmethod
    def wrap(helpers: Mapping[str, Callable[..., Any]]) -> dict[str, Callable[..., Any]]:
        def make(name: str) -> Callable[..., Any]:
            def call(*args: Any, **kwargs: Any) -> Any:
                pin = _pin.get()
                if pin is None or name not in pin.helpers:
                    raise ExpressionError(f"{name}() is not available here")
                return pin.helpers[name](*args, **kwargs)

            return call

        return {name: make(name) for name in helpers}


_current_element: contextvars.ContextVar[str | None] = contextvars.ContextVar("flowdesk_element", default=None)


class _ScriptEngine(PythonScriptEngine):
    """Names the BPMN element being evaluated so sandbox errors can say where they happened."""

    def evaluate(self, task: Any, expression: Any, external_context: Any = None) -> Any:
        token = _current_element.set(getattr(task.task_spec, "bpmn_id", None) or task.task_spec.name)
        try:
            return self.environment.evaluate(expression, task.data, external_context)
        except ExpressionError:
            raise
        except SpiffWorkflowException:
            raise
        finally:
            _current_element.reset(token)

    def execute(self, task: Any, script: Any, external_context: Any = None) -> Any:
        token = _current_element.set(getattr(task.task_spec, "bpmn_id", None) or task.task_spec.name)
        try:
            return self.environment.execute(script, task.data, external_context or {})
        finally:
            _current_element.reset(token)


SCRIPT_ENGINE = _ScriptEngine(environment=_SandboxEnvironment())
_SERIALIZER = BpmnWorkflowSerializer(BpmnWorkflowSerializer.configure(SPIFF_CONFIG))
# The registry wraps each converter's to_dict in a partial; the converter itself restores workflows onto a cached spec.
_WORKFLOW_CONVERTER = (
    _SERIALIZER.registry.convert_to_dict[_SERIALIZER.registry.typenames[BpmnWorkflow]].args[1].__self__
)


# --- building specs ----------------------------------------------------------------------------


@dataclass(frozen=True)
class SpecProblem:
    file: str
    message: str
    element: str | None
    line: int | None


@dataclass
class CompiledProcess:
    """A parsed, runnable process of one definition version (shared, never mutated while running)."""

    process_id: str
    spec: Any
    subprocess_specs: dict[str, Any]

    def user_tasks(self) -> list[Any]:
        return [s for s in self._all_specs() if getattr(s, "manual", False)]

    def _all_specs(self) -> list[Any]:
        specs = list(self.spec.task_specs.values())
        for sp in self.subprocess_specs.values():
            specs.extend(sp.task_specs.values())
        return specs

    def timer_events(self) -> list[Any]:
        return [s for s in self._all_specs() if isinstance(getattr(s, "event_definition", None),
                                                            TimerEventDefinition)]

    def start_messages(self) -> set[str]:
        return {
            s.event_definition.name
            for s in self.spec.task_specs.values()
            if isinstance(s, StartEvent) and isinstance(s.event_definition, MessageEventDefinition)
        }

    def expressions(self) -> list[tuple[str, str, str]]:
        """(element id, mode, source) of every condition, script and timer expression, for checking."""
        found: list[tuple[str, str, str]] = []
        for spec in self._all_specs():
            bpmn_id = getattr(spec, "bpmn_id", None) or spec.name
            script = getattr(spec, "script", None)
            if isinstance(script, str) and script.strip():
                found.append((bpmn_id, "exec", script))
            for attr in ("prescript", "postscript"):
                extra = getattr(spec, attr, None)
                if isinstance(extra, str) and extra.strip():
                    found.append((bpmn_id, "exec", extra))
            event = getattr(spec, "event_definition", None)
            if isinstance(event, TimerEventDefinition):
                found.append((bpmn_id, "eval", event.expression))
            for cond, _target in getattr(spec, "cond_task_specs", []) or []:
                if cond is not None and getattr(cond, "args", None):
                    found.append((bpmn_id, "eval", cond.args[0]))
        return found


def compile_process(process_id: str, bpmn: Mapping[str, str], dmn: Mapping[str, str]) -> CompiledProcess:
    """Parse BPMN and DMN texts and build the runnable spec. Raises ValidationException-derived errors."""
    parser = SpiffBpmnParser()
    for name, text in bpmn.items():
        parser.add_bpmn_str(text.encode("utf-8"), filename=name)
    for name, text in dmn.items():
        parser.add_dmn_str(text.encode("utf-8"), filename=name)
    spec = parser.get_spec(process_id)
    subprocess_specs = parser.get_subprocess_specs(process_id)
    return CompiledProcess(process_id, spec, subprocess_specs)


def spec_problem(err: Exception, default_file: str) -> SpecProblem:
    """Turn a Spiff parse/build error into a located problem."""
    if isinstance(err, ValidationException):
        line = err.line_number if isinstance(err.line_number, int) else None
        msg = str(err.args[0]) if err.args else str(err)
        return SpecProblem(err.file_name or default_file, msg, err.id or None, line)
    return SpecProblem(default_file, f"{type(err).__name__}: {err}", None, None)


# --- running -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class ReadyTask:
    id: str
    element_id: str
    name: str
    lane: str | None
    data: dict[str, Any]


@dataclass(frozen=True)
class WaitingTimer:
    task_id: str
    element_id: str
    due_at: datetime


@dataclass(frozen=True)
class OutgoingMessage:
    name: str
    payload: Any
    correlations: dict[str, Any]


@dataclass(frozen=True)
class WaitingMessage:
    task_id: str
    element_id: str
    name: str


class Run:
    """One restored workflow inside one command."""

    def __init__(self, compiled: CompiledProcess, workflow: BpmnWorkflow) -> None:
        self.compiled = compiled
        self.workflow = workflow
        self.outgoing: list[OutgoingMessage] = []
        self.pruned_elements: set[str] = set()

    # commands

    def start(self, data: Mapping[str, Any]) -> None:
        for task in self.workflow.get_tasks(state=TaskState.READY):
            task.data.update(copy.deepcopy(dict(data)))
        self._steps()

    def begin(self, data: Mapping[str, Any], message: tuple[str, Any] | None = None) -> bool:
        """Start the workflow: with start data through its plain start event, or by a message through the
        start event that catches it. False when no start event catches that message."""
        if message is None:
            self.start(data)
            return True
        name, payload = message
        wf = self.workflow
        # Run only the process start and the split in front of several start events: letting the engine
        # step on would fire a plain start event at once and cancel the message start.
        while ready := [t for t in wf.get_tasks(state=TaskState.READY) if not isinstance(t.task_spec, StartEvent)]:
            for task in ready:
                task.data.update(copy.deepcopy(dict(data)))
                self._guard(task.run)
        starts = [t for t in wf.get_tasks(state=TaskState.NOT_FINISHED_MASK) if isinstance(t.task_spec, StartEvent)]
        catching = [t for t in starts if isinstance(t.task_spec.event_definition, MessageEventDefinition)
                    and t.task_spec.event_definition.name == name]
        if not catching:
            return False
        for task in starts:
            if task not in catching:
                task.cancel()
        self._guard(self.workflow.do_engine_steps)
        return self.deliver(name, payload)

    def complete(self, task_id: str, data: Mapping[str, Any]) -> None:
        task = self.task(task_id)
        task.data.update(copy.deepcopy(dict(data)))
        self._guard(task.run)
        self._steps()

    def fire_timers(self) -> None:
        self._steps()

    def deliver(self, name: str, payload: Any) -> bool:
        """Give a message to the task waiting for it; False when nothing here waits for that name."""
        for task in list(self.workflow.event_manager.tasks.values()):
            definition = getattr(task.task_spec, "event_definition", None)
            if isinstance(definition, MessageEventDefinition) and definition.name == name:
                event = BpmnEvent(definition, payload=copy.deepcopy(payload))
                self._guard(partial(self.workflow.catch, event))
                self._steps()
                return True
        return False

    def terminate(self) -> None:
        self.workflow.cancel()

    # reading

    def task(self, task_id: str) -> Any:
        try:
            return self.workflow.get_task_from_id(uuid.UUID(task_id))
        except (ValueError, WorkflowException, KeyError):
            return None

    def is_ready_user_task(self, task_id: str) -> bool:
        task = self.task(task_id)
        return task is not None and task.state == TaskState.READY and task.task_spec.manual

    def ready_user_tasks(self) -> list[ReadyTask]:
        return [
            ReadyTask(str(t.id), t.task_spec.bpmn_id, t.task_spec.bpmn_name or t.task_spec.bpmn_id,
                      t.task_spec.lane, t.data)
            for t in self.workflow.get_tasks(state=TaskState.READY)
            if t.task_spec.manual
        ]

    def waiting_timers(self) -> list[WaitingTimer]:
        found = []
        for task in self.workflow.event_manager.tasks.values():
            definition = task.task_spec.event_definition
            due = _timer_due(definition, task)
            if due is not None:
                found.append(WaitingTimer(str(task.id), task.task_spec.bpmn_id, due))
        return sorted(found, key=lambda t: (t.due_at, t.element_id))

    def waiting_messages(self) -> list[WaitingMessage]:
        return [
            WaitingMessage(str(t.id), t.task_spec.bpmn_id, t.task_spec.event_definition.name)
            for t in self.workflow.event_manager.tasks.values()
            if isinstance(t.task_spec.event_definition, MessageEventDefinition)
        ]

    def set_timer_due(self, task_id: str, due: datetime) -> None:
        task = self.task(task_id)
        task._set_internal_data(event_value=due.astimezone(UTC).isoformat(), flowdesk_calendar=True)

    def timer_duration(self, task_id: str) -> str | None:
        """The ISO duration a duration timer was given (its expression's value), when it is one."""
        task = self.task(task_id)
        definition = task.task_spec.event_definition
        if not isinstance(definition, DurationTimerEventDefinition):
            return None
        try:
            value = SCRIPT_ENGINE.evaluate(task, definition.expression)
        except (ExpressionError, SpiffWorkflowException):
            return None
        return value if isinstance(value, str) and value.upper().startswith("P") else None

    def timer_needs_calendar(self, task_id: str) -> bool:
        task = self.task(task_id)
        definition = task.task_spec.event_definition
        return isinstance(definition, DurationTimerEventDefinition) and not task._get_internal_data(
            "flowdesk_calendar", False
        )

    @property
    def completed(self) -> bool:
        return bool(self.workflow.is_completed())

    def data(self) -> dict[str, Any]:
        """The case data as the process sees it now."""
        if self.completed:
            return _plain(self.workflow.data)
        merged: dict[str, Any] = {}
        last = self.workflow.last_task
        if last is not None:
            merged.update(last.data)
        for task in self.workflow.get_tasks(state=TaskState.READY | TaskState.WAITING):
            merged.update(task.data)
        merged.pop("data_objects", None)
        return _plain(merged)

    def completed_elements(self) -> list[str]:
        """BPMN ids of every element completed so far, including history pruned from the task tree."""
        return sorted(self.pruned_elements | {
            t.task_spec.bpmn_id for t in self.workflow.get_tasks(state=TaskState.COMPLETED)
            if getattr(t.task_spec, "bpmn_id", None)
        })

    def prune(self) -> None:
        """Drop finished history above the live part of the task tree once the tree grows large.

        Spiff keeps every task it ever ran, so a case that loops (a complaint reopened again and again)
        would make every later command slower and, past a tree depth of ~1000, make Spiff's task lookups
        stop early. Everything the process can still reach lies below the deepest common ancestor of the
        unfinished tasks; a margin of ancestors above it is kept for joins that look at parents.
        """
        wf = self.workflow
        if wf.subprocesses or len(wf.tasks) <= PRUNE_AT:
            return
        live = [t for t in wf.tasks.values() if t.has_state(TaskState.NOT_FINISHED_MASK)]
        if not live:
            return
        common: list[Any] | None = None
        for task in live:
            chain = []
            node = task
            while node is not None:
                chain.append(node.id)
                node = node.parent
            common = chain if common is None else [i for i in common if i in set(chain)]
        if not common:
            return
        root = wf.tasks[common[0]]
        for _ in range(PRUNE_MARGIN):
            if root.parent is None:
                break
            root = root.parent
        if root is wf.task_tree:
            return
        keep: set[Any] = set()
        stack = [root]
        while stack:
            node = stack.pop()
            keep.add(node.id)
            stack.extend(node.children)
        for task_id, task in list(wf.tasks.items()):
            if task_id in keep:
                continue
            if task.state == TaskState.COMPLETED and getattr(task.task_spec, "bpmn_id", None):
                self.pruned_elements.add(task.task_spec.bpmn_id)
            del wf.tasks[task_id]
        root._parent = None
        wf.task_tree = root
        if wf.last_task is not None and wf.last_task.id not in keep:
            wf.last_task = None

    # internals

    def _steps(self) -> None:
        self._guard(self.workflow.do_engine_steps)
        self._guard(self.workflow.refresh_timers)
        self._guard(self.workflow.do_engine_steps)
        for event in self.workflow.get_events():
            if isinstance(event.event_definition, MessageEventDefinition):
                self.outgoing.append(
                    OutgoingMessage(event.event_definition.name, _plain(event.payload), dict(event.correlations))
                )

    @staticmethod
    def _guard(step: Callable[[], Any]) -> None:
        try:
            step()
        except ExpressionError as err:
            raise RunFailed(str(err), err.element) from err
        except (SpiffWorkflowException, WorkflowException) as err:
            cause = getattr(err, "exception", None) or err.__cause__
            element = None
            task = getattr(err, "task", None)
            if task is not None:
                element = getattr(task.task_spec, "bpmn_id", None)
            if isinstance(cause, ExpressionError):
                raise RunFailed(str(cause), cause.element or element) from err
            raise RunFailed(str(err), element) from err
        except (ValueError, TypeError, ArithmeticError) as err:
            # A value the process computed or was given and SpiffWorkflow cannot use, e.g. a timer date
            # or duration taken from case data that is not ISO 8601. The run failed; the command did not.
            raise RunFailed(f"invalid value: {err}", _failing_element(err)) from err


def _failing_element(err: BaseException) -> str | None:
    """The BPMN element whose task was running when `err` was raised (innermost frame holding a task)."""
    tb = err.__traceback__
    element = None
    while tb is not None:
        for name in ("my_task", "task"):
            spec = getattr(tb.tb_frame.f_locals.get(name), "task_spec", None)
            element = getattr(spec, "bpmn_id", None) or element
        tb = tb.tb_next
    return element


class RunFailed(Exception):
    """The process itself failed (a script or expression error), as opposed to a bad command."""

    def __init__(self, message: str, element: str | None) -> None:
        super().__init__(message)
        self.element = element


def _timer_due(definition: Any, task: Any) -> datetime | None:
    value = task._get_internal_data("event_value")
    if value is None:
        return None
    if isinstance(definition, CycleTimerEventDefinition):
        if isinstance(value, dict) and value.get("cycles", 0) != 0:
            return datetime.fromisoformat(value["next"]).astimezone(UTC)
        return None
    if isinstance(definition, DurationTimerEventDefinition):
        return TimerEventDefinition.get_datetime(value)
    if isinstance(definition, TimeDateEventDefinition):
        return TimerEventDefinition.parse_time_or_duration(value)
    return None


def _plain(value: Any) -> Any:
    """JSON-safe copy of task data (sets and tuples become lists, datetimes ISO strings)."""
    return json.loads(json.dumps(value, default=_json_default))


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, set | tuple):
        return list(value)
    if isinstance(value, timedelta):
        return value.total_seconds()
    return str(value)


def new_run(compiled: CompiledProcess) -> Run:
    workflow = BpmnWorkflow(compiled.spec, compiled.subprocess_specs, script_engine=SCRIPT_ENGINE)
    return Run(compiled, workflow)


def restore(compiled: CompiledProcess, state: Mapping[str, Any]) -> Run:
    """Rebuild a workflow from its stored state and the shared spec (specs are never stored per instance)."""
    dct = copy.deepcopy(dict(state))
    meta = dct.pop("flowdesk", None) or {}
    workflow = BpmnWorkflow(compiled.spec, compiled.subprocess_specs, script_engine=SCRIPT_ENGINE,
                            deserializing=True)
    conv = _WORKFLOW_CONVERTER
    workflow.tasks = conv.mapping_from_dict(dct["tasks"], uuid.UUID, workflow=workflow)
    workflow.task_tree = workflow.tasks.get(uuid.UUID(dct["root"]))
    conv.set_default_attributes(workflow, dct)
    conv.subprocesses_from_dict(dct["subprocesses"], workflow)
    workflow.bpmn_events = _SERIALIZER.registry.restore(dct.pop("bpmn_events", []))
    workflow.script_engine = SCRIPT_ENGINE
    run = Run(compiled, workflow)
    run.pruned_elements = set(meta.get("pruned", []))
    return run


def dump(run: Run, id_counter: int) -> dict[str, Any]:
    """The workflow state without its spec, plus the id counter that keeps task ids deterministic."""
    run.prune()
    dct = _SERIALIZER.to_dict(run.workflow)
    dct.pop("spec", None)
    dct.pop("subprocess_specs", None)
    # Spiff lists a task's deleted data keys in the data's insertion order. Sorted, the state (and its
    # hash) depends only on the data, not on the order a client sent fields or a JSON store kept them.
    for tasks in [dct.get("tasks", {})] + [sp.get("tasks", {}) for sp in dct.get("subprocesses", {}).values()]:
        for task in tasks.values():
            delta = task.get("delta") or {}
            if delta.get("deletions"):
                delta["deletions"] = sorted(delta["deletions"])
    dct["flowdesk"] = {"ids": id_counter, "serializer": _SERIALIZER.VERSION}
    if run.pruned_elements:
        dct["flowdesk"]["pruned"] = sorted(run.pruned_elements)
    result: dict[str, Any] = _plain(dct)
    return result


def id_counter_of(state: Mapping[str, Any]) -> int:
    return int(state.get("flowdesk", {}).get("ids", 0))


def state_hash(state: Mapping[str, Any]) -> str:
    canonical = json.dumps(state, sort_keys=True, separators=(",", ":"), default=_json_default)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()
