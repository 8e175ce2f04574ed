"""The command skeleton: restore the workflow, let the command act, then bring every projection in line."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from .. import forms, keys, org, runtime
from ..calendar import BusinessCalendar, check_date, parse_iso_duration
from ..errors import (
    ProcessFailed,
)
from ..store import (
    DefinitionRow,
    FieldRow,
    InstanceRow,
    MessageRow,
    TaskRow,
    TimerRow,
    UserRow,
)
from .core import CommandCore, Loaded


def apply_calendars(run: runtime.Run, manifest: Mapping[str, Any], cals: Mapping[str, BusinessCalendar],
                    now: datetime) -> None:
    """Move new duration timers that the manifest puts on a business calendar to their business due time."""
    rules = manifest.get("timers") or {}
    for timer in run.waiting_timers():
        cal_name = (rules.get(timer.element_id) or {}).get("calendar")
        if cal_name and cal_name in cals and run.timer_needs_calendar(timer.task_id):
            text = run.timer_duration(timer.task_id)
            try:
                if text is not None:
                    run.set_timer_due(timer.task_id, cals[cal_name].add_iso(now, text))
                else:
                    plain = timer.due_at - now
                    run.set_timer_due(timer.task_id, cals[cal_name].add(now, max(plain, timedelta(0))))
            except (ValueError, OverflowError) as err:
                raise ProcessFailed(f"timer {timer.element_id}: {err}", timer.element_id) from err


def _correlation_key(correlations: Mapping[str, Any]) -> str | None:
    for props in correlations.values():
        if isinstance(props, Mapping):
            for value in props.values():
                if value is not None:
                    return str(value)
    return None


class Settling(CommandCore):
    """Restores an instance for a command and settles it afterwards (state, fields, tasks, timers, messages)."""

    @contextmanager
    def _running(self, s: Session, row: InstanceRow, now: datetime) -> Iterator[runtime.Run]:
        """Restore the instance's workflow with time, ids and helpers pinned for this command."""
        definition = s.get(DefinitionRow, row.definition_id)
        assert definition is not None
        loaded = self._loaded(definition)
        with runtime.pinned(now, row.id, runtime.id_counter_of(row.state),
                            self._helpers(now, self._default_calendar(s))) as pin:
            run = runtime.restore(loaded.compiled, row.state)
            try:
                yield run
            except runtime.RunFailed as err:
                raise ProcessFailed(f"the process failed at {err.element or 'an element'}: {err}",
                                    err.element) from err
            self._settle(s, row, run, loaded, now, pin.counter)

    def _settle(self, s: Session, row: InstanceRow, run: runtime.Run, loaded: Loaded, now: datetime,
                counter: int) -> None:
        """Bring every projection in line with the workflow after a command."""
        manifest = loaded.package.manifest
        cals = org.calendars(s)
        apply_calendars(run, manifest, cals, now)
        row.state = runtime.dump(run, counter)
        row.data = run.data()
        row.waits = sorted({m.name for m in run.waiting_messages()})
        row.updated_at = now
        if run.completed and row.status == "running":
            row.status, row.ended_at = "completed", now
        self._write_fields(s, row, manifest)
        self._sync_tasks(s, row, run, loaded, now, cals)
        self._sync_timers(s, row, run, now)
        for msg in run.outgoing:
            key = _correlation_key(msg.correlations)
            s.add(MessageRow(name=msg.name, correlation_key=key,
                             payload=msg.payload if isinstance(msg.payload, dict) else {"value": msg.payload},
                             status="pending", source_instance_id=row.id, created_at=now))

    def _write_fields(self, s: Session, row: InstanceRow, manifest: Mapping[str, Any]) -> None:
        values: dict[str, Any] = {}
        for name, cfg in (manifest.get("fields") or {}).items():
            values[name] = forms.resolve_path(row.data, cfg["path"])
        if manifest.get("title"):
            row.title = forms.render_title(str(manifest["title"]), row.data)[:300]
        if manifest.get("business_key") and row.business_key is None:
            key = forms.resolve_path(row.data, str(manifest["business_key"]))
            keys.claim(s, row, None if key is None else str(key), manifest)
        if values == row.fields:
            return
        row.fields = values
        existing = {f.name: f for f in s.scalars(select(FieldRow).where(FieldRow.instance_id == row.id))}
        for name, value in values.items():
            text = None if value is None else str(value)[:300]
            if name in existing:
                existing[name].value = text
            else:
                s.add(FieldRow(instance_id=row.id, name=name, value=text))

    def _sync_tasks(self, s: Session, row: InstanceRow, run: runtime.Run, loaded: Loaded, now: datetime,
                    cals: Mapping[str, BusinessCalendar]) -> None:
        manifest = loaded.package.manifest
        open_rows = {t.id: t for t in s.scalars(select(TaskRow).where(TaskRow.instance_id == row.id,
                                                                       TaskRow.status == "ready"))}
        ready = {t.id: t for t in run.ready_user_tasks()}
        for task_id, task_row in open_rows.items():
            if task_id not in ready:
                spiff = run.task(task_id)
                done = spiff is not None and spiff.state == runtime.TaskState.COMPLETED
                task_row.status = "completed" if done else "cancelled"
                task_row.completed_at = task_row.completed_at or now
        for task_id, task in ready.items():
            if task_id in open_rows:
                continue
            if s.get(TaskRow, task_id) is not None:
                continue
            cfg = (manifest.get("tasks") or {}).get(task.element_id, {})
            group = self._group_for(manifest, task)
            form = loaded.package.form(cfg.get("form")) or {"type": "object", "properties": {}}
            choices = {f: org.members(s, c["group"]) for f, c in (cfg.get("choices") or {}).items()}
            if choices:
                form = forms.with_choices(form, choices)
            due = self._due(cfg, task, now, cals)
            priority = self._priority(cfg, task)
            assignee = self._assignee(s, cfg, task, group, row.process_id)
            s.add(TaskRow(id=task_id, instance_id=row.id, process_id=row.process_id, element_id=task.element_id,
                          name=task.name, lane=task.lane, group_id=group, assignee=assignee, status="ready",
                          due_at=due, priority=priority, form=form, title=row.title, created_at=now))

    def _group_for(self, manifest: Mapping[str, Any], task: runtime.ReadyTask) -> str | None:
        # The task's own group (manifest tasks: x: {group: ...}, or a modeler's candidateGroups) wins over its lane.
        ref = ((manifest.get("tasks") or {}).get(task.element_id) or {}).get("group") or (
            manifest.get("lanes") or {}).get(task.lane or "")
        if ref is None:
            return None
        if ref.startswith("="):
            value = self._eval(ref, task.data, task.element_id)
            return None if value is None else str(value)
        return str(ref)

    def _due(self, cfg: Mapping[str, Any], task: runtime.ReadyTask, now: datetime,
             cals: Mapping[str, BusinessCalendar]) -> datetime | None:
        spec = cfg.get("due")
        if not spec:
            return None
        value = self._eval(spec, task.data, task.element_id) if spec.startswith("=") else spec
        if value is None:
            return None
        text = str(value)
        cal = cals.get(cfg.get("calendar", ""))
        if text.startswith("P"):
            try:
                delta = parse_iso_duration(text)  # bounded: refused before any arithmetic when too long
                return cal.add_iso(now, text) if cal else now + delta
            except ValueError as err:
                raise ProcessFailed(f"due time of {task.element_id}: {err}", task.element_id) from err
        try:
            due = datetime.fromisoformat(text)
        except ValueError as err:
            raise ProcessFailed(f"due time of {task.element_id}: {text[:40]!r} is not a duration or date-time",
                                task.element_id) from err
        try:
            return check_date(due if due.tzinfo else due.replace(tzinfo=cal.zone if cal else UTC), now)
        except (ValueError, OverflowError) as err:
            raise ProcessFailed(f"due time of {task.element_id}: {err}", task.element_id) from err

    def _priority(self, cfg: Mapping[str, Any], task: runtime.ReadyTask) -> int:
        spec = cfg.get("priority", 0)
        if isinstance(spec, int):
            return spec
        value = self._eval(spec, task.data, task.element_id)
        try:
            return int(value or 0)
        except (TypeError, ValueError):
            return 0

    def _assignee(self, s: Session, cfg: Mapping[str, Any], task: runtime.ReadyTask, group: str | None,
                  process_id: str) -> str | None:
        rule = cfg.get("assign")
        if not rule:
            return None
        if rule.startswith("="):
            value = self._eval(rule, task.data, task.element_id)
            return None if value in (None, "") else str(value)
        candidates = org.members(s, group) if group else []
        if not candidates:
            return None
        if rule == "least_loaded":
            load = dict.fromkeys(candidates, 0)
            for who, n in s.execute(select(TaskRow.assignee, func.count()).where(
                    TaskRow.status == "ready", TaskRow.assignee.in_(candidates)).group_by(TaskRow.assignee)):
                if who is not None:
                    load[who] = int(n)
            skill = {u.username: u.skill or 3 for u in s.scalars(select(UserRow).where(
                UserRow.username.in_(candidates)))}
            # Fewest open tasks per unit of ability; ties go alphabetically so the choice is predictable.
            return min(candidates, key=lambda u: (load[u] / skill.get(u, 3), u))
        last = s.scalar(select(TaskRow.assignee).where(TaskRow.process_id == process_id,
                                                       TaskRow.element_id == task.element_id,
                                                       TaskRow.assignee.is_not(None))
                        .order_by(TaskRow.created_at.desc(), TaskRow.id.desc()).limit(1))
        if last in candidates:
            return candidates[(candidates.index(last) + 1) % len(candidates)]
        return candidates[0]

    def _sync_timers(self, s: Session, row: InstanceRow, run: runtime.Run, now: datetime) -> None:
        pending = {t.spiff_task_id: t for t in s.scalars(select(TimerRow).where(TimerRow.instance_id == row.id,
                                                                                 TimerRow.status == "pending"))}
        waiting = {t.task_id: t for t in run.waiting_timers()}
        for task_id, timer_row in pending.items():
            if task_id not in waiting:
                # Gone from the waiting list: it fired, unless its task was cancelled or dropped with the work
                # it was attached to (a boundary timer of a task completed before or after its due time).
                spiff = run.task(task_id)
                fired = spiff is not None and (spiff.state == runtime.TaskState.COMPLETED or (
                    spiff.state != runtime.TaskState.CANCELLED and timer_row.due_at < now))
                timer_row.status = "fired" if fired else "cancelled"
                timer_row.lease_owner = timer_row.lease_until = None
                if timer_row.status == "fired":
                    timer_row.fired_at = now
            elif waiting[task_id].due_at != timer_row.due_at:
                timer_row.due_at = waiting[task_id].due_at  # a cycle timer moved on to its next due time
        for task_id, timer in waiting.items():
            if task_id not in pending:
                s.add(TimerRow(instance_id=row.id, element_id=timer.element_id, spiff_task_id=task_id,
                               due_at=timer.due_at, status="pending", attempts=0, created_at=now))
