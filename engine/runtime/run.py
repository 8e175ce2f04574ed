"""One restored workflow inside one command: the commands it takes and what it shows."""

from __future__ import annotations

import copy
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from typing import Any

from SpiffWorkflow.bpmn import BpmnWorkflow
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
from SpiffWorkflow.util.task import TaskState

from ..expressions import ExpressionError
from .scripting import SCRIPT_ENGINE
from .specs import CompiledProcess
from .values import plain

# Task-tree size past which finished history is pruned, and how many ancestors of the live part stay.
PRUNE_AT = 150
PRUNE_MARGIN = 8


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
            return plain(self.workflow.data)
        merged: dict[str, Any] = {}
        last = self.workflow.last_task
        if last is not None:
            merged.update(last.data)
        for task in self.workflow.get_tasks(state=TaskState.READY | TaskState.WAITING):
            merged.update(task.data)
        merged.pop("data_objects", None)
        return plain(merged)

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
                    OutgoingMessage(event.event_definition.name, plain(event.payload), dict(event.correlations))
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


def new_run(compiled: CompiledProcess) -> Run:
    workflow = BpmnWorkflow(compiled.spec, compiled.subprocess_specs, script_engine=SCRIPT_ENGINE)
    return Run(compiled, workflow)
