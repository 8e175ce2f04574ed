"""The OpenAPI 3.1 document of /api/v1; its payload schemas are the files in schemas/api/."""

from __future__ import annotations

import copy
import json
from functools import lru_cache
from pathlib import Path
from typing import Any

SCHEMAS_DIR = Path(__file__).resolve().parent.parent / "schemas" / "api"

STR = {"type": "string"}


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _list_of(name: str, *, paged: bool = False) -> dict[str, Any]:
    props: dict[str, Any] = {"items": {"type": "array", "items": _ref(name)}}
    required = ["items"]
    if paged:
        props.update(total={"type": ["integer", "null"], "minimum": 0}, limit={"type": "integer"},
                     offset={"type": "integer"})
        required += ["total", "limit", "offset"]
    return {"type": "object", "required": required, "properties": props}


def _embedded(node: Any) -> Any:
    """A schemas/api file as an OpenAPI component: file references become component references."""
    if isinstance(node, dict):
        return {k: (f"#/components/schemas/{Path(v).stem}" if k == "$ref" and v.endswith(".json") else _embedded(v))
                for k, v in node.items() if k not in ("$schema", "$id")}
    if isinstance(node, list):
        return [_embedded(item) for item in node]
    return node


@lru_cache(maxsize=1)
def payload_schemas() -> dict[str, Any]:
    """The API's payload schemas, one JSON Schema file each under schemas/api/."""
    return {path.stem: _embedded(json.loads(path.read_text(encoding="utf-8")))
            for path in sorted(SCHEMAS_DIR.glob("*.json"))}


ERRORS = {
    400: "Bad request: a parameter or the body is malformed",
    401: "No valid bearer token",
    403: "Not allowed for this user",
    404: "No such resource",
    409: "Conflict: the task is not ready or held by someone else",
    413: "The upload is larger than the server accepts",
    422: "The data does not satisfy the form, the process failed, or the package is invalid",
}


def _error(status: int) -> dict[str, Any]:
    return {"description": ERRORS[status], "content": {"application/json": {"schema": _ref("Error")}}}


def _ok(schema: dict[str, Any], description: str = "OK") -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _op(op_id: str, summary: str, ok: dict[str, Any], errors: tuple[int, ...], *, params: list[Any] | None = None,
        body: str | None = None, body_required: bool = False, status: int = 200, tag: str = "",
        media: str = "application/json", also: dict[str, Any] | None = None) -> dict[str, Any]:
    responses: dict[str, Any] = {str(status): ok, **(also or {})}
    for code in sorted({400, 401, *errors}):
        responses[str(code)] = _error(code)
    op: dict[str, Any] = {"operationId": op_id, "summary": summary, "responses": responses, "tags": [tag]}
    if params:
        op["parameters"] = params
    if body:
        op["requestBody"] = {"required": body_required,
                             "content": {media: {"schema": _ref(body)}}}
    return op


def _path(name: str, description: str) -> dict[str, Any]:
    return {"name": name, "in": "path", "required": True, "description": description,
            "schema": {"type": "string", "minLength": 1}}


def _query(name: str, schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"name": name, "in": "query", "required": False, "description": description, "schema": schema}


LIMIT = _query("limit", {"type": "integer", "minimum": 1, "maximum": 500, "default": 50}, "Page size")
OFFSET = _query("offset", {"type": "integer", "minimum": 0, "maximum": 1000000, "default": 0}, "Rows to skip")
FIELD = {"name": "field", "in": "query", "required": False, "style": "form", "explode": True,
         "description": "Business field filter NAME:VALUE (repeatable); names come from the definitions' fields",
         "schema": {"type": "array", "items": {"type": "string", "pattern": "^[A-Za-z_][A-Za-z0-9_]*:"}}}
DUE_BEFORE = _query("due_before", {"type": "string", "anyOf": [{"format": "date"}, {"format": "date-time"}]},
                    "Only tasks due before this time (a date means the end of that day)")

INSTANCE = _path("instance_id", "Case id")
TASK = _path("task_id", "Task id")
PROCESS = _path("process_id", "Process id")


def _paths() -> dict[str, Any]:
    return {
        "/me": {"get": _op("me", "The authenticated user", _ok(_ref("Me")), (), tag="people")},
        "/processes": {"get": _op("listProcesses", "The newest definition of every deployed process",
                                  _ok(_list_of("Definition")), (), tag="processes")},
        "/processes/{process_id}": {"get": _op("getProcess", "The newest definition of a process",
                                               _ok(_ref("Definition")), (404,), params=[PROCESS], tag="processes")},
        "/processes/{process_id}/start": {"post": _op(
            "startInstance", "Start a case with the start form's data", _ok(_ref("InstanceDetail"), "Started"),
            (403, 404, 409, 422), params=[PROCESS], body="StartRequest", status=201, tag="instances")},
        "/definitions": {
            "get": _op("listDefinitions", "Every deployed definition version", _ok(_list_of("Definition")), (),
                       params=[_query("process_id", STR, "Only this process")], tag="processes"),
            "post": _op("deployDefinition", "Validate and deploy a package (designers, admins): a new version, "
                        "or the existing one when the files are identical (200)",
                        _ok(_ref("Definition"), "Deployed as a new version"), (403, 413, 422),
                        body="PackageUpload", body_required=True, media="multipart/form-data", status=201,
                        also={"200": _ok(_ref("Definition"), "Identical to a deployed version: nothing deployed")},
                        tag="processes")},
        "/definitions/validate": {"post": _op(
            "validateDefinition", "Validate a package without deploying it (designers, admins)",
            _ok(_ref("ValidationResult")), (403, 413), body="PackageUpload", body_required=True,
            media="multipart/form-data", tag="processes")},
        "/definitions/{process_id}/{version}": {"get": _op(
            "getDefinition", "One definition version", _ok(_ref("Definition")), (404,),
            params=[PROCESS, {"name": "version", "in": "path", "required": True,
                              "schema": {"type": "integer", "minimum": 0, "maximum": 1000000}}],
            tag="processes")},
        "/instances": {"get": _op(
            "listInstances", "Cases the user may read, newest first", _ok(_list_of("Instance", paged=True)), (),
            params=[_query("process_id", STR, "Only this process"),
                    _query("status", {"enum": ["running", "completed", "terminated", "failed"]}, "Only this status"),
                    _query("business_key", STR, "Only this business key"),
                    _query("started_by", STR, "Only cases started by this user"), FIELD, LIMIT, OFFSET],
            tag="instances")},
        "/instances/{instance_id}": {"get": _op("getInstance", "A case with its data and open tasks",
                                                _ok(_ref("InstanceDetail")), (403, 404), params=[INSTANCE],
                                                tag="instances")},
        "/instances/{instance_id}/history": {"get": _op(
            "getHistory", "The case's audit history: who did what, when, with which data",
            _ok(_list_of("Event")), (403, 404), params=[INSTANCE], tag="instances")},
        "/instances/{instance_id}/timers": {"get": _op(
            "getInstanceTimers", "The case's timers", _ok(_list_of("Timer")), (403, 404),
            params=[INSTANCE, _query("status", {"enum": ["pending", "fired", "cancelled", "any"], "default": "any"},
                                     "Only this status")], tag="timers")},
        "/instances/{instance_id}/diagram": {"get": _op(
            "getDiagram", "BPMN XML with completed and current elements", _ok(_ref("Diagram")), (403, 404),
            params=[INSTANCE], tag="instances")},
        "/timers": {"get": _op(
            "listTimers", "Timers of the cases the user may read", _ok(_list_of("Timer")), (403, 404),
            params=[_query("instance_id", STR, "Only this case"),
                    _query("status", {"enum": ["pending", "fired", "cancelled", "any"], "default": "pending"},
                           "Only this status")], tag="timers")},
        "/tasks": {"get": _op(
            "listTasks", "Tasks the user may see, by due time then priority", _ok(_list_of("Task", paged=True)),
            (403,), params=[
                _query("list", {"enum": ["mine", "available", "overdue", "soon", "all"]},
                       "A work list of open tasks (mine, my groups' unclaimed, overdue, due soon, all); with it "
                       "only process_id, due_before and field filter further"),
                _query("status", {"enum": ["ready", "completed", "cancelled", "any"], "default": "ready"},
                       "Task status (ignored with list)"),
                _query("process_id", STR, "Only this process"), _query("instance_id", STR, "Only this case"),
                _query("group", STR, "Only this group"), _query("assignee", STR, "Only held by this user"),
                DUE_BEFORE, FIELD, LIMIT, OFFSET], tag="tasks")},
        "/tasks/{task_id}": {"get": _op("getTask", "A task with its form and the case's data",
                                        _ok(_ref("TaskDetail")), (403, 404), params=[TASK], tag="tasks")},
        "/tasks/{task_id}/claim": {"post": _op("claimTask", "Hold the task", _ok(_ref("TaskDetail")),
                                               (403, 404, 409), params=[TASK], tag="tasks")},
        "/tasks/{task_id}/unclaim": {"post": _op("unclaimTask", "Give the task back to its group",
                                                 _ok(_ref("TaskDetail")), (403, 404, 409), params=[TASK],
                                                 tag="tasks")},
        "/tasks/{task_id}/assign": {"post": _op("assignTask", "Assign the task to a member (supervisors)",
                                                _ok(_ref("TaskDetail")), (403, 404, 409), params=[TASK],
                                                body="AssignRequest", body_required=True, tag="tasks")},
        "/tasks/{task_id}/complete": {"post": _op(
            "completeTask", "Complete the task with its form's data", _ok(_ref("InstanceDetail")),
            (403, 404, 409, 422), params=[TASK], body="CompleteRequest", tag="tasks")},
    }


@lru_cache(maxsize=1)
def _base() -> dict[str, Any]:
    schemas = copy.deepcopy(payload_schemas())
    return {
        "openapi": "3.1.0",
        "info": {"title": "FlowDesk API", "version": "1.0.0",
                 "description": "Processes, cases, tasks, timers and history of FlowDesk. Authenticate with "
                                "`Authorization: Bearer <token>` (create one with `flowdesk token create USER` "
                                "or on the account page). Errors are `{error, message, details}`."},
        "servers": [{"url": "/api/v1"}],
        "security": [{"bearer": []}],
        "paths": _paths(),
        "components": {"schemas": schemas,
                       "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}}},
    }


def document(host_url: str = "") -> dict[str, Any]:
    doc = copy.deepcopy(_base())
    if host_url:
        doc["servers"] = [{"url": f"{host_url}/api/v1"}]
    return doc


@lru_cache(maxsize=256)
def _query_names(path: str, method: str) -> frozenset[str]:
    op = _base()["paths"].get(path, {}).get(method, {})
    return frozenset(p["name"] for p in op.get("parameters", []) if p["in"] == "query")


def query_parameters(path: str, method: str) -> frozenset[str]:
    """The query parameters the document lists for an operation."""
    return _query_names(path, method)
