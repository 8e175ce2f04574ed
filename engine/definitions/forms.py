"""Task and start forms: each is valid JSON, a valid JSON Schema and an object."""

from __future__ import annotations

import json
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError

from ..forms import reference_problems
from .checker import Checker


def _check_forms(chk: Checker, manifest: dict[str, Any]) -> None:
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
            continue
        for where, message in reference_problems(schema):
            chk.add(form, message, element=where)


