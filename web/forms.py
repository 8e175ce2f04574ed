"""HTML forms from a task's JSON Schema, and the submitted strings turned back into the schema's types.

Supported: text, long text (`x-widget: textarea` or maxLength > 200), number, integer, boolean
(checkbox, or yes/no with `x-widget: radio`), enum (select, or radios with `x-widget: radio`), date,
date-time, e-mail, arrays of simple items and one level of nested object. The engine validates what
is submitted; a value that cannot be converted is passed on as the raw string, so the engine refuses
it too, and the friendlier message from here replaces the engine's.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from jsonschema import Draft202012Validator, FormatChecker
from werkzeug.datastructures import MultiDict

from .views import humanize

TEXTAREA_OVER = 200
EXTRA_ROWS = 2  # empty inputs offered below an array's items, so adding works without JavaScript


@dataclass
class Field:
    name: str  # the HTML name: `field`, or `parent.child` inside a nested object
    label: str
    widget: str  # text textarea email date datetime number integer checkbox yesno select radio array object
    required: bool = False
    help: str = ""
    options: list[tuple[str, str]] = field(default_factory=list)
    value: Any = ""  # a string, a list of strings (arrays), or a bool (checkbox)
    errors: list[str] = field(default_factory=list)
    children: list[Field] = field(default_factory=list)
    item_widget: str = "text"
    attrs: dict[str, Any] = field(default_factory=dict)

    @property
    def id(self) -> str:
        return "f-" + self.name.replace(".", "-")

    @property
    def rows(self) -> list[str]:
        """An array's inputs: its values plus a few empty ones."""
        values = [v for v in (self.value or []) if v != ""]
        return values + [""] * EXTRA_ROWS


def _type(schema: Mapping[str, Any]) -> str:
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "string")
    if kind is None:
        if "enum" in schema:
            values = [v for v in schema["enum"] if v is not None]
            if values and all(isinstance(v, bool) for v in values):
                return "boolean"
            if values and all(isinstance(v, int) for v in values):
                return "integer"
        if "properties" in schema:
            return "object"
        return "string"
    return str(kind)


def _widget(schema: Mapping[str, Any]) -> str:
    kind = _type(schema)
    radio = schema.get("x-widget") == "radio"
    if kind == "boolean":
        return "yesno" if radio or "const" in schema else "checkbox"
    if "enum" in schema:
        return "radio" if radio else "select"
    if kind == "integer":
        return "integer"
    if kind == "number":
        return "number"
    if kind == "array":
        return "array"
    if kind == "object":
        return "object"
    fmt = schema.get("format")
    if fmt == "date":
        return "date"
    if fmt == "date-time":
        return "datetime"
    if fmt == "email":
        return "email"
    if schema.get("x-widget") == "textarea" or int(schema.get("maxLength") or 0) > TEXTAREA_OVER:
        return "textarea"
    return "text"


def _attrs(schema: Mapping[str, Any], widget: str) -> dict[str, Any]:
    attrs: dict[str, Any] = {}
    if widget in ("text", "textarea", "email"):
        if "maxLength" in schema:
            attrs["maxlength"] = schema["maxLength"]
        if "minLength" in schema:
            attrs["minlength"] = schema["minLength"]
        if "pattern" in schema and widget == "text":
            attrs["pattern"] = schema["pattern"]
    if widget in ("integer", "number"):
        for key, attr in (("minimum", "min"), ("maximum", "max")):
            if key in schema:
                attrs[attr] = schema[key]
        attrs["step"] = "1" if widget == "integer" else "any"
    return attrs


def _options(schema: Mapping[str, Any]) -> list[tuple[str, str]]:
    labels = schema.get("x-labels") or {}
    return [(_text(v), str(labels.get(str(v), humanize(v)))) for v in schema.get("enum", []) if v is not None]


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _display(value: Any, widget: str, tz: ZoneInfo) -> Any:
    """A stored value as an input shows it."""
    if widget == "checkbox":
        return bool(value)
    if widget == "datetime" and isinstance(value, str) and value:
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            return value
        if parsed.tzinfo:
            parsed = parsed.astimezone(tz)
        return parsed.strftime("%Y-%m-%dT%H:%M")
    return _text(value)


def build(schema: Mapping[str, Any], *, submitted: MultiDict[str, str] | None = None,
          errors: Mapping[str, list[str]] | None = None, values: Mapping[str, Any] | None = None,
          tz: ZoneInfo | None = None, prefix: str = "") -> list[Field]:
    """The fields to render: with the submitted strings when re-showing a refused form, else defaults."""
    tz = tz or ZoneInfo("UTC")
    errors = errors or {}
    required = set(schema.get("required") or [])
    fields: list[Field] = []
    for key, prop in (schema.get("properties") or {}).items():
        if not isinstance(prop, Mapping) or prop.get("readOnly"):
            continue
        name = prefix + key
        widget = _widget(prop)
        if widget == "object" and prefix:
            widget = "textarea"  # only one level of nesting is rendered as fields
        f = Field(name=name, label=str(prop.get("title") or humanize(key)), widget=widget,
                  required=key in required, help=str(prop.get("description") or ""),
                  attrs=_attrs(prop, widget))
        f.errors = [m for path, msgs in errors.items() if path == name or path.startswith(name + ".")
                    for m in msgs] if widget != "object" else list(errors.get(name, []))
        stored = (values or {}).get(key, prop.get("default"))
        if widget == "object":
            f.children = build(prop, submitted=submitted, errors=errors,
                               values=stored if isinstance(stored, Mapping) else None, tz=tz, prefix=name + ".")
        elif widget == "array":
            items: Mapping[str, Any] = prop["items"] if isinstance(prop.get("items"), Mapping) else {}
            f.item_widget = _widget(items)
            f.options = _options(items)
            if f.item_widget in ("select", "radio"):
                f.item_widget = "choices"
            f.attrs = _attrs(items, f.item_widget)
            if submitted is not None:
                f.value = submitted.getlist(name)
            else:
                f.value = [_display(v, f.item_widget, tz) for v in (stored or [])] if isinstance(stored, list) else []
        else:
            f.options = _options(prop)
            if submitted is not None:
                f.value = name in submitted if widget == "checkbox" else submitted.get(name, "")
            else:
                f.value = _display(stored, widget, tz)
        fields.append(f)
    return fields


class Conversion:
    """The typed data from a form post, and the values that could not be converted."""

    def __init__(self) -> None:
        self.data: dict[str, Any] = {}
        self.errors: dict[str, list[str]] = {}

    def all_errors(self, schema: Mapping[str, Any]) -> dict[str, list[str]]:
        """When something could not be converted the form goes back without reaching the engine;
        the other fields' problems are found here so that every error shows at once."""
        found: dict[str, list[str]] = {}
        for err in Draft202012Validator(schema, format_checker=FormatChecker()).iter_errors(self.data):
            if err.validator == "required" and isinstance(err.validator_value, list):
                for missing in [f for f in err.validator_value if f not in (err.instance or {})]:
                    _add(found, ".".join([*map(str, err.absolute_path), missing]), "this field is required")
                continue
            label = ".".join(str(p) for p in err.absolute_path) or "(form)"
            if not any(label == k or label.startswith(k + ".") for k in self.errors):
                _add(found, label, err.message)
        return {**found, **self.errors}


def _add(errors: dict[str, list[str]], name: str, message: str) -> None:
    messages = errors.setdefault(name, [])
    if message not in messages:
        messages.append(message)


def summary(fields: list[Field], errors: Mapping[str, list[str]] | None) -> list[tuple[str, str, str]]:
    """Every error once, for the list at the top of a refused form: (anchor id or "", label, message).

    Errors are matched to the field that shows them, in the form's order; any left over (the form as a
    whole, a path no field shows) are listed without a link."""
    errors = errors or {}
    out: list[tuple[str, str, str]] = []
    shown: set[str] = set()

    def walk(items: list[Field], parents: str) -> None:
        for f in items:
            label = f"{parents}{f.label}"
            if f.widget == "object":
                for message in errors.get(f.name, []):
                    out.append((f.id, label, message))
                shown.add(f.name)
                walk(f.children, label + " › ")
                continue
            for path, messages in errors.items():
                if path == f.name or path.startswith(f.name + "."):
                    shown.add(path)
                    out.extend((f.id, label, m) for m in messages)

    walk(fields, "")
    for path, messages in errors.items():
        if path not in shown:
            out.extend(("", "" if path == "(form)" else humanize(path), m) for m in messages)
    return out


def parse(schema: Mapping[str, Any], form: MultiDict[str, str], *, tz: ZoneInfo | None = None) -> Conversion:
    out = Conversion()
    out.data = _parse_object(schema, form, "", tz or ZoneInfo("UTC"), out.errors)
    return out


def _parse_object(schema: Mapping[str, Any], form: MultiDict[str, str], prefix: str, tz: ZoneInfo,
                  errors: dict[str, list[str]]) -> dict[str, Any]:
    data: dict[str, Any] = {}
    for key, prop in (schema.get("properties") or {}).items():
        if not isinstance(prop, Mapping) or prop.get("readOnly"):
            continue
        name = prefix + key
        widget = _widget(prop)
        if widget == "object" and not prefix:
            child = _parse_object(prop, form, name + ".", tz, errors)
            if child:
                data[key] = child
            continue
        if widget == "checkbox":
            data[key] = form.get(name, "").lower() in ("on", "true", "1", "yes")
            continue
        if widget == "array":
            item_schema: Mapping[str, Any] = prop["items"] if isinstance(prop.get("items"), Mapping) else {}
            values = []
            for i, raw in enumerate(v for v in form.getlist(name) if v.strip() != ""):
                values.append(_convert(raw, item_schema, f"{name}.{i}", tz, errors))
            if values:
                data[key] = values
            continue
        raw = form.get(name) or ""
        if raw.strip() == "":
            continue
        if widget == "object":  # nested deeper than one level: JSON text
            try:
                data[key] = json.loads(raw)
            except ValueError:
                errors.setdefault(name, []).append("enter a JSON object")
                data[key] = raw
            continue
        data[key] = _convert(raw, prop, name, tz, errors)
    return data


def _convert(raw: str, schema: Mapping[str, Any], name: str, tz: ZoneInfo, errors: dict[str, list[str]]) -> Any:
    kind = _type(schema)
    text = raw.strip()
    if kind == "boolean":
        if text.lower() in ("true", "on", "yes", "1"):
            return True
        if text.lower() in ("false", "off", "no", "0"):
            return False
        errors.setdefault(name, []).append("choose yes or no")
        return raw
    if kind == "integer":
        try:
            return int(text)
        except ValueError:
            errors.setdefault(name, []).append("enter a whole number")
            return raw
    if kind == "number":
        try:
            number = float(text)
        except ValueError:
            errors.setdefault(name, []).append("enter a number")
            return raw
        if number != number or number in (float("inf"), float("-inf")):
            errors.setdefault(name, []).append("enter a number")
            return raw
        return int(number) if number.is_integer() and not any(c in text for c in ".eE") else number
    fmt = schema.get("format")
    if fmt == "date-time":
        try:
            parsed = datetime.fromisoformat(text)
        except ValueError:
            errors.setdefault(name, []).append("enter a date and time")
            return raw
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=tz)
        return parsed.isoformat()
    if fmt == "date":
        try:
            return date.fromisoformat(text).isoformat()
        except ValueError:
            errors.setdefault(name, []).append("enter a date (YYYY-MM-DD)")
            return raw
    return raw if schema.get("x-widget") == "textarea" else text
