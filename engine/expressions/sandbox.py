"""The Sandbox: the one entry point that checks and runs process expressions and scripts."""

from __future__ import annotations

import ast
from collections.abc import Callable, Mapping
from typing import Any, Literal, cast

from .errors import ExpressionError, _describe
from .functions import _BUILTINS, FORBIDDEN_NAMES
from .interpreter import _Interpreter
from .validator import _compile, _Compiled


class Sandbox:
    """Evaluates process expressions and runs process scripts without ever handing them to Python.

    Where it differs from Python, on purpose: generator expressions and dict keys()/values()/items()
    give lists, and functions cannot be stored in variables, because results end up in task data,
    which must serialise. A script that fails may already have changed `context`: the caller's
    transaction is what rolls it back.
    """

    def __init__(self, functions: Mapping[str, Callable[..., Any]] | None = None, *,
                 max_steps: int = 100_000) -> None:
        for name in functions or {}:
            if not name.isidentifier() or name.startswith("_") or name in FORBIDDEN_NAMES:
                raise ValueError(f"helper function name {name!r} is not usable in expressions")
        self._callables: dict[str, Callable[..., Any]] = {**_BUILTINS, **(functions or {})}
        self._helpers = frozenset(functions or {})
        self._allowed = frozenset(id(f) for f in self._callables.values())
        self.max_steps = max_steps

    def check(self, source: str, *, mode: Literal["eval", "exec"]) -> list[str]:
        """Static problems (syntax, forbidden constructs) without running; [] when fine. For deploy time."""
        if not isinstance(source, str):
            return [f"must be text, not {type(source).__name__}"]
        return [str(ExpressionError(m, line=line)) for m, line in self._problems(_compile(source, mode))]

    def evaluate(self, source: str, context: Mapping[str, Any], *, element: str | None = None) -> Any:
        return self._run(source, "eval", context, element)

    def execute(self, source: str, context: dict[str, Any], *, element: str | None = None) -> None:
        """Runs a script; assignments to top-level names are written into `context` (mutated in place)."""
        self._run(source, "exec", context, element)

    def _problems(self, compiled: _Compiled) -> list[tuple[str, int | None]]:
        shadowing = [(f"'{name}' names a function; use another variable name", line)
                     for name, line in compiled.bound if name in self._callables]
        return [*compiled.problems, *shadowing]

    def _run(self, source: str, mode: Literal["eval", "exec"], context: Mapping[str, Any],
             element: str | None) -> Any:
        kind = "expression" if mode == "eval" else "script task"
        try:
            if not isinstance(source, str):
                raise ExpressionError(f"must be text, not {type(source).__name__}")
            compiled = _compile(source, mode)
            problems = self._problems(compiled)
            if problems:
                raise ExpressionError(problems[0][0], line=problems[0][1])
            interpreter = _Interpreter(self, context, kind)
            if isinstance(compiled.tree, ast.Expression):
                return interpreter.value(compiled.tree.body)
            interpreter.run(cast(ast.Module, compiled.tree).body)
            return None
        except ExpressionError as err:
            err.source, err.element, err.kind = source, element, kind
            raise
        except Exception as exc:  # a RecursionError or the like escaping between nodes
            raise ExpressionError(_describe(exc), source=source, element=element, kind=kind) from exc
