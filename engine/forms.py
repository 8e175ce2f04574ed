"""Task forms: JSON Schema with group-based choices applied, and validation that names every field."""

from __future__ import annotations

import copy
import math
import re
from collections.abc import Mapping
from typing import Any

from jsonschema import Draft202012Validator, FormatChecker
from referencing import Registry, Resource
from referencing.exceptions import NoSuchResource, Unresolvable

from .errors import FormInvalid

_FORMATS = FormatChecker()
_PATH = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z0-9_]+)*$")


def _no_retrieval(uri: str) -> Resource[Any]:
    # jsonschema would otherwise fetch an unknown http(s) reference: a form could make the server call out.
    raise NoSuchResource(ref=uri)  # type: ignore[call-arg]


# Every form is validated against this registry: nothing outside the form itself can be resolved.
SAFE_REGISTRY: Registry[Any] = Registry(retrieve=_no_retrieval)  # type: ignore[call-arg]


def validator(form: Mapping[str, Any]) -> Draft202012Validator:
    """A validator for the form that resolves references only inside it and never reaches the network."""
    return Draft202012Validator(form, format_checker=_FORMATS, registry=SAFE_REGISTRY)


def reference_problems(form: Any) -> list[tuple[str, str]]:
    """(where, message) for every $ref / $dynamicRef of the form that does not resolve inside the form."""
    found: list[tuple[str, str]] = []
    resolver = validator(form if isinstance(form, Mapping) else {})._resolver  # noqa: SLF001 - referencing's own
    for where, keyword, ref in _references(form, ""):
        if not ref.startswith("#"):
            found.append((where, f"{keyword} {ref!r} points outside the form; only references inside it "
                                 "('#/$defs/...') are allowed"))
            continue
        try:
            resolver.lookup(ref)
        except Unresolvable:
            found.append((where, f"{keyword} {ref!r} points to nothing the form defines"))
    return found


def _references(node: Any, where: str) -> list[tuple[str, str, str]]:
    refs: list[tuple[str, str, str]] = []
    if isinstance(node, Mapping):
        for keyword in ("$ref", "$dynamicRef"):
            value = node.get(keyword)
            if isinstance(value, str):
                refs.append((where or "/", keyword, value))
        for key, value in node.items():
            if key not in ("enum", "const", "default", "examples"):
                refs.extend(_references(value, f"{where}/{key}"))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            refs.extend(_references(value, f"{where}/{i}"))
    return refs


def with_choices(form: Mapping[str, Any], choices: Mapping[str, list[str]]) -> dict[str, Any]:
    """The form with each listed field limited to the given values (e.g. members of a group)."""
    result = copy.deepcopy(dict(form))
    props = result.setdefault("properties", {})
    for name, values in choices.items():
        prop = props.setdefault(name, {"type": "string"})
        prop["enum"] = list(values)
    return result


def validate(form: Mapping[str, Any], data: Any) -> dict[str, Any]:
    """The submitted data, limited to the form's fields; FormInvalid lists every field's errors."""
    if not isinstance(data, Mapping):
        raise FormInvalid({"(form)": ["the submitted data must be an object"]})
    props = form.get("properties", {}) or {}
    kept = {k: v for k, v in data.items() if k in props} if props else dict(data)
    errors: dict[str, list[str]] = {label: ["not a finite number (NaN and Infinity cannot be stored)"]
                                    for label in non_finite(kept)}
    try:
        found = list(validator(form).iter_errors(kept))
    except Unresolvable as unresolvable:
        # Only a form deployed before references were checked can get here.
        ref = getattr(unresolvable, "ref", "?")
        raise FormInvalid({"(form)": [f"the form refers to {ref!r}, which it does not define; "
                                      "a process designer must fix the form"]}) from unresolvable
    for err in found:
        if err.validator == "required" and isinstance(err.validator_value, list):
            # jsonschema reports each missing property as its own error, each naming the whole list
            missing = [f for f in err.validator_value if f not in (err.instance or {})]
            for f in missing:
                _add(errors, ".".join([*map(str, err.absolute_path), f]), "this field is required")
            continue
        label = ".".join(str(p) for p in err.absolute_path) or "(form)"
        _add(errors, label, _friendly(err.message, err.validator))
    if errors:
        raise FormInvalid(errors)
    return kept


def require_finite(data: Any) -> None:
    """FormInvalid naming every NaN or infinite number in data (also where no form checks it)."""
    bad = non_finite(data)
    if bad:
        raise FormInvalid({label: ["not a finite number (NaN and Infinity cannot be stored)"] for label in bad})


def non_finite(value: Any, path: str = "") -> list[str]:
    """The dotted paths of every NaN or infinite float inside value (JSON has no such numbers)."""
    if isinstance(value, float):
        return [] if math.isfinite(value) else [path or "(form)"]
    if isinstance(value, Mapping):
        return [p for k, v in value.items() for p in non_finite(v, f"{path}.{k}" if path else str(k))]
    if isinstance(value, list | tuple):
        return [p for i, v in enumerate(value) for p in non_finite(v, f"{path}.{i}" if path else str(i))]
    return []


def _add(errors: dict[str, list[str]], field: str, message: str) -> None:
    """Each message once per field."""
    messages = errors.setdefault(field, [])
    if message not in messages:
        messages.append(message)


def _friendly(message: str, validator: Any) -> str:
    if validator == "enum":
        return "not one of the allowed values"
    return message


def resolve_path(data: Mapping[str, Any], path: str) -> Any:
    """A dotted path into case data; None when any part is missing."""
    value: Any = data
    for part in path.split("."):
        if isinstance(value, Mapping):
            value = value.get(part)
        elif isinstance(value, list) and part.isdigit() and int(part) < len(value):
            value = value[int(part)]
        else:
            return None
    return value


def is_path(text: str) -> bool:
    return bool(_PATH.match(text))


_TEMPLATE = re.compile(r"\{\{\s*([A-Za-z0-9_.]+)\s*\}\}")


def render_title(template: str, data: Mapping[str, Any]) -> str:
    """Fill {{ dotted.path }} placeholders from case data (missing values render empty)."""
    def sub(match: re.Match[str]) -> str:
        value = resolve_path(data, match.group(1))
        return "" if value is None else str(value)

    return _TEMPLATE.sub(sub, template).strip()
