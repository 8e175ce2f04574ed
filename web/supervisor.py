"""Supervisors: their groups' overdue and escalated tasks, reassigning, and each member's workload."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, flash, redirect, render_template, request, url_for

from engine import Engine, Task

from . import access, visibility
from .access import Actor
from .security import actor, get_engine, safe_next
from .views import now

bp = Blueprint("supervisor", __name__, url_prefix="/supervisor")



def supervised(engine: Engine, who: Actor) -> list[str]:
    access.require(who.supervises, "only supervisors see this page")
    return who.supervised_scope(g.id for g in engine.groups())


def escalated_tasks(engine: Engine, tasks: list[Task]) -> list[Task]:
    """Open tasks whose deadline timer has fired, and the tasks such a timer started (escalations)."""
    shapes: dict[tuple[str, int], tuple[dict[str, str], set[str]]] = {}
    found = []
    fired_by_case: dict[str, list[Any]] = {}
    for task in tasks:
        instance = engine.instance(task.instance_id)
        key = (instance.process_id, instance.definition_version)
        if key not in shapes:
            shapes[key] = visibility.timer_escalations(engine.diagram(instance.id)["xml"])
        attached, targets = shapes[key]
        if task.element_id in targets:
            found.append(task)
            continue
        if task.instance_id not in fired_by_case:
            fired_by_case[task.instance_id] = engine.timers(instance_id=task.instance_id, status="fired")
        if any(attached.get(t.element_id) == task.element_id and t.fired_at and t.fired_at >= task.created_at
               for t in fired_by_case[task.instance_id]):
            found.append(task)
    return found


def workload(engine: Engine, groups: list[str]) -> list[dict[str, Any]]:
    """Per group and member: open tasks held, of which overdue."""
    current = now()
    rows = []
    names = {u.username: u.name for u in engine.users()}
    for group in engine.groups():
        if group.id not in groups:
            continue
        members = []
        for member in group.members:
            held = engine.count_tasks(group=group.id, assignee=member)
            late = engine.count_tasks(group=group.id, assignee=member, due_before=current)
            members.append({"username": member, "name": names.get(member, member), "open": held, "overdue": late})
        rows.append({"group": group, "members": members,
                     "unclaimed": engine.count_tasks(group=group.id, unassigned=True),
                     "open": engine.count_tasks(group=group.id),
                     "overdue": engine.count_tasks(group=group.id, due_before=current)})
    return rows


@bp.get("")
def index() -> Any:
    who = actor()
    engine = get_engine()
    groups = supervised(engine, who)
    overdue: list[Task] = engine.tasks(groups=groups, due_before=now(), limit=200) if groups else []
    escalated = escalated_tasks(engine, engine.tasks(groups=groups, limit=500) if groups else [])
    members = {g.id: g.members for g in engine.groups()}
    return render_template("supervisor/index.html", overdue=overdue, escalated=escalated, groups=groups,
                           workload=workload(engine, groups), members=members,
                           users={u.username: u.name for u in engine.users()})


@bp.post("/tasks/<task_id>/assign")
def assign(task_id: str) -> Any:
    who = actor()
    engine = get_engine()
    task = engine.task(task_id)
    access.require_visible(access.may_read_task(who, task), f"no task {task_id}")
    access.require(access.may_assign_task(who, task), "you do not supervise this task's group")
    assignee = request.form.get("assignee") or None
    engine.assign(task_id, assignee, who.username)
    flash(f"“{task.name}” assigned to {assignee}." if assignee else f"“{task.name}” is unassigned now.")
    return redirect(safe_next(request.form.get("next")) or url_for("supervisor.index"), 303)
