"""Spiff's script engine, routed through the sandbox (engine/expressions) with the command's helpers."""

from __future__ import annotations

import contextvars
from collections.abc import Callable, Mapping
from typing import Any

from SpiffWorkflow.bpmn.script_engine import PythonScriptEngine
from SpiffWorkflow.bpmn.script_engine.python_environment import BasePythonScriptEngineEnvironment
from SpiffWorkflow.exceptions import SpiffWorkflowException

from ..expressions import ExpressionError, Sandbox
from .pinning import _pin

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
