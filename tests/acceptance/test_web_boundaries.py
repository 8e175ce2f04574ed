"""The web layer uses only the engine's public face (plus engine.settings, and engine.timers for `serve`)."""

from __future__ import annotations

import ast
from pathlib import Path

import engine

WEB = Path(__file__).resolve().parents[2] / "web"
ALLOWED_MODULES = {"engine", "engine.settings", "engine.timers"}


def test_web_imports_only_the_engines_public_names() -> None:
    public = set(engine.__all__) | {"settings"}
    problems = []
    for path in sorted(WEB.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "engine":
                if node.module not in ALLOWED_MODULES:
                    problems.append(f"{path.name}:{node.lineno} imports {node.module}")
                if node.module == "engine":
                    problems += [f"{path.name}:{node.lineno} imports engine.{a.name}" for a in node.names
                                 if a.name not in public]
            elif isinstance(node, ast.Import):
                problems += [f"{path.name}:{node.lineno} imports {a.name}" for a in node.names
                             if a.name.split(".")[0] == "engine" and a.name not in ALLOWED_MODULES]
    assert problems == []
