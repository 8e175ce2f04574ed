"""FlowDesk's engine: the public face. The web layer and the CLI use only what this module exports."""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Mapping
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import func, or_, select

from . import audit, facts, locales, org
from .clock import Clock, FakeClock, SystemClock
from .errors import (
    Conflict,
    DuplicateBusinessKey,
    EngineError,
    FormInvalid,
    InvalidInput,
    NotAllowed,
    NotFound,
    PackageInvalid,
    Problem,
    ProcessFailed,
    TaskHeldByOther,
    TaskNotReady,
)
from .facts import Fact, RelatedCase, TaskView
from .locales import Translations
from .locales import normalize as normalize_locale
from .model import Definition, DeployResult, Event, Group, Instance, Message, Task, Timer, User
from .service import Commands, to_definition
from .sessions import Sessions, end_user_sessions, forget_failures
from .store import (
    DefinitionRow,
    GroupRow,
    InstanceRow,
    MembershipRow,
    MessageRow,
    Store,
    TaskRow,
    TimerRow,
    TokenRow,
    UserRow,
    filter_instances,
    instances_with_field,
)

__all__ = [
    "Clock", "Conflict", "Definition", "DeployResult", "DuplicateBusinessKey", "Engine", "EngineError", "Event",
    "Fact", "FakeClock", "FormInvalid", "Group", "Instance", "InvalidInput", "Message", "NotAllowed", "NotFound",
    "PackageInvalid", "Problem", "ProcessFailed", "RelatedCase", "SystemClock", "Task", "TaskHeldByOther",
    "TaskNotReady", "TaskView", "Timer", "Translations", "User", "normalize_locale",
]


class Engine(Commands, Sessions):
    """Deploy processes, start cases, list and complete tasks, fire timers, read history."""

    def __init__(self, database_url: str | None = None, *, clock: Clock | None = None,
                 migrate: bool = True) -> None:
        super().__init__(Store(database_url), clock)
        self._translations: dict[tuple[str, int, str | None], Translations | None] = {}
        if migrate:
            self.init_db()

    # --- setup ---------------------------------------------------------------------------------

    def init_db(self) -> None:
        """Bring the schema to the newest migration (idempotent)."""
        from .migrations import upgrade

        upgrade(self.store.engine)

    def close(self) -> None:
        self.store.dispose()

    def load_org(self, path: str | Path) -> dict[str, int]:
        """Seed groups, users, calendars and reference stores from an org.yaml."""
        data = org.load_org_file(path)
        with self.store.transaction() as s:
            return org.apply_org(s, data)

    def validate(self, path: str | Path) -> list[Problem]:
        """Every problem of a package folder or .zip archive ([] when it is deployable)."""
        from .definitions import load_package

        try:
            load_package(path, **self.package_context(deploying=False))
        except PackageInvalid as err:
            return err.problems
        return []

    def validate_archive(self, data: bytes, label: str = "archive") -> list[Problem]:
        """Every problem of a package sent as the bytes of a zip archive ([] when it is deployable)."""
        from .definitions import check_files, read_package_archive

        try:
            check_files(read_package_archive(data, label), label=label, **self.package_context(deploying=False))
        except PackageInvalid as err:
            return err.problems
        return []

    # --- commands (signatures of the public API) ---------------------------------------------

    def start(self, process_id: str, data: Mapping[str, Any] | None = None, actor: str = "system") -> Instance:
        return self.instance(self.start_instance(process_id, data or {}, actor))

    def claim(self, task_id: str, actor: str) -> Task:
        self.claim_task(task_id, actor)
        return self.task(task_id)

    def unclaim(self, task_id: str, actor: str) -> Task:
        self.unclaim_task(task_id, actor)
        return self.task(task_id)

    def assign(self, task_id: str, assignee: str | None, actor: str) -> Task:
        self.assign_task(task_id, assignee, actor)
        return self.task(task_id)

    def complete(self, task_id: str, data: Mapping[str, Any] | None, actor: str) -> Instance:
        return self.instance(self.complete_task(task_id, data or {}, actor))

    def terminate(self, instance_id: str, reason: str, actor: str) -> Instance:
        self.terminate_instance(instance_id, reason, actor)
        return self.instance(instance_id)

    def run_due(self, *, limit: int = 1000) -> int:
        """Fire every due timer and deliver every pending message now, inline; the number of actions.

        For tests and one-shot tooling: no leases of its own, but work a live worker has leased is left
        to that worker. Undeliverable messages are tried on every call, ignoring the worker's back-off.
        """
        done = 0
        for _ in range(limit):
            now = self.clock.now()
            with self.store.read() as s:
                timer_id = s.scalar(select(TimerRow.id).where(
                    TimerRow.status == "pending", TimerRow.due_at <= now,
                    or_(TimerRow.lease_owner.is_(None), TimerRow.lease_until < now),
                ).order_by(TimerRow.due_at, TimerRow.id).limit(1))
                message_ids = list(s.scalars(select(MessageRow.id).where(
                    MessageRow.status == "pending",
                    or_(MessageRow.lease_owner.is_(None), MessageRow.lease_until < now),
                ).order_by(MessageRow.id)))
            progressed = False
            for mid in message_ids:
                if self.deliver_message(mid) is not None:
                    done += 1
                    progressed = True
            if timer_id is not None:
                # False only when a concurrent command got there first; either way it is no longer due.
                done += 1 if self.fire_timer(timer_id) else 0
                progressed = True
            if not progressed:
                break
        return done

    # --- reads -------------------------------------------------------------------------------

    def definitions(self, process_id: str | None = None) -> list[Definition]:
        with self.store.read() as s:
            q = select(DefinitionRow).order_by(DefinitionRow.process_id, DefinitionRow.version)
            if process_id:
                q = q.where(DefinitionRow.process_id == process_id)
            return [to_definition(r, self._loaded(r).package.form(r.manifest.get("start_form")))
                    for r in s.scalars(q)]

    def processes(self) -> list[Definition]:
        """The newest definition of every deployed process."""
        latest: dict[str, Definition] = {}
        for d in self.definitions():
            latest[d.process_id] = d
        return list(latest.values())

    def definition(self, process_id: str, version: int | None = None) -> Definition:
        found = [d for d in self.definitions(process_id) if version is None or d.version == version]
        if not found:
            raise NotFound(f"no process {process_id!r}" + (f" version {version}" if version else ""))
        return found[-1]

    def definition_files(self, process_id: str, version: int) -> dict[str, str]:
        """Every file of a definition version, keyed by its path in the package."""
        with self.store.read() as s:
            return dict(self._definition_row(s, process_id, version).files)

    def definition_archive(self, process_id: str, version: int) -> bytes:
        """A definition version's files as a zip of its package folder: edit them and deploy them again."""
        from .definitions import write_package_archive

        return write_package_archive(self.definition_files(process_id, version), process_id)

    def translations(self, process_id: str, version: int | None, locale: str | None) -> Translations | None:
        """The package's own texts in a locale (its `locales/<locale>.yaml`), or None when it has none.

        Without a version, the newest one's: task and lane ids outlive versions, so lists of tasks
        from several versions read well with the newest texts."""
        with self.store.read() as s:
            if version is None:
                version = s.scalar(select(func.max(DefinitionRow.version))
                                   .where(DefinitionRow.process_id == process_id))
                if version is None:
                    return None
            key = (process_id, version, locales.normalize(locale))
            if key not in self._translations:
                row = self._definition_row(s, process_id, version)
                self._translations[key] = locales.load(row.files, row.manifest, locale)
        return self._translations[key]

    def definition_bpmn(self, process_id: str, version: int) -> str:
        """The BPMN XML of a definition version (the file its manifest names)."""
        with self.store.read() as s:
            row = self._definition_row(s, process_id, version)
            return str(row.files[row.manifest["bpmn"]])

    @staticmethod
    def _definition_row(s: Any, process_id: str, version: int) -> DefinitionRow:
        row = s.scalar(select(DefinitionRow).where(DefinitionRow.process_id == process_id,
                                                   DefinitionRow.version == version))
        if row is None:
            raise NotFound(f"no process {process_id!r} version {version}")
        return row

    def instance(self, instance_id: str) -> Instance:
        with self.store.read() as s:
            row = s.get(InstanceRow, instance_id)
            if row is None:
                raise NotFound(f"no case {instance_id}")
            return self._to_instance(s, row)

    def _to_instance(self, s: Any, row: InstanceRow) -> Instance:
        version = s.scalar(select(DefinitionRow.version).where(DefinitionRow.id == row.definition_id))
        return Instance(row.id, row.process_id, int(version or 0), row.business_key, row.title, row.status,
                        dict(row.data or {}), dict(row.fields or {}), row.version, row.started_by,
                        row.created_at, row.updated_at, row.ended_at, row.error)

    def instances(self, *, process_id: str | None = None, status: str | None = None,
                  business_key: str | None = None, fields: Mapping[str, Any] | None = None,
                  started_by: str | None = None, since: datetime | None = None, until: datetime | None = None,
                  limit: int = 100, offset: int = 0) -> list[Instance]:
        with self.store.read() as s:
            q = filter_instances(select(InstanceRow), process_id=process_id, status=status,
                                 business_key=business_key, started_by=started_by, since=since, until=until,
                                 fields=fields)
            q = q.order_by(InstanceRow.created_at.desc(), InstanceRow.id).limit(limit).offset(offset)
            return [self._to_instance(s, r) for r in s.scalars(q)]

    def _task_query(self, *, group: str | None = None, groups: list[str] | None = None,
                    assignee: str | None = None, unassigned: bool = False, status: str | None = "ready",
                    process_id: str | None = None, instance_id: str | None = None,
                    due_before: datetime | None = None, fields: Mapping[str, Any] | None = None) -> Any:
        q = select(TaskRow)
        if status:
            q = q.where(TaskRow.status == status)
        if group:
            q = q.where(TaskRow.group_id == group)
        if groups is not None:
            q = q.where(TaskRow.group_id.in_(groups))
        if assignee:
            q = q.where(TaskRow.assignee == assignee)
        if unassigned:
            q = q.where(TaskRow.assignee.is_(None))
        if process_id:
            q = q.where(TaskRow.process_id == process_id)
        if instance_id:
            q = q.where(TaskRow.instance_id == instance_id)
        if due_before:
            q = q.where(TaskRow.due_at.is_not(None), TaskRow.due_at < due_before)
        for name, value in (fields or {}).items():
            q = q.where(TaskRow.instance_id.in_(instances_with_field(name, value)))
        return q

    def tasks(self, *, limit: int = 200, offset: int = 0, with_data: bool = False, **filters: Any) -> list[Task]:
        """Tasks filtered by group(s), assignee, status, process, instance, due-before and business fields,
        ordered by due time, then priority (higher first)."""
        with self.store.read() as s:
            q = self._task_query(**filters).order_by(
                TaskRow.due_at.is_(None), TaskRow.due_at, TaskRow.priority.desc(), TaskRow.created_at, TaskRow.id
            ).limit(limit).offset(offset)
            rows = list(s.scalars(q))
            return [self._to_task(s, r, with_data) for r in rows]

    def count_tasks(self, **filters: Any) -> int:
        with self.store.read() as s:
            sub = self._task_query(**filters).subquery()
            return int(s.scalar(select(func.count()).select_from(sub)) or 0)

    def task(self, task_id: str) -> Task:
        with self.store.read() as s:
            row = s.get(TaskRow, task_id)
            if row is None:
                raise NotFound(f"no task {task_id}")
            return self._to_task(s, row, True)

    def _to_task(self, s: Any, row: TaskRow, with_data: bool) -> Task:
        inst = s.get(InstanceRow, row.instance_id) if with_data else None
        fields: dict[str, Any] = {}
        data: dict[str, Any] = {}
        if inst is not None:
            fields, data = dict(inst.fields or {}), dict(inst.data or {})
        return Task(row.id, row.instance_id, row.process_id, row.element_id, row.name, row.lane, row.group_id,
                    row.assignee, row.status, row.due_at, row.priority, dict(row.form or {}), row.created_at,
                    row.title, row.completed_at, row.completed_by, fields, data)

    def task_view(self, task_id: str) -> TaskView:
        """What the task shows first (`show:`), labelled from the forms, and its form's defaults from the case."""
        with self.store.read() as s:
            row = s.get(TaskRow, task_id)
            if row is None:
                raise NotFound(f"no task {task_id}")
            inst = s.get(InstanceRow, row.instance_id)
            definition = s.get(DefinitionRow, inst.definition_id) if inst is not None else None
            if inst is None or definition is None:
                return TaskView()
            package = self._loaded(definition).package
            manifest = package.manifest
            forms = [package.form(manifest.get("start_form")),
                     *(package.form(c.get("form")) for c in (manifest.get("tasks") or {}).values())]
            cal_name = ((manifest.get("tasks") or {}).get(row.element_id) or {}).get("calendar")
            cal = org.calendars(s).get(cal_name) if cal_name else None
            zone = cal.timezone if cal else self.default_timezone()
            return facts.task_view(manifest, row.element_id, dict(inst.data or {}), facts.form_labels(forms), zone)

    def related_cases(self, instance_id: str) -> list[RelatedCase]:
        """The cases this one follows and led to (complaint, return visit, follow-up; repair, return visit)."""
        with self.store.read() as s:
            if s.get(InstanceRow, instance_id) is None:
                raise NotFound(f"no case {instance_id}")
            return facts.related_cases(s, instance_id)

    def history(self, instance_id: str) -> list[Event]:
        with self.store.read() as s:
            if s.get(InstanceRow, instance_id) is None:
                raise NotFound(f"no case {instance_id}")
            return audit.history(s, instance_id)

    def timers(self, *, instance_id: str | None = None, status: str | None = "pending") -> list[Timer]:
        with self.store.read() as s:
            q = select(TimerRow).order_by(TimerRow.due_at, TimerRow.id)
            if instance_id:
                q = q.where(TimerRow.instance_id == instance_id)
            if status:
                q = q.where(TimerRow.status == status)
            return [Timer(r.id, r.instance_id, r.element_id, r.due_at, r.status, r.lease_owner, r.lease_until,
                          r.attempts, r.fired_at) for r in s.scalars(q)]

    def messages(self, *, status: str | None = None) -> list[Message]:
        with self.store.read() as s:
            q = select(MessageRow).order_by(MessageRow.id)
            if status:
                q = q.where(MessageRow.status == status)
            return [Message(r.id, r.name, r.correlation_key, dict(r.payload or {}), r.status, r.source_instance_id,
                            r.target_instance_id, r.created_at, r.delivered_at, r.attempts, r.error)
                    for r in s.scalars(q)]

    def diagram(self, instance_id: str) -> dict[str, Any]:
        """The BPMN XML of the case's version with completed and current elements, for highlighting."""
        inst = self.instance(instance_id)
        bpmn = self.definition_bpmn(inst.process_id, inst.definition_version)
        with self.store.read() as s:
            done = sorted({t.element_id for t in s.scalars(select(TaskRow).where(
                TaskRow.instance_id == instance_id, TaskRow.status == "completed"))})
            current = sorted({t.element_id for t in s.scalars(select(TaskRow).where(
                TaskRow.instance_id == instance_id, TaskRow.status == "ready"))})
            completed = self._run_of(s, instance_id).completed_elements()
        return {"xml": bpmn, "completed": sorted(set(done) | set(completed)), "current": current}

    # --- people ------------------------------------------------------------------------------

    def users(self) -> list[User]:
        with self.store.read() as s:
            return [self._to_user(s, u) for u in s.scalars(select(UserRow).order_by(UserRow.username))]

    def user(self, username: str) -> User:
        with self.store.read() as s:
            row = s.get(UserRow, username)
            if row is None:
                raise NotFound(f"no user {username}")
            return self._to_user(s, row)

    @staticmethod
    def _to_user(s: Any, row: UserRow) -> User:
        return User(row.username, row.name, tuple(org.groups_of(s, row.username)), tuple(row.roles or ()),
                    row.active, row.locale)

    def set_user_locale(self, username: str, locale: str | None) -> User:
        """Choose the language a user is served in (None: follow the browser)."""
        chosen = locales.normalize(locale)
        with self.store.transaction() as s:
            row = s.get(UserRow, username)
            if row is None:
                raise NotFound(f"no user {username}")
            row.locale = chosen
        return self.user(username)

    def groups(self) -> list[Group]:
        with self.store.read() as s:
            return [Group(g.id, g.name, tuple(org.members(s, g.id)), tuple(g.supervisors or ()), dict(g.names or {}))
                    for g in s.scalars(select(GroupRow).order_by(GroupRow.id))]

    def supervised_groups(self, username: str) -> set[str]:
        with self.store.read() as s:
            return org.supervised_groups(s, username)

    def authenticate(self, username: str, password: str, *, address: str = "unknown", max_failures: int = 5,
                     lock_for: timedelta = timedelta(minutes=1)) -> User:
        """Check a password. Repeated failures from one client address lock out that address (for this account
        only) for `lock_for`, doubling each time; other addresses are not affected. Raises NotAllowed."""
        self.check_login(username, password, address, max_failures=max_failures, lock_for=lock_for)
        return self.user(username)

    def set_password(self, username: str, password: str, *, keep_session: str | None = None) -> None:
        """Set a new password; every session of the user ends (except `keep_session`, the changer's own)."""
        if len(password) < 6:
            raise InvalidInput("a password needs at least 6 characters")
        with self.store.transaction() as s:
            row = org.require_user(s, username)
            row.password_hash = org.hash_password(password)
            end_user_sessions(s, username, keep_session)
            forget_failures(s, username)

    def create_user(self, username: str, name: str, password: str, *, groups: tuple[str, ...] = (),
                    roles: tuple[str, ...] = ("staff",)) -> User:
        """Add a staff account; groups must exist and the password needs six characters."""
        import re

        if not re.fullmatch(r"[a-z][a-z0-9_.-]{1,63}", username or ""):
            raise InvalidInput("a username is 2-64 lower-case letters, digits, '.', '_' or '-', starting with a letter")
        if len(password) < 6:
            raise InvalidInput("a password needs at least 6 characters")
        unknown_roles = set(roles) - {"staff", "supervisor", "designer", "auditor", "admin"}
        if unknown_roles:
            raise InvalidInput(f"unknown role(s): {', '.join(sorted(unknown_roles))}")
        with self.store.transaction() as s:
            if s.get(UserRow, username) is not None:
                raise Conflict(f"user {username!r} already exists")
            missing = set(groups) - org.known(s, groups)
            if missing:
                raise InvalidInput(f"unknown group(s): {', '.join(sorted(missing))}")
            s.add(UserRow(username=username, name=name.strip() or username, password_hash=org.hash_password(password),
                          roles=list(roles), skill=3, active=True, failed_logins=0))
            s.flush()
            for g in groups:
                s.add(MembershipRow(username=username, group_id=g))
        return self.user(username)

    def set_user_active(self, username: str, active: bool) -> User:
        """Deactivate an account (it can no longer log in or be given work) or reactivate and unlock it."""
        with self.store.transaction() as s:
            row = s.get(UserRow, username)
            if row is None:
                raise NotFound(f"no user {username}")
            row.active = active
            row.failed_logins, row.locked_until = 0, None
            forget_failures(s, username)
            if not active:
                end_user_sessions(s, username)
        return self.user(username)

    def create_token(self, username: str) -> str:
        """A new API bearer token for the user (shown once; only its hash is stored)."""
        token = "fd_" + secrets.token_urlsafe(32)
        with self.store.transaction() as s:
            org.require_user(s, username)
            s.add(TokenRow(token_hash=_token_hash(token), username=username, created_at=self.clock.now()))
        return token

    def user_for_token(self, token: str) -> User:
        with self.store.read() as s:
            row = s.scalar(select(TokenRow).where(TokenRow.token_hash == _token_hash(token),
                                                  TokenRow.revoked.is_(False)))
            if row is None:
                raise NotAllowed("invalid or revoked token")
            return self.user(row.username)

    def default_timezone(self) -> str:
        """The time zone of the default business calendar (FLOWDESK_DEFAULT_CALENDAR), else UTC."""
        with self.store.read() as s:
            cal = self._default_calendar(s)
            return cal.timezone if cal else "UTC"

    def reference(self, store: str, key: str) -> dict[str, Any] | None:
        with self.store.read() as s:
            return org.lookup(s, store, key)

    def import_reference(self, store: str, csv_text: str, org_path: str | Path) -> int:
        data = org.load_org_file(org_path)
        cfg = (data.get("stores") or {}).get(store)
        if cfg is None:
            raise NotFound(f"no reference store {store!r} in {org_path}")
        with self.store.transaction() as s:
            return org.import_csv(s, store, cfg, csv_text)

    # --- audit, replay and time travel (engine.replay, engine.audit) ----------------------------

    def replay(self, instance_id: str) -> Any:
        """Replay a case from its definition version and events alone: a frozen replay.ReplayResult that tells
        "verified", "diverged" (with the first differing event) and "failed" (the process failed) apart."""
        from . import replay

        return replay.replay(self, instance_id)

    def replay_history(self, records: Any) -> list[Any]:
        """Replay exported JSON Lines records (parsed dicts): one replay.ReplayResult per case."""
        from . import replay

        return replay.replay_history(self, records)

    def verify_chain(self, instance_id: str) -> Any:
        """Recompute a case's hash chain: an audit.ChainReport listing every edited, deleted, inserted or
        reordered event and a stored state that is not the last event's."""
        with audit.snapshot(self.store) as s:
            if s.get(InstanceRow, instance_id) is None and not audit.count(s, instance_id):
                raise NotFound(f"no case {instance_id}")
            return audit.verify_instance(s, instance_id)

    def verify_all(self) -> list[Any]:
        """verify_chain for every case (including logs whose instance row was deleted)."""
        with self.store.read() as s:
            ids = audit.instance_ids(s)
        reports = []
        for instance_id in ids:
            with audit.snapshot(self.store) as s:
                reports.append(audit.verify_instance(s, instance_id))
        return reports

    def state_at(self, instance_id: str, seq: int) -> Any:
        """The case as it was right after event `seq` (a replay.Snapshot: data, ready tasks, completed
        elements, timers), rebuilt by replaying up to it."""
        from . import replay

        stored = replay.load(self, instance_id)
        return replay.state_at(stored.version, stored.world, instance_id, stored.events, seq)

    def timeline(self, instance_id: str) -> list[Any]:
        """Every event of a case with the data it entered and the data it changed (replay.TimelineEntry)."""
        from . import replay

        stored = replay.load(self, instance_id)
        return replay.timeline(stored.version, stored.world, instance_id, stored.events)

    def variable_history(self, instance_id: str) -> dict[str, list[tuple[int, datetime, str, Any]]]:
        """{field: [(seq, at, actor, value), ...]}: every value any event set or changed, by replay."""
        from . import replay

        stored = replay.load(self, instance_id)
        return replay.variable_history(stored.version, stored.world, instance_id, stored.events)

    def audit_search(self, *, process_id: str | None = None, business_key: str | None = None,
                     fields: Mapping[str, Any] | None = None, actor: str | None = None,
                     since: datetime | None = None, until: datetime | None = None, limit: int = 100,
                     offset: int = 0) -> list[Instance]:
        """Cases by process, business key, indexed fields, anyone who acted on them and activity dates."""
        with self.store.read() as s:
            rows = audit.search(s, process_id=process_id, business_key=business_key, fields=dict(fields or {}),
                                actor=actor, since=since, until=until, limit=limit, offset=offset)
            return [self._to_instance(s, r) for r in rows]

    def export_history(self, instance_ids: list[str] | None = None, *, process_id: str | None = None,
                       since: datetime | None = None, until: datetime | None = None,
                       fmt: str = "jsonl") -> Any:
        """Histories as an iterator of text chunks: JSON Lines that replay accepts back, or CSV."""
        from . import replay

        if fmt not in ("jsonl", "csv"):
            raise InvalidInput(f"unknown export format {fmt!r}: use jsonl or csv")
        ids = list(instance_ids) if instance_ids else replay.select_instances(self, process_id, since, until)
        for instance_id in ids:
            self.instance(instance_id)
        records = replay.export_records(self, ids)
        return replay.to_jsonl(records) if fmt == "jsonl" else replay.to_csv(records)


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()

