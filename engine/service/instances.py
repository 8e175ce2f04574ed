"""Starting and terminating instances."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from .. import forms, org, runtime
from ..errors import (
    Conflict,
    NotAllowed,
    NotFound,
    ProcessFailed,
)
from ..store import (
    DefinitionRow,
    InstanceRow,
    TaskRow,
    TimerRow,
)
from .core import SYSTEM
from .settle import Settling


class InstanceCommands(Settling):
    """Starts and terminates instances."""

    def _new_instance(self, s: Session, definition: DefinitionRow, data: Mapping[str, Any], actor: str,
                      now: datetime, *, message_id: int | None = None, message: tuple[str, Any] | None = None,
                      validate: bool = True) -> InstanceRow:
        loaded = self._loaded(definition)
        manifest = loaded.package.manifest
        payload = dict(data)
        forms.require_finite(payload)
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
