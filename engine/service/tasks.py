"""Task commands: claim, unclaim and assign change only who holds a task; complete moves the workflow."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy.orm import Session

from .. import forms, org
from ..errors import (
    InvalidInput,
    NotAllowed,
    NotFound,
)
from ..store import (
    DefinitionRow,
    InstanceRow,
    TaskRow,
)
from .core import _held, _not_ready
from .settle import Settling


class TaskCommands(Settling):
    """Claims, hands over and completes user tasks."""

    # --- tasks ------------------------------------------------------------------------------

    def _task_for_update(self, s: Session, task_id: str) -> tuple[TaskRow, InstanceRow]:
        task = s.get(TaskRow, task_id)
        if task is None:
            raise NotFound(f"no task {task_id}")
        inst = s.get(InstanceRow, task.instance_id)
        assert inst is not None
        return task, inst

    def _may_work(self, s: Session, task: TaskRow, actor: str) -> bool:
        user = org.require_user(s, actor)
        if "admin" in (user.roles or []):
            return True
        return task.group_id in set(org.groups_of(s, actor)) or task.assignee == actor

    def _supervises(self, s: Session, task: TaskRow, actor: str) -> bool:
        user = org.require_user(s, actor)
        return "admin" in (user.roles or []) or (task.group_id in org.supervised_groups(s, actor))

    def _touch(self, s: Session, inst: InstanceRow, type_: str, actor: str, payload: dict[str, Any]) -> None:
        """Record an event that changes the task projection but not the workflow state."""
        now = self.clock.now()
        inst.updated_at = now
        self._record(s, inst, type_, actor, now, payload)
        self._flush(s)

    def claim_task(self, task_id: str, actor: str) -> None:
        with self.store.transaction() as s:
            task, inst = self._task_for_update(s, task_id)
            if task.status != "ready":
                raise _not_ready(task)
            if task.assignee == actor:
                return
            if task.assignee is not None:
                raise _held(task)
            if not self._may_work(s, task, actor):
                raise NotAllowed(f"{actor} is not in group {task.group_id} that works this task")
            task.assignee = actor
            self._touch(s, inst, "task_claimed", actor, {"task_id": task.id, "element_id": task.element_id})

    def unclaim_task(self, task_id: str, actor: str) -> None:
        with self.store.transaction() as s:
            task, inst = self._task_for_update(s, task_id)
            if task.status != "ready":
                raise _not_ready(task)
            if task.assignee is None:
                return
            if task.assignee != actor and not self._supervises(s, task, actor):
                raise _held(task)
            previous, task.assignee = task.assignee, None
            self._touch(s, inst, "task_unclaimed", actor, {"task_id": task.id, "element_id": task.element_id,
                                                           "previous": previous})

    def assign_task(self, task_id: str, assignee: str | None, actor: str) -> None:
        with self.store.transaction() as s:
            task, inst = self._task_for_update(s, task_id)
            if task.status != "ready":
                raise _not_ready(task)
            if not self._supervises(s, task, actor):
                raise NotAllowed(f"{actor} does not supervise group {task.group_id}")
            if assignee is not None:
                org.require_user(s, assignee)
                if task.group_id and task.group_id not in org.groups_of(s, assignee):
                    raise InvalidInput(f"{assignee} is not a member of group {task.group_id}")
            previous, task.assignee = task.assignee, assignee
            self._touch(s, inst, "task_assigned", actor, {"task_id": task.id, "element_id": task.element_id,
                                                          "assignee": assignee, "previous": previous})

    def complete_task(self, task_id: str, data: Mapping[str, Any], actor: str) -> str:
        now = self.clock.now()
        with self.store.transaction() as s:
            task, inst = self._task_for_update(s, task_id)
            if task.status != "ready" or inst.status != "running":
                raise _not_ready(task)
            if task.assignee is not None and task.assignee != actor:
                raise _held(task)
            if task.assignee is None and not self._may_work(s, task, actor):
                raise NotAllowed(f"{actor} is not in group {task.group_id} that works this task")
            definition = s.get(DefinitionRow, inst.definition_id)
            assert definition is not None
            accepted = forms.validate(task.form, data)
            accepted = self._apply_lookups(s, definition.manifest, accepted)
            actor_field = ((definition.manifest.get("tasks") or {}).get(task.element_id) or {}).get("actor_field")
            if actor_field:
                accepted[actor_field] = actor
            with self._running(s, inst, now) as run:
                if not run.is_ready_user_task(task_id):
                    raise _not_ready(task)
                run.complete(task_id, accepted)
            task.status, task.completed_at, task.completed_by = "completed", now, actor
            task.assignee = task.assignee or actor
            self._record(s, inst, "task_completed", actor, now,
                         {"task_id": task_id, "element_id": task.element_id, "data": accepted})
            self._flush(s)
            return inst.id
