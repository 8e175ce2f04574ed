"""Every expression of a package parsed and checked by the sandbox, with file, element and line."""

from __future__ import annotations

from typing import Any

from ..expressions import Sandbox
from ..runtime import CompiledProcess
from .bpmn import _element_lines
from .checker import Checker
from .package import MANIFEST

HELPER_NAMES = ("now", "today", "add_duration")


def _check_expressions(chk: Checker, manifest: dict[str, Any], compiled: CompiledProcess) -> None:
    bpmn_file = str(manifest["bpmn"])
    lines = _element_lines(chk.files[bpmn_file])
    sandbox = Sandbox(dict.fromkeys(HELPER_NAMES, lambda *a, **k: None))
    for element, mode, source in compiled.expressions():
        for message in sandbox.check(source, mode="exec" if mode == "exec" else "eval"):
            chk.add(bpmn_file, message, element, lines.get(element))
    for task_id, cfg in (manifest.get("tasks") or {}).items():
        for key in ("due", "priority", "assign"):
            value = cfg.get(key) if isinstance(cfg, dict) else None
            if isinstance(value, str) and value.startswith("="):
                for message in sandbox.check(value[1:], mode="eval"):
                    chk.add(MANIFEST, f"tasks/{task_id}/{key}: {message}", task_id)
