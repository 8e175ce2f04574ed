"""Camunda Modeler attributes on user tasks: honoured as manifest defaults (the manifest wins) or reported.

`camunda:candidateGroups`, `camunda:assignee`, `camunda:formKey` and `camunda:dueDate` become the task's
group, assign rule, form and due time unless process.yaml says otherwise. Every other camunda attribute or
extension is listed as a problem, so nothing a designer set in the modeler is silently ignored.
"""

from __future__ import annotations

import copy
import re
from typing import Any

from lxml import etree

from .checker import Checker
from .interop import BPMN_NS, CAMUNDA_NS, is_iso_datetime, is_iso_duration

_HONOURED = {"candidateGroups": "group", "assignee": "assign", "formKey": "form", "dueDate": "due"}
_FORM_PREFIXES = ("camunda-forms:deployment:", "camunda-forms:app:", "embedded:deployment:", "embedded:app:",
                  "embedded:", "deployment:", "app:")
# Attributes a modeler writes for its own bookkeeping; they change nothing at run time.
_HARMLESS = {"modelerTemplate", "modelerTemplateVersion", "versionTag", "historyTimeToLive", "isStartableInTasklist"}
_GROUP = re.compile(r"[a-z][a-z0-9_]*")


def juel_hint(text: str) -> str | None:
    """'JUEL is not supported, write …' for a `${...}` / `#{...}` expression; None for anything else."""
    match = re.fullmatch(r"\s*[$#]\{(.*)\}\s*", text or "", re.S)
    if match is None:
        return None
    body = match.group(1).strip()
    python = re.sub(r"&&", " and ", body)
    python = re.sub(r"\|\|", " or ", python)
    python = re.sub(r"!(?!=)", "not ", python)
    python = re.sub(r"\s+", " ", python).strip()
    return f"JUEL is not supported, write `{python}` (a FlowDesk expression) instead of `{text.strip()}`"


def apply_camunda(chk: Checker, manifest: dict[str, Any]) -> dict[str, Any]:
    """The manifest with camunda task attributes filled in as defaults; problems for what is not honoured."""
    bpmn_file = str(manifest.get("bpmn"))
    text = chk.files.get(bpmn_file)
    if text is None or CAMUNDA_NS not in text:
        return manifest
    try:
        root = etree.fromstring(text.encode("utf-8"))
    except etree.XMLSyntaxError:
        return manifest
    merged = copy.deepcopy(manifest)
    tasks: dict[str, Any] = merged["tasks"] if isinstance(merged.get("tasks"), dict) else {}
    created: set[str] = set()
    for el in root.iter():
        if not isinstance(el.tag, str):
            continue
        if etree.QName(el).namespace == CAMUNDA_NS:
            parent = el.getparent()
            if parent is not None and etree.QName(parent).namespace == CAMUNDA_NS:
                continue  # reported with its camunda parent
            owner = el.getparent().getparent() if el.getparent() is not None else None
            where = owner.get("id") if owner is not None else None
            chk.add(bpmn_file, f"camunda:{etree.QName(el).localname} is not supported by FlowDesk; remove it "
                    "(forms, groups and due times go in process.yaml)", where, el.sourceline)
            continue
        for attr, value in el.attrib.items():
            qname = etree.QName(attr)
            if qname.namespace != CAMUNDA_NS or qname.localname in _HARMLESS:
                continue
            element = str(el.get("id"))
            if el.tag != f"{{{BPMN_NS}}}userTask" or qname.localname not in _HONOURED:
                chk.add(bpmn_file, f"camunda:{qname.localname} is not supported by FlowDesk; remove it or say it "
                        "in process.yaml", element, el.sourceline)
                continue
            key = _HONOURED[qname.localname]
            if element not in tasks:
                created.add(element)
            cfg = tasks.setdefault(element, {})
            if not isinstance(cfg, dict) or key in cfg:
                continue  # the manifest wins
            default = _default(chk, bpmn_file, el, qname.localname, value)
            if default is not None:
                cfg[key] = default
    for element in created:
        if "form" not in tasks[element]:
            del tasks[element]  # no form anywhere: the BPMN check reports the task once, at the task
    if tasks:
        merged["tasks"] = tasks
    return merged


def _default(chk: Checker, file: str, el: etree._Element, name: str, value: str) -> Any:
    element, line = el.get("id"), el.sourceline
    hint = juel_hint(value)
    if hint is not None:
        chk.add(file, f"camunda:{name}: {hint}", element, line)
        return None
    value = value.strip()
    if name == "candidateGroups":
        groups = [g.strip() for g in value.split(",") if g.strip()]
        if len(groups) != 1 or not _GROUP.fullmatch(groups[0]):
            chk.add(file, f"camunda:candidateGroups {value!r}: a FlowDesk task goes to exactly one group id "
                    "(lower case, digits, '_')", element, line)
            return None
        return groups[0]
    if name == "assignee":
        if not re.fullmatch(r"[a-z][a-z0-9_.-]{1,63}", value):
            chk.add(file, f"camunda:assignee {value!r} is not a username", element, line)
            return None
        return f"={value!r}"
    if name == "dueDate":
        if is_iso_duration(value):
            return value
        if is_iso_datetime(value):
            return f"={value!r}"
        chk.add(file, f"camunda:dueDate {value!r} is neither an ISO-8601 duration (PT4H) nor a date-time",
                element, line)
        return None
    form = value
    for prefix in _FORM_PREFIXES:
        if form.startswith(prefix):
            form = form[len(prefix):]
            break
    for candidate in (form, f"{form}.json", f"forms/{form}", f"forms/{form}.json"):
        if candidate in chk.files and candidate.endswith(".json"):
            return candidate
    chk.add(file, f"camunda:formKey {value!r} names no form of the package (a FlowDesk form is a JSON Schema "
            f"file such as forms/{form.rsplit('/', 1)[-1].rsplit('.', 1)[0]}.json)", element, line)
    return None
