"""Parsing BPMN/DMN into runnable specs and turning parse errors into located problems."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from SpiffWorkflow.bpmn.parser.ValidationException import ValidationException
from SpiffWorkflow.bpmn.specs.event_definitions.message import MessageEventDefinition
from SpiffWorkflow.bpmn.specs.event_definitions.timer import (
    TimerEventDefinition,
)
from SpiffWorkflow.bpmn.specs.mixins.events.start_event import StartEvent
from SpiffWorkflow.spiff.parser.process import SpiffBpmnParser

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
