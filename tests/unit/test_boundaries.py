"""Architecture rules that keep the layers honest."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module.split(".")[0])
    return found


def test_engine_never_imports_flask_or_web() -> None:
    offenders = {
        str(p.relative_to(ROOT)): sorted(imported_modules(p) & {"flask", "web", "werkzeug", "jinja2"})
        for p in (ROOT / "engine").rglob("*.py")
    }
    assert {k: v for k, v in offenders.items() if v} == {}


def test_only_the_runtime_adapter_imports_spiffworkflow() -> None:
    users = sorted(str(p.relative_to(ROOT)) for p in (ROOT / "engine").rglob("*.py")
                   if "SpiffWorkflow" in imported_modules(p))
    assert users and all(u.startswith("engine/runtime/") for u in users)


def test_only_the_clock_reads_the_wall_clock() -> None:
    readers = sorted(
        str(p.relative_to(ROOT)) for p in (ROOT / "engine").rglob("*.py")
        if p.name != "clock.py"
        and any(s in p.read_text() for s in ("datetime.now(", "datetime.utcnow(", "time.time("))
    )
    assert readers == []


def test_web_uses_only_the_engines_public_face() -> None:
    allowed = {"engine", "engine.settings", "engine.timers"}
    offenders = []
    for p in (ROOT / "web").rglob("*.py"):
        tree = ast.parse(p.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module \
                    and node.module.startswith("engine") and node.module not in allowed:
                offenders.append(f"{p.relative_to(ROOT)}: {node.module}")
    assert offenders == []
