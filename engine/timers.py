"""Due timers and pending messages, worked off by workers that hold leases in the database.

A worker claims a batch of due work in one `UPDATE … WHERE id IN (SELECT … FOR UPDATE SKIP LOCKED)`
on PostgreSQL (on SQLite every transaction is `BEGIN IMMEDIATE`, so the claim is the only writer),
then fires each timer in its own transaction, where the case's version check makes a second firing
impossible. A heartbeat renews the worker's leases; a worker that stops heartbeating lets its leases
expire, and an expired lease is claimable again, so a crashed worker's timers are simply picked up
by another one. Pending messages travel the same way, at least once: delivery is idempotent (a
delivered message answers with its first receiver), and a message nobody waits for yet stays pending,
counting attempts, and is tried again after a growing back-off. The clock is the engine's: tests move
a FakeClock instead of sleeping.
"""

from __future__ import annotations

import os
import signal
import socket
import sys
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import click
from sqlalchemy import case, delete, func, or_, select, update
from sqlalchemy.orm import Session

from . import settings
from .errors import Conflict, EngineError, NotFound
from .store import MessageRow, TimerRow, WorkerRow

DEFAULT_BATCH = 20
# An undeliverable message is tried again after 1, 2, 4 … seconds, at most this long apart.
MESSAGE_RETRY_CAP = timedelta(seconds=60)
# A timer whose firing fails (the process itself fails there) is tried again at most this long apart.
TIMER_RETRY_CAP = timedelta(minutes=15)


def _backoff(attempts: int, cap: timedelta) -> timedelta:
    return min(timedelta(seconds=2 ** min(max(attempts, 0), 20)), cap)


@dataclass(frozen=True)
class Claimed:
    id: int
    attempts: int


# --- the lease queries (each runs inside the caller's transaction) -----------------------------


def _free(model: Any, now: datetime) -> Any:
    """Not leased, or leased by a worker that stopped renewing (or a retry time that has passed)."""
    return or_(model.lease_until.is_(None), model.lease_until < now)


def claim_timers(s: Session, owner: str, now: datetime, until: datetime, limit: int) -> list[Claimed]:
    """Lease up to `limit` due timers to `owner`, earliest first."""
    due = (select(TimerRow.id).where(TimerRow.status == "pending", TimerRow.due_at <= now, _free(TimerRow, now))
           .order_by(TimerRow.due_at, TimerRow.id).limit(limit).with_for_update(skip_locked=True))
    rows = s.execute(update(TimerRow).where(TimerRow.id.in_(due.scalar_subquery()))
                     .values(lease_owner=owner, lease_until=until)
                     .returning(TimerRow.id, TimerRow.due_at, TimerRow.attempts)
                     .execution_options(synchronize_session=False)).all()
    return [Claimed(r.id, r.attempts) for r in sorted(rows, key=lambda r: (r.due_at, r.id))]


def claim_messages(s: Session, owner: str, now: datetime, until: datetime, limit: int) -> list[Claimed]:
    """Lease up to `limit` pending messages to `owner`, oldest first."""
    pending = (select(MessageRow.id).where(MessageRow.status == "pending", _free(MessageRow, now))
               .order_by(MessageRow.id).limit(limit).with_for_update(skip_locked=True))
    rows = s.execute(update(MessageRow).where(MessageRow.id.in_(pending.scalar_subquery()))
                     .values(lease_owner=owner, lease_until=until)
                     .returning(MessageRow.id, MessageRow.attempts)
                     .execution_options(synchronize_session=False)).all()
    return [Claimed(r.id, r.attempts) for r in sorted(rows, key=lambda r: r.id)]


def renew(s: Session, owner: str, now: datetime, until: datetime) -> None:
    """Record that `owner` is alive and extend every lease it still holds."""
    row = s.get(WorkerRow, owner)
    if row is None:
        s.add(WorkerRow(id=owner, started_at=now, heartbeat_at=now))
    else:
        row.heartbeat_at = now
    for model in (TimerRow, MessageRow):
        # Rows locked right now are being fired or delivered; waiting for them could deadlock with
        # that very command, and it settles their lease itself.
        held = (select(model.id).where(model.lease_owner == owner, model.status == "pending")
                .with_for_update(skip_locked=True))
        s.execute(update(model).where(model.id.in_(held.scalar_subquery())).values(lease_until=until)
                  .execution_options(synchronize_session=False))


def release(s: Session, owner: str) -> None:
    """Give back all of `owner`'s leases so any worker may take them now."""
    for model in (TimerRow, MessageRow):
        s.execute(update(model).where(model.lease_owner == owner, model.status == "pending")
                  .values(lease_owner=None, lease_until=None).execution_options(synchronize_session=False))


def sweep(s: Session, now: datetime, stale_before: datetime) -> None:
    """Re-queue the work of workers whose leases ran out and forget workers that stopped heartbeating."""
    for model in (TimerRow, MessageRow):
        expired = (select(model.id).where(model.status == "pending", model.lease_owner.is_not(None),
                                          model.lease_until < now).with_for_update(skip_locked=True))
        s.execute(update(model).where(model.id.in_(expired.scalar_subquery()))
                  .values(lease_owner=None, lease_until=None).execution_options(synchronize_session=False))
    s.execute(delete(WorkerRow).where(WorkerRow.heartbeat_at < stale_before))


def next_claimable(s: Session, now: datetime) -> datetime | None:
    """When the earliest pending timer or message can next be claimed (None when there is none)."""
    timer_at = case((TimerRow.lease_until > TimerRow.due_at, TimerRow.lease_until), else_=TimerRow.due_at)
    first_timer = s.scalar(select(func.min(timer_at)).where(TimerRow.status == "pending"))
    first_message = s.scalar(select(func.min(func.coalesce(MessageRow.lease_until, MessageRow.created_at)))
                             .where(MessageRow.status == "pending"))
    found = [_aware(t) for t in (first_timer, first_message) if t is not None]
    return min(found) if found else None


def _aware(value: Any) -> datetime:
    # Aggregates skip the column type, so SQLite hands back text and PostgreSQL an aware datetime.
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value  # type: ignore[no-any-return]


# --- the worker --------------------------------------------------------------------------------


def _log(text: str) -> None:
    click.echo(f"worker: {text}", err=True)


class Worker:
    """Fires due timers and delivers pending messages under leases until stopped.

    `run_once` does one round (claim, fire, deliver); `run_forever` loops with a heartbeat thread and
    sleeps until the next due time or `poll_seconds`, whichever is sooner. `stop` (also on SIGTERM in
    `flowdesk worker`) lets the current timer finish and gives back every lease not yet used.
    """

    def __init__(self, engine: Any, *, poll_seconds: float | None = None, worker_id: str | None = None,
                 lease_seconds: float | None = None, batch_size: int = DEFAULT_BATCH) -> None:
        self.engine = engine
        self.poll = poll_seconds if poll_seconds is not None else float(settings.get("FLOWDESK_POLL_SECONDS"))
        self.lease = timedelta(seconds=lease_seconds if lease_seconds is not None
                               else float(settings.get("FLOWDESK_LEASE_SECONDS")))
        if self.lease <= timedelta(0):
            raise ValueError("the lease must be longer than zero seconds")
        self.id = worker_id or f"worker@{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        self.batch = max(1, batch_size)
        self._stop = threading.Event()
        self._last_beat: datetime | None = None

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    def stop(self) -> None:
        """Ask the worker to finish the timer in hand and stop (safe from a signal handler)."""
        self._stop.set()

    # one round

    def run_once(self) -> int:
        """Claim what is due now, fire and deliver it; the number of timers fired and messages delivered."""
        self._beat_if_due()
        done = 0
        for claimed in self._claim(claim_timers):
            if self.stopping:
                break
            done += self._fire(claimed)
            self._beat_if_due()
        if not self.stopping:
            for claimed in self._claim(claim_messages):
                if self.stopping:
                    break
                done += self._deliver(claimed)
        if self.stopping:
            self._release()
        return done

    def _claim(self, query: Any) -> list[Claimed]:
        now = self.engine.clock.now()
        with self.engine.store.transaction() as s:
            claimed: list[Claimed] = query(s, self.id, now, now + self.lease, self.batch)
            return claimed

    def _fire(self, claimed: Claimed) -> int:
        for _ in range(3):
            try:
                return 1 if self.engine.fire_timer(claimed.id, self.id, lease_owner=self.id) else 0
            except Conflict:
                continue  # a command changed the case meanwhile; read it again and retry
            except NotFound:
                return 0
            except Exception as err:  # noqa: BLE001 - one failing process must not stop the others' timers
                _log(f"timer {claimed.id} failed: {err}")
                self._give_back(TimerRow, claimed, back_off_cap=TIMER_RETRY_CAP)
                return 0
        self._give_back(TimerRow, claimed, back_off_cap=None)
        return 0

    def _deliver(self, claimed: Claimed) -> int:
        now = self.engine.clock.now()
        retry_at = now + _backoff(claimed.attempts, MESSAGE_RETRY_CAP)
        try:
            target = self.engine.deliver_message(claimed.id, lease_owner=self.id, retry_at=retry_at)
        except (Conflict, NotFound):
            self._give_back(MessageRow, claimed, back_off_cap=None)
            return 0
        except Exception as err:  # noqa: BLE001 - same as for timers
            _log(f"message {claimed.id} failed: {err}")
            self._give_back(MessageRow, claimed, back_off_cap=MESSAGE_RETRY_CAP)
            return 0
        return 0 if target is None else 1

    def _give_back(self, model: Any, claimed: Claimed, *, back_off_cap: timedelta | None) -> None:
        """Give the lease back, counting the attempt; with a cap, not claimable again before a back-off."""
        now = self.engine.clock.now()
        retry_at = None if back_off_cap is None else now + _backoff(claimed.attempts, back_off_cap)
        try:
            with self.engine.store.transaction() as s:
                s.execute(update(model).where(model.id == claimed.id, model.lease_owner == self.id,
                                              model.status == "pending")
                          .values(lease_owner=None, lease_until=retry_at, attempts=model.attempts + 1)
                          .execution_options(synchronize_session=False))
        except EngineError as err:
            _log(f"could not give back {model.__tablename__} {claimed.id}: {err}")  # it expires anyway

    # leases

    def heartbeat(self) -> None:
        """Prove this worker alive, renew its leases and re-queue the work of workers that died."""
        now = self.engine.clock.now()
        with self.engine.store.transaction() as s:
            renew(s, self.id, now, now + self.lease)
            sweep(s, now, now - 2 * self.lease)
        self._last_beat = now

    def _beat_if_due(self) -> None:
        now = self.engine.clock.now()
        if self._last_beat is None or now - self._last_beat >= self.lease / 3:
            try:
                self.heartbeat()
            except EngineError as err:
                _log(f"heartbeat: {err}")

    def _release(self) -> None:
        with self.engine.store.transaction() as s:
            release(s, self.id)

    # the loop

    def run_forever(self) -> None:
        """Work until `stop()`; then give back unused leases and sign off."""
        beats = threading.Thread(target=self._heartbeat_loop, name=f"{self.id}-heartbeat", daemon=True)
        beats.start()
        try:
            while not self.stopping:
                try:
                    done = self.run_once()
                except Exception as err:  # noqa: BLE001 - the loop must survive a database hiccup
                    _log(str(err))
                    done = 0
                if done == 0 and not self.stopping:
                    self._stop.wait(self._idle_seconds())
        finally:
            self._stop.set()
            beats.join(timeout=5)
            self._sign_off()

    def _heartbeat_loop(self) -> None:
        # Renews leases while a long batch is being fired; the main loop may be busy for a while.
        interval = max(self.lease.total_seconds() / 3, 0.05)
        while not self._stop.wait(interval):
            try:
                self.heartbeat()
            except Exception as err:  # noqa: BLE001 - try again next beat; leases last three beats
                _log(f"heartbeat: {err}")

    def _idle_seconds(self) -> float:
        now = self.engine.clock.now()
        try:
            with self.engine.store.read() as s:
                nxt = next_claimable(s, now)
        except Exception as err:  # noqa: BLE001
            _log(str(err))
            return self.poll
        if nxt is None:
            return self.poll
        # A short floor keeps a due-but-unclaimable item (another worker's fresh claim) from spinning.
        return min(self.poll, max((nxt - now).total_seconds(), 0.05))

    def _sign_off(self) -> None:
        try:
            with self.engine.store.transaction() as s:
                release(s, self.id)
                s.execute(delete(WorkerRow).where(WorkerRow.id == self.id))
        except Exception as err:  # noqa: BLE001 - the leases expire on their own
            _log(f"sign-off: {err}")


# --- commands ----------------------------------------------------------------------------------


@contextmanager
def _cleanly() -> Iterator[None]:
    """Engine errors as one line on stderr and exit code 1 (as the rest of the CLI does)."""
    try:
        yield
    except EngineError as err:
        click.echo(f"error: {err.message}", err=True)
        sys.exit(1)


def _engine() -> Any:
    from . import Engine

    return Engine()


def _when(value: datetime | None) -> str:
    return "" if value is None else value.strftime("%Y-%m-%d %H:%M:%S UTC")


@click.command("worker")
@click.option("--poll", type=float, default=None,
              help="Longest sleep between looks for due work, in seconds [default: FLOWDESK_POLL_SECONDS].")
@click.option("--batch", type=click.IntRange(1, 10_000), default=DEFAULT_BATCH, show_default=True,
              help="How many due timers one claim leases.")
@click.option("--id", "worker_id", help="This worker's name in leases and the audit log [default: host:pid].")
def worker_command(poll: float | None, batch: int, worker_id: str | None) -> None:
    """Fire due timers and deliver messages until SIGTERM or Ctrl-C (several may run at once).

    Leases last FLOWDESK_LEASE_SECONDS and are renewed while the worker lives; on SIGTERM it finishes
    the timer in hand and gives the rest back.
    """
    with _cleanly():
        worker = Worker(_engine(), poll_seconds=poll, worker_id=worker_id, batch_size=batch)
    # The handler runs on the main thread, which may be inside the stop event's own lock: set it from
    # a fresh thread instead of re-entering that lock.
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: threading.Thread(target=worker.stop).start())
    click.echo(f"worker {worker.id} started (lease {worker.lease.total_seconds():g}s, poll {worker.poll:g}s)")
    sys.stdout.flush()
    worker.run_forever()
    click.echo(f"worker {worker.id} stopped")


@click.group("timers", invoke_without_command=True)
@click.option("--all", "show_all", is_flag=True, help="Also fired and cancelled timers.")
@click.option("--instance", help="Only the timers of this case.")
@click.pass_context
def timers_group(ctx: click.Context, show_all: bool, instance: str | None) -> None:
    """List pending timers (case, element, due, lease); `flowdesk timers fire ID --as USER` fires one now."""
    if ctx.invoked_subcommand is not None:
        return
    from rich.console import Console
    from rich.table import Table

    with _cleanly():
        eng = _engine()
        found = eng.timers(instance_id=instance, status=None if show_all else "pending")
        now = eng.clock.now()
        with eng.store.read() as s:
            beats = {w.id: w.heartbeat_at for w in s.scalars(select(WorkerRow).order_by(WorkerRow.id))}
    table = Table("id", "case", "element", "due", "status", "lease", "attempts")
    for t in found:
        held = t.lease_owner and t.lease_until and t.lease_until >= now
        lease = f"{t.lease_owner} until {_when(t.lease_until)}" if held else ""
        table.add_row(str(t.id), t.instance_id, t.element_id, _when(t.due_at), t.status, lease, str(t.attempts))
    console = Console()
    console.print(table)
    lease_length = timedelta(seconds=float(settings.get("FLOWDESK_LEASE_SECONDS")))
    alive = [name for name, beat in beats.items() if beat >= now - lease_length]
    console.print(f"{len(found)} timer(s); worker(s) alive: {', '.join(alive) or 'none'}")


@timers_group.command("fire")
@click.argument("timer_id", type=int)
@click.option("--as", "actor", required=True, help="Who fires it (recorded in the audit log).")
def timers_fire(timer_id: int, actor: str) -> None:
    """Fire timer TIMER_ID now, whoever holds its lease; the audit log records ACTOR."""
    with _cleanly():
        eng = _engine()
        eng.user(actor)  # an operator acts under a known name, never an anonymous one
        if not eng.fire_timer(timer_id, actor):
            click.echo(f"error: timer {timer_id} is not pending (already fired or cancelled)", err=True)
            sys.exit(1)
    click.echo(f"timer {timer_id} fired by {actor}")


@click.group("messages", invoke_without_command=True)
@click.option("--all", "show_all", is_flag=True, help="Also delivered messages.")
@click.pass_context
def messages_group(ctx: click.Context, show_all: bool) -> None:
    """List pending messages (name, correlation key, attempts); `flowdesk messages send` queues one."""
    if ctx.invoked_subcommand is not None:
        return
    from rich.console import Console
    from rich.table import Table

    table = Table("id", "name", "key", "status", "attempts", "next try / lease", "from", "to", "created")
    with _cleanly():
        eng = _engine()
        with eng.store.read() as s:
            q = select(MessageRow).order_by(MessageRow.id)
            if not show_all:
                q = q.where(MessageRow.status == "pending")
            for m in s.scalars(q):
                lease = f"{m.lease_owner} until {_when(m.lease_until)}" if m.lease_owner else _when(m.lease_until)
                table.add_row(str(m.id), m.name, m.correlation_key or "", m.status, str(m.attempts), lease,
                              m.source_instance_id or "", m.target_instance_id or "", _when(m.created_at))
    console = Console()
    console.print(table)
    console.print(f"{table.row_count} message(s)")


@messages_group.command("send")
@click.argument("name")
@click.option("--key", "correlation_key", help="Correlation key: the business key of the case it is for.")
@click.option("--data", help="Payload as a JSON object.")
def messages_send(name: str, correlation_key: str | None, data: str | None) -> None:
    """Queue message NAME for delivery by the worker."""
    import json

    try:
        payload = json.loads(data) if data else {}
    except json.JSONDecodeError as err:
        raise click.BadParameter(f"not valid JSON: {err.msg}", param_hint="--data") from err
    if not isinstance(payload, dict):
        raise click.BadParameter("must be a JSON object", param_hint="--data")
    with _cleanly():
        message_id = _engine().send_message(name, correlation_key, payload)
    click.echo(f"message {message_id} queued")
