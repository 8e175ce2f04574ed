"""Data flow: every name an expression reads is set before it on every path that reaches it.

Names are set by the start form, a task's form (and its actor field), a lookup, a DMN output, a script
assignment or a message; helper functions are always there. A must-analysis over the BPMN graph (the
intersection over incoming paths, iterated to a fixed point for loops) finds reads that some path leaves
unset; a may-analysis tells "never set" from "not set on every path".
"""

from __future__ import annotations

import ast
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from lxml import etree

from ..expressions import _BUILTINS
from .checker import Checker
from .dmn import decision_tables
from .expression_check import SPIFF_NS, bpmn_sources, helper_names
from .interop import BPMN_NS, iso_timer_literal, looks_like_duration
from .manifest import _yaml_lines
from .package import MANIFEST

_EVERYTHING = frozenset({"*"})  # a message whose payload keys are unknown may set anything
_MESSAGE_EVENTS = {"startEvent", "intermediateCatchEvent", "boundaryEvent", "receiveTask"}


def names_read(source: str, mode: str) -> list[str]:
    """Names the code reads before assigning them itself, in order of appearance."""
    try:
        tree = ast.parse(source.strip() if mode == "eval" else source, mode="eval" if mode == "eval" else "exec")
    except (SyntaxError, ValueError, MemoryError, RecursionError):
        return []
    statements = tree.body if isinstance(tree, ast.Module) else [tree]
    assigned: set[str] = set()
    reads: list[str] = []
    for stmt in statements:
        stores = {n.id for n in ast.walk(stmt) if isinstance(n, ast.Name) and not isinstance(n.ctx, ast.Load)}
        local = {n.id for c in ast.walk(stmt) if isinstance(c, ast.comprehension)
                 for n in ast.walk(c.target) if isinstance(n, ast.Name)}
        loop = {n.id for f in ast.walk(stmt) if isinstance(f, ast.For) for n in ast.walk(f.target)
                if isinstance(n, ast.Name)}
        for node in ast.walk(stmt):
            if (isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load)
                    and node.id not in assigned | local | loop and node.id not in reads):
                reads.append(node.id)
        assigned |= stores
    return reads


def names_assigned(source: str) -> set[str]:
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError, MemoryError, RecursionError):
        return set()
    return {n.id for stmt in tree.body for n in ast.walk(stmt) if isinstance(n, ast.Name)
            and not isinstance(n.ctx, ast.Load)}


@dataclass
class Node:
    id: str
    kind: str
    line: int | None
    sets: frozenset[str] = frozenset()
    preds: list[str] = field(default_factory=list)  # nodes whose out-set flows in
    attached_to: str | None = None  # a boundary event sees its task's in-set


@dataclass(frozen=True)
class Read:
    file: str
    element: str
    line: int | None
    at: str  # the node whose out-set (or in-set, see before) the read sees
    before: bool  # True: the in-set of `at` (the read happens as `at` starts)
    names: tuple[str, ...]
    what: str


def _form_fields(chk: Checker, form: Any) -> set[str]:
    if not isinstance(form, str) or form not in chk.files:
        return set()
    try:
        props = json.loads(chk.files[form]).get("properties") or {}
    except (json.JSONDecodeError, AttributeError):
        return set()
    return set(props) if isinstance(props, dict) else set()


def check_dataflow(chk: Checker, manifest: dict[str, Any]) -> None:
    bpmn_file = str(manifest.get("bpmn"))
    try:
        root = etree.fromstring(chk.files[bpmn_file].encode("utf-8"))
    except (KeyError, etree.XMLSyntaxError):
        return
    process = next((p for p in root.iter(f"{{{BPMN_NS}}}process") if p.get("id") == manifest.get("process")), None)
    if process is None:
        return
    graph = Graph(chk, manifest, bpmn_file, process)
    graph.solve()
    graph.report()


class Graph:
    def __init__(self, chk: Checker, manifest: dict[str, Any], bpmn_file: str, process: etree._Element) -> None:
        self.chk, self.manifest, self.file = chk, manifest, bpmn_file
        self.tasks = manifest.get("tasks") or {}
        self.lookups = {str(k): str((v or {}).get("key", "")).split(".")[0]
                        for k, v in (manifest.get("lookups") or {}).items() if isinstance(v, dict)}
        self.always = set(helper_names()) | set(_BUILTINS)
        self.nodes: dict[str, Node] = {}
        self.flows: dict[str, tuple[str, str]] = {}
        self.reads: list[Read] = []
        self.yaml_lines = _yaml_lines(chk.files.get(MANIFEST, ""))
        tables = decision_tables(chk.files, manifest)
        start_fields = _form_fields(chk, manifest.get("start_form"))
        for el in process.iter(f"{{{BPMN_NS}}}*"):
            local, eid = etree.QName(el).localname, el.get("id")
            if not eid:
                continue
            if local == "sequenceFlow":
                self.flows[eid] = (str(el.get("sourceRef")), str(el.get("targetRef")))
                continue
            if el.getparent() is not process or local in ("laneSet", "dataObject", "dataObjectReference",
                                                         "textAnnotation", "association", "property"):
                continue
            node = Node(eid, local, el.sourceline, attached_to=el.get("attachedToRef"))
            sets: set[str] = set()
            if local == "startEvent":
                message = el.find(f"{{{BPMN_NS}}}messageEventDefinition")
                sets |= self._message_sets(message) if message is not None else start_fields | self._lookups(
                    start_fields)
            elif local in ("userTask", "manualTask", "task"):
                cfg: dict[str, Any] = self.tasks[eid] if isinstance(self.tasks.get(eid), dict) else {}
                fields = _form_fields(chk, cfg.get("form"))
                sets |= fields | self._lookups(fields) | ({cfg["actor_field"]} if cfg.get("actor_field") else set())
            elif local == "scriptTask":
                sets |= names_assigned(el.findtext(f"{{{BPMN_NS}}}script") or "")
            elif local == "businessRuleTask":
                ref = (el.findtext(f".//{{{SPIFF_NS}}}calledDecisionId") or "").strip()
                table = tables.get(ref)
                if table is not None:
                    sets |= set(table.outputs)
                    self.reads.append(Read(table.file, ref, None, eid, True, tuple(
                        n for expr in table.inputs for n in names_read(expr, "eval")), "decision input"))
            if local in _MESSAGE_EVENTS and local != "startEvent":
                message = el.find(f"{{{BPMN_NS}}}messageEventDefinition")
                if message is not None:
                    sets |= self._message_sets(message)
            for extra in el.iter(f"{{{SPIFF_NS}}}postScript"):
                sets |= names_assigned(extra.text or "")
            node.sets = frozenset(sets)
            self.nodes[eid] = node
        for _flow, (source, target) in self.flows.items():
            if target in self.nodes:
                self.nodes[target].preds.append(source)
        self._collect_reads(process)

    def _lookups(self, fields: Iterable[str]) -> set[str]:
        return {into for into, key in self.lookups.items() if key in set(fields)}

    def _message_sets(self, message: etree._Element) -> set[str]:
        variable = (message.findtext(f"{{{SPIFF_NS}}}messageVariable") or "").strip()
        return {variable} if variable else set(_EVERYTHING)

    def _collect_reads(self, process: etree._Element) -> None:
        for src in bpmn_sources(self.file, process):
            if src.element is None or src.mode == "exec" and src.what != "script":
                continue
            if src.what == "timer" and (iso_timer_literal(src.text) or looks_like_duration(src.text.strip())):
                continue  # a literal, checked as such
            names = tuple(names_read(src.text, src.mode))
            if src.element in self.flows:
                self.reads.append(Read(self.file, src.element, src.line, self.flows[src.element][0], False, names,
                                       "flow"))
            elif src.element in self.nodes:
                node = self.nodes[src.element]
                at, before = (node.attached_to, True) if node.attached_to and src.what == "timer" else (node.id, True)
                self.reads.append(Read(self.file, src.element, src.line, str(at), before, names, src.what))
        lanes = self.manifest.get("lanes") or {}
        lane_of: dict[str, str] = {}
        for lane in process.iter(f"{{{BPMN_NS}}}lane"):
            for ref in lane.iter(f"{{{BPMN_NS}}}flowNodeRef"):
                lane_of[(ref.text or "").strip()] = lane.get("name") or lane.get("id") or ""
        for task_id, cfg in self.tasks.items():
            if task_id not in self.nodes or not isinstance(cfg, dict):
                continue
            exprs = {k: cfg.get(k) for k in ("group", "due", "priority", "assign")}
            exprs["lane"] = None if cfg.get("group") else lanes.get(lane_of.get(task_id, ""))
            for key, value in exprs.items():
                line = self.yaml_lines.get(("tasks", str(task_id), key)) or self.yaml_lines.get(
                    ("lanes", lane_of.get(task_id, ""))) or self.yaml_lines.get(("tasks", str(task_id)))
                if isinstance(value, str) and value.startswith("="):
                    self.reads.append(Read(MANIFEST, str(task_id), line, str(task_id), True,
                                           tuple(names_read(value[1:], "eval")), f"task `{task_id}` {key}"))

    def solve(self) -> None:
        """Must-sets (None: not reached yet) and may-sets after every node, iterated to a fixed point."""
        self.must_out: dict[str, frozenset[str] | None] = dict.fromkeys(self.nodes)
        self.may_out: dict[str, frozenset[str]] = {n: frozenset() for n in self.nodes}
        for _ in range(len(self.nodes) + 5):
            changed = False
            for node in self.nodes.values():
                must_in, may_in = self.into(node.id)
                must = None if must_in is None else must_in | node.sets
                may = may_in | node.sets
                if must != self.must_out[node.id] or may != self.may_out[node.id]:
                    self.must_out[node.id], self.may_out[node.id] = must, may
                    changed = True
            if not changed:
                break

    def into(self, node_id: str) -> tuple[frozenset[str] | None, frozenset[str]]:
        node = self.nodes[node_id]
        if node.attached_to and node.attached_to in self.nodes:
            return self.into(node.attached_to)
        if node.kind == "startEvent" and not node.preds:
            return frozenset(), frozenset()
        known = [self.must_out[p] for p in node.preds if p in self.must_out and self.must_out[p] is not None]
        may: frozenset[str] = frozenset().union(*(self.may_out.get(p, frozenset()) for p in node.preds))
        if not known:
            return None, may
        must = known[0]
        for other in known[1:]:
            must = must & other  # type: ignore[operator]
        return must, may

    def report(self) -> None:
        for read in self.reads:
            if read.at not in self.nodes:
                continue
            must, may = self.into(read.at) if read.before else (self.must_out[read.at], self.may_out[read.at])
            if must is None or "*" in must:
                continue  # unreachable (reported elsewhere) or after a message that may set anything
            for name in read.names:
                if name in must or name in self.always:
                    continue
                where = f"flow `{read.element}`" if read.what == "flow" else read.what if read.file == MANIFEST else (
                    f"{read.what} of `{read.element}`")
                if name in may:
                    why = "which is not set on every path that reaches it"
                else:
                    why = "which no form or script before it sets"
                hint = self._hint(self.nodes[read.at].preds if read.before else [read.at], name)
                self.chk.add(read.file, f"{where} reads `{name}`, {why}{hint}", read.element, read.line)

    def _hint(self, start: list[str], name: str) -> str:
        """Names the form of the nearest user task before the read, which is where the field is usually missing."""
        seen: set[str] = set()
        frontier = list(start)
        while frontier:
            current = frontier.pop(0)
            if current in seen or current not in self.nodes:
                continue
            seen.add(current)
            node = self.nodes[current]
            cfg: dict[str, Any] = self.tasks[current] if isinstance(self.tasks.get(current), dict) else {}
            if node.kind in ("userTask", "manualTask", "task") and cfg.get("form"):
                return f" ({cfg['form']} has no field `{name}`)"
            frontier.extend(node.preds)
        return ""
