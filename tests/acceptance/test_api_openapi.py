"""The OpenAPI document describes exactly the API's routes and is served without a token."""

from __future__ import annotations

import re

from flask import Flask


def test_the_document_covers_every_api_route(app: Flask) -> None:
    doc = app.test_client().get("/api/v1/openapi.json").get_json()
    assert doc["openapi"].startswith("3.1")
    documented = {(path, method) for path, ops in doc["paths"].items() for method in ops}
    served = set()
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith("/api/v1/") or rule.endpoint == "api.openapi":
            continue
        path = re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", rule.rule[len("/api/v1"):])
        for method in rule.methods - {"HEAD", "OPTIONS"}:  # type: ignore[operator]
            served.add((path, method.lower()))
    assert served == documented
    for path, ops in doc["paths"].items():
        for method, op in ops.items():
            assert {"400", "401"} <= set(op["responses"]), (path, method)
            assert op["operationId"] and op["summary"]


def test_error_statuses_are_documented_where_they_happen(app: Flask) -> None:
    paths = app.test_client().get("/api/v1/openapi.json").get_json()["paths"]
    assert {"403", "404", "409", "422"} <= set(paths["/tasks/{task_id}/complete"]["post"]["responses"])
    assert {"403", "404", "409"} <= set(paths["/tasks/{task_id}/claim"]["post"]["responses"])
    assert "201" in paths["/processes/{process_id}/start"]["post"]["responses"]


def test_payload_schemas_are_the_files_in_schemas_api(app: Flask) -> None:
    import json
    from pathlib import Path

    from jsonschema import Draft202012Validator

    folder = Path(__file__).resolve().parents[2] / "schemas" / "api"
    components = app.test_client().get("/api/v1/openapi.json").get_json()["components"]["schemas"]
    files = sorted(folder.glob("*.json"))
    assert {f.stem for f in files} == set(components)
    for path in files:
        Draft202012Validator.check_schema(json.loads(path.read_text()))
