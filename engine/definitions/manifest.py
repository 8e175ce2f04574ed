"""The manifest (process.yaml): schema, referenced files, calendars and groups."""

from __future__ import annotations

import contextlib
from typing import Any

import yaml
from jsonschema import Draft202012Validator

from ..archive import load_yaml
from .camunda import apply_camunda
from .checker import Checker
from .package import MANIFEST, load_schema


def _yaml_lines(text: str) -> dict[tuple[str, ...], int]:
    """Line number of every mapping key path in a YAML document (1-based)."""
    lines: dict[tuple[str, ...], int] = {}

    def walk(node: Any, path: tuple[str, ...]) -> None:
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                sub = (*path, str(key.value))
                lines[sub] = key.start_mark.line + 1
                walk(value, sub)
        elif isinstance(node, yaml.SequenceNode):
            for i, item in enumerate(node.value):
                lines[(*path, str(i))] = item.start_mark.line + 1
                walk(item, (*path, str(i)))

    with contextlib.suppress(yaml.YAMLError):
        walk(yaml.compose(text), ())
    return lines


def schema_problems(validator: Draft202012Validator, document: Any) -> list[tuple[tuple[str, ...], str]]:
    """(path, message) of every schema violation; an unexpected key is reported at the key itself."""
    found: list[tuple[tuple[str, ...], str]] = []
    for err in sorted(validator.iter_errors(document), key=lambda e: list(map(str, e.absolute_path))):
        path = tuple(str(p) for p in err.absolute_path)
        if err.validator == "additionalProperties" and isinstance(err.instance, dict):
            allowed = set((err.schema or {}).get("properties", {})) if isinstance(err.schema, dict) else set()
            for key in sorted(k for k in err.instance if k not in allowed):
                found.append(((*path, str(key)), f"unknown key {key!r}"))
            continue
        found.append((path, err.message))
    return found


def _check_manifest(chk: Checker) -> dict[str, Any] | None:
    text = chk.files.get(MANIFEST)
    if text is None:
        chk.add(MANIFEST, "missing manifest")
        return None
    try:
        manifest = load_yaml(text)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        chk.add(MANIFEST, f"not valid YAML: {getattr(err, 'problem', err)}",
                line=mark.line + 1 if mark else None)
        return None
    if not isinstance(manifest, dict):
        chk.add(MANIFEST, "the manifest must be a mapping")
        return None
    manifest = apply_camunda(chk, manifest)
    lines = _yaml_lines(text)
    validator = Draft202012Validator(load_schema("process.schema.json"))
    for path, message in schema_problems(validator, manifest):
        line = lines.get(path) or (lines.get(path[:-1]) if path else None)
        chk.add(MANIFEST, f"{'/'.join(path) or '(top)'}: {message}", element="/".join(path) or None, line=line)
    for key in ("bpmn", "start_form"):
        ref = manifest.get(key)
        if isinstance(ref, str) and ref not in chk.files:
            chk.add(MANIFEST, f"{key}: file {ref!r} not found in the package", element=key, line=lines.get((key,)))
    for i, ref in enumerate(manifest.get("decisions") or []):
        if isinstance(ref, str) and ref not in chk.files:
            chk.add(MANIFEST, f"decisions: file {ref!r} not found", element=f"decisions/{i}",
                    line=lines.get(("decisions", str(i))))
    for task_id, cfg in (manifest.get("tasks") or {}).items():
        if isinstance(cfg, dict) and isinstance(cfg.get("form"), str) and cfg["form"] not in chk.files:
            chk.add(MANIFEST, f"form {cfg['form']!r} not found", element=task_id,
                    line=lines.get(("tasks", task_id, "form")))
        cal = cfg.get("calendar") if isinstance(cfg, dict) else None
        if cal and chk.calendars is not None and cal not in chk.calendars:
            chk.add(MANIFEST, f"unknown calendar {cal!r}", element=task_id,
                    line=lines.get(("tasks", task_id, "calendar")))
    for timer_id, cfg in (manifest.get("timers") or {}).items():
        cal = cfg.get("calendar") if isinstance(cfg, dict) else None
        if cal and chk.calendars is not None and cal not in chk.calendars:
            chk.add(MANIFEST, f"unknown calendar {cal!r}", element=timer_id,
                    line=lines.get(("timers", timer_id, "calendar")))
    if chk.groups is not None:
        for lane, group in (manifest.get("lanes") or {}).items():
            if isinstance(group, str) and not group.startswith("=") and group not in chk.groups:
                chk.add(MANIFEST, f"lane {lane!r} maps to unknown group {group!r}", element=lane,
                        line=lines.get(("lanes", lane)))
        for task_id, cfg in (manifest.get("tasks") or {}).items():
            group = cfg.get("group") if isinstance(cfg, dict) else None
            if isinstance(group, str) and not group.startswith("=") and group not in chk.groups:
                chk.add(MANIFEST, f"task {task_id!r} goes to unknown group {group!r}", element=task_id,
                        line=lines.get(("tasks", task_id, "group")))
    return manifest


