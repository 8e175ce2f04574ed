"""The one error every refused or failed expression raises, and how Python's own errors read to a designer."""

from __future__ import annotations

from ..errors import EngineError


class ExpressionError(EngineError):
    """A process expression or script was refused or failed."""

    status = 422
    code = "expression_error"

    def __init__(self, message: str, *, source: str = "", element: str | None = None,
                 line: int | None = None, kind: str = "expression") -> None:
        message = " ".join(message.splitlines()) or "failed"
        super().__init__(message if len(message) <= 300 else message[:297] + "...")
        self.source, self.element, self.line, self.kind = source, element, line, kind

    def __str__(self) -> str:
        where = f"{self.kind} '{self.element}': " if self.element else ""
        return f"{where}{self.message}" + (f" (line {self.line})" if self.line is not None else "")

    @property
    def details(self) -> object:
        return {"element": self.element, "line": self.line}



def _describe(exc: BaseException) -> str:
    if isinstance(exc, KeyError):
        return f"key {exc.args[0]!r} not found" if exc.args else "key not found"
    if isinstance(exc, RecursionError | MemoryError):
        return "nested too deeply" if isinstance(exc, RecursionError) else "out of memory"
    if isinstance(exc, OverflowError):
        return f"number out of range ({exc})"
    if isinstance(exc, TypeError | ValueError | ArithmeticError | IndexError):
        return str(exc) or type(exc).__name__
    return f"{type(exc).__name__}: {exc}"
