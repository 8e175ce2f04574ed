"""The problem collector every check of a package writes to."""

from __future__ import annotations

from dataclasses import dataclass, field

from lxml import etree

from ..errors import Problem


@dataclass
class Checker:
    files: dict[str, str]
    calendars: set[str] | None
    groups: set[str] | None
    problems: list[Problem] = field(default_factory=list)
    parser_problems: list[Problem] = field(default_factory=list)  # SpiffWorkflow's, dropped when ours say more

    def finished(self) -> list[Problem]:
        """Every problem, without a parser message about an element that a check of ours already explains."""
        ours = {(p.file, p.element) for p in self.problems if p not in self.parser_problems and p.element}
        return [p for p in self.problems if p not in self.parser_problems or (p.file, p.element) not in ours]

    def add(self, file: str, message: str, element: str | None = None, line: int | None = None) -> None:
        self.problems.append(Problem(file, message, element, line))




def parse_xml(chk: Checker, file: str) -> etree._Element | None:
    """The parsed XML of a package file, or None after listing every syntax error lxml finds in it."""
    parser = etree.XMLParser(recover=True, remove_blank_text=False, resolve_entities=False, no_network=True)
    try:
        root = etree.fromstring(chk.files[file].encode("utf-8"), parser)
    except etree.XMLSyntaxError as err:
        root = None
        if not parser.error_log:
            chk.add(file, f"not well-formed XML: {err.msg}", line=err.lineno)
    errors = [e for e in parser.error_log if e.level >= etree.ErrorLevels.ERROR]
    lines: set[int] = set()
    for entry in errors:
        if entry.line in lines:
            continue  # one mistake often confuses the parser several times on its line
        lines.add(entry.line)
        chk.add(file, f"not well-formed XML: {entry.message}", line=entry.line)
    if errors or root is None:
        if root is None and not errors and not chk.problems:
            chk.add(file, "not well-formed XML: no root element")
        return None
    return root
