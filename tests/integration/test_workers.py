"""Real `flowdesk worker` processes sharing one database: every timer fires exactly once, crash or not."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO

import pytest
from sqlalchemy import func, select

from engine import Engine, FakeClock
from engine.store import EventRow, TaskRow, TimerRow, WorkerRow
from tests.conftest import FIXTURES, ROOT

FLOWDESK = ROOT / ".venv" / "bin" / "flowdesk"


def seed_due_timers(url: str, cases: int, process: str = "minute_wait") -> Engine:
    """`cases` cases whose one-minute timers fell due minutes ago (real time)."""
    eng = Engine(url, clock=FakeClock(datetime.now(UTC) - timedelta(minutes=10)))
    eng.load_org(FIXTURES / "org.yaml")
    eng.deploy(FIXTURES / "packages" / process)
    # Starting is round-trip bound; a few threads keep a thousand starts to seconds, not a minute.
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda i: eng.start_instance(process, {"ref": f"T-{i}"}, "system"), range(cases)))
    assert eng.count_tasks() == 0
    return eng


@pytest.fixture
def spawn(tmp_path: Path) -> Iterator[Callable[..., subprocess.Popen[bytes]]]:
    """Start `flowdesk worker` processes; any still running at the end are killed."""
    started: list[subprocess.Popen[bytes]] = []
    logs: list[IO[bytes]] = []

    def start(url: str, *args: str, lease: float = 30) -> subprocess.Popen[bytes]:
        env = {**os.environ, "FLOWDESK_DATABASE_URL": url, "FLOWDESK_POLL_SECONDS": "0.2",
               "FLOWDESK_LEASE_SECONDS": str(lease)}
        logs.append((tmp_path / f"worker-{len(started)}.log").open("wb"))
        proc = subprocess.Popen([str(FLOWDESK), "worker", *args], env=env, stdout=logs[-1],
                                stderr=subprocess.STDOUT, cwd=tmp_path)
        started.append(proc)
        return proc

    yield start
    for proc in started:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)
    for log in logs:
        log.close()


def wait_for(condition: Callable[[], bool], what: str, timeout: float = 90) -> None:
    """Poll until `condition()` holds; fail after `timeout` seconds (workers are other processes)."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.05)


def pending_timers(eng: Engine) -> int:
    with eng.store.read() as s:
        return int(s.scalar(select(func.count()).select_from(TimerRow).where(TimerRow.status == "pending")) or 0)


def firings(eng: Engine) -> list[tuple[str, datetime, list[int]]]:
    """(actor, at, fired timer ids) of every timer_fired event."""
    with eng.store.read() as s:
        rows = s.execute(select(EventRow.actor, EventRow.at, EventRow.payload).where(EventRow.type == "timer_fired"))
        return [(actor, at, list(payload["fired"])) for actor, at, payload in rows]


def assert_every_timer_fired_exactly_once(eng: Engine, n: int, cases: int | None = None) -> None:
    with eng.store.read() as s:
        timer_ids = set(s.scalars(select(TimerRow.id)))
        statuses = Counter(s.scalars(select(TimerRow.status)))
        next_steps = s.scalar(select(func.count()).select_from(TaskRow).where(
            TaskRow.element_id == "follow_up", TaskRow.status == "ready"))
    fired = Counter(tid for _, _, ids in firings(eng) for tid in ids)
    assert len(timer_ids) == n and statuses == {"fired": n}
    assert set(fired) == timer_ids, "a timer was missed"
    assert [tid for tid, count in fired.items() if count != 1] == [], "a timer fired more than once"
    assert next_steps == (cases or n), "every case reaches its next step"


@pytest.mark.pg
@pytest.mark.slow
def test_three_worker_processes_fire_two_thousand_timers_exactly_once(
        pg_url: str, spawn: Callable[..., subprocess.Popen[bytes]]) -> None:
    # 1,000 cases with two timers each, both due: whichever worker fires one fires its twin in the same
    # event ("fired": [a, b]), and a worker holding the twin's lease must then find nothing to do.
    n, cases = 2000, 1000
    eng = seed_due_timers(pg_url, cases, "paired_waits")
    assert pending_timers(eng) == n
    workers = [spawn(pg_url, "--id", f"w{i}") for i in range(3)]

    wait_for(lambda: pending_timers(eng) == 0, f"{n} timers to fire")
    assert_every_timer_fired_exactly_once(eng, n, cases)
    assert {actor for actor, _, _ in firings(eng)} == {"w0", "w1", "w2"}, "all three workers took part"

    for proc in workers:
        proc.send_signal(signal.SIGTERM)
    assert [proc.wait(timeout=30) for proc in workers] == [0, 0, 0]
    with eng.store.read() as s:
        assert s.scalar(select(func.count()).select_from(WorkerRow)) == 0  # each signed off
    eng.close()


@pytest.mark.pg
@pytest.mark.slow
def test_a_killed_workers_leases_expire_and_another_worker_fires_them_exactly_once(
        pg_url: str, spawn: Callable[..., subprocess.Popen[bytes]]) -> None:
    n, lease = 300, 2.0
    eng = seed_due_timers(pg_url, n)
    # One claim takes every timer, so the victim is sure to die holding leases it has not used.
    victim = spawn(pg_url, "--id", "victim", "--batch", str(n), lease=lease)

    def victim_is_busy() -> bool:
        return sum(1 for actor, _, _ in firings(eng) if actor == "victim") >= 5

    wait_for(victim_is_busy, "the victim to start firing")
    victim.send_signal(signal.SIGKILL)
    victim.wait(timeout=10)
    with eng.store.read() as s:
        held = {tid: until for tid, until in s.execute(select(TimerRow.id, TimerRow.lease_until).where(
            TimerRow.status == "pending", TimerRow.lease_owner == "victim"))}
    assert held, "the victim died holding leases"

    spawn(pg_url, "--id", "survivor", lease=lease)
    wait_for(lambda: pending_timers(eng) == 0, "the survivor to fire the rest")
    assert_every_timer_fired_exactly_once(eng, n)
    by_timer = {tid: (actor, at) for actor, at, ids in firings(eng) for tid in ids}
    assert {by_timer[tid][0] for tid in held} == {"survivor"}
    # Nobody touched the dead worker's timers before its lease ran out.
    assert all(by_timer[tid][1] >= until for tid, until in held.items())
    eng.close()


@pytest.mark.slow
def test_worker_process_on_sqlite_fires_due_timers_and_stops_cleanly_on_sigterm(
        sqlite_url: str, spawn: Callable[..., subprocess.Popen[bytes]]) -> None:
    eng = seed_due_timers(sqlite_url, 5)
    worker = spawn(sqlite_url, "--id", "embedded")
    wait_for(lambda: pending_timers(eng) == 0, "5 timers to fire")
    worker.send_signal(signal.SIGTERM)
    assert worker.wait(timeout=30) == 0
    assert_every_timer_fired_exactly_once(eng, 5)
    with eng.store.read() as s:
        assert s.scalar(select(func.count()).select_from(WorkerRow)) == 0
    eng.close()
