"""The Engine service: every command is one transaction that restores, applies, and writes back."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from pathlib import Path
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from . import audit, forms, org, runtime, settings
from .calendar import BusinessCalendar, parse_iso_duration
from .clock import Clock, SystemClock
from .definitions import Package, check_files, load_package, read_package_archive
from .errors import (
    Conflict,
    EngineError,
    FormInvalid,
    InvalidInput,
    NotAllowed,
    NotFound,
    ProcessFailed,
)
from .expressions import ExpressionError, Sandbox
from .model import Definition, DeployResult
from .store import (
    DefinitionRow,
    FieldRow,
    InstanceRow,
    MessageRow,
    Store,
    TaskRow,
    TimerRow,
    UserRow,
)

SYSTEM = "system"


@dataclass
class Loaded:
    """A definition version as the runtime needs it, cached by definition id (versions are immutable)."""

    row_id: int
    version: int
    package: Package
    compiled: runtime.CompiledProcess


@lru_cache(maxsize=64)
def _compiled(definition_id: int, content_hash: str, files_key: tuple[tuple[str, str], ...]) -> Loaded:
    files = dict(files_key)
    package = check_files(files)
    return Loaded(definition_id, 0, package, package.compile())


class Commands:
    """The write side. Engine (engine/__init__) adds the read side and the public signatures."""

    def __init__(self, store: Store, clock: Clock | None = None) -> None:
        self.store = store
        self.clock: Clock = clock or SystemClock()
        self._sandbox = Sandbox({})

    # --- definitions -------------------------------------------------------------------------

    def _loaded(self, row: DefinitionRow) -> Loaded:
        loaded = _compiled(row.id, row.content_hash, tuple(sorted(row.files.items())))
        loaded.version = row.version
        return loaded

    def deploy(self, path: str | Path, actor: str = SYSTEM) -> DeployResult:
        """Validate and deploy a package folder or .zip archive (PackageInvalid lists every problem)."""
        return self.deploy_package(load_package(path, **self.package_context()), actor)

    def deploy_archive(self, data: bytes, actor: str = SYSTEM, label: str = "archive") -> DeployResult:
        """Validate and deploy a package sent as the bytes of a zip archive."""
        return self.deploy_package(check_files(read_package_archive(data, label), label=label,
                                               **self.package_context()), actor)

    def package_context(self, *, deploying: bool = True) -> dict[str, set[str] | None]:
        """What a package is checked against: the calendars and groups known here. Before any org is loaded
        groups are not checked, and calendars only when deploying (a timer on an unknown calendar cannot run)."""
        from .store import GroupRow

        with self.store.read() as s:
            cals, groups = set(org.calendars(s)), set(s.scalars(select(GroupRow.id)))
        return {"calendars": cals if deploying else cals or None, "groups": groups or None}

    def deploy_package(self, package: Package, actor: str = SYSTEM) -> DeployResult:
        with self.store.transaction() as s:
            same = s.scalar(select(DefinitionRow).where(DefinitionRow.process_id == package.process_id,
                                                        DefinitionRow.content_hash == package.content_hash))
            if same is not None:
                return DeployResult(package.process_id, same.version, False, same.content_hash)
            latest = s.scalar(select(func.max(DefinitionRow.version))
                              .where(DefinitionRow.process_id == package.process_id)) or 0
            row = DefinitionRow(process_id=package.process_id, version=latest + 1, name=package.name,
                                content_hash=package.content_hash, files=package.files,
                                manifest=package.manifest, deployed_at=self.clock.now(), deployed_by=actor)
            s.add(row)
        return DeployResult(package.process_id, latest + 1, True, package.content_hash)

    def _latest_definition(self, s: Session, process_id: str) -> DefinitionRow:
        row = s.scalar(select(DefinitionRow).where(DefinitionRow.process_id == process_id)
                       .order_by(DefinitionRow.version.desc()).limit(1))
        if row is None:
            raise NotFound(f"no process {process_id!r} is deployed")
        return row

    # --- the command skeleton ----------------------------------------------------------------

    def _helpers(self, now: datetime, cal: BusinessCalendar | None) -> dict[str, Callable[..., Any]]:
        return expression_helpers(now, cal)

    def _default_calendar(self, s: Session) -> BusinessCalendar | None:
        cals = org.calendars(s)
        return cals.get(settings.get("FLOWDESK_DEFAULT_CALENDAR")) or next(iter(cals.values()), None)

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

    def _run_of(self, s: Session, instance_id: str) -> runtime.Run:
        """The instance's workflow restored read-only (for views; never written back)."""
        row = s.get(InstanceRow, instance_id)
        if row is None:
            raise NotFound(f"no case {instance_id}")
        definition = s.get(DefinitionRow, row.definition_id)
        assert definition is not None
        return runtime.restore(self._loaded(definition).compiled, row.state)

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
            row.business_key = None if key is None else str(key)
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

    def _eval(self, source: str, data: Mapping[str, Any], element: str) -> Any:
        source = source[1:] if source.startswith("=") else source
        if forms.is_path(source):
            return forms.resolve_path(data, source)
        try:
            return self._sandbox.evaluate(source, data, element=element)
        except ExpressionError as err:
            raise ProcessFailed(str(err), element) from err

    def _group_for(self, manifest: Mapping[str, Any], task: runtime.ReadyTask) -> str | None:
        ref = (manifest.get("lanes") or {}).get(task.lane or "")
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
                delta = parse_iso_duration(text)
            except ValueError as err:
                raise ProcessFailed(f"due time of {task.element_id}: {err}", task.element_id) from err
            return cal.add_iso(now, text) if cal else now + delta
        try:
            due = datetime.fromisoformat(text)
        except ValueError as err:
            raise ProcessFailed(f"due time of {task.element_id}: {text!r} is not a duration or date-time",
                                task.element_id) from err
        return due if due.tzinfo else due.replace(tzinfo=cal.zone if cal else UTC)

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

    def _record(self, s: Session, row: InstanceRow, type_: str, actor: str, now: datetime,
                payload: dict[str, Any]) -> None:
        audit.append(s, row.id, audit.NewEvent(type_, actor, now, payload), runtime.state_hash(row.state))

    @staticmethod
    def _flush(s: Session) -> None:
        try:
            s.flush()
        except StaleDataError as err:
            raise Conflict("the case was changed by someone else at the same time; nothing was saved") from err

    # --- starting ---------------------------------------------------------------------------

    def _apply_lookups(self, s: Session, manifest: Mapping[str, Any], data: dict[str, Any]) -> dict[str, Any]:
        from .errors import FormInvalid

        out = dict(data)
        errors: dict[str, list[str]] = {}
        for into, cfg in (manifest.get("lookups") or {}).items():
            key = forms.resolve_path(out, cfg["key"])
            if key in (None, ""):
                continue
            record = org.lookup(s, cfg["store"], str(key))
            if record is None:
                if cfg.get("required", True):
                    errors.setdefault(cfg["key"], []).append(f"no {cfg['store']} record {key!r}")
                continue
            out[into] = record
        if errors:
            raise FormInvalid(errors)
        return out

    def _new_instance(self, s: Session, definition: DefinitionRow, data: Mapping[str, Any], actor: str,
                      now: datetime, *, message_id: int | None = None, message: tuple[str, Any] | None = None,
                      validate: bool = True) -> InstanceRow:
        loaded = self._loaded(definition)
        manifest = loaded.package.manifest
        payload = dict(data)
        if validate:
            start_form = loaded.package.form(manifest.get("start_form"))
            if start_form is not None:
                payload = forms.validate(start_form, payload)
        payload = self._apply_lookups(s, manifest, payload)
        instance_id = str(uuid.uuid4())
        row = InstanceRow(id=instance_id, definition_id=definition.id, process_id=definition.process_id,
                          status="running", state={}, data={}, fields={}, version=1, started_by=actor,
                          started_by_message=message_id, created_at=now, updated_at=now, title="", waits=[])
        with runtime.pinned(now, instance_id, 0, self._helpers(now, self._default_calendar(s))) as pin:
            run = runtime.new_run(loaded.compiled)
            try:
                if not run.begin(payload, message):
                    assert message is not None
                    raise ProcessFailed(f"{definition.process_id} does not start on message {message[0]!r}")
            except runtime.RunFailed as err:
                raise ProcessFailed(f"the process failed at {err.element or 'an element'}: {err}",
                                    err.element) from err
            row.state = {}
            s.add(row)
            s.flush()
            self._settle(s, row, run, loaded, now, pin.counter)
        event_payload: dict[str, Any] = {"process_id": definition.process_id, "definition_version": definition.version,
                                         "data": payload}
        if message is not None:
            event_payload["message"] = {"id": message_id, "name": message[0], "payload": message[1]}
        self._record(s, row, "instance_started", actor, now, event_payload)
        self._flush(s)
        return row

    def _check_may_start(self, s: Session, manifest: Mapping[str, Any], actor: str) -> None:
        starters = manifest.get("starters")
        if not starters or actor == SYSTEM:
            return
        user = org.require_user(s, actor)
        if "admin" in (user.roles or []):
            return
        if not set(starters).intersection(org.groups_of(s, actor)):
            raise NotAllowed(f"{actor} may not start {manifest['id']}: only {', '.join(starters)} may")

    def start_instance(self, process_id: str, data: Mapping[str, Any], actor: str) -> str:
        now = self.clock.now()
        with self.store.transaction() as s:
            definition = self._latest_definition(s, process_id)
            self._check_may_start(s, definition.manifest, actor)
            row = self._new_instance(s, definition, data, actor, now)
            return row.id

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

    # --- instances --------------------------------------------------------------------------

    def terminate_instance(self, instance_id: str, reason: str, actor: str) -> None:
        now = self.clock.now()
        with self.store.transaction() as s:
            inst = s.get(InstanceRow, instance_id)
            if inst is None:
                raise NotFound(f"no case {instance_id}")
            if inst.status != "running":
                raise Conflict(f"case {instance_id} is already {inst.status}")
            user = org.require_user(s, actor) if actor != SYSTEM else None
            if user is not None and not {"admin", "supervisor"}.intersection(user.roles or []):
                raise NotAllowed(f"{actor} may not terminate cases")
            with self._running(s, inst, now) as run:
                run.terminate()
            inst.status, inst.ended_at, inst.error = "terminated", now, reason
            for task in s.scalars(select(TaskRow).where(TaskRow.instance_id == inst.id, TaskRow.status == "ready")):
                task.status, task.completed_at = "cancelled", now
            s.execute(update(TimerRow).where(TimerRow.instance_id == inst.id, TimerRow.status == "pending")
                      .values(status="cancelled", lease_owner=None, lease_until=None))
            self._record(s, inst, "instance_terminated", actor, now, {"reason": reason})
            self._flush(s)

    # --- timers and messages ----------------------------------------------------------------

    def fire_timer(self, timer_id: int, actor: str = "worker", *, lease_owner: str | None = None) -> bool:
        """Fire one due timer in its own transaction; False when it was already fired or cancelled, or
        (given `lease_owner`) when another worker holds its lease.

        A timer that is not due yet fires as at its due time: Spiff only fires strictly after it, and
        replay then sees the same instant.
        """
        with self.store.transaction() as s:
            # Lock the case before reading the timer: a second worker with a stale lease waits here,
            # then finds the timer fired instead of firing it twice (SQLite has one writer anyway).
            inst = s.scalar(select(InstanceRow).join(TimerRow, TimerRow.instance_id == InstanceRow.id)
                            .where(TimerRow.id == timer_id).with_for_update(of=InstanceRow))
            timer = s.get(TimerRow, timer_id)
            if inst is None or timer is None:
                raise NotFound(f"no timer {timer_id}")
            if timer.status != "pending":
                return False
            if inst.status != "running":
                # A case that ended has no timers; left pending, this one would be claimed forever.
                timer.status, timer.lease_owner, timer.lease_until = "cancelled", None, None
                return False
            if lease_owner is not None and timer.lease_owner not in (None, lease_owner):
                return False
            now = max(self.clock.now(), timer.due_at + timedelta(microseconds=1))
            pending = {t.id: t.due_at for t in s.scalars(select(TimerRow).where(
                TimerRow.instance_id == inst.id, TimerRow.status == "pending"))}
            with self._running(s, inst, now) as run:
                run.fire_timers()
            fired = []
            for tid, due in sorted(pending.items()):
                row = s.get(TimerRow, tid)
                # A cycle timer stays pending with its next due time; every other one is now fired.
                if row is not None and due < now and (row.status == "fired" or row.due_at != due):
                    fired.append(tid)
            if timer.id not in fired:
                raise ProcessFailed(f"timer {timer.id} ({timer.element_id}) did not fire at {now.isoformat()}",
                                    timer.element_id)
            timer.attempts += 1
            timer.fired_at = now
            if timer.status == "pending":
                timer.lease_owner = timer.lease_until = None  # the next cycle is anyone's to claim
            self._record(s, inst, "timer_fired", actor, now,
                         {"timer_id": timer.id, "element_id": timer.element_id,
                          "due_at": pending[timer.id].isoformat(), "fired": fired})
            self._flush(s)
            return True

    def deliver_message(self, message_id: int, *, lease_owner: str | None = None,
                        retry_at: datetime | None = None) -> str | None:
        """Deliver one pending message; the receiving instance id, or None while nobody waits for it.

        Delivering twice is harmless: a delivered message answers with its first receiver. A worker
        passes its `lease_owner` (a message another worker holds is left alone) and `retry_at`, the
        earliest time an undelivered message is tried again.
        """
        try:
            return self._deliver_message(message_id, lease_owner, retry_at)
        except (ProcessFailed, FormInvalid) as err:
            # The receiving process cannot take this message as it is. Keep it, visibly, with the reason,
            # instead of retrying it forever or holding up the timers and messages behind it.
            with self.store.transaction() as s:
                msg = s.get(MessageRow, message_id)
                if msg is not None and msg.status == "pending":
                    msg.status, msg.error, msg.attempts = "failed", str(err)[:2000], msg.attempts + 1
                    msg.lease_owner = msg.lease_until = None
            return None

    def _deliver_message(self, message_id: int, lease_owner: str | None, retry_at: datetime | None) -> str | None:
        now = self.clock.now()
        with self.store.transaction() as s:
            # The row lock makes concurrent deliveries of one message queue up instead of racing.
            msg = s.get(MessageRow, message_id, with_for_update=True)
            if msg is None:
                raise NotFound(f"no message {message_id}")
            if msg.status != "pending":
                return msg.target_instance_id
            if lease_owner is not None and msg.lease_owner not in (None, lease_owner):
                return None
            target = self._deliver_to_waiting(s, msg, now) or self._deliver_by_start(s, msg, now)
            msg.attempts += 1
            msg.lease_owner, msg.lease_until = None, (None if target is not None else retry_at)
            if target is not None:
                msg.status, msg.target_instance_id, msg.delivered_at = "delivered", target, now
            return target

    def _deliver_to_waiting(self, s: Session, msg: MessageRow, now: datetime) -> str | None:
        if msg.correlation_key is None:
            return None
        for inst in s.scalars(select(InstanceRow).where(InstanceRow.status == "running",
                                                        InstanceRow.business_key == msg.correlation_key)
                              .order_by(InstanceRow.created_at, InstanceRow.id)):
            if msg.name not in (inst.waits or []):
                continue
            with self._running(s, inst, now) as run:
                run.deliver(msg.name, msg.payload)
            self._record(s, inst, "message_delivered", SYSTEM, now,
                         {"message_id": msg.id, "name": msg.name, "payload": msg.payload})
            self._flush(s)
            return inst.id
        return None

    def _deliver_by_start(self, s: Session, msg: MessageRow, now: datetime) -> str | None:
        existing = s.scalar(select(InstanceRow.id).where(InstanceRow.started_by_message == msg.id))
        if existing:
            return existing
        latest: dict[str, DefinitionRow] = {}
        for d in s.scalars(select(DefinitionRow).order_by(DefinitionRow.process_id, DefinitionRow.version)):
            latest[d.process_id] = d
        for definition in latest.values():
            if msg.name in self._loaded(definition).compiled.start_messages():
                row = self._new_instance(s, definition, {}, SYSTEM, now, message_id=msg.id,
                                         message=(msg.name, msg.payload), validate=False)
                return row.id
        return None

    def send_message(self, name: str, correlation_key: str | None = None,
                     payload: Mapping[str, Any] | None = None) -> int:
        """Queue a message from outside any process (an integration, an operator); its id.

        Workers deliver it like a message thrown by a process: to the running case whose business key
        is `correlation_key` and that waits for `name`, else by starting a process with that message start.
        """
        if not name:
            raise InvalidInput("a message needs a name")
        with self.store.transaction() as s:
            row = MessageRow(name=name, correlation_key=correlation_key, payload=dict(payload or {}),
                             status="pending", attempts=0, created_at=self.clock.now())
            s.add(row)
            s.flush()
            return row.id


def expression_helpers(now: datetime, cal: BusinessCalendar | None) -> dict[str, Callable[..., Any]]:
    """The functions process expressions may call; time comes only from the command's pinned now."""
    zone = cal.zone if cal else UTC

    def add_duration(start: str, duration: str) -> str:
        try:
            base = datetime.fromisoformat(start)
            delta = parse_iso_duration(duration)
        except (TypeError, ValueError) as err:
            raise ExpressionError(f"add_duration: {err}") from err
        if base.tzinfo is None:
            base = base.replace(tzinfo=zone)
        return (base + delta).astimezone(UTC).isoformat()

    return {
        "now": lambda: now.isoformat(),
        "today": lambda: now.astimezone(zone).date().isoformat(),
        "add_duration": add_duration,
    }


def apply_calendars(run: runtime.Run, manifest: Mapping[str, Any], cals: Mapping[str, BusinessCalendar],
                    now: datetime) -> None:
    """Move new duration timers that the manifest puts on a business calendar to their business due time."""
    rules = manifest.get("timers") or {}
    for timer in run.waiting_timers():
        cal_name = (rules.get(timer.element_id) or {}).get("calendar")
        if cal_name and cal_name in cals and run.timer_needs_calendar(timer.task_id):
            text = run.timer_duration(timer.task_id)
            if text is not None:
                run.set_timer_due(timer.task_id, cals[cal_name].add_iso(now, text))
            else:
                plain = timer.due_at - now
                run.set_timer_due(timer.task_id, cals[cal_name].add(now, max(plain, timedelta(0))))


def _correlation_key(correlations: Mapping[str, Any]) -> str | None:
    for props in correlations.values():
        if isinstance(props, Mapping):
            for value in props.values():
                if value is not None:
                    return str(value)
    return None


def _not_ready(task: TaskRow) -> EngineError:
    from .errors import TaskNotReady

    return TaskNotReady(f"task {task.id} ({task.name}) is {task.status}, not ready")


def _held(task: TaskRow) -> EngineError:
    from .errors import TaskHeldByOther

    return TaskHeldByOther(f"task {task.id} ({task.name}) is held by {task.assignee}")


def to_definition(row: DefinitionRow, start_form: dict[str, Any] | None) -> Definition:
    return Definition(row.id, row.process_id, row.version, row.name, row.content_hash, row.deployed_at,
                      row.deployed_by, start_form, dict(row.manifest.get("fields") or {}),
                      tuple(row.manifest.get("starters") or ()))
