"""The audit log: typed events written in the command's transaction, hash-chained per instance."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from .errors import EngineError, NotFound
from .model import Event
from .store import EventRow

GENESIS = "0" * 64

# The command inputs each event type records; replay feeds exactly these back in.
EVENT_TYPES = (
    "instance_started",
    "task_claimed",
    "task_unclaimed",
    "task_assigned",
    "task_completed",
    "timer_fired",
    "message_delivered",
    "instance_terminated",
)


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def event_hash(instance_id: str, seq: int, at: datetime, actor: str, type_: str, payload: Any,
               state_hash: str, prev_hash: str) -> str:
    """The hash that chains one event to the previous one of its instance."""
    body = _canonical([instance_id, seq, at.isoformat(), actor, type_, payload, state_hash, prev_hash])
    return hashlib.sha256(body.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class NewEvent:
    type: str
    actor: str
    at: datetime
    payload: dict[str, Any]


def append(session: Session, instance_id: str, new: NewEvent, state_hash: str) -> EventRow:
    """Append one event after the instance's last one; the caller's transaction commits it."""
    if new.type not in EVENT_TYPES:
        raise ValueError(f"unknown event type {new.type!r}")
    last = session.execute(
        select(EventRow.seq, EventRow.hash)
        .where(EventRow.instance_id == instance_id)
        .order_by(EventRow.seq.desc())
        .limit(1)
    ).first()
    seq = (last.seq + 1) if last else 1
    prev = last.hash if last else GENESIS
    row = EventRow(
        instance_id=instance_id, seq=seq, at=new.at, actor=new.actor, type=new.type,
        payload=new.payload, state_hash=state_hash, prev_hash=prev,
        hash=event_hash(instance_id, seq, new.at, new.actor, new.type, new.payload, state_hash, prev),
    )
    session.add(row)
    return row


def to_event(row: EventRow) -> Event:
    return Event(row.instance_id, row.seq, row.at, row.actor, row.type, dict(row.payload or {}),
                 row.state_hash, row.prev_hash, row.hash)


def history(session: Session, instance_id: str) -> list[Event]:
    rows = session.scalars(select(EventRow).where(EventRow.instance_id == instance_id).order_by(EventRow.seq))
    return [to_event(r) for r in rows]


def count(session: Session, instance_id: str, type_: str | None = None) -> int:
    q = select(func.count()).select_from(EventRow).where(EventRow.instance_id == instance_id)
    if type_:
        q = q.where(EventRow.type == type_)
    return int(session.scalar(q) or 0)


# --- verifying the chain -----------------------------------------------------------------------


@dataclass(frozen=True)
class ChainProblem:
    """One thing wrong with an instance's log, at the event where it shows."""

    instance_id: str
    seq: int | None
    kind: str  # deleted | edited | reordered | prev_mismatch | duplicate | state_edited | no_events | ...
    message: str

    def __str__(self) -> str:
        where = f"event #{self.seq}" if self.seq is not None else "instance"
        return f"{self.instance_id} {where}: {self.message}"


@dataclass(frozen=True)
class ChainReport:
    """The result of recomputing one instance's hash chain."""

    instance_id: str
    events: int
    problems: tuple[ChainProblem, ...]

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def first_bad_seq(self) -> int | None:
        seqs = [p.seq for p in self.problems if p.seq is not None]
        return min(seqs) if seqs else None


def recorded_seq(instance_id: str, event: Event, candidates: range) -> int | None:
    """The sequence number an event's hash was computed for, when it is not the one it has now."""
    for seq in candidates:
        if seq != event.seq and event_hash(instance_id, seq, event.at, event.actor, event.type, event.payload,
                                           event.state_hash, event.prev_hash) == event.hash:
            return seq
    return None


def verify_events(instance_id: str, events: list[Event], stored_state_hash: str | None = None,
                  updated_at: datetime | None = None) -> list[ChainProblem]:
    """Every edited, deleted, inserted or reordered event of one instance (events in stored seq order).

    `stored_state_hash` is the hash of the instance's stored state, which must be the last event's;
    `updated_at`, when given, must be the last event's time (a command always records an event).
    """
    problems: list[ChainProblem] = []

    def add(seq: int | None, kind: str, message: str) -> None:
        problems.append(ChainProblem(instance_id, seq, kind, message))

    if not events:
        add(None, "no_events", "the instance has no events at all (its log was deleted)")
        return problems
    candidates = range(1, max(e.seq for e in events) + len(events) + 2)
    prev_hash, expected, prev_seq = GENESIS, 1, 0
    for event in events:
        gap = False
        if event.seq > expected:
            missing = f"#{expected}" if event.seq == expected + 1 else f"#{expected}–#{event.seq - 1}"
            add(expected, "deleted", f"event {missing} is missing (deleted)")
            gap = True
        elif event.seq < expected:
            add(event.seq, "duplicate", f"event #{event.seq} appears again after #{prev_seq}")
        if event_hash(instance_id, event.seq, event.at, event.actor, event.type, event.payload,
                      event.state_hash, event.prev_hash) != event.hash:
            moved = recorded_seq(instance_id, event, candidates)
            if moved is not None:
                why = "inserted or reordered" if moved < event.seq else "deleted or reordered"
                add(event.seq, "reordered", f"{event.type} recorded as #{moved} now stands at #{event.seq} "
                                            f"(events before it were {why})")
            else:
                add(event.seq, "edited", f"{event.type} was edited: its content no longer matches its hash")
        if event.prev_hash != prev_hash and not gap:
            add(event.seq, "prev_mismatch",
                f"{event.type} does not follow the event before it (previous hash differs: an event was "
                f"deleted, inserted or moved here, or the one before was rewritten)")
        if event.seq == 1 and event.type != "instance_started":
            add(event.seq, "no_start", f"the first event is {event.type}, not instance_started")
        prev_hash, expected, prev_seq = event.hash, max(expected, event.seq + 1), event.seq
    last = events[-1]
    if stored_state_hash is not None and stored_state_hash != last.state_hash:
        add(last.seq, "state_edited", f"stored state edited: its hash {stored_state_hash[:12]}… is not the state "
                                      f"hash {last.state_hash[:12]}… recorded by the last event #{last.seq} "
                                      f"(or events after #{last.seq} were deleted)")
    if updated_at is not None and updated_at != last.at:
        add(last.seq, "after_last", f"the instance was changed at {updated_at.isoformat()} but its last event "
                                    f"#{last.seq} is from {last.at.isoformat()} (a later event was deleted?)")
    return problems


@contextmanager
def snapshot(store: Any) -> Iterator[Session]:
    """A read session that sees one snapshot of the database.

    An instance's stored state and its events are compared; under PostgreSQL's default READ COMMITTED a
    command committing between the two SELECTs would look like tampering. (SQLite's read transaction in
    WAL mode is a snapshot already.)
    """
    with store.read() as session:
        if session.get_bind().dialect.name == "postgresql":
            session.connection(execution_options={"isolation_level": "REPEATABLE READ"})
        yield session


def verify_instance(session: Session, instance_id: str) -> ChainReport:
    """Recompute one stored instance's chain and compare its stored state with the last event."""
    from . import runtime
    from .store import InstanceRow

    row = session.get(InstanceRow, instance_id)
    events = history(session, instance_id)
    stored = runtime.state_hash(row.state) if row is not None else None
    problems = verify_events(instance_id, events, stored, row.updated_at if row is not None else None)
    if row is None:
        problems.append(ChainProblem(instance_id, None, "no_instance", "the instance row is missing (deleted)"))
    return ChainReport(instance_id, len(events), tuple(problems))


def instance_ids(session: Session) -> list[str]:
    """Every instance that has a row or events, oldest first (a deleted row with a log still counts)."""
    from .store import InstanceRow

    rows = list(session.scalars(select(InstanceRow.id).order_by(InstanceRow.created_at, InstanceRow.id)))
    seen = set(rows)
    orphans = sorted(set(session.scalars(select(EventRow.instance_id).distinct())) - seen)
    return rows + orphans


def search(session: Session, *, process_id: str | None = None, business_key: str | None = None,
           fields: dict[str, Any] | None = None, actor: str | None = None, since: datetime | None = None,
           until: datetime | None = None, limit: int = 100, offset: int = 0) -> list[Any]:
    """Instance rows for the auditor's search: anyone who acted on a case, and activity in [since, until)."""
    from .store import InstanceRow, filter_instances

    q = filter_instances(select(InstanceRow), process_id=process_id, business_key=business_key, fields=fields)
    if actor or since or until:
        acted = select(EventRow.instance_id)
        if actor:
            acted = acted.where(EventRow.actor == actor)
        if since:
            acted = acted.where(EventRow.at >= since)
        if until:
            acted = acted.where(EventRow.at < until)
        q = q.where(InstanceRow.id.in_(acted))
    q = q.order_by(InstanceRow.created_at.desc(), InstanceRow.id).limit(limit).offset(offset)
    return list(session.scalars(q))


# --- reading events ------------------------------------------------------------------------------


def summarize(event: Event) -> str:
    p = event.payload
    if event.type == "instance_started":
        via = f" by message {p['message'].get('name')}" if p.get("message") else ""
        return f"started {p.get('process_id')} v{p.get('definition_version')}{via}"
    if event.type == "task_completed":
        return f"completed {p.get('element_id')}"
    if event.type == "task_claimed":
        return f"claimed {p.get('element_id')}"
    if event.type == "task_unclaimed":
        return f"gave back {p.get('element_id')}" + (f" (held by {p['previous']})" if p.get("previous") else "")
    if event.type == "task_assigned":
        return f"assigned {p.get('element_id')} to {p.get('assignee') or 'nobody'}"
    if event.type == "timer_fired":
        return f"timer {p.get('element_id')} fired (due {p.get('due_at')})"
    if event.type == "message_delivered":
        return f"message {p.get('name')} delivered"
    if event.type == "instance_terminated":
        return f"terminated: {p.get('reason')}"
    return event.type


def entered_data(event: Event) -> dict[str, Any]:
    p = event.payload
    if event.type in ("instance_started", "task_completed"):
        return dict(p.get("data") or {})
    if event.type == "message_delivered":
        value = p.get("payload")
        return dict(value) if isinstance(value, Mapping) else {"payload": value}
    return {}


class HistoryInvalid(EngineError):
    """A history cannot be read or replayed at all (a bad export file, an unknown definition)."""

    status = 422
    code = "history_invalid"


EXPORT_FORMAT = 1


# --- export files (JSON Lines and CSV) -----------------------------------------------------------


def export_records(engine: Any, instance_ids: Iterable[str]) -> Iterator[dict[str, Any]]:
    """JSON-ready records: the calendars once, each definition version once (with its files), then per
    instance a header naming its version and content hash, followed by its events."""
    from sqlalchemy import select

    from . import runtime
    from .store import CalendarRow, DefinitionRow, InstanceRow

    with engine.store.read() as s:
        calendars = {r.name: r.config for r in s.scalars(select(CalendarRow).order_by(CalendarRow.name))}
        default = engine._default_calendar(s)
    yield {"record": "calendars", "format": EXPORT_FORMAT, "calendars": calendars,
           "default": default.name if default else None}
    sent: set[str] = set()
    for instance_id in instance_ids:
        with snapshot(engine.store) as s:
            row = s.get(InstanceRow, instance_id)
            if row is None:
                raise NotFound(f"no case {instance_id}")
            definition = s.get(DefinitionRow, row.definition_id)
            assert definition is not None
            events = history(s, instance_id)
            if definition.content_hash not in sent:
                sent.add(definition.content_hash)
                yield {"record": "definition", "process_id": definition.process_id, "version": definition.version,
                       "content_hash": definition.content_hash, "name": definition.name,
                       "deployed_at": definition.deployed_at.isoformat(), "files": dict(definition.files)}
            yield {"record": "instance", "instance_id": row.id, "process_id": definition.process_id,
                   "definition_version": definition.version, "content_hash": definition.content_hash,
                   "business_key": row.business_key, "title": row.title, "status": row.status,
                   "started_by": row.started_by, "created_at": row.created_at.isoformat(),
                   "state_hash": runtime.state_hash(row.state), "events": len(events)}
            for event in events:
                yield event_record(event)


def event_record(event: Event) -> dict[str, Any]:
    return {"record": "event", "instance_id": event.instance_id, "seq": event.seq, "at": event.at.isoformat(),
            "actor": event.actor, "type": event.type, "payload": event.payload, "state_hash": event.state_hash,
            "prev_hash": event.prev_hash, "hash": event.hash}


def to_jsonl(records: Iterable[Mapping[str, Any]]) -> Iterator[str]:
    for record in records:
        # Key order is kept: it is the order the data was entered in, which the workflow saw.
        yield json.dumps(record, ensure_ascii=False, separators=(",", ":")) + "\n"


CSV_COLUMNS = ("instance_id", "process_id", "definition_version", "business_key", "seq", "at", "actor", "type",
               "element_id", "task_id", "summary", "data", "state_hash", "hash")


def to_csv(records: Iterable[Mapping[str, Any]]) -> Iterator[str]:
    """One spreadsheet row per event, with the instance's process and business key on each row."""
    import csv
    import io

    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    header: Mapping[str, Any] = {}
    for record in records:
        if record.get("record") == "instance":
            header = record
            continue
        if record.get("record") != "event":
            continue
        event = event_from_record(record)
        p = event.payload
        writer.writerow([event.instance_id, header.get("process_id", ""), header.get("definition_version", ""),
                         header.get("business_key") or "", event.seq, event.at.isoformat(), event.actor, event.type,
                         p.get("element_id", ""), p.get("task_id", ""), summarize(event),
                         json.dumps(entered_data(event), sort_keys=True, ensure_ascii=False),
                         event.state_hash, event.hash])
        yield buf.getvalue()
        buf.seek(0)
        buf.truncate()
    if buf.getvalue():
        yield buf.getvalue()


def read_jsonl(lines: Iterable[str]) -> list[dict[str, Any]]:
    records = []
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            value = json.loads(line)
        except json.JSONDecodeError as err:
            raise HistoryInvalid(f"line {number}: not JSON ({err.msg})") from err
        if not isinstance(value, dict) or "record" not in value:
            raise HistoryInvalid(f"line {number}: not an export record")
        records.append(value)
    return records


def event_from_record(r: Mapping[str, Any]) -> Event:
    at = datetime.fromisoformat(r["at"])
    return Event(r["instance_id"], int(r["seq"]), at if at.tzinfo else at.replace(tzinfo=UTC), r["actor"],
                 r["type"], dict(r.get("payload") or {}), r["state_hash"], r["prev_hash"], r["hash"])


def select_instances(engine: Any, process: str | None, since: datetime | None,
                     until: datetime | None = None) -> list[str]:
    """Ids of a process's instances started in [since, until), oldest first."""
    from .store import InstanceRow, filter_instances

    with engine.store.read() as s:
        q = filter_instances(select(InstanceRow.id), process_id=process, since=since, until=until)
        return list(s.scalars(q.order_by(InstanceRow.created_at, InstanceRow.id)))
