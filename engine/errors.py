"""The engine's exceptions: one root, specific subclasses, each mapped to an HTTP status in one place (web)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a process package, with where it is."""

    file: str
    message: str
    element: str | None = None
    line: int | None = None

    def __str__(self) -> str:
        where = self.file
        if self.line:
            where += f":{self.line}"
        if self.element:
            where += f" [{self.element}]"
        return f"{where}: {self.message}"

    def as_json(self) -> dict[str, object]:
        return {"file": self.file, "element": self.element, "line": self.line, "message": self.message}


class EngineError(Exception):
    """Root of every error the engine raises on purpose."""

    status = 400
    code = "engine_error"

    def __init__(self, message: str, **params: object) -> None:
        """`message` may be a template with %(name)s placeholders filled from `params`: the web layer
        then shows it in the user's language by looking the template up, never by parsing the text."""
        text = message % params if params else message
        super().__init__(text)
        self.message = text
        self.template = message
        self.params = params

    @property
    def details(self) -> object:
        return None


class NotFound(EngineError):
    status = 404
    code = "not_found"


class PackageInvalid(EngineError):
    """A process package (or org file) failed validation; carries every problem found."""

    status = 422
    code = "package_invalid"

    def __init__(self, problems: Sequence[Problem]) -> None:
        self.problems = list(problems)
        lines = "\n".join(f"  {p}" for p in self.problems)
        super().__init__(f"{len(self.problems)} problem(s) found:\n{lines}")

    @property
    def details(self) -> object:
        return [p.as_json() for p in self.problems]


class FormInvalid(EngineError):
    """Submitted data does not match the task's form; carries the errors per field."""

    status = 422
    code = "form_invalid"

    def __init__(self, field_errors: Mapping[str, Sequence[str]]) -> None:
        self.field_errors = {k: list(v) for k, v in field_errors.items()}
        summary = "; ".join(f"{k}: {', '.join(v)}" for k, v in self.field_errors.items())
        super().__init__(f"form data is invalid: {summary}")

    @property
    def details(self) -> object:
        return self.field_errors


class Conflict(EngineError):
    """Another command changed the same instance first; nothing was written."""

    status = 409
    code = "conflict"


class DuplicateBusinessKey(Conflict):
    """A process already has a case with this business key (say a complaint number); carries that case."""

    code = "duplicate_business_key"

    def __init__(self, process_id: str, business_key: str, existing_instance_id: str, field: str | None = None) -> None:
        super().__init__("%(process_id)s already has a case %(business_key)s: %(existing)s", process_id=process_id,
                         business_key=business_key, existing=existing_instance_id)
        self.process_id = process_id
        self.business_key = business_key
        self.existing_instance_id = existing_instance_id
        self.field = field  # the form field the key comes from, when it is one

    @property
    def details(self) -> object:
        return {"process_id": self.process_id, "business_key": self.business_key, "field": self.field,
                "existing_instance_id": self.existing_instance_id}


class TaskNotReady(Conflict):
    code = "task_not_ready"


class TaskHeldByOther(Conflict):
    code = "task_held_by_other"


class NotAllowed(EngineError):
    """The actor may not do this (not in the task's group, not a supervisor...)."""

    status = 403
    code = "not_allowed"


class InvalidInput(EngineError):
    status = 400
    code = "invalid_input"


class ProcessFailed(EngineError):
    """The process itself failed while running (a script error, a refused expression)."""

    status = 422
    code = "process_failed"

    def __init__(self, message: str, element: str | None = None) -> None:
        super().__init__(message)
        self.element = element

    @property
    def details(self) -> object:
        return {"element": self.element}
