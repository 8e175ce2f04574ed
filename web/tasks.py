"""Staff pages: the task lists, a task with the customer's file and its form, claim, unclaim, complete."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for

from engine import Engine, FormInvalid, NotFound, Task

from . import access, forms, i18n, worklists
from .security import actor, get_engine
from .views import zone

bp = Blueprint("tasks", __name__)


def visible_task(engine: Engine, task_id: str) -> Task:
    """The task, or 404 when there is none or the current user may not see it (the same answer)."""
    task = engine.task(task_id)
    access.require_visible(access.may_read_task(actor(), task), f"no task {task_id}")
    return task


def field_labels(engine: Engine, process_id: str) -> dict[str, str]:
    try:
        definition = engine.definition(process_id)
    except NotFound:  # a process removed since: the fields keep their names
        return {}
    return {name: str((cfg or {}).get("label") or name.replace("_", " ").capitalize())
            for name, cfg in definition.fields.items()}


@bp.get("/")
def home() -> Any:
    return redirect(url_for("tasks.index"))


@bp.get("/tasks")
def index() -> Any:
    who = actor()
    engine = get_engine()
    fields = worklists.business_fields(engine)
    name = request.args.get("list") or ("all" if who.reads_all and not who.groups else "mine")
    filters = worklists.filters_from(request.args, set(fields))
    try:
        number = max(int(request.args.get("page", "1")), 1)
    except ValueError:
        number = 1
    size = int(current_app.config.get("PAGE_SIZE", 25))
    tasks, total = worklists.page(engine, who, name, filters, limit=size, offset=(number - 1) * size)
    return render_template(
        "tasks/index.html", tasks=tasks, total=total, page=number, pages=max((total + size - 1) // size, 1),
        list_name=name, lists=worklists.LIST_TITLES, counts=worklists.counts(engine, who, filters),
        filters=filters, fields=fields, processes=engine.processes(),
        due_before=request.args.get("due_before", ""), who=who,
    )


def render_task(task: Task, *, submitted: Any = None, errors: dict[str, list[str]] | None = None,
                status: int = 200) -> Any:
    who = actor()
    engine = get_engine()
    view = engine.task_view(task.id)
    fields = forms.build(i18n.task_form(task), submitted=submitted, errors=errors, tz=zone(),
                         values=view.defaults if submitted is None else None)
    form_errors = forms.summary(fields, errors)
    groups = {g.id: g for g in engine.groups()}
    return render_template(
        "tasks/task.html", task=task, fields=fields, errors=errors or {}, form_errors=form_errors,
        customer=task.data.get("customer") if isinstance(task.data.get("customer"), dict) else None,
        labels=field_labels(engine, task.process_id), who=who, view=view,
        related=engine.related_cases(task.instance_id),
        may_work=task.is_open and access.may_work_task(who, task),
        may_unclaim=task.is_open and access.may_unclaim_task(who, task),
        may_assign=task.is_open and access.may_assign_task(who, task),
        members=groups[task.group].members if task.group in groups else (),
    ), status


@bp.get("/tasks/<task_id>")
def show(task_id: str) -> Any:
    return render_task(visible_task(get_engine(), task_id))


@bp.post("/tasks/<task_id>/claim")
def claim(task_id: str) -> Any:
    engine = get_engine()
    task = visible_task(engine, task_id)
    access.require(access.may_work_task(actor(), task), "you may not work on this task")
    engine.claim(task_id, actor().username)
    flash(f"You hold “{task.name}” now.")
    return redirect(url_for("tasks.show", task_id=task_id), 303)


@bp.post("/tasks/<task_id>/unclaim")
def unclaim(task_id: str) -> Any:
    engine = get_engine()
    task = visible_task(engine, task_id)
    access.require(access.may_unclaim_task(actor(), task), "only the holder or a supervisor may release this task")
    engine.unclaim(task_id, actor().username)
    flash(f"“{task.name}” is back with group {task.group}.")
    return redirect(url_for("tasks.show", task_id=task_id), 303)


@bp.post("/tasks/<task_id>/complete")
def complete(task_id: str) -> Any:
    engine = get_engine()
    who = actor()
    task = visible_task(engine, task_id)
    access.require(access.may_work_task(who, task), "you may not work on this task")
    converted = forms.parse(task.form, request.form, tz=zone())
    if converted.errors:
        return render_task(task, submitted=request.form, errors=converted.all_errors(task.form), status=422)
    try:
        engine.complete(task_id, converted.data, who.username)
    except FormInvalid as err:
        return render_task(task, submitted=request.form, errors=err.field_errors, status=err.status)
    flash(f"Done: {task.name}.")
    return redirect(url_for("cases.show", instance_id=task.instance_id), 303)
