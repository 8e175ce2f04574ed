"""Cases: start one from a process's start form, list them, and the case page with history and diagram."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, flash, jsonify, redirect, render_template, request, url_for
from flask_babel import gettext

from engine import Definition, DuplicateBusinessKey, Engine, FormInvalid, Instance, InvalidInput, NotFound

from . import access, forms, i18n, visibility, worklists
from .security import actor, get_engine
from .tasks import field_labels
from .views import zone

bp = Blueprint("cases", __name__)

STATUSES = ("running", "completed", "terminated", "failed")
EVENT_WORDS = {
    "instance_started": "started the case",
    "task_claimed": "claimed",
    "task_unclaimed": "released",
    "task_assigned": "assigned",
    "task_completed": "completed",
    "timer_fired": "timer fired",
    "message_delivered": "message received",
    "instance_terminated": "terminated the case",
}


def startable(engine: Engine) -> list[Definition]:
    who = actor()
    return [d for d in engine.processes() if access.may_start(who, d)]


@bp.get("/start")
def start_list() -> Any:
    return render_template("cases/start_list.html", processes=startable(get_engine()))


def _start_definition(engine: Engine, process_id: str) -> Definition:
    definition = engine.definition(process_id)
    access.require(access.may_start(actor(), definition), f"you may not start {definition.name}")
    return definition


@bp.get("/start/<process_id>")
def start_form(process_id: str) -> Any:
    definition = _start_definition(get_engine(), process_id)
    fields = forms.build(i18n.start_form(definition), tz=zone())
    return render_template("cases/start.html", definition=definition, fields=fields, form_errors=[])


@bp.post("/start/<process_id>")
def start(process_id: str) -> Any:
    engine = get_engine()
    definition = _start_definition(engine, process_id)
    schema = definition.start_form or {"type": "object", "properties": {}}
    converted = forms.parse(schema, request.form, tz=zone())
    errors: dict[str, list[str]] | None = converted.all_errors(schema) if converted.errors else None
    existing: Instance | None = None
    status = 422
    if errors is None:
        try:
            instance = engine.start(process_id, converted.data, actor().username)
        except FormInvalid as err:
            errors = err.field_errors
        except DuplicateBusinessKey as err:
            taken = gettext("%(key)s is already used by another case", key=err.business_key)
            errors = {(err.field or "(form)"): [taken]}
            existing, status = _existing(engine, err.existing_instance_id), 409
        else:
            flash(f"Case started: {instance.title or instance.id}.")
            return redirect(url_for("cases.show", instance_id=instance.id), 303)
    fields = forms.build(i18n.start_form(definition), submitted=request.form, errors=errors, tz=zone())
    return render_template("cases/start.html", definition=definition, fields=fields, existing=existing,
                           form_errors=forms.summary(fields, errors)), status


def _existing(engine: Engine, instance_id: str) -> Instance | None:
    try:
        return engine.instance(instance_id)
    except NotFound:
        return None


@bp.get("/cases")
def index() -> Any:
    who = actor()
    engine = get_engine()
    fields = worklists.business_fields(engine)
    filters = worklists.filters_from(request.args, set(fields))
    status = request.args.get("status") or None
    if status and status not in STATUSES:
        raise InvalidInput(f"unknown status {status!r}")
    try:
        number = max(int(request.args.get("page", "1")), 1)
    except ValueError:
        number = 1
    size = 25
    cases = visibility.visible_cases(engine, who, limit=size + 1, offset=(number - 1) * size,
                                     process_id=filters.process_id, status=status,
                                     business_key=request.args.get("key") or None, fields=filters.fields or None)
    return render_template("cases/index.html", cases=cases[:size], has_next=len(cases) > size, page=number,
                           fields=fields, filters=filters, status=status, statuses=STATUSES,
                           processes=engine.processes(), key=request.args.get("key", ""))


@bp.get("/cases/<instance_id>")
def show(instance_id: str) -> Any:
    who = actor()
    engine = get_engine()
    instance, tasks = visibility.visible_case(engine, who, instance_id)
    diagram = engine.diagram(instance_id)
    names = visibility.element_names(diagram["xml"])
    names.update({t.element_id: t.name for t in tasks})
    open_tasks = [t for t in tasks if t.is_open]
    users = {u.username: u.name for u in engine.users()}
    data = {k: v for k, v in instance.data.items() if k != "customer"}
    customer = instance.data.get("customer") if isinstance(instance.data.get("customer"), dict) else None
    return render_template(
        "cases/case.html", instance=instance, open_tasks=open_tasks, timers=engine.timers(instance_id=instance_id),
        history=engine.history(instance_id), names=names, users=users, words=EVENT_WORDS,
        labels=field_labels(engine, instance.process_id), data=data, customer=customer, diagram=diagram,
        readable={t.id for t in tasks if access.may_read_task(who, t)}, related=engine.related_cases(instance_id),
    )


@bp.get("/cases/<instance_id>/diagram.json")
def diagram(instance_id: str) -> Any:
    engine = get_engine()
    visibility.visible_case(engine, actor(), instance_id)
    return jsonify(engine.diagram(instance_id))
