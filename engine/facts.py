"""What a task shows first: the manifest's `show:` facts labelled from the forms, the defaults a form takes
from case data (`defaults:`), and the cases related to a case through the messages between them."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from .forms import resolve_path
from .store import InstanceRow, MessageRow


@dataclass(frozen=True)
class Fact:
    """One value of the case, as a task shows it: its data path, the label the forms give it, the value."""

    path: str
    label: str
    value: Any


@dataclass(frozen=True)
class TaskView:
    """The facts a task shows first, the form defaults taken from the case, and the zone to show times in."""

    facts: tuple[Fact, ...] = ()
    defaults: dict[str, Any] = field(default_factory=dict)
    timezone: str = "UTC"


@dataclass(frozen=True)
class RelatedCase:
    """A case linked to another by a message: `follows` (it started this one) or `led_to` (this one started it)."""

    relation: str
    instance_id: str
    process_id: str
    title: str
    business_key: str | None
    status: str
    message: str


def form_labels(forms: Iterable[Mapping[str, Any] | None]) -> dict[str, str]:
    """Data path -> the title a form gives it; the first form that names a field wins (the start form first)."""
    labels: dict[str, str] = {}

    def walk(schema: Mapping[str, Any], prefix: str) -> None:
        for key, prop in (schema.get("properties") or {}).items():
            if not isinstance(prop, Mapping):
                continue
            if prop.get("title"):
                labels.setdefault(prefix + key, str(prop["title"]))
            if prop.get("type") == "object" or "properties" in prop:
                walk(prop, prefix + key + ".")

    for form in forms:
        if isinstance(form, Mapping):
            walk(form, "")
    return labels


def label_for(path: str, labels: Mapping[str, str], fields: Mapping[str, Any]) -> str:
    if path in labels:
        return labels[path]
    for name, cfg in fields.items():
        if isinstance(cfg, Mapping) and cfg.get("path") == path:
            return str(cfg.get("label") or name.replace("_", " ").capitalize())
    last = path.rsplit(".", 1)[-1]
    return last.replace("_", " ").capitalize()


def task_view(manifest: Mapping[str, Any], element_id: str, data: Mapping[str, Any],
              labels: Mapping[str, str], timezone: str) -> TaskView:
    """The task's `show:` facts (its business fields when it names none) and its `defaults:` from case data."""
    cfg = (manifest.get("tasks") or {}).get(element_id) or {}
    fields = manifest.get("fields") or {}
    paths = list(cfg.get("show") or [c["path"] for c in fields.values() if isinstance(c, Mapping) and "path" in c])
    facts = tuple(Fact(p, label_for(p, labels, fields), value) for p in paths
                  if (value := resolve_path(data, p)) not in (None, "", [], {}))
    return TaskView(facts, defaults_for(cfg.get("defaults"), data), timezone)


def defaults_for(spec: Any, data: Mapping[str, Any]) -> dict[str, Any]:
    """Form field -> value from case data; `spec` maps a field to a data path, or lists fields of the same name."""
    pairs = {name: name for name in spec} if isinstance(spec, list) else dict(spec or {})
    out: dict[str, Any] = {}
    for name, path in pairs.items():
        value = resolve_path(data, str(path))
        if value is None:
            continue
        parent, _, leaf = str(name).rpartition(".")
        target = out
        for part in parent.split(".") if parent else []:
            target = target.setdefault(part, {})
        target[leaf] = value
    return out


def related_cases(s: Session, instance_id: str) -> list[RelatedCase]:
    """The cases this one follows and the cases it led to, oldest first, through delivered messages."""
    rows = s.execute(select(MessageRow.name, MessageRow.source_instance_id, MessageRow.target_instance_id)
                     .where(or_(MessageRow.source_instance_id == instance_id,
                                MessageRow.target_instance_id == instance_id),
                            MessageRow.target_instance_id.is_not(None), MessageRow.source_instance_id.is_not(None))
                     .order_by(MessageRow.id)).all()
    out: list[RelatedCase] = []
    seen: set[str] = set()
    for name, source, target in rows:
        other, relation = (target, "led_to") if source == instance_id else (source, "follows")
        if other is None or other == instance_id or other in seen:
            continue
        inst = s.get(InstanceRow, other)
        if inst is None:
            continue
        seen.add(other)
        out.append(RelatedCase(relation, inst.id, inst.process_id, inst.title, inst.business_key, inst.status, name))
    return out
