"""The problem collector every check of a package writes to."""

from __future__ import annotations

from dataclasses import dataclass, field

from ..errors import Problem


@dataclass
class Checker:
    files: dict[str, str]
    calendars: set[str] | None
    groups: set[str] | None
    problems: list[Problem] = field(default_factory=list)

    def add(self, file: str, message: str, element: str | None = None, line: int | None = None) -> None:
        self.problems.append(Problem(file, message, element, line))


