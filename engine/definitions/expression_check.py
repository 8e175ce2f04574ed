"""Every expression of a package parsed and checked by the sandbox, with file, element and line.

Gateway conditions are reported on the sequence flow that holds them, scripts on their task, timer values
and message payloads on their event, correlations on their property, and manifest values (`=expr`,
`{{ path }}`) at their key in process.yaml.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Literal

from lxml import etree

from ..expressions import Sandbox
from .camunda import juel_hint
from .checker import Checker
from .interop import BPMN_NS, iso_timer_literal, looks_like_duration
from .manifest import _yaml_lines
from .package import MANIFEST

HELPER_NAMES = ("now", "today", "add_duration")
SPIFF_NS = "http://spiffworkflow.org/bpmn/schema/1.0/core"
_TITLE_SLOT = re.compile(r"\{\{(.*?)\}\}", re.S)
_PATH = re.compile(r"\s*[A-Za-z0-9_.]+\s*")


def helper_names() -> tuple[str, ...]:
    """The helper functions expressions may call (time, durations, business days)."""
    try:
        from datetime import UTC, datetime

        from ..service.core import expression_helpers

        return tuple(sorted(expression_helpers(datetime(2000, 1, 1, tzinfo=UTC), None)))
    except Exception:  # noqa: BLE001 - the service layer is optional for checking files
        return HELPER_NAMES


def checking_sandbox() -> Sandbox:
    return Sandbox(dict.fromkeys(helper_names(), _no_call))


def _no_call(*_args: Any, **_kwargs: Any) -> None:
    return None


@dataclass(frozen=True)
class Source:
    """One piece of process text: where it is, what it is and how it runs."""

    file: str
    element: str | None
    line: int | None
    what: str  # condition, script, timer, payload, correlation, ...
    mode: Literal["eval", "exec"]
    text: str


def _owner(el: etree._Element, *kinds: str) -> etree._Element | None:
    node = el.getparent()
    while node is not None:
        if isinstance(node.tag, str) and (not kinds or etree.QName(node).localname in kinds) and node.get("id"):
            return node
        node = node.getparent()
    return None


def bpmn_sources(file: str, root: etree._Element) -> Iterator[Source]:
    """Every condition, script, timer value, message payload and correlation of a BPMN file."""
    b, s = f"{{{BPMN_NS}}}", f"{{{SPIFF_NS}}}"
    for el in root.iter(f"{b}conditionExpression", f"{b}condition", f"{b}script", f"{s}preScript",
                        f"{s}postScript", f"{b}timeDuration", f"{b}timeDate", f"{b}timeCycle",
                        f"{s}messagePayload", f"{b}formalExpression"):
        local, text = etree.QName(el).localname, el.text or ""
        if local == "conditionExpression":
            flow = el.getparent()
            yield Source(file, flow.get("id") if flow is not None else None, el.sourceline, "condition", "eval", text)
        elif local == "condition":
            owner = _owner(el)
            yield Source(file, owner.get("id") if owner is not None else None, el.sourceline, "condition", "eval",
                         text)
        elif local in ("script", "preScript", "postScript"):
            owner = _owner(el)
            yield Source(file, owner.get("id") if owner is not None else None, el.sourceline,
                         "script" if local == "script" else local, "exec", text)
        elif local in ("timeDuration", "timeDate", "timeCycle"):
            owner = _owner(el, "startEvent", "boundaryEvent", "intermediateCatchEvent")
            yield Source(file, owner.get("id") if owner is not None else None, el.sourceline, "timer", "eval", text)
        elif local == "messagePayload":
            owner = _owner(el, "startEvent", "endEvent", "intermediateThrowEvent", "intermediateCatchEvent",
                           "boundaryEvent", "sendTask", "receiveTask")
            owner = owner if owner is not None else _owner(el)
            yield Source(file, owner.get("id") if owner is not None else None, el.sourceline, "message payload",
                         "eval", text)
        elif el.getparent() is not None and etree.QName(el.getparent()).localname == (
                "correlationPropertyRetrievalExpression"):
            owner = _owner(el, "correlationProperty")
            yield Source(file, owner.get("id") if owner is not None else None, el.sourceline, "correlation",
                         "eval", text)


def check_source(chk: Checker, sandbox: Sandbox, src: Source) -> None:
    text = src.text
    hint = juel_hint(text)
    if hint is not None:
        chk.add(src.file, f"{src.what}: {hint}", src.element, src.line)
        return
    if src.what == "timer":
        stripped = text.strip()
        if iso_timer_literal(stripped):
            return
        if looks_like_duration(stripped):
            chk.add(src.file, f"timer: {stripped!r} is not an ISO-8601 duration (write e.g. PT4H, P3D)",
                    src.element, src.line)
            return
        literal = _string_literal(stripped)
        if literal is not None and not iso_timer_literal(literal):
            chk.add(src.file, f"timer: {literal!r} is not an ISO-8601 duration, cycle or date-time", src.element,
                    src.line)
            return
    if not text.strip():
        if src.what != "script":
            chk.add(src.file, f"{src.what} is empty", src.element, src.line)
        return
    for message in sandbox.check(text, mode=src.mode):
        chk.add(src.file, f"{src.what}: {message}", src.element, src.line)


def _string_literal(text: str) -> str | None:
    match = re.fullmatch(r"'([^'\\]*)'|\"([^\"\\]*)\"", text)
    if match is None:
        return None
    return match.group(1) if match.group(1) is not None else match.group(2)


def _check_gateways(chk: Checker, file: str, root: etree._Element) -> None:
    """An exclusive or inclusive gateway with several ways out needs a condition on each but its default."""
    flows = {f.get("id"): f for f in root.iter(f"{{{BPMN_NS}}}sequenceFlow")}
    for gw in root.iter(f"{{{BPMN_NS}}}exclusiveGateway", f"{{{BPMN_NS}}}inclusiveGateway"):
        outgoing = [f for f in flows.values() if f.get("sourceRef") == gw.get("id")]
        if len(outgoing) < 2:
            continue
        for flow in outgoing:
            if flow.find(f"{{{BPMN_NS}}}conditionExpression") is None and flow.get("id") != gw.get("default"):
                chk.add(file, f"flow leaves gateway {gw.get('id')!r} without a condition and is not its default "
                        "flow; give it a condition or make it the gateway's default", flow.get("id"),
                        flow.sourceline)


def check_bpmn_expressions(chk: Checker, bpmn_file: str) -> None:
    root = etree.fromstring(chk.files[bpmn_file].encode("utf-8"))
    sandbox = checking_sandbox()
    for src in bpmn_sources(bpmn_file, root):
        check_source(chk, sandbox, src)
    _check_gateways(chk, bpmn_file, root)


def manifest_sources(chk: Checker, manifest: dict[str, Any]) -> Iterator[Source]:
    """Every `=expr` of the manifest: lane groups and each task's group, due time, priority and assign rule."""
    lines = _yaml_lines(chk.files.get(MANIFEST, ""))
    for lane, ref in (manifest.get("lanes") or {}).items():
        if isinstance(ref, str) and ref.startswith("="):
            yield Source(MANIFEST, f"lanes/{lane}", lines.get(("lanes", str(lane))), f"lanes/{lane}", "eval", ref[1:])
    for task_id, cfg in (manifest.get("tasks") or {}).items():
        for key in ("group", "due", "priority", "assign"):
            value = cfg.get(key) if isinstance(cfg, dict) else None
            if isinstance(value, str) and value.startswith("="):
                yield Source(MANIFEST, str(task_id), lines.get(("tasks", str(task_id), key)) or lines.get(
                    ("tasks", str(task_id))), f"tasks/{task_id}/{key}", "eval", value[1:])


def check_manifest_expressions(chk: Checker, manifest: dict[str, Any]) -> None:
    sandbox = checking_sandbox()
    for src in manifest_sources(chk, manifest):
        check_source(chk, sandbox, src)
    title = manifest.get("title")
    if isinstance(title, str):
        line = _yaml_lines(chk.files.get(MANIFEST, "")).get(("title",))
        for slot in _TITLE_SLOT.finditer(title):
            if not _PATH.fullmatch(slot.group(1)):
                chk.add(MANIFEST, f"title: {{{{{slot.group(1)}}}}} is not a data path; a title fills only "
                        "{{ dotted.path }} placeholders", "title", line)
        if title.count("{{") != title.count("}}"):
            chk.add(MANIFEST, "title: a '{{' has no matching '}}'", "title", line)
