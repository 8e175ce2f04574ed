"""A package's own translations: `locales/<locale>.yaml` beside `process.yaml`.

A department translates what its staff read — the process name, task and lane names, the labels of
a gateway's outcomes, each form's title, descriptions and enum labels, KPI names — in files of the
package, so adding a language is a deployment, never a code change. The engine keeps the files with
the definition version like any other; this module reads them, checks them against the package
(unknown keys and missing translations are warnings: an untranslated label falls back to the
package's own text), and applies them.

```yaml
# locales/zh_CN.yaml
name: 客户投诉处理
tasks: {judge: 判断投诉是否成立}
lanes: {Service desk: 服务台}
flows: {to_reply: 不成立}
forms:
  forms/judge.json:
    title: 判断投诉
    fields:
      established: {title: 投诉成立？, labels: {"true": 成立, "false": 不成立}}
reports: {first_response: 首次响应时间}
```
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import yaml

from .archive import load_yaml
from .errors import Problem

LOCALES_DIR = "locales/"
LOCALE_FILE = re.compile(r"^locales/([a-z]{2,3}(?:_[A-Z][a-zA-Z]{1,3})?)\.ya?ml$")
SECTIONS = ("name", "description", "tasks", "lanes", "flows", "forms", "reports")
FIELD_KEYS = ("title", "description", "labels", "fields")
FORM_KEYS = ("title", "description", "fields")


def normalize(locale: str | None) -> str | None:
    """`zh-cn`, `zh_CN` and `zh-Hans-CN`-like tags in the form the files use (`zh_CN`), or None."""
    if not locale:
        return None
    parts = re.split(r"[-_]", locale.strip())
    if not parts or not parts[0].isalpha():
        return None
    lang = parts[0].lower()
    region = next((p for p in parts[1:] if len(p) == 2 and p.isalpha()), None)
    return f"{lang}_{region.upper()}" if region else lang


def locale_files(files: Mapping[str, str]) -> dict[str, str]:
    """The package's locale files by locale: {'zh_CN': 'locales/zh_CN.yaml'}."""
    found: dict[str, str] = {}
    for path in files:
        match = LOCALE_FILE.match(path)
        if match:
            found[match.group(1)] = path
    return found


@dataclass(frozen=True)
class Translations:
    """One locale's texts for one definition version; every lookup falls back to the given default."""

    locale: str
    texts: Mapping[str, Any] = field(default_factory=dict)
    task_forms: Mapping[str, str] = field(default_factory=dict)  # task element id -> form path
    start_form: str | None = None

    def _section(self, name: str, key: str, default: str) -> str:
        section = self.texts.get(name)
        value = section.get(key) if isinstance(section, Mapping) else None
        return str(value) if isinstance(value, str) and value else default

    def process_name(self, default: str) -> str:
        value = self.texts.get("name")
        return str(value) if isinstance(value, str) and value else default

    def process_description(self, default: str) -> str:
        value = self.texts.get("description")
        return str(value) if isinstance(value, str) and value else default

    def task(self, element_id: str, default: str) -> str:
        return self._section("tasks", element_id, default)

    def lane(self, lane: str, default: str) -> str:
        return self._section("lanes", lane, default)

    def flow(self, flow_id: str, default: str) -> str:
        return self._section("flows", flow_id, default)

    def kpi(self, kpi_id: str, default: str) -> str:
        return self._section("reports", kpi_id, default)

    def form(self, path: str | None, schema: Mapping[str, Any] | None) -> dict[str, Any] | None:
        """A copy of a form schema with this locale's titles, descriptions and enum labels applied."""
        if schema is None:
            return None
        result = copy.deepcopy(dict(schema))
        forms = self.texts.get("forms")
        overlay = forms.get(path) if isinstance(forms, Mapping) and path else None
        if isinstance(overlay, Mapping):
            _apply(result, overlay)
        return result

    def task_form(self, element_id: str, schema: Mapping[str, Any] | None) -> dict[str, Any] | None:
        return self.form(self.task_forms.get(element_id), schema)

    def start(self, schema: Mapping[str, Any] | None) -> dict[str, Any] | None:
        return self.form(self.start_form, schema)


def _apply(schema: dict[str, Any], overlay: Mapping[str, Any]) -> None:
    for key in ("title", "description"):
        if isinstance(overlay.get(key), str):
            schema[key] = overlay[key]
    labels = overlay.get("labels")
    if isinstance(labels, Mapping):
        merged = dict(schema.get("x-labels") or {})
        merged.update({_key(k): str(v) for k, v in labels.items()})
        schema["x-labels"] = merged
    fields = overlay.get("fields")
    props = _properties(schema)
    if isinstance(fields, Mapping):
        for name, sub in fields.items():
            if isinstance(sub, Mapping) and isinstance(props.get(name), dict):
                _apply(props[name], sub)


def _properties(schema: Mapping[str, Any]) -> dict[str, Any]:
    """The fields of an object schema, or of an array's object items."""
    props = schema.get("properties")
    if isinstance(props, dict):
        return props
    items = schema.get("items")
    if isinstance(items, dict) and isinstance(items.get("properties"), dict):
        return dict(items["properties"])
    return {}


def _key(value: Any) -> str:
    """Enum values as x-labels keys: YAML reads `true:` as a bool, the forms write "true"."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def load(files: Mapping[str, str], manifest: Mapping[str, Any], locale: str | None) -> Translations | None:
    """The translations of a stored package for a locale (`zh_CN`, falling back to `zh`), or None."""
    locale = normalize(locale)
    if not locale:
        return None
    available = locale_files(files)
    language = locale.split("_")[0]
    path = available.get(locale) or available.get(language) or next(
        (p for code, p in sorted(available.items()) if code.split("_")[0] == language), None)
    if path is None:
        return None
    try:
        texts = load_yaml(files[path]) or {}
    except yaml.YAMLError:
        return None  # refused at deploy; a stored package always parses
    if not isinstance(texts, Mapping):
        return None
    tasks = manifest.get("tasks") or {}
    task_forms = {str(k): str(v["form"]) for k, v in tasks.items() if isinstance(v, Mapping) and v.get("form")}
    return Translations(locale, texts, task_forms, manifest.get("start_form"))


@dataclass(frozen=True)
class PackageFacts:
    """What a locale file may name: the ids and texts of the package it belongs to."""

    tasks: Mapping[str, str]  # user task element id -> name
    lanes: Iterable[str]
    flows: Mapping[str, str]  # sequence flow id -> its name ('' when unnamed)
    forms: Mapping[str, Any]  # form path -> schema
    reports: Iterable[str]


def check(files: Mapping[str, str], facts: PackageFacts) -> tuple[list[Problem], list[Problem]]:
    """(errors, warnings) of every locale file: a file that is not a mapping of known sections is an
    error; a key naming nothing in the package, or a text left untranslated, is a warning."""
    errors: list[Problem] = []
    warnings: list[Problem] = []
    for path in sorted(p for p in files if p.startswith(LOCALES_DIR)):
        if not LOCALE_FILE.match(path):
            errors.append(Problem(path, "a locale file is named locales/<locale>.yaml, e.g. locales/zh_CN.yaml"))
            continue
        try:
            texts = load_yaml(files[path]) or {}
        except yaml.YAMLError as err:
            mark = getattr(err, "problem_mark", None)
            errors.append(Problem(path, f"not valid YAML: {getattr(err, 'problem', err)}", None,
                                  mark.line + 1 if mark is not None else None))
            continue
        if not isinstance(texts, Mapping):
            errors.append(Problem(path, "a locale file is a mapping of: " + ", ".join(SECTIONS)))
            continue
        _check_file(path, texts, facts, errors, warnings)
    return errors, warnings


def _check_file(path: str, texts: Mapping[str, Any], facts: PackageFacts,
                errors: list[Problem], warnings: list[Problem]) -> None:
    for key in texts:
        if key not in SECTIONS:
            errors.append(Problem(path, f"unknown section {key!r}; known: {', '.join(SECTIONS)}", str(key)))
    if not isinstance(texts.get("name"), str):
        warnings.append(Problem(path, "the process name is not translated", "name"))
    known = {"tasks": set(facts.tasks), "lanes": set(facts.lanes), "flows": set(facts.flows),
             "reports": set(facts.reports)}
    for section, ids in known.items():
        given = texts.get(section) or {}
        if not isinstance(given, Mapping):
            errors.append(Problem(path, f"{section} is a mapping of id to text", section))
            continue
        for key, value in given.items():
            if str(key) not in ids:
                warnings.append(Problem(path, f"{section}: {key!r} is not in the package", str(key)))
            elif not isinstance(value, str):
                errors.append(Problem(path, f"{section}: the text of {key!r} is not a string", str(key)))
    tasks = _mapping(texts, "tasks")
    for task_id in sorted(facts.tasks):
        if task_id not in tasks:
            warnings.append(Problem(path, f"task {task_id!r} ({facts.tasks[task_id]}) is not translated", task_id))
    lanes = _mapping(texts, "lanes")
    for lane in sorted(set(facts.lanes) - set(lanes)):
        warnings.append(Problem(path, f"lane {lane!r} is not translated", lane))
    reports = _mapping(texts, "reports")
    for kpi in sorted(set(facts.reports) - set(reports)):
        warnings.append(Problem(path, f"KPI {kpi!r} is not translated", kpi))
    named_flows = _mapping(texts, "flows")
    for flow_id, name in sorted(facts.flows.items()):
        if name and flow_id not in named_flows:
            warnings.append(Problem(path, f"flow {flow_id!r} ({name}) is not translated", flow_id))
    forms = texts.get("forms") or {}
    if not isinstance(forms, Mapping):
        errors.append(Problem(path, "forms is a mapping of form path to its texts", "forms"))
        return
    for form_path, overlay in forms.items():
        if form_path not in facts.forms:
            warnings.append(Problem(path, f"forms: {form_path!r} is not a form of the package", str(form_path)))
        elif not isinstance(overlay, Mapping):
            errors.append(Problem(path, f"forms: {form_path!r} is a mapping of title, description, fields",
                                  str(form_path)))
        else:
            _check_form(path, str(form_path), facts.forms[form_path], overlay, FORM_KEYS, errors, warnings)
    for form_path in sorted(set(facts.forms) - set(forms)):
        warnings.append(Problem(path, f"form {form_path!r} is not translated", form_path))


def _mapping(texts: Mapping[str, Any], section: str) -> Mapping[str, Any]:
    value = texts.get(section)
    return value if isinstance(value, Mapping) else {}


def _check_form(path: str, where: str, schema: Any, overlay: Mapping[str, Any], allowed: tuple[str, ...],
                errors: list[Problem], warnings: list[Problem]) -> None:
    for key in overlay:
        if key not in allowed:
            errors.append(Problem(path, f"{where}: unknown key {key!r}; known: {', '.join(allowed)}", where))
    schema = schema if isinstance(schema, Mapping) else {}
    if schema.get("title") and "title" not in overlay:
        warnings.append(Problem(path, f"{where}: the title is not translated", where))
    labels = overlay.get("labels")
    if isinstance(labels, Mapping):
        values = {_key(v) for v in schema.get("enum") or []}
        for value in labels:
            if _key(value) not in values:
                warnings.append(Problem(path, f"{where}: {value!r} is not one of the field's values", where))
    fields = overlay.get("fields") or {}
    props = _properties(schema)
    if not isinstance(fields, Mapping):
        errors.append(Problem(path, f"{where}: fields is a mapping of field name to its texts", where))
        return
    for name, sub in fields.items():
        here = f"{where}#{name}"
        if name not in props:
            warnings.append(Problem(path, f"{where}: the form has no field {name!r}", here))
        elif not isinstance(sub, Mapping):
            errors.append(Problem(path, f"{here}: a field's texts are a mapping of {', '.join(FIELD_KEYS)}", here))
        else:
            _check_form(path, here, props[name], sub, FIELD_KEYS, errors, warnings)
    for name in sorted(props):
        if isinstance(props[name], Mapping) and props[name].get("title") and name not in fields:
            warnings.append(Problem(path, f"{where}: field {name!r} is not translated", f"{where}#{name}"))


def form_schemas(files: Mapping[str, str]) -> dict[str, Any]:
    """Every form of a package (JSON files under forms/), parsed; unparsable ones are left out."""
    forms: dict[str, Any] = {}
    for path, text in files.items():
        if path.endswith(".json") and path.startswith("forms/"):
            try:
                forms[path] = json.loads(text)
            except ValueError:
                continue
    return forms


def package_facts(files: Mapping[str, str], manifest: Mapping[str, Any], user_tasks: Iterable[Any]) -> PackageFacts:
    """The ids a package's locale files may translate, read from its manifest, BPMN and forms."""
    from lxml import etree

    flows: dict[str, str] = {}
    parser = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=False)
    for path, text in files.items():
        if not path.endswith(".bpmn"):
            continue
        try:
            root = etree.fromstring(text.encode("utf-8"), parser)
        except (etree.XMLSyntaxError, ValueError):
            continue  # reported by the BPMN check
        for flow in root.iter("{http://www.omg.org/spec/BPMN/20100524/MODEL}sequenceFlow"):
            if flow.get("id"):
                flows[str(flow.get("id"))] = str(flow.get("name") or "")
    tasks = {str(getattr(s, "bpmn_id", None) or s.name): str(getattr(s, "bpmn_name", None) or s.name)
             for s in user_tasks}
    return PackageFacts(tasks, [str(k) for k in (manifest.get("lanes") or {})], flows, form_schemas(files),
                        kpi_ids(manifest.get("reports")))


def kpi_ids(reports: Any) -> list[str]:
    """The ids of the KPIs a manifest's `reports:` declares (a mapping by id, or a list of entries with ids)."""
    if isinstance(reports, Mapping):
        inner = reports.get("kpis")
        return kpi_ids(inner) if isinstance(inner, Mapping | list) else [str(k) for k in reports]
    if isinstance(reports, list):
        return [str(k["id"]) for k in reports if isinstance(k, Mapping) and k.get("id")]
    return []
