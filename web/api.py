"""The JSON API under /api/v1, authenticated by bearer token; documented at /api/v1/openapi.json."""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from flask import Blueprint, g, jsonify, request, url_for

from engine import Definition, DuplicateBusinessKey, Event, Instance, InvalidInput, Task, Timer

from . import access, visibility, worklists
from .openapi import document, query_parameters
from .security import actor, bearer_actor, get_engine
from .views import aware

bp = Blueprint("api", __name__, url_prefix="/api/v1")

TASK_STATUSES = ("ready", "completed", "cancelled", "any")
INSTANCE_STATUSES = ("running", "completed", "terminated", "failed")
TIMER_STATUSES = ("pending", "fired", "cancelled", "any")
MAX_LIMIT = 500


@bp.before_request
def authenticate() -> None:
    if request.endpoint == "api.openapi":
        return
    g.actor = bearer_actor()
    _refuse_unknown_query()


def _refuse_unknown_query() -> None:
    """Query parameters the document does not list are refused, not silently ignored (a typo is a 400)."""
    if request.url_rule is None:
        return
    path = re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", request.url_rule.rule[len(bp.url_prefix or ""):])
    allowed = query_parameters(path, request.method.lower())
    unknown = sorted(set(request.args) - allowed)
    if unknown:
        raise InvalidInput(f"unknown query parameter(s): {', '.join(unknown)}")


# --- serialisation -------------------------------------------------------------------------------

def _time(value: datetime | None) -> str | None:
    return aware(value).isoformat() if value else None


def task_json(t: Task, *, detail: bool = False) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": t.id, "instance_id": t.instance_id, "process_id": t.process_id, "element_id": t.element_id,
        "name": t.name, "title": t.title, "lane": t.lane, "group": t.group, "assignee": t.assignee,
        "status": t.status, "due_at": _time(t.due_at), "priority": t.priority, "created_at": _time(t.created_at),
        "completed_at": _time(t.completed_at), "completed_by": t.completed_by,
    }
    if detail:
        out.update(form=t.form, fields=t.fields, data=t.data)
    return out


def instance_json(i: Instance, *, detail: bool = False, tasks: list[Task] | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": i.id, "process_id": i.process_id, "definition_version": i.definition_version,
        "business_key": i.business_key, "title": i.title, "status": i.status, "fields": i.fields,
        "version": i.version, "started_by": i.started_by, "created_at": _time(i.created_at),
        "updated_at": _time(i.updated_at), "ended_at": _time(i.ended_at), "error": i.error,
    }
    if detail:
        out["data"] = i.data
        out["open_tasks"] = [task_json(t) for t in (tasks or []) if t.is_open]
    return out


def definition_json(d: Definition) -> dict[str, Any]:
    return {
        "id": d.id, "process_id": d.process_id, "version": d.version, "name": d.name,
        "content_hash": d.content_hash, "deployed_at": _time(d.deployed_at), "deployed_by": d.deployed_by,
        "starters": list(d.starters), "fields": d.fields, "start_form": d.start_form,
        "may_start": access.may_start(actor(), d),
    }


def timer_json(t: Timer) -> dict[str, Any]:
    return {"id": t.id, "instance_id": t.instance_id, "element_id": t.element_id, "due_at": _time(t.due_at),
            "status": t.status, "attempts": t.attempts, "fired_at": _time(t.fired_at)}


def event_json(e: Event) -> dict[str, Any]:
    return {"instance_id": e.instance_id, "seq": e.seq, "at": _time(e.at), "actor": e.actor, "type": e.type,
            "payload": e.payload, "hash": e.hash, "prev_hash": e.prev_hash}


def page_json(items: list[dict[str, Any]], total: int | None, limit: int, offset: int) -> Any:
    return jsonify(items=items, total=total, limit=limit, offset=offset)


# --- arguments ------------------------------------------------------------------------------------

def _int_arg(name: str, default: int, low: int, high: int) -> int:
    raw = request.args.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError as err:
        raise InvalidInput(f"{name} must be an integer") from err
    if not low <= value <= high:
        raise InvalidInput(f"{name} must be between {low} and {high}")
    return value


def _choice(name: str, choices: tuple[str, ...], default: str | None) -> str | None:
    value = request.args.get(name, default)
    if value is not None and value not in choices:
        raise InvalidInput(f"{name} must be one of {', '.join(choices)}")
    return value


def _paging() -> tuple[int, int]:
    return _int_arg("limit", 50, 1, MAX_LIMIT), _int_arg("offset", 0, 0, 1_000_000)


def _field_filters() -> dict[str, str]:
    """`field=NAME:VALUE` filters; a name no process indexes simply matches nothing."""
    found: dict[str, str] = {}
    for item in request.args.getlist("field"):
        name, sep, value = item.partition(":")
        if not sep or not name:
            raise InvalidInput("field filters are written field=NAME:VALUE")
        found[name] = value
    return found


def _body(required: bool = False) -> dict[str, Any]:
    if not request.get_data():
        if required:
            raise InvalidInput("a JSON object body is required")
        return {}
    body = request.get_json(silent=True)
    if not isinstance(body, Mapping):
        raise InvalidInput("the body must be a JSON object")
    return dict(body)


def _data(body: Mapping[str, Any]) -> dict[str, Any]:
    data = body.get("data", {})
    if not isinstance(data, Mapping):
        raise InvalidInput("data must be a JSON object")
    return dict(data)


# --- routes ---------------------------------------------------------------------------------------

@bp.get("/openapi.json")
def openapi() -> Any:
    return jsonify(document(request.host_url.rstrip("/")))


@bp.get("/me")
def me() -> Any:
    who = actor()
    return jsonify(username=who.username, name=who.user.name, groups=list(who.user.groups),
                   roles=list(who.user.roles), supervises=sorted(who.supervised))


@bp.get("/processes")
def processes() -> Any:
    return jsonify(items=[definition_json(d) for d in get_engine().processes()])


@bp.get("/processes/<process_id>")
def process(process_id: str) -> Any:
    return jsonify(definition_json(get_engine().definition(process_id)))


@bp.post("/processes/<process_id>/start")
def start(process_id: str) -> Any:
    engine = get_engine()
    definition = engine.definition(process_id)
    who = actor()
    access.require(access.may_start(who, definition), f"{who.username} may not start {process_id}")
    try:
        instance = engine.start(process_id, _data(_body()), who.username)
    except DuplicateBusinessKey as err:
        details = {"process_id": err.process_id, "business_key": err.business_key, "field": err.field,
                   "existing_instance_id": err.existing_instance_id,
                   "existing_url": url_for("api.instance", instance_id=err.existing_instance_id)}
        return jsonify(error=err.code, message=err.message, details=details), 409
    tasks = visibility.case_tasks(engine, instance.id)
    return jsonify(instance_json(instance, detail=True, tasks=tasks)), 201


@bp.get("/definitions")
def definitions() -> Any:
    process_id = request.args.get("process_id") or None
    return jsonify(items=[definition_json(d) for d in get_engine().definitions(process_id)])


def _upload() -> tuple[bytes, str]:
    upload = request.files.get("package")
    if upload is None:
        raise InvalidInput("send the package as a multipart/form-data file named 'package'")
    return upload.read(), upload.filename or "package.zip"


@bp.post("/definitions")
def deploy_definition() -> Any:
    who = actor()
    access.require(access.may_deploy(who), f"{who.username} may not deploy processes")
    data, name = _upload()
    engine = get_engine()
    result = engine.deploy_archive(data, who.username, name)
    body = definition_json(engine.definition(result.process_id, result.version))
    return jsonify(body), 201 if result.created else 200


@bp.post("/definitions/validate")
def validate_definition() -> Any:
    who = actor()
    access.require(access.may_deploy(who), f"{who.username} may not validate processes")
    data, name = _upload()
    problems = get_engine().validate_archive(data, name)
    return jsonify(valid=not problems, problems=[p.as_json() for p in problems])


@bp.get("/definitions/<process_id>/<int:version>")
def definition(process_id: str, version: int) -> Any:
    return jsonify(definition_json(get_engine().definition(process_id, version)))


@bp.get("/instances")
def instances() -> Any:
    limit, offset = _paging()
    status = _choice("status", INSTANCE_STATUSES, None)
    filters = {"process_id": request.args.get("process_id") or None, "status": status,
               "business_key": request.args.get("business_key") or None,
               "started_by": request.args.get("started_by") or None, "fields": _field_filters() or None}
    found = visibility.visible_cases(get_engine(), actor(), limit=limit, offset=offset, **filters)
    return page_json([instance_json(i) for i in found], None, limit, offset)


@bp.get("/instances/<instance_id>")
def instance(instance_id: str) -> Any:
    found, tasks = visibility.visible_case(get_engine(), actor(), instance_id)
    return jsonify(instance_json(found, detail=True, tasks=tasks))


@bp.get("/instances/<instance_id>/history")
def history(instance_id: str) -> Any:
    engine = get_engine()
    visibility.visible_case(engine, actor(), instance_id)
    return jsonify(items=[event_json(e) for e in engine.history(instance_id)])


@bp.get("/instances/<instance_id>/timers")
def instance_timers(instance_id: str) -> Any:
    engine = get_engine()
    visibility.visible_case(engine, actor(), instance_id)
    status = _choice("status", TIMER_STATUSES, "any")
    return jsonify(items=[timer_json(t) for t in engine.timers(instance_id=instance_id,
                                                                 status=None if status == "any" else status)])


@bp.get("/instances/<instance_id>/diagram")
def diagram(instance_id: str) -> Any:
    engine = get_engine()
    visibility.visible_case(engine, actor(), instance_id)
    return jsonify(engine.diagram(instance_id))


@bp.get("/timers")
def timers() -> Any:
    engine = get_engine()
    who = actor()
    status = _choice("status", TIMER_STATUSES, "pending")
    instance_id = request.args.get("instance_id") or None
    if instance_id:
        visibility.visible_case(engine, who, instance_id)
    found = engine.timers(instance_id=instance_id, status=None if status == "any" else status)
    if not who.reads_all and not instance_id:
        readable: dict[str, bool] = {}
        kept = []
        for t in found:
            if t.instance_id not in readable:
                inst = engine.instance(t.instance_id)
                readable[t.instance_id] = access.may_read_case(who, inst, visibility.case_tasks(engine, inst.id))
            if readable[t.instance_id]:
                kept.append(t)
        found = kept
    return jsonify(items=[timer_json(t) for t in found])


@bp.get("/tasks")
def tasks() -> Any:
    engine = get_engine()
    who = actor()
    limit, offset = _paging()
    list_name = _choice("list", worklists.LISTS, None)
    status = _choice("status", TASK_STATUSES, "ready")
    fields = _field_filters()
    due_before = worklists.parse_due_date(request.args.get("due_before"))
    process_id = request.args.get("process_id") or None
    if list_name is not None:
        filters = worklists.Filters(process_id=process_id, due_before=due_before, fields=fields)
        found, total = worklists.page(engine, who, list_name, filters, limit=limit, offset=offset)
        return page_json([task_json(t) for t in found], total, limit, offset)
    args: dict[str, Any] = {"status": None if status == "any" else status, "process_id": process_id,
                            "instance_id": request.args.get("instance_id") or None,
                            "assignee": request.args.get("assignee") or None, "due_before": due_before,
                            "fields": fields or None}
    group = request.args.get("group") or None
    visible = None if who.reads_all else sorted(who.groups | who.supervised)
    if group is not None:
        access.require(visible is None or group in visible, f"you may not see the tasks of group {group}")
        args["group"] = group
    elif visible is not None:
        args["groups"] = visible
    total = engine.count_tasks(**args)
    found = engine.tasks(limit=limit, offset=offset, **args)
    return page_json([task_json(t) for t in found], total, limit, offset)


def _visible_task(task_id: str) -> Task:
    task = get_engine().task(task_id)
    access.require_visible(access.may_read_task(actor(), task), f"no task {task_id}")
    return task


@bp.get("/tasks/<task_id>")
def task(task_id: str) -> Any:
    return jsonify(task_json(_visible_task(task_id), detail=True))


@bp.post("/tasks/<task_id>/claim")
def claim(task_id: str) -> Any:
    who = actor()
    access.require(access.may_work_task(who, _visible_task(task_id)), "you may not work on this task")
    return jsonify(task_json(get_engine().claim(task_id, who.username), detail=True))


@bp.post("/tasks/<task_id>/unclaim")
def unclaim(task_id: str) -> Any:
    who = actor()
    access.require(access.may_unclaim_task(who, _visible_task(task_id)),
                   "only the holder or a supervisor may release this task")
    return jsonify(task_json(get_engine().unclaim(task_id, who.username), detail=True))


@bp.post("/tasks/<task_id>/assign")
def assign(task_id: str) -> Any:
    who = actor()
    task = _visible_task(task_id)
    body = _body(required=True)
    if "assignee" not in body:
        raise InvalidInput("assignee is required (a username, or null to unassign)")
    assignee = body["assignee"]
    if assignee is not None and not isinstance(assignee, str):
        raise InvalidInput("assignee must be a username or null")
    access.require(access.may_assign_task(who, task), "you do not supervise this task's group")
    return jsonify(task_json(get_engine().assign(task_id, assignee or None, who.username), detail=True))


@bp.post("/tasks/<task_id>/complete")
def complete(task_id: str) -> Any:
    who = actor()
    engine = get_engine()
    task = _visible_task(task_id)
    data = _data(_body())
    access.require(access.may_work_task(who, task), "you may not work on this task")
    instance = engine.complete(task_id, data, who.username)
    return jsonify(instance_json(instance, detail=True, tasks=visibility.case_tasks(engine, instance.id)))
