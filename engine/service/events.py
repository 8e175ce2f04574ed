"""Timers and messages: firing due timers and delivering messages to waiting or new instances."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..errors import (
    DuplicateBusinessKey,
    FormInvalid,
    InvalidInput,
    NotFound,
    ProcessFailed,
)
from ..store import (
    DefinitionRow,
    InstanceRow,
    MessageRow,
    TimerRow,
)
from .core import SYSTEM
from .instances import InstanceCommands


class EventCommands(InstanceCommands):
    """Fires timers and delivers messages."""

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
        except (ProcessFailed, FormInvalid, DuplicateBusinessKey) as err:
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
