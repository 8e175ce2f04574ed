"""The worker's leases on the fake clock: claim, heartbeat, expiry, graceful stop, back-off, the CLI."""

from __future__ import annotations

import threading
import time
from datetime import timedelta
from typing import Any

import pytest
from click.testing import CliRunner

from engine import Engine, FakeClock, ProcessFailed
from engine.store import TimerRow, WorkerRow
from engine.timers import Worker, claim_timers, timers_group
from tests.conftest import FIXTURES, only

LEASE = 30


def start_waits(engine: Engine, n: int) -> list[str]:
    engine.deploy(FIXTURES / "packages" / "minute_wait")
    return [engine.start("minute_wait", {"ref": f"W-{i}"}).id for i in range(n)]


def worker(engine: Engine, name: str, **kwargs: Any) -> Worker:
    return Worker(engine, worker_id=name, lease_seconds=LEASE, **kwargs)


def claim(engine: Engine, owner: str, limit: int = 100) -> list[int]:
    """Lease due timers to `owner` the way a worker does, without firing them (a worker that then dies)."""
    now = engine.clock.now()
    with engine.store.transaction() as s:
        return [c.id for c in claim_timers(s, owner, now, now + timedelta(seconds=LEASE), limit)]


def fired_by(engine: Engine, case_ids: list[str]) -> list[str]:
    return [e.actor for c in case_ids for e in engine.history(c) if e.type == "timer_fired"]


def test_a_worker_claims_due_timers_as_leases_and_fires_them(engine: Engine, clock: FakeClock) -> None:
    cases = start_waits(engine, 3)
    clock.advance(minutes=2)
    assert worker(engine, "a").run_once() == 3
    assert fired_by(engine, cases) == ["a"] * 3
    assert all(t.lease_owner is None for t in engine.timers(status=None))


def test_timers_leased_by_a_live_worker_are_left_to_it(engine: Engine, clock: FakeClock) -> None:
    cases = start_waits(engine, 2)
    clock.advance(minutes=2)
    assert len(claim(engine, "a")) == 2
    assert {t.lease_owner for t in engine.timers()} == {"a"}

    assert worker(engine, "b").run_once() == 0
    assert engine.run_due() == 0
    assert fired_by(engine, cases) == []


def test_leases_of_a_worker_that_stopped_heartbeating_expire_and_are_fired_by_another(
        engine: Engine, clock: FakeClock) -> None:
    cases = start_waits(engine, 2)
    clock.advance(minutes=2)
    claim(engine, "dead")
    clock.advance(seconds=LEASE - 1)
    assert worker(engine, "b").run_once() == 0
    clock.advance(seconds=2)
    assert worker(engine, "b").run_once() == 2
    assert fired_by(engine, cases) == ["b", "b"]


def test_heartbeat_renews_the_leases_of_a_slow_worker(engine: Engine, clock: FakeClock) -> None:
    start_waits(engine, 2)
    clock.advance(minutes=2)
    slow = worker(engine, "slow")
    claim(engine, "slow")
    for _ in range(3):
        clock.advance(seconds=LEASE * 2 // 3)
        slow.heartbeat()
        assert worker(engine, "b").run_once() == 0
    assert {t.lease_owner for t in engine.timers()} == {"slow"}
    assert {t.lease_until for t in engine.timers()} == {clock.now() + timedelta(seconds=LEASE)}
    with engine.store.read() as s:
        assert only([w for w in s.query(WorkerRow) if w.id == "slow"]).heartbeat_at == clock.now()


def test_the_sweep_requeues_expired_leases_and_forgets_dead_workers(engine: Engine, clock: FakeClock) -> None:
    start_waits(engine, 1)
    clock.advance(minutes=2)
    dead = worker(engine, "dead")
    dead.heartbeat()
    claim(engine, "dead")
    clock.advance(seconds=LEASE * 3)
    worker(engine, "alive").heartbeat()
    assert only(engine.timers()).lease_owner is None
    with engine.store.read() as s:
        assert [w.id for w in s.query(WorkerRow)] == ["alive"]


def test_stopping_finishes_the_timer_in_hand_and_gives_back_the_rest(
        engine: Engine, clock: FakeClock, monkeypatch: pytest.MonkeyPatch) -> None:
    cases = start_waits(engine, 4)
    clock.advance(minutes=2)
    w = worker(engine, "a", batch_size=10)
    real_fire = engine.fire_timer

    def fire_then_sigterm(*args: Any, **kwargs: Any) -> bool:
        fired = real_fire(*args, **kwargs)
        w.stop()  # as the SIGTERM handler does, in the middle of a batch
        return fired

    monkeypatch.setattr(engine, "fire_timer", fire_then_sigterm)
    assert w.run_once() == 1
    assert len(fired_by(engine, cases)) == 1
    assert [t.lease_owner for t in engine.timers()] == [None, None, None]
    monkeypatch.undo()
    assert worker(engine, "b").run_once() == 3


def test_a_timer_whose_process_fails_is_retried_later_not_in_a_loop(
        engine: Engine, clock: FakeClock, monkeypatch: pytest.MonkeyPatch) -> None:
    start_waits(engine, 1)
    clock.advance(minutes=2)

    def broken(*_: Any, **__: Any) -> bool:
        raise ProcessFailed("the process failed at wait: boom", "wait")

    monkeypatch.setattr(engine, "fire_timer", broken)
    w = worker(engine, "a")
    assert w.run_once() == 0
    timer = only(engine.timers())
    assert (timer.attempts, timer.lease_owner) == (1, None)
    assert timer.lease_until is not None and timer.lease_until > clock.now()
    assert w.run_once() == 0 and only(engine.timers()).attempts == 1  # backing off, not retrying at once

    monkeypatch.undo()
    clock.set(timer.lease_until + timedelta(seconds=1))
    assert w.run_once() == 1


def test_run_forever_sleeps_until_stopped_and_signs_off(engine: Engine, clock: FakeClock) -> None:
    cases = start_waits(engine, 2)
    clock.advance(minutes=2)
    w = Worker(engine, worker_id="bg", lease_seconds=LEASE, poll_seconds=0.05)
    thread = threading.Thread(target=w.run_forever)
    thread.start()
    try:
        deadline = time.monotonic() + 20
        while len(fired_by(engine, cases)) < 2 and time.monotonic() < deadline:
            time.sleep(0.02)
    finally:
        w.stop()
        thread.join(timeout=20)
    assert not thread.is_alive()
    assert fired_by(engine, cases) == ["bg", "bg"]
    with engine.store.read() as s:
        assert s.get(WorkerRow, "bg") is None


def test_the_worker_sleeps_no_longer_than_until_the_next_due_timer(engine: Engine, clock: FakeClock) -> None:
    start_waits(engine, 1)
    w = Worker(engine, worker_id="a", lease_seconds=LEASE, poll_seconds=120)
    assert w._idle_seconds() == pytest.approx(60)
    clock.advance(seconds=50)
    assert w._idle_seconds() == pytest.approx(10)
    assert Worker(engine, worker_id="b", poll_seconds=5)._idle_seconds() == 5


def test_timers_command_lists_pending_timers_with_their_leases(
        engine: Engine, clock: FakeClock, sqlite_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    cases = start_waits(engine, 2)
    monkeypatch.setenv("FLOWDESK_DATABASE_URL", sqlite_url)
    monkeypatch.setenv("COLUMNS", "300")  # Rich would wrap the table at 80
    with engine.store.transaction() as s:
        row = s.query(TimerRow).filter(TimerRow.instance_id == cases[0]).one()
        row.lease_owner, row.lease_until = "w1", clock.now() + timedelta(days=3650)
    result = CliRunner().invoke(timers_group, [], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert "2 timer(s)" in result.output and "wait" in result.output and "w1 until" in result.output


def test_timers_fire_command_fires_one_now_in_the_operators_name(
        engine: Engine, clock: FakeClock, sqlite_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    case_id = only(start_waits(engine, 1))
    timer = only(engine.timers())
    monkeypatch.setenv("FLOWDESK_DATABASE_URL", sqlite_url)
    monkeypatch.setenv("COLUMNS", "300")  # Rich would wrap the table at 80
    runner = CliRunner()
    result = runner.invoke(timers_group, ["fire", str(timer.id), "--as", "sam"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert fired_by(engine, [case_id]) == ["sam"]
    again = runner.invoke(timers_group, ["fire", str(timer.id), "--as", "sam"], catch_exceptions=False)
    assert again.exit_code == 1 and "not pending" in again.output
    stranger = runner.invoke(timers_group, ["fire", str(timer.id), "--as", "mallory"], catch_exceptions=False)
    assert stranger.exit_code == 1 and "mallory" in stranger.output
