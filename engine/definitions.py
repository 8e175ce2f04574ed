"""Loading and validating process packages: manifest, BPMN, forms, DMN — every problem at once."""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import zipfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

import yaml
from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError
from lxml import etree

from .errors import PackageInvalid, Problem
from .expressions import Sandbox
from .runtime import CompiledProcess, compile_process, spec_problem

MANIFEST = "process.yaml"
BPMN_NS = "http://www.omg.org/spec/BPMN/20100524/MODEL"
BPMNDI_NS = "http://www.omg.org/spec/BPMN/20100524/DI"
HELPER_NAMES = ("now", "today", "add_duration")


@lru_cache(maxsize=4)
def load_schema(name: str) -> dict[str, Any]:
    """A JSON Schema shipped in the project's schemas/ folder."""
    here = Path(__file__).resolve().parent.parent / "schemas" / name
    if here.exists():
        result: dict[str, Any] = json.loads(here.read_text())
        return result
    text = resources.files("engine").joinpath("..", "schemas", name).read_text()  # pragma: no cover
    loaded: dict[str, Any] = json.loads(text)
    return loaded


@dataclass(frozen=True)
class Package:
    """A validated process package, ready to store as an immutable definition version."""

    process_id: str
    manifest: dict[str, Any]
    files: dict[str, str]
    content_hash: str

    @property
    def name(self) -> str:
        return str(self.manifest["name"])

    @property
    def bpmn_process(self) -> str:
        return str(self.manifest["process"])

    def form(self, relpath: str | None) -> dict[str, Any] | None:
        if not relpath:
            return None
        loaded: dict[str, Any] = json.loads(self.files[relpath])
        return loaded

    def compile(self) -> CompiledProcess:
        bpmn = {p: t for p, t in self.files.items() if p.endswith(".bpmn")}
        dmn = {p: t for p, t in self.files.items() if p.endswith(".dmn")}
        return compile_process(self.bpmn_process, bpmn, dmn)


def content_hash(files: Mapping[str, str]) -> str:
    digest = hashlib.sha256()
    for path in sorted(files):
        digest.update(path.encode() + b"\0" + files[path].encode() + b"\0")
    return digest.hexdigest()


PACKAGE_SUFFIXES = frozenset({".yaml", ".yml", ".bpmn", ".dmn", ".json", ".md"})
ARCHIVE_MAX_ENTRIES = 500
ARCHIVE_MAX_BYTES = 10 * 1024 * 1024  # uncompressed, all files together


def read_package_files(root: Path) -> dict[str, str]:
    """Every text file of a package, keyed by its path relative to the package root."""
    files: dict[str, str] = {}
    for path in sorted(root.rglob("*")):
        if path.is_file() and path.suffix in PACKAGE_SUFFIXES:
            files[path.relative_to(root).as_posix()] = path.read_text(encoding="utf-8")
    return files


def write_package_archive(files: Mapping[str, str], folder: str) -> bytes:
    """A zip of package files inside `folder`, as `read_package_archive` reads it back (a fixed entry time,
    so the same files always give the same bytes)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(files):
            entry = zipfile.ZipInfo(f"{folder}/{path}", date_time=(2000, 1, 1, 0, 0, 0))
            entry.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(entry, files[path])
    return buffer.getvalue()


def read_package_archive(data: bytes, label: str = "archive") -> dict[str, str]:
    """The package files inside a zip archive, keyed by path. The archive may hold the package at its
    root or inside one folder (a zipped package folder). Refuses, listing every problem, an archive
    that is not a zip, is too large, has unsafe paths or text that is not UTF-8, or has no manifest."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        entries = [i for i in archive.infolist() if not i.is_dir()]
    except (zipfile.BadZipFile, ValueError, EOFError, NotImplementedError) as err:
        raise PackageInvalid([Problem(label, f"not a zip archive ({err})")]) from err
    if len(entries) > ARCHIVE_MAX_ENTRIES:
        raise PackageInvalid([Problem(label, f"more than {ARCHIVE_MAX_ENTRIES} files")])
    if sum(i.file_size for i in entries) > ARCHIVE_MAX_BYTES:
        raise PackageInvalid([Problem(label, f"more than {ARCHIVE_MAX_BYTES // (1024 * 1024)} MiB unpacked")])
    problems: list[Problem] = []
    wanted: dict[str, zipfile.ZipInfo] = {}
    for info in entries:
        name = info.filename.replace("\\", "/")
        parts = name.split("/")
        if name.startswith("/") or ".." in parts or ":" in parts[0]:
            problems.append(Problem(label, "unsafe path in the archive", name))
        elif not any(part.startswith((".", "__MACOSX")) for part in parts) and Path(name).suffix in PACKAGE_SUFFIXES:
            wanted[name] = info
    tops = {name.split("/")[0] for name in wanted}
    prefix = next(iter(tops)) + "/" if len(tops) == 1 and MANIFEST not in wanted and "/" in next(iter(wanted)) else ""
    files: dict[str, str] = {}
    for name, info in sorted(wanted.items()):
        try:
            raw = archive.read(info)
        except (zipfile.BadZipFile, NotImplementedError, RuntimeError, ValueError, EOFError) as err:
            problems.append(Problem(label, f"cannot be unpacked ({err})", name))
            continue
        if len(raw) != info.file_size:  # a forged size in the directory must not get past the limit
            problems.append(Problem(label, "size does not match the archive's directory", name))
            continue
        try:
            files[name[len(prefix):]] = raw.decode("utf-8")
        except UnicodeDecodeError:
            problems.append(Problem(name[len(prefix):], "not UTF-8 text"))
    if not problems and MANIFEST not in files:
        problems.append(Problem(MANIFEST, f"missing manifest: {label} has no {MANIFEST} at its root or in its folder"))
    if problems:
        raise PackageInvalid(problems)
    return files


@dataclass
class _Checker:
    files: dict[str, str]
    calendars: set[str] | None
    groups: set[str] | None
    problems: list[Problem] = field(default_factory=list)

    def add(self, file: str, message: str, element: str | None = None, line: int | None = None) -> None:
        self.problems.append(Problem(file, message, element, line))


def load_package(root: str | Path, *, calendars: Iterable[str] | None = None,
                 groups: Iterable[str] | None = None) -> Package:
    """Read and validate a package folder or .zip archive; raises PackageInvalid listing every problem."""
    root = Path(root)
    if root.is_file() and root.suffix == ".zip":
        files = read_package_archive(root.read_bytes(), root.name)
        return check_files(files, label=root.stem, calendars=calendars, groups=groups)
    if not root.is_dir():
        raise PackageInvalid([Problem(str(root), "not a package: neither a folder nor a .zip archive")])
    if not (root / MANIFEST).exists():
        raise PackageInvalid([Problem(str(root / MANIFEST), "missing manifest")])
    return check_files(read_package_files(root), label=root.name, calendars=calendars, groups=groups)


def check_files(files: dict[str, str], *, label: str = "", calendars: Iterable[str] | None = None,
                groups: Iterable[str] | None = None) -> Package:
    chk = _Checker(files, set(calendars) if calendars is not None else None,
                   set(groups) if groups is not None else None)
    manifest = _check_manifest(chk)
    if manifest is None:
        raise PackageInvalid(chk.problems)
    compiled = _check_bpmn(chk, manifest)
    _check_forms(chk, manifest)
    if compiled is not None:
        _check_tasks_against_bpmn(chk, manifest, compiled)
        _check_expressions(chk, manifest, compiled)
    if chk.problems:
        raise PackageInvalid(chk.problems)
    return Package(str(manifest["id"]), manifest, files, content_hash(files))


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


def _check_manifest(chk: _Checker) -> dict[str, Any] | None:
    text = chk.files.get(MANIFEST)
    if text is None:
        chk.add(MANIFEST, "missing manifest")
        return None
    try:
        manifest = yaml.safe_load(text)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        chk.add(MANIFEST, f"not valid YAML: {getattr(err, 'problem', err)}",
                line=mark.line + 1 if mark else None)
        return None
    if not isinstance(manifest, dict):
        chk.add(MANIFEST, "the manifest must be a mapping")
        return None
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
    return manifest


def _check_bpmn(chk: _Checker, manifest: dict[str, Any]) -> CompiledProcess | None:
    bpmn_file = manifest.get("bpmn")
    if not isinstance(bpmn_file, str) or bpmn_file not in chk.files:
        return None
    try:
        etree.fromstring(chk.files[bpmn_file].encode("utf-8"))
    except etree.XMLSyntaxError as err:
        chk.add(bpmn_file, f"not well-formed XML: {err.msg}", line=err.lineno)
        return None
    dmn_files = [d for d in manifest.get("decisions") or [] if d in chk.files]
    for dmn in dmn_files:
        try:
            etree.fromstring(chk.files[dmn].encode("utf-8"))
        except etree.XMLSyntaxError as err:
            chk.add(dmn, f"not well-formed XML: {err.msg}", line=err.lineno)
            return None
    try:
        return compile_process(
            str(manifest.get("process")),
            {bpmn_file: chk.files[bpmn_file]},
            {d: chk.files[d] for d in dmn_files},
        )
    except Exception as err:  # noqa: BLE001 - Spiff raises many types while parsing; each becomes a problem
        p = spec_problem(err, bpmn_file)
        chk.add(p.file, p.message, p.element, p.line)
        return None


def _check_forms(chk: _Checker, manifest: dict[str, Any]) -> None:
    forms = {cfg["form"] for cfg in (manifest.get("tasks") or {}).values()
             if isinstance(cfg, dict) and isinstance(cfg.get("form"), str)}
    if isinstance(manifest.get("start_form"), str):
        forms.add(manifest["start_form"])
    for form in sorted(f for f in forms if f in chk.files):
        try:
            schema = json.loads(chk.files[form])
        except json.JSONDecodeError as err:
            chk.add(form, f"not valid JSON: {err.msg}", line=err.lineno)
            continue
        try:
            Draft202012Validator.check_schema(schema)
        except SchemaError as err:
            path = "/".join(str(p) for p in err.absolute_path)
            chk.add(form, f"not a valid JSON Schema: {err.message}", element=path or None)
            continue
        if not isinstance(schema, dict) or schema.get("type") != "object":
            chk.add(form, "a form must be a JSON Schema of type 'object'")


def _element_lines(text: str) -> dict[str, int]:
    root = etree.fromstring(text.encode("utf-8"))
    return {el.get("id"): el.sourceline for el in root.iter() if el.get("id") and el.sourceline}


def _check_tasks_against_bpmn(chk: _Checker, manifest: dict[str, Any], compiled: CompiledProcess) -> None:
    bpmn_file = str(manifest["bpmn"])
    lines = _element_lines(chk.files[bpmn_file])
    lanes = manifest.get("lanes") or {}
    tasks = manifest.get("tasks") or {}
    user_ids = set()
    for spec in compiled.user_tasks():
        bpmn_id = spec.bpmn_id
        user_ids.add(bpmn_id)
        line = lines.get(bpmn_id)
        if not spec.lane:
            chk.add(bpmn_file, "user task is not in a lane, so no group can work it", bpmn_id, line)
        elif spec.lane not in lanes:
            chk.add(bpmn_file, f"lane {spec.lane!r} has no group in the manifest's lanes", bpmn_id, line)
        if bpmn_id not in tasks:
            chk.add(bpmn_file, "user task has no form in the manifest's tasks", bpmn_id, line)
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
# Model elements a modeler draws, so each needs a shape (or, for connections, an edge) in the diagram.
_DRAWN_AS_EDGE = {"sequenceFlow", "messageFlow", "association", "dataInputAssociation", "dataOutputAssociation"}
_NOT_DRAWN = {"laneSet", "dataObject", "ioSpecification", "extensionElements", "documentation", "property",
              "multiInstanceLoopCharacteristics", "standardLoopCharacteristics", "conditionExpression",
              "incoming", "outgoing", "flowNodeRef", "script", "timerEventDefinition", "messageEventDefinition",
              "errorEventDefinition", "signalEventDefinition", "escalationEventDefinition",
              "terminateEventDefinition", "cancelEventDefinition", "compensateEventDefinition",
              "conditionalEventDefinition", "linkEventDefinition", "timeDuration", "timeDate", "timeCycle",
              "condition", "text", "childLaneSet", "dataInput", "dataOutput", "inputSet", "outputSet",
              "sourceRef", "targetRef", "loopCardinality", "completionCondition", "loopDataInputRef",
              "loopDataOutputRef", "inputDataItem", "outputDataItem", "messageRef", "correlationKey",
              "correlationPropertyRef", "assignment", "from", "to", "transformation"}


def _check_diagram(chk: _Checker, bpmn_file: str) -> None:
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
            if el is container or not el.get("id") or etree.QName(el).localname in _NOT_DRAWN:
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


def _check_expressions(chk: _Checker, manifest: dict[str, Any], compiled: CompiledProcess) -> None:
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
