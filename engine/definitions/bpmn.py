"""The BPMN file: it parses and builds, its user tasks and timers match the manifest, its diagram is whole."""

from __future__ import annotations

from typing import Any

from lxml import etree

from ..runtime import CompiledProcess, compile_process, spec_problem
from .checker import Checker, parse_xml
from .interop import normalise
from .package import MANIFEST

BPMN_NS = "http://www.omg.org/spec/BPMN/20100524/MODEL"
BPMNDI_NS = "http://www.omg.org/spec/BPMN/20100524/DI"


def _check_bpmn(chk: Checker, manifest: dict[str, Any], dmn_ok: list[str]) -> CompiledProcess | None:
    bpmn_file = manifest.get("bpmn")
    if not isinstance(bpmn_file, str) or bpmn_file not in chk.files:
        return None
    if parse_xml(chk, bpmn_file) is None:
        return None
    try:
        return compile_process(str(manifest.get("process")),
                               *normalise({bpmn_file: chk.files[bpmn_file]}, {d: chk.files[d] for d in dmn_ok}))
    except Exception as err:  # noqa: BLE001 - Spiff raises many types while parsing; each becomes a problem
        p = spec_problem(err, bpmn_file)
        line = p.line
        if line is None and p.element and p.file == bpmn_file:
            line = _element_lines(chk.files[bpmn_file]).get(p.element)
        chk.add(p.file, p.message, p.element, line)
        chk.parser_problems.append(chk.problems[-1])
        return None


def _element_lines(text: str) -> dict[str, int]:
    root = etree.fromstring(text.encode("utf-8"))
    return {el.get("id"): el.sourceline for el in root.iter() if el.get("id") and el.sourceline}


def _check_tasks_against_bpmn(chk: Checker, manifest: dict[str, Any], compiled: CompiledProcess) -> None:
    bpmn_file = str(manifest["bpmn"])
    lines = _element_lines(chk.files[bpmn_file])
    kinds = _element_kinds(chk.files[bpmn_file])
    lanes = manifest.get("lanes") or {}
    tasks = manifest.get("tasks") or {}
    user_ids = set()
    for spec in compiled.user_tasks():
        bpmn_id = spec.bpmn_id
        user_ids.add(bpmn_id)
        line = lines.get(bpmn_id)
        kind = {"userTask": "user task", "manualTask": "manual task"}.get(kinds.get(bpmn_id, ""), "task")
        plain = " (a plain bpmn:task waits for a person in FlowDesk: make it a userTask, or a scriptTask)"
        hint = plain if kind == "task" else ""
        cfg: dict[str, Any] = tasks[bpmn_id] if isinstance(tasks.get(bpmn_id), dict) else {}
        if cfg.get("group"):
            pass
        elif not spec.lane:
            chk.add(bpmn_file, f"{kind} is not in a lane and has no group in the manifest "
                    f"(tasks: {bpmn_id}: {{group: ...}}), so no group can work it{hint}", bpmn_id, line)
        elif spec.lane not in lanes:
            chk.add(bpmn_file, f"lane {spec.lane!r} has no group in the manifest's lanes "
                    f"(or give the task one: tasks: {bpmn_id}: {{group: ...}})", bpmn_id, line)
        if bpmn_id not in tasks:
            chk.add(bpmn_file, f"{kind} has no form in the manifest's tasks{hint}", bpmn_id, line)
    for task_id in tasks:
        if task_id not in user_ids:
            chk.add(MANIFEST, f"tasks: {task_id!r} is not a user task of the BPMN process", task_id)
    timer_ids = {s.bpmn_id for s in compiled.timer_events()}
    for timer_id in manifest.get("timers") or {}:
        if timer_id not in timer_ids:
            chk.add(MANIFEST, f"timers: {timer_id!r} is not a timer event of the BPMN process", timer_id)
    _check_diagram(chk, bpmn_file)


DC_NS = "http://www.omg.org/spec/DD/20100524/DC"
DI_NS = "http://www.omg.org/spec/DD/20100524/DI"
# Model elements BPMN DI draws: each needs a shape (or, for connections, an edge) in the diagram. Everything
# else (potentialOwner, performer, dataState, event definitions, extension elements...) is drawn as part of
# its owner or not at all.
_DRAWN_AS_EDGE = {"sequenceFlow", "messageFlow", "association", "dataInputAssociation", "dataOutputAssociation"}
_DRAWN_AS_SHAPE = {
    "task", "userTask", "manualTask", "scriptTask", "serviceTask", "sendTask", "receiveTask", "businessRuleTask",
    "callActivity", "subProcess", "transaction", "adHocSubProcess", "startEvent", "endEvent", "boundaryEvent",
    "intermediateCatchEvent", "intermediateThrowEvent", "exclusiveGateway", "parallelGateway",
    "inclusiveGateway", "eventBasedGateway", "complexGateway", "lane", "participant", "textAnnotation",
    "dataObjectReference", "dataStoreReference", "group",
}
_DRAWN = _DRAWN_AS_EDGE | _DRAWN_AS_SHAPE


def _element_kinds(text: str) -> dict[str, str]:
    root = etree.fromstring(text.encode("utf-8"))
    return {el.get("id"): etree.QName(el).localname for el in root.iter(f"{{{BPMN_NS}}}*") if el.get("id")}


def _check_diagram(chk: Checker, bpmn_file: str) -> None:
    """Every drawn element has a shape with bounds (or an edge with waypoints) and no shape points nowhere,
    so the file opens in a modeler (Camunda Modeler, bpmn-js) with nothing missing or misplaced."""
    root = etree.fromstring(chk.files[bpmn_file].encode("utf-8"))
    diagrams = root.findall(f"{{{BPMNDI_NS}}}BPMNDiagram")
    if not diagrams:
        chk.add(bpmn_file, "no diagram information (bpmndi:BPMNDiagram); it would not open in a modeler")
        return
    drawn: dict[str, etree._Element] = {}
    for el in root.iter(f"{{{BPMNDI_NS}}}BPMNShape", f"{{{BPMNDI_NS}}}BPMNEdge"):
        ref, what = el.get("bpmnElement"), etree.QName(el).localname
        if not ref:
            chk.add(bpmn_file, f"{what} {el.get('id')!r} names no bpmnElement", el.get("id"), el.sourceline)
            continue
        drawn[ref] = el
        if what == "BPMNShape" and el.find(f"{{{DC_NS}}}Bounds") is None:
            chk.add(bpmn_file, "diagram shape has no dc:Bounds", ref, el.sourceline)
        if what == "BPMNEdge" and len(el.findall(f"{{{DI_NS}}}waypoint")) < 2:
            chk.add(bpmn_file, "diagram edge has fewer than two waypoints", ref, el.sourceline)
    model: dict[str, etree._Element] = {}
    for container in (*root.findall(f"{{{BPMN_NS}}}process"), *root.findall(f"{{{BPMN_NS}}}collaboration")):
        for el in container.iter(f"{{{BPMN_NS}}}*"):
            if el is container or not el.get("id") or etree.QName(el).localname not in _DRAWN:
                continue
            if container.tag == f"{{{BPMN_NS}}}collaboration" and etree.QName(el).localname not in (
                    "participant", "messageFlow", "textAnnotation", "association"):
                continue
            model[el.get("id")] = el
    for element_id, el in model.items():
        if element_id not in drawn:
            kind = "edge" if etree.QName(el).localname in _DRAWN_AS_EDGE else "shape"
            chk.add(bpmn_file, f"{etree.QName(el).localname} has no diagram {kind}; a modeler would not show it",
                    element_id, el.sourceline)
    all_ids = {el.get("id") for el in root.iter() if el.get("id")}
    for ref, el in drawn.items():
        if ref not in all_ids:
            chk.add(bpmn_file, f"diagram element points to {ref!r}, which the file does not define", ref,
                    el.sourceline)


